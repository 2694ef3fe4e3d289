"""The simulator and a real multi-process swarm agree at small scale.

Same parameters on both sides: 10 nodes, one wanderer of 3-of-6 shards,
SIGKILL of the 3 nodes carrying the most shards (never node 0, the owner's
node, nor node 1), then repair. Observables: shards the victims took,
whether the wanderer can still be rebuilt, and whether repair brings it back
to n carried shards.
"""

from __future__ import annotations

from wdp.sim.agreement import seizure_outcome


def test_sim_side_of_the_agreement() -> None:
    out = seizure_outcome(nodes=10, k=3, n=6, kill=3)
    assert out.shards_killed >= 3  # the victims are carriers
    assert out.recoverable == (6 - out.shards_killed >= 3)
    assert out.carried_after == 6  # repair restored every shard
    no_repair = seizure_outcome(nodes=10, k=3, n=6, kill=3, repair=False)
    assert no_repair.carried_after == 6 - no_repair.shards_killed


# The real swarm's side runs in tests/swarm/test_sim_agreement.py (multi-process, slow).
