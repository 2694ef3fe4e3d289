"""Pings with sub-millisecond timing feed the carrier's latency map and threat detector."""

from __future__ import annotations

import pytest
import trio
from libp2p.peer.id import ID

from wdp.node.host import identity_keypair

from .helpers import DEADLINE, MovableClock, nodes, seed


@pytest.mark.trio
async def test_pings_feed_the_latency_map() -> None:
    clock = MovableClock()
    async with nodes(clock, 30, 31) as (a, b):
        with trio.fail_after(DEADLINE):
            await a.wait_until(lambda: b.peer_key in a.carrier.latency)
            rtts = [await a.pinger.ping(b.peer_id) for _ in range(5)]
        assert all(r is not None and 0 < r < 0.5 for r in rtts)
        assert any(r * 1000 != int(r * 1000) for r in rtts)  # finer than whole milliseconds
        stats = a.carrier.latency.stats(b.peer_key)
        assert stats.samples == 5 and stats.healthy and stats.srtt is not None
        assert stats.ipv4 == "127.0.0.1"


@pytest.mark.trio
async def test_unreachable_peer_fails_then_is_lost() -> None:
    clock = MovableClock()
    async with nodes(clock, 32, lost_after=2, ping_timeout=2.0) as (a,):
        ghost = ID.from_pubkey(identity_keypair(seed(33)).public_key)
        key = bytes(identity_keypair(seed(33)).public_key.to_bytes())
        with trio.fail_after(DEADLINE):
            assert await a.pinger.ping(ghost) is None
            assert a.carrier.latency.stats(key).consecutive_failures == 1
            assert not a.carrier.latency.stats(key).lost
            assert await a.pinger.ping(ghost) is None
        assert a.carrier.latency.stats(key).lost  # PeerLost after lost_after failures


@pytest.mark.trio
async def test_disconnect_reports_the_peer_lost() -> None:
    clock = MovableClock()
    async with nodes(clock, 34) as (a,):
        async with nodes(clock, 35) as (b,):
            await b.connect(a.addrs[0])
            with trio.fail_after(DEADLINE):
                await a.wait_until(lambda: b.peer_key in a.carrier.latency)
        with trio.fail_after(DEADLINE):
            await a.wait_until(lambda: a.carrier.latency.stats(b.peer_key).lost)


@pytest.mark.trio
async def test_ping_loop_measures_peers_and_fills_the_routing_table() -> None:
    clock = MovableClock()
    async with nodes(clock, 36, 37, ping_interval=0.05) as (a, b):

        def measured() -> bool:
            stats = a.carrier.latency.stats(b.peer_key)
            return stats is not None and stats.samples >= 3

        with trio.fail_after(DEADLINE):
            await a.wait_until(measured)
            # B dialled A; once identify shows B serves kad, A's ping round adds it.
            await a.wait_until(lambda: a.dht.routing_table.peer_in_table(b.peer_id))
        assert a.carrier.latency.stats(b.peer_key).healthy
