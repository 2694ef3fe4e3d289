"""The DHT cannot be stalled by idle streams or flooded with records (wdp.node.kadguard)."""

from __future__ import annotations

import contextlib
import os
import time
from contextlib import contextmanager

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.host.exceptions import StreamFailure
from libp2p.kad_dht.pb.kademlia_pb2 import Record
from libp2p.kad_dht.value_store import ValueStore
from libp2p.peer.id import ID
from libp2p.records.record import make_put_record

from wdp.core.limits import KAD_PROTOCOL_ID
from wdp.core.locator import locator_dht_key
from wdp.core.objects import Locator, Signed
from wdp.core.signing import Signer
from wdp.node.host import LocatorValidator
from wdp.node.kadguard import KAD_SENDER, GuardedValueStore, KadLimits, RecordQuotaError
from wdp.node.node import Node
from wdp.node.streams import STREAM_ERRORS, reset_quietly

from .helpers import DEADLINE, MovableClock, nodes

KAD = TProtocol(KAD_PROTOCOL_ID)
BLOB = bytes(range(100))  # an opaque sealed holder: a DHT node never opens it


def record(n: int, expires_in: float = 600.0, now: float | None = None) -> tuple[str, bytes]:
    """A valid locator under a key of its own (the n-th of somebody's keys)."""
    signer = Signer(n.to_bytes(32, "big"))
    now = time.time() if now is None else now
    body = Locator(generation=0, hop=1, expires_at_ms=int((now + expires_in) * 1000),
                   sealed_holder=BLOB)  # fmt: skip
    return locator_dht_key(signer.public_key), Signed.create(body, signer).to_bytes()


async def until(predicate, what: str) -> None:
    """Poll state that changes in another task of this process (no event to wait on)."""
    with trio.fail_after(DEADLINE):
        while not predicate():
            await trio.sleep(0.01)


async def open_idle(attacker: Node, target: Node, count: int) -> list[INetStream]:
    """Open ``count`` kad streams and send nothing (a refused one may fail to open)."""
    opened = []
    for _ in range(count):
        with contextlib.suppress(StreamFailure):  # the target reset it during negotiation
            opened.append(await attacker.host.new_stream(target.peer_id, [KAD]))
    return opened


async def get_from(asker: Node, target: Node, key: str) -> bytes | None:
    assert asker.dht is not None
    found = await asker.dht.value_store._get_from_peer(target.peer_id, key.encode())
    assert found is None or isinstance(found, bytes)
    return found


@pytest.mark.trio
async def test_twelve_idle_kad_streams_of_one_peer_do_not_stall_another_peers_get() -> None:
    clock = MovableClock()
    async with nodes(clock, 40, 41, 42) as (target, attacker, honest):
        assert target.dht is not None and target.kad_guard is not None
        key, value = record(1)
        target.dht.value_store.put(key.encode(), value)
        idle = await open_idle(attacker, target, 12)
        guard = target.kad_guard
        await until(lambda: guard.peers[attacker.peer_id] == 4 and guard.refused == 8, "caps")
        started = trio.current_time()
        with trio.fail_after(2.0):
            assert await get_from(honest, target, key) == value
        print(f"GET answered in {trio.current_time() - started:.3f} s beside 12 idle streams")
        assert target.refusals.counts["kad stream over cap"] == 8
        for stream in idle:
            await reset_quietly(stream)


@pytest.mark.trio
async def test_without_the_guards_limits_the_same_streams_stall_the_dht() -> None:
    """py-libp2p's own limit (12 streams in all, no deadline): the attack above is real."""
    clock = MovableClock()
    unguarded = KadLimits(concurrent=12, per_peer=12, per_ip=12, request_timeout=600)
    async with nodes(clock, 43, 44, 45, kad_limits=unguarded) as (target, attacker, honest):
        assert target.dht is not None
        key, value = record(2)
        target.dht.value_store.put(key.encode(), value)
        idle = await open_idle(attacker, target, 12)
        limiter = target.dht._inbound_limiter
        await until(lambda: limiter.borrowed_tokens == 12, "all tokens held")
        with trio.fail_after(DEADLINE):
            assert await get_from(honest, target, key) is None  # reset at once
        for stream in idle:
            await reset_quietly(stream)


@pytest.mark.trio
async def test_a_request_that_does_not_arrive_in_time_ends_the_stream() -> None:
    clock = MovableClock()
    quick = KadLimits(request_timeout=0.3)
    async with nodes(clock, 46, 47, kad_limits=quick) as (target, attacker):
        guard = target.kad_guard
        assert guard is not None
        silent = await attacker.host.new_stream(target.peer_id, [KAD])
        dripping = await attacker.host.new_stream(target.peer_id, [KAD])
        await dripping.write(b"\x80")  # the first byte of a length that never ends
        await until(lambda: guard.timed_out == 2 and not guard.peers, "both ended")
        with trio.fail_after(DEADLINE):
            for stream in (silent, dripping):
                with pytest.raises((EOFError, *STREAM_ERRORS)):
                    while True:  # the target ended the stream: reads fail or hit EOF
                        if not await stream.read(1):
                            raise EOFError
        # An honest request on a fresh stream is answered as before.
        key, value = record(3)
        assert target.dht is not None
        target.dht.value_store.put(key.encode(), value)
        assert await get_from(attacker, target, key) == value


