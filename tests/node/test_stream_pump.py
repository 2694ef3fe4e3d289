"""The stream pump and the node core on in-memory streams: short reads, EOF, timers, receipts.

The pump is the daemon's only piece of stream plumbing; the core decides. These
tests drive two real ``NodeCore``s through two pumps over fake streams that
deliver 1-7 bytes per read, as py-libp2p may.
"""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.framing import FrameDecoder
from wdp.core.limits import MAX_FRAME_SIZE, MIGRATE_PROTOCOL_ID, OFFER_TIMEOUT
from wdp.core.messages import Offer, Receipt, Reject, decode_message
from wdp.core.node import (
    CloseStream,
    LaunchEnded,
    LoadShard,
    NodeCore,
    NodeEffect,
    OpenStream,
    PersistReceipt,
    ResetStream,
    SendData,
    StoreShard,
)
from wdp.core.signing import Signer
from wdp.core.wanderer import launch_offer
from wdp.node.store import MemoryStore
from wdp.node.streams import CLOSE_TIMEOUT, StreamPump
from wdp.testing.clock import MovableClock
from wdp.testing.streams import FakeStream, Pipe, stream_pair

from .helpers import DEADLINE, OWNER_SEED, make_wanderer, seed


def messages(chunks: list[bytes]) -> list:
    dec = FrameDecoder(MAX_FRAME_SIZE)
    return [decode_message(f) for c in chunks for f in dec.feed(c)]


class Side:
    """A node core with a memory store, performing its effects on pumped fake streams."""

    def __init__(self, n: int, clock: MovableClock) -> None:
        self.clock = clock
        self.core = NodeCore(Signer(seed(n)), random.Random(n), clock())
        self.store = MemoryStore()
        self.pumps: dict[int, StreamPump] = {}
        self.reports: list[NodeEffect] = []
        self.committed_when_sent: list[bool] = []
        self.stored: ShardKey | None = None

    def pump(self, sid: int, stream: FakeStream) -> StreamPump:
        pump = StreamPump(
            stream,
            lambda data: self.perform(self.core.data_received(sid, data, self.clock())),
            lambda: self.perform(self.core.stream_lost(sid, self.clock())),
        )
        self.pumps[sid] = pump
        return pump

    def perform(self, effects: list[NodeEffect]) -> None:
        now = self.clock()
        for eff in effects:
            match eff:
                case SendData():
                    if isinstance(eff.message, Receipt) and self.stored is not None:
                        got = self.store.get(self.stored)
                        self.committed_when_sent.append(got is not None and got[1].committed)
                    self.pumps[eff.sid].send(eff.data)
                case CloseStream():
                    self.pumps[eff.sid].close()
                case ResetStream():
                    self.pumps[eff.sid].reset()
                case StoreShard():
                    self.stored = eff.key
                    self.store.put(eff.key, eff.shard, eff.meta)
                    self.perform(self.core.shard_stored(eff.sid, True, now))
                case PersistReceipt():
                    self.store.commit(eff.key, eff.receipt)
                    self.perform(self.core.receipt_persisted(eff.sid, True, now))
                case LoadShard():
                    got = self.store.get(eff.key)
                    self.perform(self.core.shard_loaded(eff.sid, got and got[0], now))
                case _:
                    self.reports.append(eff)


async def launch_over(stream_rng: int, a: Side, b: Side, w, clock: MovableClock) -> LaunchEnded:
    """A launches shard 0 of ``w`` to B over a pumped fake stream pair."""
    offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=b.core.peer, now=clock())
    (open_eff,) = a.core.launch(offer, w.shards[0], tag=1, now=clock())
    assert isinstance(open_eff, OpenStream) and open_eff.protocol == MIGRATE_PROTOCOL_ID
    a_end, b_end = stream_pair(random.Random(stream_rng))
    rsid, first = b.core.accept_stream(MIGRATE_PROTOCOL_ID, a.core.peer, clock())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.pump(rsid, b_end).run)
        pump = a.pump(open_eff.sid, a_end)
        nursery.start_soon(pump.run)
        b.perform(first)
        a.perform(a.core.stream_opened(open_eff.sid, clock()))
    (ended,) = [r for r in a.reports if isinstance(r, LaunchEnded)]
    return ended


