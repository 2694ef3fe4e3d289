"""Spot audits on the in-process grid: a carrier audits the peer it handed a shard to.

Black holes (:class:`~wdp.sim.attackers.Dropper`) sign a receipt and discard
the shard. A carrier that handed one a shard learns it from its own audit
(no owner involved) and sends it nothing more; honest receivers pass.
"""

from __future__ import annotations

from wdp.core.carrier import CarrierParams
from wdp.core.errors import RejectCode
from wdp.core.node import HandoffEnded, LaunchEnded, NodeParams, SpotAudited
from wdp.core.owner import OwnerParams
from wdp.testing.grid import Grid

EPOCH = 600
HOLES = (1, 2)


def spot_grid(seed: int, *, probation: bool = False) -> Grid:
    carrier = CarrierParams(spot_audits=True, probation=probation)
    return Grid(
        10,
        seed=seed,
        black_holes=HOLES,
        node_params=NodeParams(carrier=carrier),
        owner_params=OwnerParams(repair_interval=300.0),
    )


def test_a_carrier_stops_sending_to_a_black_hole_once_its_spot_audit_fails() -> None:
    grid = spot_grid(7)
    tickets = [grid.put(0, f"wanderer {i} ".encode() * 300, epoch=EPOCH) for i in range(4)]
    grid.run(8 * EPOCH)
    holes = {grid.endpoints[h].peer for h in HOLES}
    audits = [(i, e) for i, e in grid.record.node if isinstance(e, SpotAudited)]
    failed = [(i, e) for i, e in audits if e.passed is False]
    passed = [(i, e) for i, e in audits if e.passed is True]
    assert failed, "no carrier caught a black hole"
    assert {e.peer for _, e in failed} <= holes  # honest peers never fail
    assert all(e.code is RejectCode.UNAUTHORIZED for _, e in failed)  # it holds nothing
    assert passed and all(e.peer not in holes for _, e in passed)
    # After a carrier's audit of a black hole failed, it sends that hole nothing more.
    for sender, fail in failed:
        after = grid.record.node.index((sender, fail))
        later = [
            e
            for i, e in grid.record.node[after:]
            if i == sender and isinstance(e, HandoffEnded) and not e.inbound
        ]
        assert all(e.peer != fail.peer for e in later), f"node {sender} still hops to the hole"
    for ticket in tickets:  # the owner's audits repaired what the holes took
        assert grid.get(5, ticket).startswith(b"wanderer")


def test_with_probation_each_carrier_gives_a_black_hole_at_most_one_shard() -> None:
    grid = spot_grid(8, probation=True)
    for i in range(4):
        grid.put(0, f"wanderer {i} ".encode() * 300, epoch=EPOCH)
    grid.run(8 * EPOCH)
    holes = {grid.endpoints[h].peer for h in HOLES}
    ttl_to_holes: dict[tuple[int, bytes], int] = {}
    for i, e in grid.record.node:
        if isinstance(e, HandoffEnded) and not e.inbound and e.ok and e.peer in holes:
            assert i not in HOLES and e.hop  # holes hand nothing on; owners launch (hop 0)
            ttl_to_holes[(i, e.peer)] = ttl_to_holes.get((i, e.peer), 0) + 1
    assert ttl_to_holes and max(ttl_to_holes.values()) == 1


def test_a_node_launches_nothing_to_a_peer_its_own_spot_audit_caught() -> None:
    """One node, one verdict: what the carrier's audit found, the owner's side obeys."""
    grid = spot_grid(7)
    for i in range(4):
        grid.put(0, f"wanderer {i} ".encode() * 300, epoch=EPOCH)
    grid.run(8 * EPOCH)
    caught = [(i, e) for i, e in grid.record.node if isinstance(e, SpotAudited) and not e.passed]
    sender, hole = next((i, e.peer) for i, e in caught if i != 0)  # not the owner above
    start = len(grid.record.node)
    for i in range(3):
        grid.put(sender, f"later {i} ".encode() * 300, k=2, n=6, epoch=EPOCH)
    launched = [
        e.peer
        for i, e in grid.record.node[start:]
        if i == sender and isinstance(e, LaunchEnded) and e.ok
    ]
    assert len(launched) >= 18
    assert hole not in launched
