"""The owner's audits on the in-process grid: black holes found in one round, honest carriers pass.

A black hole (:class:`~wdp.sim.attackers.Dropper`) signs the receipt and
discards the shard, so it never publishes a locator and never hands the shard
on. The owner audits the carrier it launched to (or the last one that proved
the shard), so the loss is found in the first check round, blamed on the black
hole, and repaired at once; the black hole gets no more of the owner's shards.
"""

from __future__ import annotations

from wdp.core.owner import OwnerParams, Repaired
from wdp.core.schedule import ScheduleParams
from wdp.testing.grid import Grid

EPOCH = 600
INTERVAL = 300.0  # the owner's check round, at most this long apart


def repairs(grid: Grid) -> list[Repaired]:
    return [e for _, e in grid.record.owner if isinstance(e, Repaired)]


def test_black_holes_at_launch_are_found_by_the_first_audit_and_repaired() -> None:
    holes = (1, 2)
    grid = Grid(14, seed=3, black_holes=holes, owner_params=OwnerParams(repair_interval=INTERVAL))
    payload = b"audit me " * 500
    ticket = grid.put(0, payload, epoch=EPOCH)
    assert len(grid.holders(ticket)) < 8  # some shards went into the black holes
    dropped = 8 - len(grid.holders(ticket))
    grid.run(INTERVAL + 30)  # one check round (and the relaunches it starts)
    assert len(repairs(grid)) == dropped
    record = grid.owner(0).owned[ticket.wanderer_id]
    keys = {grid.endpoints[h].peer.hex() for h in holes}
    assert {r["blamed"] for r in record.repairs} <= keys and len(record.repairs) == dropped
    assert all(r["why"] == "failed its audit" for r in record.repairs)
    assert all(float(r["repaired_at"]) - float(r["found_at"]) < 30 for r in record.repairs)
    excluded = grid.owner(0).evidence.excluded()
    assert excluded and excluded <= {grid.endpoints[h].peer for h in holes}
    assert sorted(grid.holders(ticket)) == list(range(8))
    assert grid.get(5, ticket) == payload


def test_honest_carriers_pass_their_audits_and_nothing_is_repaired() -> None:
    grid = Grid(12, seed=5, owner_params=OwnerParams(repair_interval=INTERVAL))
    ticket = grid.put(0, b"honest " * 400, epoch=EPOCH)
    grid.run(4 * INTERVAL)  # a few rounds, with TTL hops in between
    assert repairs(grid) == []
    evidence = grid.owner(0).evidence.peers
    assert sum(ev.proved for ev in evidence.values()) >= 3 * 8  # every shard, every round
    assert all(ev.failed == 0 for ev in evidence.values())
    assert grid.owner(0).evidence.excluded() == frozenset()
    assert len(grid.holders(ticket)) == 8


def test_the_first_check_finds_a_black_hole_at_launch_before_any_shard_hops() -> None:
    """Launches go to peers no audit has proven yet; the first check round comes
    ``first_check`` (0.4) of the interval after the put, before the earliest TTL
    hop (0.75 of an epoch), not a whole interval later."""
    early = OwnerParams(repair_interval=INTERVAL)
    late = OwnerParams(repair_interval=INTERVAL, first_check=1.0)  # the rule before
    assert early.first_check * min(INTERVAL, EPOCH) < EPOCH * (1 - ScheduleParams().jitter)
    found = {}
    for name, params in (("early", early), ("late", late)):
        grid = Grid(14, seed=3, black_holes=(1, 2), owner_params=params)
        ticket = grid.put(0, b"audit me " * 500, epoch=EPOCH)
        dropped = 8 - len(grid.holders(ticket))
        assert dropped > 0
        grid.run(0.4 * INTERVAL + 30)
        found[name] = len(repairs(grid))
        if name == "early":
            assert found[name] == dropped
            assert sorted(grid.holders(ticket)) == list(range(8))
    assert found["late"] == 0  # the old rule waited a whole interval