@pytest.mark.trio
async def test_handoff_survives_reads_of_a_few_bytes() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    a, b = Side(60, clock), Side(61, clock)
    with trio.fail_after(DEADLINE):
        ended = await launch_over(7, a, b, w, clock)
    assert ended.ok
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    assert key in b.core.held
    shard, meta = b.store.get(key)
    assert shard == w.shards[0] and meta.committed
    assert meta.receipt == b.core.held[key].last.receipt.to_bytes()


@pytest.mark.trio
async def test_receipt_is_durable_before_it_is_sent() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    a, b = Side(62, clock), Side(63, clock)
    with trio.fail_after(DEADLINE):
        assert (await launch_over(8, a, b, w, clock)).ok
    assert b.committed_when_sent == [True]


@pytest.mark.trio
async def test_silent_receiver_times_out_and_the_sender_keeps_its_copy() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    a = Side(64, clock)
    offer: Offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=seed(65), now=clock())
    (open_eff,) = a.core.launch(offer, w.shards[0], tag=1, now=clock())
    silent, sent = Pipe(random.Random(9)), Pipe(random.Random(10))
    stream = FakeStream(silent, sent)

    async def time_runs_out() -> None:
        await trio.testing.wait_all_tasks_blocked()
        clock.advance(OFFER_TIMEOUT + 1)
        a.perform(a.core.handle_timer(clock()))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.pump(open_eff.sid, stream).run)
            a.perform(a.core.stream_opened(open_eff.sid, clock()))
            nursery.start_soon(time_runs_out)
    (ended,) = [r for r in a.reports if isinstance(r, LaunchEnded)]
    assert not ended.ok and ended.code is RejectCode.TIMEOUT
    sent_messages = messages(stream.written)
    assert isinstance(sent_messages[0], Offer)
    assert sent_messages[-1] == Reject(RejectCode.TIMEOUT, sent_messages[-1].detail)
    assert sent.closed


@pytest.mark.trio
async def test_stream_closed_mid_offer_is_stream_lost() -> None:
    clock = MovableClock()
    b = Side(66, clock)
    inbound, outbound = Pipe(random.Random(11)), Pipe(random.Random(12))
    inbound.push(b"\x80")  # half a varint, then EOF
    inbound.close()
    sid, first = b.core.accept_stream(MIGRATE_PROTOCOL_ID, seed(67), clock())
    with trio.fail_after(DEADLINE):
        b.perform(first)
        await b.pump(sid, FakeStream(inbound, outbound)).run()
    assert outbound.buf == b"" and outbound.closed  # nothing to say to a closed stream
    assert b.core.open_streams == 0


@pytest.mark.trio
async def test_reset_cuts_a_write_blocked_on_a_stalled_peer() -> None:
    blocked = trio.Event()

    class Stalled(FakeStream):
        async def write(self, data: bytes) -> None:
            blocked.set()
            await trio.sleep_forever()

    lost: list[bool] = []
    stream = Stalled(Pipe(random.Random(1)), Pipe(random.Random(2)))
    pump = StreamPump(stream, lambda data: None, lambda: lost.append(True))
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.run)
            pump.send(b"x" * 10)
            await blocked.wait()
            pump.reset()
    assert stream.was_reset and lost == [True]


