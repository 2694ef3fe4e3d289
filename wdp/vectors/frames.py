"""Frames of /wdp/migrate/1.0 and /wdp/fetch/1.0: encode and decode exactly one."""

from __future__ import annotations

from wdp.core.fetch import FetchMessage, decode_fetch_message, encode_fetch_message
from wdp.core.framing import FrameDecoder, decode_uvarint, encode_frame, encode_uvarint
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.messages import Message, decode_message, encode_message


def frame_of(msg: Message) -> bytes:
    return encode_frame(encode_message(msg), MAX_FRAME_SIZE)


def frame_of_payload(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


def decode_frame(frame: bytes) -> Message:
    """Decode exactly one whole frame (raises ProtocolError like a receiver would)."""
    frames = FrameDecoder(MAX_FRAME_SIZE).feed(frame)
    if len(frames) != 1:
        raise ValueError("not exactly one frame")
    return decode_message(frames[0])


def payload_len(frame: bytes) -> int:
    head = decode_uvarint(frame)
    assert head is not None
    return head[0]


def fetch_frame(msg: FetchMessage) -> bytes:
    return encode_frame(encode_fetch_message(msg), MAX_FRAME_SIZE)


def decode_fetch_frame(frame: bytes) -> FetchMessage:
    frames = FrameDecoder(MAX_FRAME_SIZE).feed(frame)
    if len(frames) != 1:
        raise ValueError("not exactly one frame")
    return decode_fetch_message(frames[0])
