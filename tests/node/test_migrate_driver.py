"""The stream driver on in-memory streams: short reads, EOF, timers, write-ahead receipts."""

from __future__ import annotations

import random

import pytest
import trio

from wdp.core.carrier import Carrier
from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.framing import FrameDecoder
from wdp.core.limits import MAX_FRAME_SIZE, OFFER_TIMEOUT
from wdp.core.messages import Offer, Reject, decode_message
from wdp.core.signing import Signer
from wdp.core.wanderer import launch_offer
from wdp.node.migrate import run_receiver, run_sender
from wdp.node.store import MemoryStore

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, seed


class Pipe:
    """One direction of a stream; delivers what was written in random short pieces."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.buf = bytearray()
        self.closed = False
        self.changed = trio.Event()

    def push(self, data: bytes) -> None:
        self.buf += data
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    async def pull(self, n: int) -> bytes:
        while not self.buf:
            if self.closed:
                raise EOFError("stream closed")  # like py-libp2p's StreamEOF
            self.changed = trio.Event()
            await self.changed.wait()
        take = min(n, self.rng.randint(1, 7), len(self.buf))
        out = bytes(self.buf[:take])
        del self.buf[:take]
        return out


class FakeStream:
    """A bidirectional stream made of two pipes; ``on_write`` may inject faults."""

    def __init__(self, inbound: Pipe, outbound: Pipe, on_write=None) -> None:
        self.inbound, self.outbound, self.on_write = inbound, outbound, on_write
        self.written: list[bytes] = []

    async def read(self, n: int | None = None) -> bytes:
        return await self.inbound.pull(n or 65536)

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.on_write is not None:
            self.on_write(data)
        self.outbound.push(data)

    async def close(self) -> None:
        self.outbound.close()

    async def reset(self) -> None:
        self.outbound.close()


def stream_pair(rng: random.Random) -> tuple[FakeStream, FakeStream]:
    a_to_b, b_to_a = Pipe(rng), Pipe(rng)
    return FakeStream(b_to_a, a_to_b), FakeStream(a_to_b, b_to_a)


def messages(chunks: list[bytes]) -> list:
    dec = FrameDecoder(MAX_FRAME_SIZE)
    return [decode_message(f) for c in chunks for f in dec.feed(c)]


@pytest.mark.trio
async def test_handoff_survives_reads_of_a_few_bytes() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    receiver = Signer(seed(50))
    carrier = Carrier(receiver, random.Random(1), clock())
    store = MemoryStore()
    offer = launch_offer(
        w.manifest, 0, owner_seed=OWNER_SEED, to_peer=receiver.public_key, now=clock()
    )
    sender_end, receiver_end = stream_pair(random.Random(7))
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_receiver(
                    receiver_end,
                    signer=receiver,
                    carrier=carrier,
                    store=store,
                    remote_peer=seed(51),
                    clock=clock,
                )
            )
            result = await run_sender(sender_end, offer, w.shards[0], clock=clock)
    assert result.ok and result.link is not None
    assert key in carrier.held and store.get(key)[1].receipt == result.link.receipt.to_bytes()


@pytest.mark.trio
async def test_receipt_is_durable_before_it_is_sent() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    receiver = Signer(seed(52))
    carrier = Carrier(receiver, random.Random(1), clock())
    store = MemoryStore()
    offer = launch_offer(
        w.manifest, 0, owner_seed=OWNER_SEED, to_peer=receiver.public_key, now=clock()
    )
    sender_end, receiver_end = stream_pair(random.Random(8))
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    committed_at_write: list[bool] = []

    def check(data: bytes) -> None:
        if any(type(m).__name__ == "Receipt" for m in messages([data])):
            got = store.get(key)
            committed_at_write.append(got is not None and got[1].committed)

    receiver_end.on_write = check
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_receiver(
                    receiver_end,
                    signer=receiver,
                    carrier=carrier,
                    store=store,
                    remote_peer=seed(53),
                    clock=clock,
                )
            )
            assert (await run_sender(sender_end, offer, w.shards[0], clock=clock)).ok
    assert committed_at_write == [True]


@pytest.mark.trio
async def test_silent_receiver_times_out_and_the_sender_keeps_the_shard() -> None:
    clock = MovableClock()
    w = make_wanderer(clock)
    offer: Offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=seed(54), now=clock())
    silent = Pipe(random.Random(9))  # nothing ever arrives
    sent = Pipe(random.Random(10))
    # The offer goes out, then time jumps past the offer timeout.
    stream = FakeStream(silent, sent, on_write=lambda _d: clock.advance(OFFER_TIMEOUT + 1))
    with trio.fail_after(DEADLINE):
        result = await run_sender(stream, offer, w.shards[0], clock=clock)
    assert not result.ok and result.code is RejectCode.TIMEOUT
    sent_messages = messages(stream.written)
    assert isinstance(sent_messages[0], Offer)
    assert sent_messages[-1] == Reject(RejectCode.TIMEOUT, sent_messages[-1].detail)
    assert sent.closed


@pytest.mark.trio
async def test_stream_closed_mid_offer_is_connection_lost() -> None:
    clock = MovableClock()
    receiver = Signer(seed(55))
    carrier = Carrier(receiver, random.Random(1), clock())
    inbound, outbound = Pipe(random.Random(11)), Pipe(random.Random(12))
    inbound.push(b"\x80")  # half a varint, then EOF
    inbound.close()
    with trio.fail_after(DEADLINE):
        session = await run_receiver(
            FakeStream(inbound, outbound),
            signer=receiver,
            carrier=carrier,
            store=MemoryStore(),
            remote_peer=seed(56),
            clock=clock,
        )
    assert session.failure is not None and session.failure.code is RejectCode.TIMEOUT
    assert outbound.buf == b"" and outbound.closed  # nothing to say to a closed stream
