"""The simulator and a real multi-process swarm agree at small scale.

Same parameters on both sides: 10 nodes, one wanderer of 3-of-6 shards,
SIGKILL of the 3 nodes carrying the most shards (never node 0, the owner's
node, nor node 1), then repair. Observables: shards the victims took,
whether the wanderer can still be rebuilt, and whether repair brings it back
to n carried shards.
"""

from __future__ import annotations

import pytest

from wdp.sim.agreement import seizure_outcome


def test_sim_side_of_the_agreement() -> None:
    out = seizure_outcome(nodes=10, k=3, n=6, kill=3)
    assert out.shards_killed >= 3  # the victims are carriers
    assert out.recoverable == (6 - out.shards_killed >= 3)
    assert out.carried_after == 6  # repair restored every shard
    no_repair = seizure_outcome(nodes=10, k=3, n=6, kill=3, repair=False)
    assert no_repair.carried_after == 6 - no_repair.shards_killed


@pytest.mark.slow
@pytest.mark.skip(reason="seam for the lead: enable once put/get/repair are final (see docstring)")
def test_real_swarm_agrees_with_the_simulator() -> None:  # pragma: no cover
    """Run tests/swarm/test_put_get.py's repair scenario, then compare with the simulator.

    Real side (with ``LocalSwarm`` as in tests/swarm/test_put_get.py): put 200 kB at
    k=3, n=6 through node 0 with WDP_REPAIR_INTERVAL=2; wait until 6 shards are
    carried; SIGKILL the 3 most loaded nodes other than 0 and 1; record
    ``killed`` (their shards), ``recoverable`` (get from node 1 succeeds) and,
    after repair, ``carried`` (distinct shards carried). Then:

        sim = seizure_outcome(nodes=10, k=3, n=6, kill=3)
        assert (killed, recoverable, carried) == (
            sim.shards_killed, sim.recoverable, sim.carried_after)

    ``shards_killed`` depends on where shards happened to land; compare it as
    "recoverable iff n - killed >= k" when the two placements differ.
    """
