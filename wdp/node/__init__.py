"""The py-libp2p daemon that drives the protocol core (wdp-node)."""
