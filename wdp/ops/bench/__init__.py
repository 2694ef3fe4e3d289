"""``make bench`` (``python -m wdp.ops.bench``): WDP's costs next to same-run baselines."""
