"""Handoffs between in-process py-libp2p nodes over real streams (TCP and WebSocket)."""

from __future__ import annotations

import pytest
import trio

from wdp.core.carrier import CarrierParams
from wdp.core.custody import check_chain, check_link
from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.limits import MAX_CHUNK_SIZE
from wdp.core.locator import open_locator, validate_locator
from wdp.core.objects import Reason
from wdp.core.threat import ThreatLevel
from wdp.core.wanderer import create_wanderer, sealing_seed
from wdp.node.history import HopEntry
from wdp.node.node import Node
from wdp.node.store import DiskStore

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, nodes


def outbound(node: Node) -> list[HopEntry]:
    """The node's outbound handoffs as its history keeps them, oldest first."""
    return [h for h in node.history.hops if not h.inbound]


def key_of(w, index: int = 0) -> ShardKey:
    return ShardKey(w.manifest.value.wanderer_id, index)


def assert_chain(node: Node, key: ShardKey, hops: list[tuple[bytes, bytes, Reason]]) -> None:
    """The carrier's chain verifies link by link and names the expected hops."""
    held = node.carrier.held[key]
    chain = held.chain
    check_chain(held.manifest, chain[:-1], chain[-1].record)
    for link in chain:
        check_link(link)
    got = [
        (ln.record.value.from_peer, ln.record.value.to_peer, ln.record.value.reason) for ln in chain
    ]
    assert got == hops


async def launch_and_hop(clock: MovableClock, a: Node, b: Node) -> ShardKey:
    """B launches shard 0 to A; a TTL hop (clock moved past the epoch) takes it A -> B."""
    w = make_wanderer(clock, epoch=60)
    key = key_of(w)
    result = await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)
    assert result.ok, result
    assert key in a.carrier.held and a.store.keys() == [key]

    clock.advance(60 * 1.25 + 0.1)  # past any jittered epoch: A's timer fires now
    with trio.fail_after(DEADLINE):
        await b.wait_until(lambda: key in b.carrier.held)
        await a.wait_until(lambda: key not in a.carrier.held and bool(outbound(a)))

    assert outbound(a)[-1].ok
    assert a.store.keys() == [] and a.carrier.held == {}
    assert b.store.keys() == [key]
    shard, meta = b.store.get(key)
    assert shard == w.shards[0] and meta.committed
    owner = w.manifest.value.owner_key
    assert_chain(
        b, key, [(owner, a.peer_key, Reason.GENESIS), (a.peer_key, b.peer_key, Reason.TTL)]
    )
    return key


@pytest.mark.trio
async def test_launch_then_ttl_hop_over_tcp() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        key = await launch_and_hop(clock, a, b)
        conn = a.host.get_network().get_connections(b.peer_id)[0]
        assert conn.get_transport_family() == "tcp"
        assert conn.get_negotiated_security_protocol() == "/noise"
        assert conn.get_negotiated_muxer_protocol() == "/yamux/1.0.0"
        assert a.carrier.latency.stats(b.peer_key).ipv4 == "127.0.0.1"

        # The new carrier published a locator only the owner can open.
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: key in b.locators)
        dht_key, value = b.locators[key]
        loc = validate_locator(dht_key, value, int(clock() * 1000))
        holder = open_locator(sealing_seed(OWNER_SEED), loc.value)
        assert holder.holder == b.peer_key
        assert holder.record_hash == b.carrier.held[key].last.record.hash
        assert holder.addrs == tuple(addr.to_bytes() for addr in b.addrs)
        assert loc.value.hop == 1
        # expiry = now + 2 x epoch (60 s here)
        assert abs(loc.value.expires_at_ms - (clock() + 120) * 1000) < 5000


@pytest.mark.trio
async def test_launch_then_ttl_hop_over_websocket() -> None:
    clock = MovableClock()
    async with nodes(clock, 3, 4, ws=True) as (a, b):
        assert all("/ws" in str(addr) for addr in a.addrs + b.addrs)
        await launch_and_hop(clock, a, b)
        conn = a.host.get_network().get_connections(b.peer_id)[0]
        raw = conn.muxed_conn.secured_conn.conn.conn.stream
        assert type(raw).__name__ == "P2PWebSocketConnection"
        # The remote address is found for WebSocket connections too (placement uses it).
        assert a.carrier.latency.stats(b.peer_key).ipv4 == "127.0.0.1"


@pytest.mark.trio
async def test_drain_hands_every_shard_on() -> None:
    clock = MovableClock()
    async with nodes(clock, 5, 6) as (a, b):
        w = make_wanderer(clock, epoch=3600)
        assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(DEADLINE):
            await a.drain()
        key = key_of(w)
        assert a.carrier.drained and a.store.keys() == []
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: key in b.carrier.held)
        assert b.carrier.held[key].last.record.value.reason is Reason.DRAIN


@pytest.mark.trio
async def test_panic_evacuates_to_a_peer() -> None:
    clock = MovableClock()
    async with nodes(clock, 7, 8) as (a, b):
        w = make_wanderer(clock, epoch=3600)
        assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(DEADLINE):
            await a.panic()
        key = key_of(w)
        assert a.store.keys() == [] and a.carrier.level is ThreatLevel.PANIC
        assert [e.level for e in a.history.threats] == [int(ThreatLevel.PANIC)]
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: key in b.carrier.held)
        assert b.carrier.held[key].last.record.value.reason is Reason.THREAT


