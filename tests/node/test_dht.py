"""Locator records in the Kademlia DHT: put by the carrier, found and opened by the owner."""

from __future__ import annotations

import hashlib

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.kad_dht.routing_table import peer_id_to_key
from libp2p.kad_dht.utils import xor_distance
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.record import make_put_record
from libp2p.records.utils import InvalidRecordType
from multiaddr import Multiaddr

import wdp.node.dht
from wdp.core.effects import ShardKey
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.locator import locator_dht_key, make_locator, open_locator, validate_locator
from wdp.core.objects import HolderInfo, Locator, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import locator_seed, sealing_seed
from wdp.node.dht import DISCOVERY_BACKOFF, PUBLISH_REPLICAS, discovery_wait, publish_locator
from wdp.node.host import LocatorValidator
from wdp.node.node import Node

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, nodes


def locator(
    clock: MovableClock, *, secret: bytes, hop: int, expires_in: float
) -> tuple[str, bytes]:
    holder = HolderInfo(b"\x01" * 32, (), b"\x02" * 32)
    return make_locator(
        locator_secret=secret,
        sealing_key=Signer(OWNER_SEED).public_key,
        holder=holder,
        generation=0,
        hop=hop,
        expires_at_ms=int((clock() + expires_in) * 1000),
        ephemeral_seed=b"\x03" * 32,
    )


async def know_each_other(learners: list[Node], swarm: list[Node]) -> None:
    """Put every other node of ``swarm`` in each learner's routing table, as a settled
    swarm has them. Identify may have run on a peer before its DHT handler was
    registered, so the server-mode check is skipped (these peers are DHT servers)."""
    for node in learners:
        for other in swarm:
            if other is not node:
                info = PeerInfo(other.peer_id, other.addrs)
                assert await node.dht.routing_table.add_peer(info, skip_server_mode_check=True)


def test_validator_wraps_the_core_rules() -> None:
    clock = MovableClock()
    v = LocatorValidator(clock)
    secret = locator_seed(OWNER_SEED, 0, 0)
    key, hop1 = locator(clock, secret=secret, hop=1, expires_in=60)
    _, hop2 = locator(clock, secret=secret, hop=2, expires_in=60)
    v.validate(key, hop1)
    assert v.select(key, [hop1, hop2]) == 1
    body = Signed.from_bytes(hop2, Locator).value
    forged = Signed.create(body, Signer(b"\x09" * 32)).to_bytes()
    with pytest.raises(ProtocolError) as err:
        v.validate(key, forged)
    assert err.value.code is RejectCode.BAD_SIGNATURE
    assert v.select(key, [forged, hop1]) == 1
    clock.advance(61)
    with pytest.raises(ProtocolError) as err:
        v.validate(key, hop2)
    assert err.value.code is RejectCode.STALE_HOP


