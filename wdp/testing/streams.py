"""In-memory byte streams with py-libp2p's habits, for testing stream drivers.

py-libp2p's ``read(n)`` returns fewer bytes than asked whenever it likes and
raises at the end of the stream instead of returning ``b""``. These fakes do
both on purpose (reads of 1 to 7 bytes, chosen by a seeded rng; ``EOFError``
once the writer closed), and let a test watch or fault every write.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import trio

__all__ = ["FakeStream", "Pipe", "stream_pair"]


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
    """A bidirectional stream made of two pipes; ``on_write`` sees (and may fault) each write."""

    def __init__(
        self, inbound: Pipe, outbound: Pipe, on_write: Callable[[bytes], None] | None = None
    ) -> None:
        self.inbound, self.outbound, self.on_write = inbound, outbound, on_write
        self.written: list[bytes] = []
        self.was_reset = False

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
        self.was_reset = True
        self.outbound.close()


def stream_pair(rng: random.Random) -> tuple[FakeStream, FakeStream]:
    """Two connected ends: what one writes, the other reads."""
    a_to_b, b_to_a = Pipe(rng), Pipe(rng)
    return FakeStream(b_to_a, a_to_b), FakeStream(a_to_b, b_to_a)
