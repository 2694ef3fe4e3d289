"""Keepers on the in-process grid: the owner's node is seized, a keeper repairs.

A keeper holds the repair capability only (spec 16.1): it finds, audits,
fetches ciphertext and relaunches; it never holds the owner seed.
"""

from __future__ import annotations

from collections import Counter

import pytest

from wdp.core.capability import RepairCapability
from wdp.core.effects import ShardKey
from wdp.core.locator import locator_dht_key, open_locator, validate_locator
from wdp.core.owner import Repaired, RepairImpossible
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket
from wdp.testing.grid import Grid, GridError

EPOCH = 600


def locator_key(cap: RepairCapability, index: int, generation: int) -> str:
    return locator_dht_key(public_key_of(cap.locator_seed(index, generation)))


def repairs(grid: Grid) -> list[tuple[int, Repaired]]:
    return [(node, e) for node, e in grid.record.owner if isinstance(e, Repaired)]


def test_a_keeper_repairs_after_the_owners_node_is_seized() -> None:
    grid = Grid(16, seed=21)
    payload = b"kept " * 3000
    ticket = grid.put(0, payload, epoch=EPOCH)
    grid.keep(5, RepairCapability.of_ticket(ticket))
    assert grid.owner(5).owned[ticket.wanderer_id].kept
    victims = [n for n in grid.carriers(ticket) if n not in (0, 5)][:4]
    grid.seize(0, *victims)
    assert len(grid.holders(ticket)) <= 4
    grid.run(4 * EPOCH)
    assert sorted(grid.holders(ticket)) == list(range(8))
    done = repairs(grid)
    assert done and {node for node, _ in done} == {5}
    assert grid.get(3, ticket) == payload


def two_keepers_and_no_owner(seed: int, payload: bytes) -> tuple[Grid, Ticket]:
    """Node 0 puts ``payload``; nodes 6 (no delay) and 7 (120 s) keep it; node 0 is seized."""
    grid = Grid(18, seed=seed)
    ticket = grid.put(0, payload, epoch=EPOCH)
    cap = RepairCapability.of_ticket(ticket)
    grid.keep(6, cap, repair_delay=0.0)
    grid.keep(7, cap, repair_delay=120.0)
    grid.seize(0)
    grid.run(EPOCH)
    return grid, ticket


def test_two_keepers_repair_each_lost_shard_once() -> None:
    payload = b"two keepers " * 2000
    grid, ticket = two_keepers_and_no_owner(22, payload)
    cap = RepairCapability.of_ticket(ticket)
    victims = [n for n in grid.carriers(ticket) if n not in (6, 7)][:3]
    grid.seize(*victims)
    grid.run(4 * EPOCH)
    holders = grid.holders(ticket)
    assert sorted(holders) == list(range(8))
    assert all(len(nodes) == 1 for nodes in holders.values()), holders  # no duplicate
    per_generation = Counter((e.index, e.generation) for _, e in repairs(grid))
    assert per_generation and max(per_generation.values()) == 1
    kept = [grid.owner(k).owned[ticket.wanderer_id].generations for k in (6, 7)]
    assert kept[0] == kept[1]  # both keepers agree on every shard's generation
    # From the locator records: each shard's current generation names its one carrier,
    # and no later generation of it was launched.
    now_ms = int(grid.now * 1000)
    for index, (node,) in holders.items():
        held = grid.core(node).held[ShardKey(ticket.wanderer_id, index)]
        g = held.last.record.value.generation
        assert g == kept[0][index]
        found = [grid.runtime.dht.get(locator_key(cap, index, gen), grid.now) for gen in (g, g + 1)]
        assert found[1] is None
        assert found[0] is not None
        signed = validate_locator(locator_key(cap, index, g), found[0], now_ms)
        assert open_locator(cap.sealing_seed, signed.value).holder == grid.core(node).peer
    assert grid.get(2, ticket) == payload


def test_the_owner_and_a_late_keeper_do_not_both_repair() -> None:
    grid = Grid(16, seed=23)
    ticket = grid.put(0, b"owner first " * 1500, epoch=EPOCH)
    grid.keep(4, RepairCapability.of_ticket(ticket), repair_delay=120.0)
    victims = [n for n in grid.carriers(ticket) if n not in (0, 4)][:2]
    grid.seize(*victims)
    grid.run(4 * EPOCH)
    assert all(len(nodes) == 1 for nodes in grid.holders(ticket).values())
    assert len(grid.holders(ticket)) == 8
    assert {node for node, _ in repairs(grid)} == {0}