@pytest.mark.trio
async def test_records_beyond_a_peers_share_are_refused_over_the_wire() -> None:
    clock = MovableClock()
    small = KadLimits(records_per_peer=3)
    async with nodes(clock, 48, 49, 50, kad_limits=small) as (target, flooder, honest):
        assert flooder.dht is not None and honest.dht is not None
        store = target.dht.value_store if target.dht else None
        assert isinstance(store, GuardedValueStore)

        async def put(by: Node, n: int) -> bool:
            key, value = record(n)
            raw = key.encode()
            assert by.dht is not None
            with trio.fail_after(DEADLINE):
                return await by.dht.value_store._store_at_peer(
                    target.peer_id, raw, value, make_put_record(raw, value)
                )

        assert [await put(flooder, 100 + i) for i in range(5)] == [True] * 3 + [False] * 2
        assert await put(honest, 200)
        assert store.held_by(flooder.peer_id) == 3 and store.held_by(honest.peer_id) == 1
        assert store.refused == 2
        assert target.refusals.counts["kad record over quota"] == 2


# ---- the store's rules, on the handler's own path (validator, then store) -------------


def guarded_store(limits: KadLimits) -> tuple[GuardedValueStore, LocatorValidator]:
    base = ValueStore(host=None, local_peer_id=ID(b"\x00" * 34))  # type: ignore[arg-type]
    store = GuardedValueStore(base, limits)
    validator = LocatorValidator()
    validator.check_quota = store.check_quota
    return store, validator


def peer(n: int) -> ID:
    return ID(n.to_bytes(34, "big"))


@contextmanager
def sending(who: ID, ip: str):
    token = KAD_SENDER.set((who, ip))
    try:
        yield
    finally:
        KAD_SENDER.reset(token)


def put_as(store: GuardedValueStore, validator: LocatorValidator, key: str, value: bytes) -> bool:
    """What py-libp2p's handler does with a PUT_VALUE: validate, then store."""
    try:
        validator.validate(key, value)
        store.put_record(key.encode(), make_put_record(key.encode(), value))
    except RecordQuotaError:
        return False
    return True


def test_a_flood_of_60000_records_from_one_peer_leaves_every_honest_locator_readable() -> None:
    store, validator = guarded_store(KadLimits())
    honest = {}
    for i in range(50):  # 50 honest carriers' locators, each from its own peer
        key, value = record(1_000_000 + i)
        with sending(peer(i + 1), f"10.0.{i}.1"):
            assert put_as(store, validator, key, value)
        honest[key] = value
    mine_key, mine = record(2_000_000)
    store.put_record(mine_key.encode(), make_put_record(mine_key.encode(), mine))  # own lookup
    started = time.process_time()
    with sending(peer(999), "203.0.113.9"):
        stored = sum(put_as(store, validator, *record(i)) for i in range(60_000))
    cpu = time.process_time() - started
    print(f"60000 flood PUTs: {stored} stored, {store.refused} refused, {cpu:.1f} s CPU")
    assert stored == KadLimits().records_per_peer
    for key, value in honest.items():
        got = store.get(key.encode())
        assert got is not None and got.value == value
    assert store.get(mine_key.encode()) is not None


def test_a_full_store_drops_expired_locators_then_the_biggest_holders_records() -> None:
    store, validator = guarded_store(KadLimits(records=10, records_per_peer=8))
    now = time.time()
    with sending(peer(1), "10.0.0.1"):
        for i in range(6):
            assert put_as(store, validator, *record(i))
    with sending(peer(2), "10.0.0.2"):
        for i in range(3):
            assert put_as(store, validator, *record(100 + i))
    short_key, short = record(500, expires_in=1.0, now=now)
    with sending(peer(3), "10.0.0.3"):
        assert put_as(store, validator, short_key, short)
    assert len(store.store) == 10
    # Time passes: the short-lived locator goes first.
    store.clock = lambda: now + 5.0
    with sending(peer(3), "10.0.0.3"):
        assert put_as(store, validator, *record(501))
    assert store.get(short_key.encode()) is None
    # Then the peer holding the most (peer 1, 6 records) gives up its newest.
    with sending(peer(4), "10.0.0.4"):
        assert put_as(store, validator, *record(600))
    assert store.held_by(peer(1)) == 5
    # The biggest holder cannot push others out to store more of its own.
    with sending(peer(1), "10.0.0.1"):
        assert not put_as(store, validator, *record(7))
    assert store.held_by(peer(2)) == 3


def test_a_peer_replacing_its_own_record_is_not_over_quota() -> None:
    store, validator = guarded_store(KadLimits(records_per_peer=1))
    key, _ = record(7)
    with sending(peer(1), "10.0.0.1"):
        assert put_as(store, validator, *record(7))
        signer = Signer((7).to_bytes(32, "big"))
        newer = Signed.create(
            Locator(generation=0, hop=2, expires_at_ms=int((time.time() + 600) * 1000),
                    sealed_holder=BLOB), signer).to_bytes()  # fmt: skip
        assert put_as(store, validator, key, newer)
        assert not put_as(store, validator, *record(8))
    # Another carrier of the same shard publishes the next hop under the same key.
    with sending(peer(2), "10.0.0.2"):
        assert put_as(store, validator, key, newer)
    assert store.held_by(peer(1)) == 0 and store.held_by(peer(2)) == 1
    assert isinstance(store.get(key.encode()), Record)
    assert os.environ.get("NEVER_SET_IN_TESTS") is None
