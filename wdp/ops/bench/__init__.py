"""``make bench`` (``python -m wdp.ops.bench``): WDP's costs next to same-run baselines.

``__main__`` is the command line, ``plan`` what a run measures, ``report`` the
rows and their output, ``pair`` (a) throughput and (b) latency between two
processes (``peer`` is the receiving one), ``swarm`` (c) put and get on a local
swarm, ``panic`` (d) a panicking node's evacuation.
"""