@pytest.mark.trio
async def test_locator_put_by_the_carrier_is_found_and_forgeries_are_refused() -> None:
    clock = MovableClock()
    async with nodes(clock, 20, 21, 22) as (a, b, c):
        w = make_wanderer(clock, epoch=3600)
        key = ShardKey(w.manifest.value.wanderer_id, 0)
        assert (await a.launch_shard(w, 0, b.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: key in b.locators)
        dht_key, genuine = b.locators[key]
        raw_key = dht_key.encode()

        # B's put reached the other DHT nodes; C, which never held the shard, finds it.
        assert a.dht.value_store.get(raw_key).value == genuine
        c.dht.value_store.store.pop(raw_key, None)  # make C look it up on the network
        with trio.fail_after(DEADLINE):
            found = await c.lookup_locator(dht_key)
        assert found == genuine
        assert dht_key == locator_dht_key(b.carrier.held[key].record.locator_key)
        holder = open_locator(
            sealing_seed(OWNER_SEED), validate_locator(dht_key, found, int(clock() * 1000)).value
        )
        assert holder.holder == b.peer_key
        assert holder.record_hash == b.carrier.held[key].last.record.hash

        async def offer_to_a(value: bytes) -> bool:
            record = make_put_record(raw_key, value)
            with trio.fail_after(DEADLINE):
                return await c.dht.value_store._store_at_peer(a.peer_id, raw_key, value, record)

        # A forgery under the genuine key (signed by another key) is refused
        # locally and by the remote DHT node, which keeps the genuine record.
        body = Signed.from_bytes(genuine, Locator).value
        forged = Signed.create(body, Signer(b"\x09" * 32)).to_bytes()
        with pytest.raises(ProtocolError):
            await c.dht.put_value(dht_key, forged)
        assert not await offer_to_a(forged)
        secret = locator_seed(OWNER_SEED, 0, 0)
        _, expired = locator(clock, secret=secret, hop=9, expires_in=-1)
        assert not await offer_to_a(expired)
        assert a.dht.value_store.get(raw_key).value == genuine

        # A genuine newer hop replaces it; an older one does not come back.
        _, newer = locator(clock, secret=secret, hop=5, expires_in=600)
        assert await offer_to_a(newer)
        assert a.dht.value_store.get(raw_key).value == newer
        assert not await offer_to_a(genuine)
        assert a.dht.value_store.get(raw_key).value == newer

        # B still has its own (older) copy locally; a lookup asks the network anyway.
        assert b.dht.value_store.get(raw_key).value == genuine
        with trio.fail_after(DEADLINE):
            latest = await b.lookup_locator(dht_key)
        assert latest == newer

        # Strict validation: nothing outside the /wdp/ namespace is stored.
        for other in ("/pk/anything", "/ipns/anything", "plain-key"):
            with pytest.raises(InvalidRecordType):
                await c.dht.put_value(other, b"value")


@pytest.mark.trio
async def test_a_locator_is_put_at_the_closest_peers_and_found_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No peer counts as slow here (one process runs eight nodes), so the five that
    # get the record are exactly the five closest.
    monkeypatch.setattr(wdp.node.dht, "QUERY_HEDGE", DEADLINE)
    clock = MovableClock()
    async with nodes(clock, 30, 31, 32, 33, 34, 35, 36, 37) as swarm:
        publisher, reader = swarm[0], swarm[1]
        dht_key, value = locator(
            clock, secret=locator_seed(OWNER_SEED, 0, 0), hop=1, expires_in=600
        )
        raw = dht_key.encode()
        # A settled swarm: the publisher knows every peer.
        await know_each_other([publisher], swarm)
        assert len(publisher.dht.routing_table.find_local_closest_peers(raw, 20)) == 7
        stored, holders = await put_locator(publisher, swarm, dht_key, value)
        target = hashlib.sha256(raw).digest()
        by_distance = sorted(
            (n.peer_id for n in swarm[1:]),
            key=lambda p: xor_distance(peer_id_to_key(p), target),
        )
        # Five PUTs, not one to each of the seven peers: the five closest to the key.
        assert stored == PUBLISH_REPLICAS == len(holders)
        assert holders == set(by_distance[:PUBLISH_REPLICAS])
        assert publisher.dht.value_store.get(raw).value == value

        # A reader that has no copy finds it where it was put.
        assert await found_afresh(reader, dht_key) == value

        # A record the validator refuses is not stored or sent anywhere.
        with pytest.raises(ProtocolError):
            await publish_locator(publisher.dht, "/wdp/" + "00" * 48, value, publisher.spawn)


def test_quiet_discovery_backs_off_and_a_new_peer_resets_the_pace() -> None:
    waits = [30.0]
    for _ in range(6):
        waits.append(discovery_wait(waits[-1], 0, 30.0))
    assert waits == [30, 60, 120, 240, 240, 240, 240]
    assert max(waits) == 30 * DISCOVERY_BACKOFF
    assert discovery_wait(240.0, 1, 30.0) == 30.0


async def put_locator(publisher: Node, swarm: list[Node], dht_key: str, value: bytes):
    """Publish a locator from ``publisher``; how many PUTs it counted, and which peers hold it."""
    with trio.fail_after(DEADLINE):
        stored = await publish_locator(publisher.dht, dht_key, value, publisher.spawn)
    raw = dht_key.encode()
    return stored, {n.peer_id for n in swarm[1:] if n.dht.value_store.get(raw) is not None}


async def found_afresh(reader: Node, dht_key: str) -> bytes | None:
    """What ``reader`` finds for ``dht_key`` in the network once its own copy is gone."""
    reader.dht.value_store.store.pop(dht_key.encode(), None)
    with trio.fail_after(DEADLINE):
        return await reader.lookup_locator(dht_key)


def dead_peers_closer_than(live: list[Node], raw: bytes, count: int) -> list[ID]:
    """Peer ids nearer ``raw`` than every live node, as a churned routing table holds."""
    target = hashlib.sha256(raw).digest()
    nearest_live = min(xor_distance(peer_id_to_key(n.peer_id), target) for n in live)
    dead: list[ID] = []
    while len(dead) < count:
        peer = ID.from_pubkey(create_new_key_pair().public_key)
        if xor_distance(peer_id_to_key(peer), target) < nearest_live:
            dead.append(peer)
    return dead


@pytest.mark.trio
async def test_dead_peers_in_the_routing_table_neither_answer_nor_take_locators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After churn the closest peers a routing table knows may all be dead. py-libp2p's
    # query returns the same thing for a failed dial as for an empty answer; a walk
    # that took that for an answer would send every PUT to the dead and find nothing.
    monkeypatch.setattr(wdp.node.dht, "QUERY_HEDGE", DEADLINE)
    clock = MovableClock()
    async with nodes(clock, 40, 41, 42, 43, 44, 45, 46) as swarm:
        publisher, reader = swarm[0], swarm[1]
        dht_key, value = locator(
            clock, secret=locator_seed(OWNER_SEED, 0, 1), hop=1, expires_in=600
        )
        raw = dht_key.encode()
        dead = dead_peers_closer_than(swarm[1:], raw, PUBLISH_REPLICAS)
        for node in (publisher, reader):
            for peer in dead:  # a closed port: each dial fails at once
                node.host.get_peerstore().add_addrs(peer, [Multiaddr("/ip4/127.0.0.1/tcp/9")], 600)
                assert await node.dht.routing_table.add_peer(peer, skip_server_mode_check=True)
        await know_each_other([publisher, reader], swarm)
        closest = publisher.dht.routing_table.find_local_closest_peers(raw, PUBLISH_REPLICAS)
        assert set(closest) == set(dead)

        stored, holders = await put_locator(publisher, swarm, dht_key, value)
        assert stored == len(holders) == PUBLISH_REPLICAS
        assert not any(publisher.dht.routing_table.peer_in_table(p) for p in dead)
        assert await found_afresh(reader, dht_key) == value


@pytest.mark.trio
async def test_a_burst_of_lookups_stays_within_what_each_peer_serves_one_peer() -> None:
    # 48 lookups at once (a keeper probing 8 generations of 6 shards) against peers
    # that serve 4 kad streams of one peer at a time: none is refused, all are found.
    clock = MovableClock()
    async with nodes(clock, 50, 51, 52, 53, 54) as swarm:
        asker = swarm[0]
        await know_each_other(swarm, swarm)
        keys = []
        for i in range(48):
            dht_key, value = locator(
                clock, secret=locator_seed(OWNER_SEED, i // 8, i % 8), hop=1, expires_in=600
            )
            with trio.fail_after(DEADLINE):
                await publish_locator(swarm[1 + i % 4].dht, dht_key, value, swarm[1].spawn)
            asker.dht.value_store.store.pop(dht_key.encode(), None)
            keys.append((dht_key, value))
        found: dict[str, bytes | None] = {}

        async def look(dht_key: str) -> None:
            found[dht_key] = await asker.lookup_locator(dht_key)

        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:
                for dht_key, _ in keys:
                    nursery.start_soon(look, dht_key)
        assert not any(n.refusals.counts.get("kad stream over cap") for n in swarm[1:])
        assert found == dict(keys)


dht_mod = wdp.node.dht


class _SlowPeerDht:
    """Just enough of a KadDHT for ``_query``: a connected peer that never answers."""

    class _Store:
        asked = 0  # streams opened to the peer

        async def _get_from_peer(self, *args: object, **kw: object) -> None:
            self.asked += 1
            await trio.sleep_forever()

    def __init__(self) -> None:
        network = type("Net", (), {"get_connections": lambda self, peer: [object()]})()
        self.host = type("Host", (), {"get_network": lambda self: network})()
        self.value_store = self._Store()


@pytest.mark.trio
async def test_a_query_given_up_on_keeps_its_place_until_the_peer_drops_the_stream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dht, peer = _SlowPeerDht(), ID(b"\x00\x24" + bytes(36))
    send, receive = trio.open_memory_channel[tuple[ID, object]](10)
    async with trio.open_nursery() as nursery:
        for _ in range(dht_mod.PEER_QUERIES):
            nursery.start_soon(dht_mod._query, dht, peer, b"key", send)
        started = trio.current_time()
        for _ in range(dht_mod.PEER_QUERIES):
            assert (await receive.receive()) == (peer, None)  # each gave up on its timeout
        assert trio.current_time() - started == pytest.approx(dht_mod.QUERY_TIMEOUT)
        # The peer still counts those streams: one more query waits for a place...
        nursery.start_soon(dht_mod._query, dht, peer, b"key", send)
        await receive.receive()
        waited = trio.current_time() - started
        assert waited == pytest.approx(dht_mod.QUERY_TIMEOUT * 2)  # timed out waiting
        assert dht.value_store.asked == dht_mod.PEER_QUERIES  # it opened no stream
        slots = dht_mod._slots[dht][peer]  # type: ignore[index]
        assert slots.value == 0
    # ...and the places come back once the peer would have dropped them.
    assert trio.current_time() - started >= dht_mod.QUERY_TIMEOUT + dht_mod.ABANDONED_HOLD
    assert peer not in dht_mod._slots.get(dht, {})  # type: ignore[call-overload]
