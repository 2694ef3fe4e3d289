"""One libp2p stream, pumped: bytes read go to the node's core, bytes the core sends go out.

py-libp2p's ``read(n)`` may return fewer bytes than asked and raises
``StreamEOF`` at the end instead of returning ``b""``; a write can block on a
peer that stops reading. A :class:`StreamPump` hides all of that behind the
node core's stream id: a reader task feeds ``data_received`` and reports the
end as ``stream_lost``; a writer task writes the core's ``SendData`` in order,
each write bounded in time, and closes or resets the stream when told. The
pump decides nothing about the protocol.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import trio
from libp2p.exceptions import BaseLibp2pError

__all__ = [
    "CLOSE_TIMEOUT",
    "READ_SIZE",
    "STREAM_ERRORS",
    "WRITE_TIMEOUT",
    "ByteStream",
    "StreamPump",
    "read_exactly",
    "reset_quietly",
]

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
"""Bytes asked of one ``stream.read``; the core's frame decoder bounds what is buffered."""

WRITE_TIMEOUT = 30.0
"""Bound on one write (a 1 MiB frame at the protocol's minimum rate takes 4 s)."""

CLOSE_TIMEOUT = 5.0
"""Seconds allowed for closing a stream before it is reset."""

STREAM_ERRORS: tuple[type[BaseException], ...] = (
    BaseLibp2pError,  # StreamEOF, StreamReset, StreamClosed, StreamError, muxer errors
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    OSError,
    EOFError,
)


class ByteStream(Protocol):
    """What the pump needs of a stream (py-libp2p's ``INetStream``, or a test fake)."""

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    async def reset(self) -> None: ...


async def read_exactly(stream: ByteStream, n: int) -> bytes:
    """``n`` bytes from ``stream`` (a read may return fewer); ``EOFError`` if it ends first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise EOFError(f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


async def reset_quietly(stream: ByteStream) -> None:
    """Reset a stream, ignoring a stream that is already gone (bounded to one second)."""
    with trio.move_on_after(1.0), contextlib.suppress(*STREAM_ERRORS):
        await stream.reset()


def _forget_in_muxer(stream: object) -> None:
    """Drop what py-libp2p's Yamux (0.8.1) keeps of a stream it has already finished with.

    A read that is waiting when the stream is finalized (both sides closed)
    puts the stream's wake-up event back after Yamux removed it
    (``Yamux.read_stream``), and nothing removes it again until the
    connection closes: about 1 KB for every stream this node closes first
    and then drains. Stream ids are never reused within a connection.
    """
    muxed = getattr(stream, "muxed_stream", stream)
    conn, sid = getattr(muxed, "conn", None), getattr(muxed, "stream_id", None)
    streams, events = getattr(conn, "streams", None), getattr(conn, "stream_events", None)
    if isinstance(streams, dict) and isinstance(events, dict) and sid not in streams:
        events.pop(sid, None)


_CLOSE = object()  # queued after the last bytes: close the stream
_RESET = object()  # abort now


class StreamPump:
    """Moves one stream's bytes between the wire and the core (see module docstring).

    ``on_data(data)`` and ``on_lost()`` are the node's calls into its core for
    this stream; they never block.
    """

    def __init__(
        self,
        stream: ByteStream,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.stream = stream
        self.on_data = on_data
        self.on_lost = on_lost
        self._out, self._queue = trio.open_memory_channel[bytes | object](float("inf"))
        self._ending = False  # close or reset asked for: nothing more is queued
        self._lost = False  # the core has been told the stream is gone
        self._scope: trio.CancelScope | None = None
        self._read_ended = trio.Event()

    # ---- the core's effects -----------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue bytes to write (after everything queued before)."""
        if not self._ending:
            self._out.send_nowait(data)

    def close(self) -> None:
        """Close the stream once everything queued is written."""
        if not self._ending:
            self._ending = True
            self._out.send_nowait(_CLOSE)

    def reset(self) -> None:
        """Abort: drop what is unsent and reset the stream now."""
        if not self._ending:
            self._ending = True
            self._out.send_nowait(_RESET)
        if self._scope is not None:
            self._scope.cancel()  # a write blocked on a stalled peer ends now

    # ---- running ----------------------------------------------------------------------

    def _lose(self) -> None:
        if not self._lost:
            self._lost = True
            self.on_lost()

    async def run(self) -> None:
        """Pump until the stream is closed or reset; the core hears of every end.

        After a close, what the peer still sends is read and dropped until its
        end, for at most ``CLOSE_TIMEOUT``, and then the stream is reset: bytes
        nobody reads would stay in the muxer (up to a window a stream) for as
        long as the peer keeps its side open, which a peer refused mid-frame
        need never close.
        """
        ended = False  # closed on both sides; anything else ends in a reset
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read)
                if not await self._write() and await self._close():
                    with trio.move_on_after(CLOSE_TIMEOUT):
                        await self._read_ended.wait()
                    ended = self._read_ended.is_set()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if not ended:
                    await reset_quietly(self.stream)
                _forget_in_muxer(self.stream)
                self._lose()

    async def _read(self) -> None:
        try:
            while True:
                try:
                    data = await self.stream.read(READ_SIZE)
                except STREAM_ERRORS as exc:
                    log.debug("stream ended: %r", exc)
                    data = b""
                if not data:
                    self._lose()
                    self.close()  # the peer is gone: end our side too
                    return
                if not self._ending:  # after a close the core wants nothing more
                    self.on_data(data)
        finally:
            self._read_ended.set()

    async def _write(self) -> bool:
        """Write what the core sends; returns True if the stream is to be reset."""
        with trio.CancelScope() as scope:
            self._scope = scope
            async for item in self._queue:
                if item is _CLOSE:
                    return False
                if item is _RESET or not isinstance(item, bytes):
                    return True
                with trio.move_on_after(WRITE_TIMEOUT) as timer:
                    try:
                        await self.stream.write(item)
                    except STREAM_ERRORS as exc:
                        log.debug("write failed: %r", exc)
                        return True
                if timer.cancelled_caught:
                    log.debug("write timed out")
                    return True
        return True  # reset() cancelled a blocked write

    async def _close(self) -> bool:
        """Close our side; False if that failed or took over ``CLOSE_TIMEOUT`` (reset it)."""
        with trio.move_on_after(CLOSE_TIMEOUT) as scope:
            try:
                await self.stream.close()
            except STREAM_ERRORS as exc:
                log.debug("close failed: %r", exc)
                return False
        return not scope.cancelled_caught
