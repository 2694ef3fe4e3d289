"""What every WDP stream session shares: framing, one timer, transitions as data.

The migrate and fetch machines differ in their messages and rules but not in
how bytes become messages, how the single deadline is kept, or how an
unexpected message is refused; that part lives here once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import Enum
from typing import Generic, TypeVar

from .errors import ProtocolError, RejectCode, RemoteProtocolError
from .framing import FrameDecoder
from .limits import MAX_FRAME_SIZE, MIN_RECEIVE_RATE, RATE_WINDOW
from .merkle import merkle_root

M = TypeVar("M")
E = TypeVar("E")
S = TypeVar("S", bound=Enum)


def next_state(table: Mapping[tuple[S, type[M]], S], state: S, msg: M) -> S:
    """The state ``msg`` leads to from ``state``; anything not in ``table`` is a violation."""
    nxt = table.get((state, type(msg)))
    if nxt is None:
        raise RemoteProtocolError(
            RejectCode.PROTOCOL_VIOLATION, f"{type(msg).__name__} in state {state.value}"
        )
    return nxt


class ShardAssembly:
    """A shard arriving as in-order Data chunks, checked as it comes (spec 6.7).

    Both protocols move a shard the same way: each chunk must start where the
    last ended and must not run past the shard's size, and the whole must hash
    to the expected digest (and, for a v2 wanderer's receiver, have the
    manifest's Merkle root, or it could never answer an audit). :meth:`add`
    raises ``RemoteProtocolError`` on the first fault and returns the shard
    once its last byte arrived and hashed.
    """

    __slots__ = ("_chunks", "_hasher", "expected_hash", "expected_root", "received", "size")

    def __init__(self, size: int, expected_hash: bytes, expected_root: bytes | None = None) -> None:
        self.size = size
        self.expected_hash = expected_hash
        self.expected_root = expected_root
        self.received = 0
        self._chunks: list[bytes] = []
        self._hasher = hashlib.sha256()

    def add(self, offset: int, chunk: bytes, mismatch: str) -> bytes | None:
        """Take one chunk; the verified shard once complete, else None.

        ``mismatch`` is the detail of the SHARD_HASH_MISMATCH refusal.
        """
        if offset != self.received:
            raise RemoteProtocolError(
                RejectCode.PROTOCOL_VIOLATION, f"data at offset {offset}, expected {self.received}"
            )
        if self.received + len(chunk) > self.size:
            raise RemoteProtocolError(
                RejectCode.TOO_LARGE, f"data runs past the shard size {self.size}"
            )
        self._chunks.append(chunk)
        self._hasher.update(chunk)
        self.received += len(chunk)
        if self.received < self.size:
            return None
        if self._hasher.digest() != self.expected_hash:
            raise RemoteProtocolError(RejectCode.SHARD_HASH_MISMATCH, mismatch)
        shard = b"".join(self._chunks)  # the one copy: chunks are kept as they came
        self._chunks = []
        if self.expected_root is not None and merkle_root(shard) != self.expected_root:
            raise RemoteProtocolError(
                RejectCode.SHARD_HASH_MISMATCH, "the shard does not have the manifest's Merkle root"
            )
        return shard

    def discard(self) -> None:
        """Drop what arrived (the session ended without the whole shard)."""
        self._chunks = []


class RateFloor:
    """Shard data must keep coming: ``MIN_RECEIVE_RATE`` over each ``RATE_WINDOW``.

    An idle timeout alone lets a peer hold a transfer (and the memory and slot
    it takes) with one byte every 29 s. At each window's end at least the
    floor's worth of bytes, or all that was still owed, must have arrived.
    """

    __slots__ = ("ends_at", "size", "start")

    def __init__(self, size: int, now: float) -> None:
        self.size = size
        self.start = 0  # bytes received when the window began
        self.ends_at = now + RATE_WINDOW

    def holds(self, received: int, now: float) -> bool:
        """At the window's end: did enough arrive? If so, the next window begins."""
        owed = min(int(MIN_RECEIVE_RATE * RATE_WINDOW), self.size - self.start)
        if received - self.start < owed:
            return False
        self.start, self.ends_at = received, now + RATE_WINDOW
        return True

    @staticmethod
    def failure() -> ProtocolError:
        rate = f"{MIN_RECEIVE_RATE // 1024} KiB/s over {RATE_WINDOW:.0f} s"
        return ProtocolError(RejectCode.TIMEOUT, f"shard data slower than {rate}")


class FramedSession(Generic[M, E]):
    """One stream, one role: frames in, effects out, a single timer (as aioquic's).

    Subclasses say how a frame decodes, what a message does, how the session
    ends, and what a timeout or a lost stream means in their current state.
    """

    def __init__(self) -> None:
        self._decoder = FrameDecoder(MAX_FRAME_SIZE)
        self._deadline: float | None = None
        self.failure: ProtocolError | None = None

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next be called, or None."""
        return self._deadline

    @property
    def finished(self) -> bool:
        """In a terminal state: nothing more is read or sent."""
        raise NotImplementedError

    def receive_data(self, data: bytes, now: float) -> list[E]:
        """Bytes arrived from the peer: act on each whole frame, one at a time, in order.

        A finished session ignores everything; the first bad frame ends the
        session, and the peer is told why.
        """
        effects: list[E] = []
        if self.finished:
            return effects
        self._decoder.push(data)
        while not self.finished:
            try:
                frame = self._decoder.next_frame()
                if frame is None:
                    break
                effects += self._on_message(self._decode(frame), now)
            except ProtocolError as exc:
                effects += self._end(exc, notify=True)
        return effects

    @property
    def buffered(self) -> int:
        """Memory held for a frame that has not fully arrived (the node budgets it)."""
        return self._decoder.allocated if self._decoder.buffered else 0

    def abort(self, exc: ProtocolError, now: float) -> list[E]:
        """End the session for a local reason (a budget), telling the peer ``exc``'s code."""
        if self.finished:
            return []
        return self._end(exc, notify=True)

    def handle_timer(self, now: float) -> list[E]:
        """Call at (or after) ``get_timer()``; early or late calls are harmless."""
        if self._deadline is None or now < self._deadline or self.finished:
            return []
        return self._on_timeout(now)

    def connection_lost(self, now: float) -> list[E]:
        """The stream closed or broke."""
        if self.finished:
            return []
        return self._on_lost(now)

    def _decode(self, frame: bytes) -> M:
        raise NotImplementedError

    def _on_message(self, msg: M, now: float) -> list[E]:
        raise NotImplementedError

    def _on_timeout(self, now: float) -> list[E]:
        raise NotImplementedError

    def _on_lost(self, now: float) -> list[E]:
        raise NotImplementedError

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[E]:
        """End the session on ``exc``; ``notify`` sends the peer a Reject first."""
        raise NotImplementedError


class ExchangeSession(FramedSession[M, E]):
    """A one-stream request and answer (fetch, audit): how either side fails and ends.

    ``failed_by_peer`` says the failure is the code of the peer's Reject; a
    lost stream is a TIMEOUT; failing sends a Reject when the peer is to be
    told, then closes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failed_by_peer = False

    def _reject(self, exc: ProtocolError) -> E:
        """The effect that sends the peer a Reject carrying ``exc``."""
        raise NotImplementedError

    def _closed(self) -> E:
        """The effect that closes the stream."""
        raise NotImplementedError

    def _on_lost(self, now: float) -> list[E]:
        return self._end(
            ProtocolError(RejectCode.TIMEOUT, "stream closed before the exchange ended"),
            notify=False,
        )

    def _fail_with(self, exc: ProtocolError, notify: bool, by_peer: bool) -> list[E]:
        self.failure = exc
        self.failed_by_peer = by_peer
        self._deadline = None
        effects: list[E] = []
        if notify:
            effects.append(self._reject(exc))
        effects.append(self._closed())
        return effects
