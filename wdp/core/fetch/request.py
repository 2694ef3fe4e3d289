"""The signed fetch request and the messages of ``/wdp/fetch/1.0``, on the wire.

:func:`decode_fetch_message` is the one entry point for a frame from a peer
(check F1: frame, message and request body decode); whatever the input, it
returns a message or raises :class:`~wdp.core.errors.RemoteProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from ..crypto import wanderer_id as derive_wanderer_id
from ..effects import ShardKey
from ..errors import FETCH_REJECT_CODES, LocalProtocolError, RejectCode, RemoteProtocolError
from ..limits import (
    FETCH_NONCE_SIZE,
    HASH_SIZE,
    KEY_SIZE,
    MAX_CHUNK_SIZE,
    MAX_DETAIL_BYTES,
    MAX_FETCH_REQUEST_BODY,
    MAX_FRAME_SIZE,
    MAX_SHARDS,
    PROTOCOL_VERSION,
    SIGNATURE_SIZE,
)
from ..messages import Data, Done, Reject, decode_reject
from ..objects import (
    CustodyRecord,
    Manifest,
    Signed,
    _check_len,
    _check_version,
    parse_pb,
    time_ms,
)
from ..proto import wdp_pb2 as pb
from ..signing import DOMAIN_FETCH, Signer

# ---- the signed request ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """The owner's (or a keeper's) signed request for one shard, addressed to one carrier."""

    DOMAIN: ClassVar[bytes] = DOMAIN_FETCH
    MAX_BODY: ClassVar[int] = MAX_FETCH_REQUEST_BODY
    INVALID: ClassVar[RejectCode] = RejectCode.MALFORMED
    WHAT: ClassVar[str] = "fetch request"

    wanderer_id: bytes
    owner_key: bytes
    shard_index: int
    carrier: bytes
    time_ms: int
    nonce: bytes
    requester_key: bytes = b""  # empty: the owner asks; else a keeper, with ``grant``
    grant: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return pb.FetchRequestBody(
            version=self.version,
            wanderer_id=self.wanderer_id,
            owner_key=self.owner_key,
            shard_index=self.shard_index,
            carrier=self.carrier,
            time_ms=self.time_ms,
            nonce=self.nonce,
            requester_key=self.requester_key,
            grant=self.grant,
        ).SerializeToString(deterministic=True)

    @property
    def signer_key(self) -> bytes:
        """The key that signs this request: the requester's if named, else the owner's."""
        return self.requester_key or self.owner_key

    @classmethod
    def decode(cls, body: bytes) -> Self:
        r = parse_pb(pb.FetchRequestBody, body, cls.INVALID, cls.WHAT)
        _check_version(r.version, cls.WHAT)
        bad = cls.INVALID
        _check_len(r.wanderer_id, HASH_SIZE, "fetch request wanderer_id", bad)
        _check_len(r.owner_key, KEY_SIZE, "fetch request owner_key", bad)
        if r.shard_index >= MAX_SHARDS:
            raise RemoteProtocolError(
                bad, f"fetch request shard_index {r.shard_index} >= {MAX_SHARDS}"
            )
        _check_len(r.carrier, KEY_SIZE, "fetch request carrier", bad)
        _check_len(r.nonce, FETCH_NONCE_SIZE, "fetch request nonce", bad)
        if r.requester_key:
            _check_len(r.requester_key, KEY_SIZE, "fetch request requester_key", bad)
            if r.requester_key == r.owner_key:
                raise RemoteProtocolError(
                    bad, "fetch request requester_key must be empty when the owner asks"
                )
        _check_len(r.grant, SIGNATURE_SIZE if r.requester_key else 0, "fetch request grant", bad)
        return cls(
            wanderer_id=bytes(r.wanderer_id),
            owner_key=bytes(r.owner_key),
            shard_index=r.shard_index,
            carrier=bytes(r.carrier),
            time_ms=r.time_ms,
            nonce=bytes(r.nonce),
            requester_key=bytes(r.requester_key),
            grant=bytes(r.grant),
            version=r.version,
        )

    @property
    def key(self) -> ShardKey:
        return ShardKey(self.wanderer_id, self.shard_index)


def make_fetch_request(
    owner_seed: bytes,
    wanderer_id: bytes,
    shard_index: int,
    now: float,
    nonce: bytes,
    *,
    carrier: bytes,
    owner_key: bytes | None = None,
    grant: bytes = b"",
) -> Signed[FetchRequest]:
    """Sign a request for shard ``shard_index``, to be sent to ``carrier`` (its peer key).

    ``nonce`` is 16 fresh random bytes (the caller draws them: the core has no
    randomness); ``now`` is the requester's clock in seconds. The owner signs
    with its owner seed. A keeper passes its repair seed as ``owner_seed``,
    the wanderer's ``owner_key`` and the owner's ``grant`` to the repair key.
    """
    signer = Signer(owner_seed)
    owner = signer.public_key if owner_key is None else owner_key
    if derive_wanderer_id(owner) != wanderer_id:
        raise LocalProtocolError(
            RejectCode.UNAUTHORIZED, "this owner key does not own that wanderer"
        )
    keeper = owner != signer.public_key
    if len(grant) != (SIGNATURE_SIZE if keeper else 0):
        raise LocalProtocolError(
            RejectCode.UNAUTHORIZED,
            "a keeper's request carries the owner's grant; the owner's carries none",
        )
    if len(nonce) != FETCH_NONCE_SIZE or len(carrier) != KEY_SIZE:
        raise LocalProtocolError(
            RejectCode.MALFORMED, f"nonce must be {FETCH_NONCE_SIZE} and carrier {KEY_SIZE} bytes"
        )
    if not 0 <= shard_index < MAX_SHARDS:
        raise LocalProtocolError(RejectCode.MALFORMED, f"shard_index must be below {MAX_SHARDS}")
    body = FetchRequest(
        wanderer_id=wanderer_id,
        owner_key=owner,
        shard_index=shard_index,
        carrier=carrier,
        time_ms=time_ms(now),
        nonce=nonce,
        requester_key=signer.public_key if keeper else b"",
        grant=grant,
    )
    return Signed.create(body, signer)


# ---- messages --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """Client -> carrier: the signed request."""

    request: Signed[FetchRequest]


@dataclass(frozen=True, slots=True)
class Header:
    """Carrier -> client: the manifest and the custody record that made it the carrier."""

    manifest: Signed[Manifest]
    record: Signed[CustodyRecord]


FetchMessage = Request | Header | Data | Done | Reject


def decode_fetch_message(frame: bytes) -> FetchMessage:
    """Decode one frame payload of ``/wdp/fetch/1.0`` (raises RemoteProtocolError, nothing else)."""
    if len(frame) > MAX_FRAME_SIZE:
        raise RemoteProtocolError(
            RejectCode.TOO_LARGE, f"message of {len(frame)} bytes exceeds limit"
        )
    m = parse_pb(pb.FetchMessage, frame, RejectCode.MALFORMED, "fetch message")
    kind = m.WhichOneof("kind")
    if kind == "request":
        return Request(Signed.from_pb(m.request, FetchRequest))
    if kind == "header":
        if not m.header.HasField("manifest") or not m.header.HasField("record"):
            raise RemoteProtocolError(
                RejectCode.MALFORMED, "fetch header lacks its manifest or record"
            )
        return Header(
            Signed.from_pb(m.header.manifest, Manifest),
            Signed.from_pb(m.header.record, CustodyRecord),
        )
    if kind == "data":
        if not 0 < len(m.data.chunk) <= MAX_CHUNK_SIZE:
            raise RemoteProtocolError(RejectCode.MALFORMED, "data chunk must be 1 byte to 1 MiB")
        return Data(m.data.offset, bytes(m.data.chunk))
    if kind == "done":
        if len(m.done.record_hash) != HASH_SIZE:
            raise RemoteProtocolError(
                RejectCode.MALFORMED, f"done record_hash must be {HASH_SIZE} bytes"
            )
        return Done(bytes(m.done.record_hash))
    if kind == "reject":
        return decode_reject(m.reject, FETCH_REJECT_CODES)
    raise RemoteProtocolError(RejectCode.MALFORMED, "fetch message has no known kind")


def encode_fetch_message(msg: FetchMessage) -> bytes:
    """Encode a message as a frame payload (without the varint prefix)."""
    out = pb.FetchMessage()
    match msg:
        case Request():
            out.request.CopyFrom(msg.request.to_pb())
        case Header():
            out.header.manifest.CopyFrom(msg.manifest.to_pb())
            out.header.record.CopyFrom(msg.record.to_pb())
        case Data():
            out.data.offset = msg.offset
            out.data.chunk = msg.chunk
        case Done():
            out.done.record_hash = msg.record_hash
        case Reject():
            out.reject.code = int(msg.code)  # type: ignore[assignment]
            out.reject.detail = msg.detail.encode()[:MAX_DETAIL_BYTES].decode(errors="ignore")
    return out.SerializeToString(deterministic=True)
