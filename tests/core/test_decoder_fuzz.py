"""The decoder under 100,000 random and mutated inputs raises only RemoteProtocolError.

Deterministic (seeded) mutation fuzzing of valid frames of every message kind,
plus pure noise. Every input also goes through the framing layer and into live
receiver and sender sessions, which must answer with effects, never raise.
"""

from __future__ import annotations

import contextlib
import random
import tracemalloc

import pytest

from wdp.core.errors import RejectCode, RemoteProtocolError
from wdp.core.framing import FrameDecoder, encode_frame
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.locator import validate_locator
from wdp.core.messages import (
    Accept,
    Data,
    Done,
    Message,
    Receipt,
    Reject,
    decode_message,
    encode_message,
)
from wdp.core.migrate import ReceiverSession, SenderSession
from wdp.core.objects import CustodyRecord, HolderInfo, Locator, Manifest, Reason, Signed
from wdp.core.objects import Receipt as ReceiptBody

from .helpers import T0, launch, make_node, make_wanderer

INPUTS = 100_000
SESSION_EVERY = 10  # every 10th input also drives live sessions


def corpus() -> list[bytes]:
    """One valid encoding of every message kind (and every reject code)."""
    w = make_wanderer()
    a, b = make_node(1), make_node(2)
    out = launch(w, 0, a)
    (held,) = a.carrier.held.values()
    offer = a.carrier.next_offer(held, b.peer, Reason.TTL, T0 + 1)
    msgs: list[Message] = [
        offer,
        out.sender.offer,
        Accept(offer.record.hash),
        Data(0, w.shards[0][:100]),
        Receipt(held.last.receipt),
        Done(offer.record.hash),
    ]
    msgs += [Reject(code, code.name) for code in RejectCode]
    return [encode_message(m) for m in msgs]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(7)
        if op == 0 and data:  # flip bits
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif op == 2:  # insert random bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randrange(1, 16))
        elif op == 3 and data:  # overwrite with an interesting byte
            data[rng.randrange(len(data))] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x01, 0x0A, 0x12])
        elif op == 4:  # splice two frames
            other = rng.choice(seeds)
            data = data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
        elif op == 5 and len(data) > 2:  # duplicate a slice
            i = rng.randrange(len(data) - 1)
            data[i:i] = data[i : i + rng.randrange(1, 64)]
        elif op == 6:  # pure noise
            data = bytearray(rng.randbytes(rng.randrange(0, 256)))
    return bytes(data)


@pytest.mark.timeout(300)
def test_decoder_raises_only_remote_protocol_errors_on_100k_inputs() -> None:
    rng = random.Random(20261124)
    seeds = corpus()
    b = make_node(2)
    w = make_wanderer()
    a = make_node(1)
    launch(w, 0, a)
    (held,) = a.carrier.held.values()
    offer = a.carrier.next_offer(held, b.peer, Reason.TTL, T0 + 1)
    decoded = errors = 0
    tracemalloc.start()
    try:
        for i in range(INPUTS):
            data = mutate(rng, seeds)
            try:
                decode_message(data)
                decoded += 1
            except RemoteProtocolError:
                errors += 1
            for kind in (Manifest, CustodyRecord, ReceiptBody, Locator):
                with contextlib.suppress(RemoteProtocolError):
                    Signed.from_bytes(data, kind)
            with contextlib.suppress(RemoteProtocolError):
                HolderInfo.decode(data)
            with contextlib.suppress(RemoteProtocolError):
                validate_locator("/wdp/" + "ab" * 32, data, 0)
            if i % SESSION_EVERY == 0:
                # Live sessions: raw bytes (framed or not) must become effects, never exceptions.
                framed = encode_frame(data, MAX_FRAME_SIZE) if rng.random() < 0.8 else data
                recv = ReceiverSession(b.signer, b.carrier, T0, remote_peer=a.peer)
                recv.receive_data(framed, T0)
                sender = SenderSession(offer, a.store[held.key])
                sender.start(T0)
                sender.receive_data(framed, T0)
                with contextlib.suppress(RemoteProtocolError):
                    FrameDecoder(MAX_FRAME_SIZE).feed(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded > 1000 and errors > 10_000  # the corpus exercises both paths
    assert peak < 64 * 1024 * 1024, f"peak traced memory {peak} bytes"


def test_frame_decoder_bounds_memory_before_the_payload_arrives() -> None:
    """A huge declared length is refused from the prefix alone."""
    dec = FrameDecoder(MAX_FRAME_SIZE)
    with pytest.raises(RemoteProtocolError) as exc:
        dec.feed(b"\xff\xff\xff\xff\x0f")
    assert exc.value.code.name == "TOO_LARGE"
    assert dec.buffered <= 5


@pytest.mark.parametrize(
    "prefix, code",
    [
        (b"\x80\x00", "MALFORMED"),
        (b"\xff" * 10 + b"\x01", "MALFORMED"),
        (b"\x80" * 11, "MALFORMED"),
    ],
)
def test_bad_varint_prefixes(prefix: bytes, code: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        FrameDecoder(MAX_FRAME_SIZE).feed(prefix)
    assert exc.value.code.name == code
