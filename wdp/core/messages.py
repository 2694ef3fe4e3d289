"""Messages of ``/wdp/migrate/1.0`` and their decoder.

:func:`decode_message` is the one entry point for bytes from a peer: it
enforces the size limits, parses the protobuf (a known field with the wrong
wire type fails; of several oneof members the last one wins, spec section 1),
parses every signed body it carries and checks each field's shape. Whatever the input, it returns a
message or raises :class:`RemoteProtocolError`; nothing else escapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import MIGRATE_REJECT_CODES, ProtocolError, RejectCode, RemoteProtocolError
from .framing import encode_uvarint
from .limits import (
    HASH_SIZE,
    KEY_SIZE,
    MAX_CHAIN_LINKS,
    MAX_CHUNK_SIZE,
    MAX_DETAIL_BYTES,
    MAX_FRAME_SIZE,
)
from .objects import CustodyLink, CustodyRecord, Manifest, Signed, parse_pb
from .objects import Receipt as ReceiptBody
from .proto import wdp_pb2 as pb


@dataclass(frozen=True, slots=True)
class Offer:
    """Sender -> receiver: the shard's manifest, its custody chain and the new record."""

    manifest: Signed[Manifest]
    chain: tuple[CustodyLink, ...]
    record: Signed[CustodyRecord]
    locator_secret: bytes


@dataclass(frozen=True, slots=True)
class Accept:
    """Receiver -> sender: send the data."""

    record_hash: bytes


@dataclass(frozen=True, slots=True)
class Reject:
    """Either side: the handoff is over; the sender keeps its copy."""

    code: RejectCode
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Data:
    """Sender -> receiver: the next chunk of the shard, in order."""

    offset: int
    chunk: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    """Receiver -> sender: signed proof that the shard was verified and stored."""

    receipt: Signed[ReceiptBody]


@dataclass(frozen=True, slots=True)
class Done:
    """Sender -> receiver: the receipt was valid and the sender has wiped its copy."""

    record_hash: bytes


Message = Offer | Accept | Reject | Data | Receipt | Done


def _hash_field(value: bytes, what: str) -> bytes:
    if len(value) != HASH_SIZE:
        raise RemoteProtocolError(RejectCode.MALFORMED, f"{what} must be {HASH_SIZE} bytes")
    return bytes(value)


def _decode_offer(m: pb.Offer) -> Offer:
    if not m.HasField("manifest") or not m.HasField("record"):
        raise RemoteProtocolError(RejectCode.MALFORMED, "offer lacks its manifest or record")
    if len(m.chain) > MAX_CHAIN_LINKS:
        raise RemoteProtocolError(
            RejectCode.TOO_LARGE, f"offer carries {len(m.chain)} links, limit {MAX_CHAIN_LINKS}"
        )
    if len(m.locator_secret) != KEY_SIZE:
        raise RemoteProtocolError(RejectCode.MALFORMED, f"locator_secret must be {KEY_SIZE} bytes")
    manifest = Signed.from_pb(m.manifest, Manifest)
    record = Signed.from_pb(m.record, CustodyRecord)
    try:
        chain = tuple(CustodyLink.from_pb(link) for link in m.chain)
    except ProtocolError as exc:
        if exc.code is RejectCode.BAD_RECEIPT:  # a chain receipt is just malformed input here
            raise RemoteProtocolError(RejectCode.MALFORMED, exc.detail) from None
        raise
    return Offer(manifest, chain, record, bytes(m.locator_secret))


def decode_reject(m: pb.Reject, allowed: frozenset[RejectCode]) -> Reject:
    """A Reject's checks: a code this protocol uses (else MALFORMED), detail <= 256 bytes."""
    code = int(m.code)
    if code not in allowed:
        raise RemoteProtocolError(RejectCode.MALFORMED, f"unknown reject code {code}")
    detail = m.detail
    if len(detail.encode()) > MAX_DETAIL_BYTES:
        raise RemoteProtocolError(RejectCode.TOO_LARGE, "reject detail exceeds 256 bytes")
    return Reject(RejectCode(code), detail)


def decode_message(frame: bytes) -> Message:
    """Decode one frame payload of ``/wdp/migrate/1.0``."""
    if len(frame) > MAX_FRAME_SIZE:
        raise RemoteProtocolError(
            RejectCode.TOO_LARGE, f"message of {len(frame)} bytes exceeds limit"
        )
    m = parse_pb(pb.MigrateMessage, frame, RejectCode.MALFORMED, "migrate message")
    kind = m.WhichOneof("kind")
    if kind == "offer":
        return _decode_offer(m.offer)
    if kind == "accept":
        return Accept(_hash_field(m.accept.record_hash, "accept record_hash"))
    if kind == "reject":
        return decode_reject(m.reject, MIGRATE_REJECT_CODES)
    if kind == "data":
        if not 0 < len(m.data.chunk) <= MAX_CHUNK_SIZE:
            raise RemoteProtocolError(RejectCode.MALFORMED, "data chunk must be 1 byte to 1 MiB")
        return Data(m.data.offset, bytes(m.data.chunk))
    if kind == "receipt":
        if not m.receipt.HasField("receipt"):
            raise RemoteProtocolError(RejectCode.BAD_RECEIPT, "receipt message carries no receipt")
        return Receipt(Signed.from_pb(m.receipt.receipt, ReceiptBody))
    if kind == "done":
        return Done(_hash_field(m.done.record_hash, "done record_hash"))
    raise RemoteProtocolError(RejectCode.MALFORMED, "migrate message has no known kind")


MIGRATE_DATA_FIELD = 4  # MigrateMessage.data
FETCH_DATA_FIELD = 3  # FetchMessage.data


def data_frame(kind: int, data: Data) -> bytes:
    """The whole frame (varint prefix included) of a ``Data`` message, as field
    ``kind`` of its protocol's message: the bytes ``encode_frame`` makes of the
    protobuf encoding, with the chunk copied once instead of three times (a
    shard's bytes pass through here on every hop and every fetch)."""
    n = len(data.chunk)
    if not 0 < n <= MAX_CHUNK_SIZE:
        raise ValueError(f"a data chunk is 1 byte to {MAX_CHUNK_SIZE}, not {n}")
    head = (b"\x08" + encode_uvarint(data.offset) if data.offset else b"") + b"\x12"
    head += encode_uvarint(n)
    inner = len(head) + n
    tag = encode_uvarint(kind << 3 | 2)
    size = len(tag) + len(encode_uvarint(inner)) + inner
    return b"".join((encode_uvarint(size), tag, encode_uvarint(inner), head, data.chunk))


def encode_message(msg: Message) -> bytes:
    """Encode a message as a frame payload (without the varint prefix)."""
    out = pb.MigrateMessage()
    match msg:
        case Offer():
            out.offer.manifest.CopyFrom(msg.manifest.to_pb())
            out.offer.chain.extend(link.to_pb() for link in msg.chain)
            out.offer.record.CopyFrom(msg.record.to_pb())
            out.offer.locator_secret = msg.locator_secret
        case Accept():
            out.accept.record_hash = msg.record_hash
        case Reject():
            out.reject.code = int(msg.code)  # type: ignore[assignment]
            out.reject.detail = msg.detail.encode()[:MAX_DETAIL_BYTES].decode(errors="ignore")
        case Data():
            out.data.offset = msg.offset
            out.data.chunk = msg.chunk
        case Receipt():
            out.receipt.receipt.CopyFrom(msg.receipt.to_pb())
        case Done():
            out.done.record_hash = msg.record_hash
    return out.SerializeToString(deterministic=True)
