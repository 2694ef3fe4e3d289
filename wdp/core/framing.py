"""Unsigned-varint length-prefixed frames, as libp2p protocols use them.

A frame is ``uvarint(len(payload)) || payload``. The varint is LEB128
(7 bits per byte, least significant group first, high bit = "more"), at most
10 bytes and minimally encoded; a length above the protocol's limit is refused
before any of the payload is buffered, so memory stays bounded.
"""

from __future__ import annotations

import sys

from .errors import LocalProtocolError, RejectCode, RemoteProtocolError

MAX_VARINT_BYTES = 10


def encode_uvarint(value: int) -> bytes:
    """LEB128-encode a non-negative integer below 2**64."""
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(data: bytes | bytearray | memoryview, start: int = 0) -> tuple[int, int] | None:
    """Decode a uvarint at ``start``; return ``(value, end)`` or None if incomplete.

    Raises RemoteProtocolError(MALFORMED) for an overlong or non-minimal encoding.
    """
    value = 0
    for i in range(MAX_VARINT_BYTES):
        pos = start + i
        if pos >= len(data):
            return None
        byte = data[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i > 0 and byte == 0:
                raise RemoteProtocolError(RejectCode.MALFORMED, "non-minimal varint length prefix")
            if value >= 1 << 64:
                raise RemoteProtocolError(
                    RejectCode.MALFORMED, "varint length prefix exceeds 64 bits"
                )
            return value, pos + 1
    raise RemoteProtocolError(RejectCode.MALFORMED, "varint length prefix longer than 10 bytes")


def encode_frame(payload: bytes, max_size: int) -> bytes:
    """Prefix ``payload`` with its length; refuse payloads above ``max_size``."""
    if len(payload) > max_size:
        raise LocalProtocolError(
            RejectCode.TOO_LARGE, f"frame of {len(payload)} bytes exceeds {max_size}"
        )
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Incremental frame decoder: feed bytes, take whole frames out.

    Holds at most one frame (``max_size`` bytes) plus one read's worth of input.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def push(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next whole frame, or None until more bytes arrive.

        Raises RemoteProtocolError on a bad or oversized length prefix, before any of
        that frame's payload is buffered beyond what was already received.
        """
        head = decode_uvarint(self._buf)
        if head is None:
            return None
        length, start = head
        if length > self.max_size:
            raise RemoteProtocolError(
                RejectCode.TOO_LARGE, f"frame of {length} bytes exceeds {self.max_size}"
            )
        end = start + length
        if len(self._buf) < end:
            return None
        with memoryview(self._buf) as view:  # one copy, not a bytearray slice and then bytes
            frame = bytes(view[start:end])
        if end == len(self._buf):
            self._buf = bytearray()  # give the frame's memory back, not just its bytes
        else:
            del self._buf[:end]
        return frame

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame now complete, in order."""
        self.push(data)
        frames: list[bytes] = []
        while (frame := self.next_frame()) is not None:
            frames.append(frame)
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buf)

    @property
    def allocated(self) -> int:
        """Memory the buffer takes (a bytearray grows in steps above what it holds)."""
        return sys.getsizeof(self._buf)
