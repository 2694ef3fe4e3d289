"""The owner's command-line client (wdp)."""