@pytest.mark.trio
async def test_after_a_close_a_peer_that_keeps_sending_is_drained_then_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Bytes nobody reads would sit in the muxer for as long as the peer keeps its side open."""
    got: list[bytes] = []
    lost: list[bool] = []
    inbound, outbound = Pipe(random.Random(3)), Pipe(random.Random(4))
    stream = FakeStream(inbound, outbound)
    pump = StreamPump(stream, got.append, lambda: lost.append(True))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump.run)
        pump.send(b"refused")
        pump.close()
        await trio.sleep(1)
        assert outbound.closed and not stream.was_reset  # our side closed; the peer's not
        inbound.push(b"x" * 1000)  # a peer refused mid-frame goes on sending
        await trio.sleep(1)
        assert inbound.buf == b""  # read and dropped: the core is done with this stream
        assert not stream.was_reset
    assert got == [] and stream.was_reset and lost == [True]
    assert trio.current_time() == pytest.approx(CLOSE_TIMEOUT)


@pytest.mark.trio
async def test_after_a_close_a_peer_that_closes_too_is_not_reset() -> None:
    lost: list[bool] = []
    inbound, outbound = Pipe(random.Random(5)), Pipe(random.Random(6))
    stream = FakeStream(inbound, outbound)
    pump = StreamPump(stream, lambda data: None, lambda: lost.append(True))
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.run)
            pump.send(b"receipt")
            pump.close()
            while not outbound.closed:
                await trio.sleep(0)
            inbound.close()
    assert outbound.buf == b"receipt" and not stream.was_reset and lost == [True]


class _Wire:
    """One end of an in-memory connection, as py-libp2p's Yamux reads and writes it."""

    def __init__(self, stream: trio.testing.MemoryStapledStream, initiator: bool) -> None:
        self.stream, self.is_initiator = stream, initiator

    async def read(self, n: int | None = None) -> bytes:
        return await self.stream.receive_some(n)

    async def write(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def close(self) -> None:
        await self.stream.aclose()

    def get_remote_address(self) -> None:
        return None


@pytest.mark.trio
async def test_a_stream_closed_here_first_leaves_nothing_in_the_muxer() -> None:
    """py-libp2p's Yamux put a drained stream's wake-up event back once it had
    finished the stream; over a long-lived connection that grew without end."""
    from libp2p.peer.id import ID
    from libp2p.stream_muxer.yamux.yamux import Yamux

    a_end, b_end = trio.testing.memory_stream_pair()
    a = Yamux(_Wire(a_end, True), ID(b"a"), is_initiator=True)  # type: ignore[arg-type]
    b = Yamux(_Wire(b_end, False), ID(b"b"), is_initiator=False)  # type: ignore[arg-type]
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.start)
            nursery.start_soon(b.start)
            await a.event_started.wait()
            await b.event_started.wait()
            for _ in range(3):
                theirs = await a.open_stream()
                await theirs.write(b"offer")
                ours = await b.accept_stream()
                pump = StreamPump(ours, lambda data: None, lambda: None)
                async with trio.open_nursery() as inner:
                    inner.start_soon(pump.run)
                    pump.send(b"refused")
                    pump.close()  # this node ends first and drains ...
                    assert await theirs.read(7) == b"refused"
                    await theirs.close()  # ... until the peer ends its side
            assert b.streams == {} and b.stream_events == {}
            nursery.cancel_scope.cancel()


def test_an_offer_answered_again_from_its_receipt_leaves_no_stream_behind() -> None:
    """A retried (or replayed) offer gets the receipt already given and reports nothing
    new; the core must still forget its stream, or a peer could grow it without end."""
    clock = MovableClock()
    w = make_wanderer(clock)
    a, b = Side(1, clock), Side(2, clock)
    offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=b.core.peer, now=clock())

    def hand_over(tag: int) -> None:
        (opened,) = a.core.launch(offer, w.shards[0], tag=tag, now=clock())
        rsid, first = b.core.accept_stream(MIGRATE_PROTOCOL_ID, a.core.peer, clock())
        queue = [(b, a, opened.sid, e) for e in first]
        queue += [(a, b, rsid, e) for e in a.core.stream_opened(opened.sid, clock())]
        while queue:
            side, other, other_sid, eff = queue.pop(0)
            own_sid = rsid if side is b else opened.sid
            if isinstance(eff, SendData):
                got = other.core.data_received(other_sid, eff.data, clock())
                queue += [(other, side, own_sid, e) for e in got]
            elif isinstance(eff, StoreShard):
                got = side.core.shard_stored(eff.sid, True, clock())
                queue += [(side, other, other_sid, e) for e in got]
            elif isinstance(eff, PersistReceipt):
                got = side.core.receipt_persisted(eff.sid, True, clock())
                queue += [(side, other, other_sid, e) for e in got]

    for tag in (1, 2, 3):  # the first takes custody; the others are answered from its receipt
        hand_over(tag)
        assert b.core.open_streams == 0 and a.core.open_streams == 0, tag
