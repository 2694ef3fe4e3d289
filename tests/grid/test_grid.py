"""End to end on the in-process grid: real cores, real crypto, no sockets, virtual time.

Each test is a whole story (put, hops, seizures, repair, get) and runs in well
under 5 s of wall time: time is virtual, so epochs pass as fast as the cores
can compute.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from wdp.core.custody import check_chain
from wdp.core.effects import ShardKey
from wdp.core.limits import FETCH_RESPONSE_TIMEOUT
from wdp.core.messages import Receipt
from wdp.core.node import FetchServed, HandoffEnded
from wdp.core.objects import Reason
from wdp.core.owner import OwnerParams, Repaired
from wdp.testing.grid import Grid, GridError

EPOCH = 600


@pytest.fixture(autouse=True)
def under_five_seconds() -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < 5.0, "a grid test must run in under 5 s"


@pytest.mark.parametrize("size", [0, 1, 1 << 20])
def test_put_then_get_through_another_node(size: int) -> None:
    grid = Grid(10, seed=size)
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    ticket = grid.put(0, payload)
    holders = grid.holders(ticket)
    assert sorted(holders) == list(range(8))  # one carrier per shard
    assert all(len(nodes) == 1 for nodes in holders.values())
    assert len(grid.carriers(ticket)) == 8  # on 8 different nodes
    assert 0 not in grid.carriers(ticket)  # never the owner's own node at launch
    assert grid.get(5, ticket) == payload  # a node that never saw the ticket
    assert grid.get(0, ticket) == payload


def test_put_with_too_few_peers_says_so_plainly() -> None:
    grid = Grid(6)
    with pytest.raises(GridError, match=r"knows 5 healthy peer\(s\) but needs 8"):
        grid.put(0, b"x")


def test_ttl_hops_carry_verified_chains_end_to_end() -> None:
    grid = Grid(10, seed=2)
    payload = b"wandering " * 300
    ticket = grid.put(0, payload, epoch=EPOCH)
    first = grid.holders(ticket)
    grid.run(3 * EPOCH)
    hops = [h for h in grid.record.hops() if h.reason is Reason.TTL]
    assert len(hops) >= 2 * 8  # every shard hopped at least twice in three epochs
    assert grid.holders(ticket) != first
    for index, nodes in grid.holders(ticket).items():
        assert len(nodes) == 1
        key = ShardKey(ticket.wanderer_id, index)
        held = grid.core(nodes[0]).held[key]
        chain = held.chain
        assert [link.record.value.hop for link in chain] == list(range(len(chain)))
        assert chain[0].record.value.reason is Reason.GENESIS
        assert len(chain) >= 2  # hopped at least once (siblings may refuse a hop for a while)
        assert chain[-1].record.value.to_peer == grid.endpoints[nodes[0]].peer
        check_chain(held.manifest, chain[:-1], chain[-1].record)  # every signature and link
        assert chain[-1].receipt.verify(grid.endpoints[nodes[0]].peer)
        assert grid.stored(nodes[0], key) is not None
    assert grid.get(7, ticket) == payload


def test_thirty_percent_seized_including_carriers_then_get() -> None:
    grid = Grid(20, seed=3)
    payload = b"seized " * 5000
    ticket = grid.put(0, payload)
    grid.run(EPOCH)  # shards have moved on once
    carriers = [n for n in grid.carriers(ticket) if n not in (0, 1)]
    victims = carriers[:5] + [n for n in range(2, 20) if n not in carriers][:1]  # 6 of 20
    assert len(set(victims) & set(grid.carriers(ticket))) == 5
    grid.seize(*victims)
    assert len(grid.holders(ticket)) >= 3  # 5 of 8 shards gone with their carriers
    assert grid.get(1, ticket) == payload


def test_repair_brings_the_count_back_to_n() -> None:
    grid = Grid(16, seed=4)
    payload = b"repair me " * 2000
    ticket = grid.put(0, payload, epoch=EPOCH)
    victims = [n for n in grid.carriers(ticket) if n != 0][:4]
    grid.seize(*victims)
    assert len(grid.holders(ticket)) == 4
    grid.run(3 * EPOCH)  # two stale check rounds, then the relaunch
    holders = grid.holders(ticket)
    assert sorted(holders) == list(range(8))
    repaired = [e for _, e in grid.record.owner if isinstance(e, Repaired)]
    assert len(repaired) == 4 and all(e.generation == 1 for e in repaired)
    assert grid.owner(0).owned[ticket.wanderer_id].generations.count(1) == 4
    assert grid.get(3, ticket) == payload


def test_a_lost_receipt_leaves_two_holders_then_one() -> None:
    grid = Grid(10, seed=5)
    ticket = grid.put(0, b"receipt " * 100, epoch=EPOCH)
    grid.drop_frames(lambda message: isinstance(message, Receipt))
    # The first TTL hop: the receiver stores the shard and signs; its receipt is lost.
    grid.q.run_until(
        lambda: any(h.inbound and h.ok and h.reason is Reason.TTL for h in grid.record.hops()),
        grid.now + 2 * EPOCH,
    )
    grid.drop_frames(None)
    hop = next(h for h in grid.record.hops() if h.reason is Reason.TTL)
    assert hop.key is not None
    doubles = {i: nodes for i, nodes in grid.holders(ticket).items() if len(nodes) == 2}
    assert hop.key.shard_index in doubles  # both hold it: never zero
    assert hop.link is not None
    receiver = grid.runtime.by_peer[hop.link.record.value.to_peer]
    (sender,) = [n for n in doubles[hop.key.shard_index] if n != receiver]
    assert grid.stored(sender, hop.key) is not None and grid.stored(receiver, hop.key) is not None
    # The sender times out, offers the same record again, gets the stored receipt, wipes.
    grid.run(120)
    assert grid.holders(ticket)[hop.key.shard_index] == [receiver]
    assert grid.stored(sender, hop.key) is None
    failed = [
        e for _, e in grid.record.node
        if isinstance(e, HandoffEnded) and not e.inbound and not e.ok and e.key == hop.key
    ]  # fmt: skip
    assert failed and failed[0].code is not None


def test_a_get_fetches_no_more_shards_than_it_needs_and_one_spare() -> None:
    grid = Grid(10, seed=3)
    payload = b"spare " * 500
    ticket = grid.put(0, payload)  # k=3 of n=8; the owner fetches 4 at once
    before = len(grid.record.node)
    getter = next(i for i in range(1, 10) if i not in grid.carriers(ticket))  # reads none locally
    assert grid.get(getter, ticket) == payload
    served = [e for _, e in grid.record.node[before:] if isinstance(e, FetchServed)]
    assert len(served) == 4  # the 3 it needs and one spare, not a refill after each arrival


@pytest.mark.parametrize("hedge", [True, False])
def test_paused_carriers_delay_a_get_by_the_hedge_not_by_their_timeouts(hedge: bool) -> None:
    params = OwnerParams(get_hedge=1.0 if hedge else 1000.0)
    grid = Grid(10, seed=4, owner_params=params)
    payload = b"paused " * 500
    ticket = grid.put(0, payload)  # k=3 of n=8, fetched in index order, 4 at once
    holders = grid.holders(ticket)
    grid.pause(*(holders[i][0] for i in range(3)))  # the carriers of shards 0, 1 and 2
    getter = next(i for i in range(1, 10) if i not in grid.carriers(ticket))
    started = grid.now
    assert grid.get(getter, ticket) == payload
    took = grid.now - started
    if hedge:
        assert took < 3.0  # three hedges of 1 s bring in shards 4 to 6 beside shard 3
    else:
        assert took >= FETCH_RESPONSE_TIMEOUT  # without: the fetches of 0 to 2 time out


def test_a_get_without_records_finds_repaired_shards_beyond_generation_0() -> None:
    grid = Grid(16, seed=4)
    payload = b"later generations " * 1000
    ticket = grid.put(0, payload, epoch=EPOCH)
    victims = [n for n in grid.carriers(ticket) if n != 0][:4]
    grid.seize(*victims)
    grid.run(3 * EPOCH)  # the 4 lost shards are relaunched as generation 1
    gens = grid.owner(0).owned[ticket.wanderer_id].generations
    assert sorted(gens) == [0, 0, 0, 0, 1, 1, 1, 1]
    # Now lose every generation 0 shard: only generation 1 can rebuild it.
    holders = grid.holders(ticket)
    old = {holders[i][0] for i, g in enumerate(gens) if g == 0} - {0}
    grid.seize(*old)
    getter = next(i for i in range(1, 16) if i not in victims and i not in old)
    assert grid.get(getter, ticket) == payload


def _late_locators(grid: Grid, delay: float) -> list[float]:
    """Carriers' locators reach the DHT ``delay`` virtual seconds after they publish."""
    table, times = grid.runtime.dht, []
    store = table.put

    def publish(eff: object) -> None:
        times.append(grid.now + delay)
        grid.q.after(delay, store, eff)

    table.put = publish  # type: ignore[method-assign]
    return times


@pytest.mark.parametrize("settle", [True, False])
def test_a_settling_put_returns_once_its_shards_can_be_found(settle: bool) -> None:
    grid = Grid(10, seed=6)
    published = _late_locators(grid, 1.5)
    started = grid.now
    ticket = grid.put(0, b"found at once " * 100, settle=settle)
    if not settle:  # the receipts are in, the locators are not: another node finds nothing yet
        assert grid.now < max(published)
        return
    assert max(published) <= grid.now < max(published) + 2 * OwnerParams().settle_retry
    assert grid.now - started < OwnerParams().put_settle
    getter = next(i for i in range(1, 10) if i not in grid.carriers(ticket))
    before = grid.now
    assert grid.get(getter, ticket) == b"found at once " * 100
    assert grid.now - before < 1.0  # no retry round: every locator was there


def test_a_settling_put_gives_up_waiting_at_put_settle() -> None:
    grid = Grid(10, seed=7)
    _late_locators(grid, 3600.0)  # the DHT never has them in time
    started = grid.now
    grid.put(0, b"never found " * 100, settle=True)  # still a ticket: the shards are placed
    assert grid.now - started == pytest.approx(OwnerParams().put_settle, abs=1.0)