def test_keeping_twice_or_what_cannot_be_found_fails_plainly() -> None:
    grid = Grid(12, seed=24)
    ticket = grid.put(0, b"x" * 4000, epoch=EPOCH)
    cap = RepairCapability.of_ticket(ticket)
    with pytest.raises(GridError, match="already owns or keeps"):
        grid.keep(0, cap)
    other = RepairCapability(cap.repair_seed, bytes(32), cap.k, cap.n, 2, cap.owner_key, cap.grant)
    with pytest.raises(GridError, match="manifest is not the expected one"):
        grid.keep(3, other)  # the shards are found, but no manifest matches the hash
    assert ticket.wanderer_id not in grid.owner(3).owned


def test_keeping_a_wanderer_nobody_put_says_so_after_a_few_rounds() -> None:
    grid = Grid(10, seed=25)
    cap = RepairCapability.of_ticket(Ticket(bytes([9]) * 32, bytes(32), 3, 8))
    started = grid.now
    with pytest.raises(GridError, match="no shard of that wanderer can be found"):
        grid.keep(2, cap)
    params = grid.owner(2).params
    assert grid.now - started >= (params.get_rounds - 1) * params.get_retry_delay


def test_a_keeper_cut_off_during_repairs_converges_when_it_comes_back() -> None:
    """Deliver 3: keeper 6 is cut off (nothing it sends arrives) while carriers are
    seized and keeper 7 repairs; back on the network, 6 adopts 7's generations and
    launches no generation of its own that would fork a shard."""
    payload = b"partitioned keeper " * 1500
    grid, ticket = two_keepers_and_no_owner(26, payload)
    grid.pause(6)
    victims = [n for n in grid.carriers(ticket) if n not in (6, 7)][:3]
    grid.seize(*victims)
    grid.run(4 * EPOCH)
    assert {node for node, _ in repairs(grid)} == {7}  # the keeper cut off repaired nothing
    tried = [e for node, e in grid.record.owner if node == 6 and isinstance(e, RepairImpossible)]
    assert tried, "keeper 6 never noticed the seizure: the test proves nothing"
    repaired_by_7 = {(e.index, e.generation) for _, e in repairs(grid)}
    assert len(repaired_by_7) >= 3
    grid.pause()  # keeper 6 is back
    grid.run(4 * EPOCH)

    holders = grid.holders(ticket)
    assert sorted(holders) == list(range(8))
    assert all(len(nodes) == 1 for nodes in holders.values()), holders
    per_generation = Counter((e.index, e.generation) for _, e in repairs(grid))
    assert max(per_generation.values()) == 1, per_generation  # no shard forked
    kept = [grid.owner(k).owned[ticket.wanderer_id].generations for k in (6, 7)]
    assert kept[0] == kept[1]
    for index, gen in repaired_by_7:
        assert kept[0][index] >= gen  # keeper 6 caught up with 7's repairs
    reader = next(n for n in range(1, 18) if n not in (*victims, 6, 7))
    assert grid.get(reader, ticket) == payload


def test_a_keeper_whose_first_manifest_fetch_fails_tries_again() -> None:
    """Every carrier is paused when the keep starts (the lookups find them, the fetch
    times out) and resumes 20 s later: the next round fetches the manifest."""
    grid = Grid(12, seed=27)
    payload = b"second round " * 1000
    ticket = grid.put(0, payload, epoch=EPOCH)
    carriers = grid.carriers(ticket)
    keeper = min(set(range(1, 12)) - set(carriers))  # it must fetch: it holds no shard
    grid.pause(*carriers)
    grid.q.at(grid.now + 20.0, grid.pause)
    started = grid.now
    grid.keep(keeper, RepairCapability.of_ticket(ticket))
    assert grid.now - started >= 20.0  # the first round failed: it proves something
    assert grid.owner(keeper).owned[ticket.wanderer_id].kept
    grid.seize(0)
    assert grid.get(keeper, ticket) == payload