@pytest.mark.trio
async def test_panic_wipes_what_cannot_leave() -> None:
    clock = MovableClock()
    params = CarrierParams(panic_grace=1.0)
    w = make_wanderer(clock, epoch=3600)
    async with nodes(clock, 11, carrier_params=params) as (c,):
        async with nodes(clock, 10) as (b,):
            await b.connect(c.addrs[0])
            assert (await b.launch_shard(w, 0, c.peer_id, owner_seed=OWNER_SEED)).ok
        # B is gone: C has nowhere to flee.
        with trio.fail_after(DEADLINE):
            await c.wait_until(lambda: c.carrier.latency.stats(b.peer_key).lost)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(c.panic)
            with trio.fail_after(DEADLINE):
                await c.wait_until(lambda: c.carrier.level is ThreatLevel.PANIC)
            assert c.store.keys() == [key_of(w)]  # still evacuating
            clock.advance(1.5)  # the grace period is over
        assert c.store.keys() == [] and c.carrier.held == {}


@pytest.mark.trio
async def test_restart_takes_back_committed_shards(tmp_path) -> None:
    clock = MovableClock()
    w = make_wanderer(clock, epoch=60)
    key = key_of(w)
    async with nodes(clock, 12) as (b,):
        async with nodes(clock, 13, store=DiskStore(tmp_path)) as (a,):
            await a.connect(b.addrs[0])
            assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
            first_chain = a.carrier.held[key].chain
        # Same identity, same directory: the shard is this node's again.
        async with nodes(clock, 13, store=DiskStore(tmp_path)) as (a2,):
            assert a2.carrier.held[key].chain == first_chain
            await a2.connect(b.addrs[0])
            with trio.fail_after(DEADLINE):
                await a2.wait_until(lambda: b.peer_key in a2.carrier.latency)
            clock.advance(60 * 1.25 + 0.1)
            with trio.fail_after(DEADLINE):
                await b.wait_until(lambda: key in b.carrier.held)
                await a2.wait_until(lambda: key not in a2.carrier.held)
                await a2.wait_until(lambda: not list(tmp_path.iterdir()))  # wiped on disk


@pytest.mark.trio
async def test_a_refusal_travels_back_with_its_code() -> None:
    clock = MovableClock()
    async with nodes(clock, 14, 15) as (a, b):
        w = make_wanderer(clock, epoch=3600)
        assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
        result = await b.launch_shard(w, 1, a.peer_id, owner_seed=OWNER_SEED)
        assert not result.ok and result.code is RejectCode.SIBLING_HELD
        assert list(a.carrier.held) == [key_of(w)] and a.store.keys() == [key_of(w)]
        assert a.carrier.used == w.manifest.value.shard_size  # no reservation left over


@pytest.mark.trio
async def test_a_multi_chunk_shard_crosses_intact() -> None:
    clock = MovableClock()
    payload = bytes(range(256)) * (5 * 4096 + 17)  # ~5 MiB: several 1 MiB Data chunks
    w = create_wanderer(
        payload,
        owner_seed=OWNER_SEED,
        nonce=b"\x09" * 12,
        k=1,
        n=2,
        epoch_seconds=3600,
        now=clock(),
    )
    async with nodes(clock, 16, 17) as (a, b):
        with trio.fail_after(DEADLINE):
            result = await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)
        assert result.ok
        shard, meta = a.store.get(key_of(w))
        assert shard == w.shards[0] and len(shard) > 5 * MAX_CHUNK_SIZE and meta.committed


@pytest.mark.trio
async def test_a_one_second_epoch_is_held_to_the_floor_and_its_locator_lives_as_long() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w = make_wanderer(clock, epoch=1)
        key = key_of(w)
        assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(DEADLINE):
            await a.wait_until(lambda: key in a.locators)
        floor = a.carrier.params.min_epoch
        assert floor == 60.0  # the default
        loc = validate_locator(*a.locators[key], int(clock() * 1000))
        assert abs(loc.value.expires_at_ms - (clock() + 2 * floor) * 1000) < 5000
        assert a.carrier.held[key].next_hop_at >= clock() + floor - 1  # it arrived just now


@pytest.mark.trio
async def test_a_carrier_spot_audits_the_peer_it_handed_a_shard_to() -> None:
    """Over real streams: A's own challenge (its peer key, no grant) and B's proof."""
    clock = MovableClock()
    params = CarrierParams(spot_audits=True)
    async with nodes(clock, 5, 6, carrier_params=params) as (a, b):
        key = await launch_and_hop(clock, a, b)
        assert a.stats.spot_audits_passed == 0
        clock.advance(60.0)  # the audit comes due within the shard's epoch
        with trio.fail_after(DEADLINE):
            await a.wait_until(lambda: a.stats.spot_audits_passed == 1)
        assert a.stats.spot_audits_failed == 0 and b.stats.audits_answered == 1
        assert key in b.carrier.held  # an audit changes nothing a carrier holds
        assert a.carrier.evidence.distrusted(clock()) == set()
