"""The sans-IO protocol core of WDP.

Everything here is pure: functions and state machines take messages,
observations, ``now`` and a seeded rng, and return effects. No module in this
package performs I/O, reads a clock or uses global randomness, so the libp2p
node and the swarm simulator drive the very same rules.
"""
