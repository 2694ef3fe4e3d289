"""The signed challenge, the repair grant and the messages of ``/wdp/audit/1.0``, on the wire.

:func:`decode_audit_message` is the one entry point for a frame from a peer
(check A1: frame, message and challenge body decode); whatever the input, it
returns a message or raises :class:`~wdp.core.errors.RemoteProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from ..crypto import wanderer_id as derive_wanderer_id
from ..effects import ShardKey
from ..errors import AUDIT_REJECT_CODES, LocalProtocolError, RejectCode, RemoteProtocolError
from ..limits import (
    AUDIT_NONCE_SIZE,
    HASH_SIZE,
    KEY_SIZE,
    MAX_AUDIT_CHALLENGE_BODY,
    MAX_AUDIT_PATH,
    MAX_DETAIL_BYTES,
    MAX_FRAME_SIZE,
    MAX_SHARDS,
    PROTOCOL_VERSION,
    SIGNATURE_SIZE,
)
from ..merkle import LEAF_SIZE
from ..messages import Reject, decode_reject
from ..objects import (
    CustodyLink,
    CustodyRecord,
    Signed,
    _check_len,
    _check_version,
    parse_pb,
    time_ms,
)
from ..proto import wdp_pb2 as pb
from ..signing import DOMAIN_AUDIT, DOMAIN_REPAIR_GRANT, Signer, verify

__all__ = [
    "AuditChallenge",
    "AuditMessage",
    "Challenge",
    "Moved",
    "Proof",
    "decode_audit_message",
    "encode_audit_message",
    "grant_is_valid",
    "make_challenge",
    "make_grant",
    "make_spot_challenge",
]


# ---- the repair grant ----------------------------------------------------------------


def make_grant(owner_seed: bytes, wanderer_id: bytes, repair_key: bytes) -> bytes:
    """The owner's 64-byte signature that lets ``repair_key`` audit (and, later, repair).

    Domain ``wdp/v2/repair-grant``, body ``wanderer_id || repair_key``: a
    carrier checks it before it looks at what it holds, so a stranger learns
    nothing about which shards a node carries.
    """
    return Signer(owner_seed).sign(DOMAIN_REPAIR_GRANT, wanderer_id + repair_key)


def grant_is_valid(owner_key: bytes, wanderer_id: bytes, key: bytes, grant: bytes) -> bool:
    """True if ``grant`` is the owner's grant to ``key`` for this wanderer."""
    return verify(owner_key, DOMAIN_REPAIR_GRANT, wanderer_id + key, grant)


# ---- the signed challenge -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditChallenge:
    """A challenge for one leaf of one shard, addressed to one carrier."""

    DOMAIN: ClassVar[bytes] = DOMAIN_AUDIT
    MAX_BODY: ClassVar[int] = MAX_AUDIT_CHALLENGE_BODY
    INVALID: ClassVar[RejectCode] = RejectCode.MALFORMED
    WHAT: ClassVar[str] = "audit challenge"

    wanderer_id: bytes
    owner_key: bytes
    challenger_key: bytes
    shard_index: int
    carrier: bytes
    leaf_index: int
    time_ms: int
    nonce: bytes
    grant: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return pb.AuditChallengeBody(
            version=self.version,
            wanderer_id=self.wanderer_id,
            owner_key=self.owner_key,
            challenger_key=self.challenger_key,
            grant=self.grant,
            shard_index=self.shard_index,
            carrier=self.carrier,
            leaf_index=self.leaf_index,
            time_ms=self.time_ms,
            nonce=self.nonce,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        c = parse_pb(pb.AuditChallengeBody, body, cls.INVALID, cls.WHAT)
        _check_version(c.version, cls.WHAT)
        bad = cls.INVALID
        _check_len(c.wanderer_id, HASH_SIZE, "audit challenge wanderer_id", bad)
        _check_len(c.owner_key, KEY_SIZE, "audit challenge owner_key", bad)
        _check_len(c.challenger_key, KEY_SIZE, "audit challenge challenger_key", bad)
        if c.challenger_key == c.owner_key and c.grant:
            raise RemoteProtocolError(
                bad, "audit challenge grant must be 0 bytes (the owner needs none)"
            )
        if len(c.grant) not in (0, SIGNATURE_SIZE):
            raise RemoteProtocolError(
                bad, "audit challenge grant must be empty or a 64-byte owner signature"
            )
        if c.shard_index >= MAX_SHARDS:
            raise RemoteProtocolError(bad, f"audit challenge shard_index {c.shard_index} >= 256")
        _check_len(c.carrier, KEY_SIZE, "audit challenge carrier", bad)
        _check_len(c.nonce, AUDIT_NONCE_SIZE, "audit challenge nonce", bad)
        return cls(
            wanderer_id=bytes(c.wanderer_id),
            owner_key=bytes(c.owner_key),
            challenger_key=bytes(c.challenger_key),
            shard_index=c.shard_index,
            carrier=bytes(c.carrier),
            leaf_index=c.leaf_index,
            time_ms=c.time_ms,
            nonce=bytes(c.nonce),
            grant=bytes(c.grant),
            version=c.version,
        )

    @property
    def key(self) -> ShardKey:
        return ShardKey(self.wanderer_id, self.shard_index)


def make_challenge(
    signer_seed: bytes,
    *,
    owner_key: bytes,
    shard_index: int,
    carrier: bytes,
    leaf_index: int,
    now: float,
    nonce: bytes,
    grant: bytes = b"",
) -> Signed[AuditChallenge]:
    """Sign a challenge for leaf ``leaf_index`` of shard ``shard_index``, to ``carrier``.

    ``signer_seed`` is the owner seed, or a repair seed with the owner's
    ``grant`` to its key. ``leaf_index`` and ``nonce`` (16 bytes) are drawn by
    the caller at random, so the carrier cannot predict what it will be asked.
    """
    signer = Signer(signer_seed)
    wid = derive_wanderer_id(owner_key)
    if signer.public_key != owner_key and not grant_is_valid(
        owner_key, wid, signer.public_key, grant
    ):
        raise LocalProtocolError(
            RejectCode.UNAUTHORIZED, "this key is neither the owner's nor granted by the owner"
        )
    grant = b"" if signer.public_key == owner_key else grant
    return _signed_challenge(signer, owner_key, shard_index, carrier, leaf_index, now, nonce, grant)


def make_spot_challenge(
    signer: Signer,
    *,
    owner_key: bytes,
    shard_index: int,
    carrier: bytes,
    leaf_index: int,
    now: float,
    nonce: bytes,
) -> Signed[AuditChallenge]:
    """The previous carrier's challenge: signed with its peer key, no grant (spec 18.4 A3).

    ``carrier`` took the shard from ``signer``'s node by a hop it signed a
    receipt for; it answers this challenge as it would the owner's.
    """
    return _signed_challenge(signer, owner_key, shard_index, carrier, leaf_index, now, nonce, b"")


def _signed_challenge(
    signer: Signer, owner_key: bytes, shard_index: int, carrier: bytes, leaf_index: int,
    now: float, nonce: bytes, grant: bytes,
) -> Signed[AuditChallenge]:  # fmt: skip
    if len(nonce) != AUDIT_NONCE_SIZE or len(carrier) != KEY_SIZE:
        raise LocalProtocolError(
            RejectCode.MALFORMED, f"nonce must be {AUDIT_NONCE_SIZE} and carrier {KEY_SIZE} bytes"
        )
    if not 0 <= shard_index < MAX_SHARDS or not 0 <= leaf_index < 2**32:
        raise LocalProtocolError(RejectCode.MALFORMED, "shard or leaf index out of range")
    body = AuditChallenge(
        wanderer_id=derive_wanderer_id(owner_key),
        owner_key=owner_key,
        challenger_key=signer.public_key,
        shard_index=shard_index,
        carrier=carrier,
        leaf_index=leaf_index,
        time_ms=time_ms(now),
        nonce=nonce,
        grant=grant,
    )
    return Signed.create(body, signer)


# ---- messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """Challenger -> carrier: the signed challenge."""

    challenge: Signed[AuditChallenge]


@dataclass(frozen=True, slots=True)
class Proof:
    """Carrier -> challenger: the challenged leaf, its path, and the record that made it carrier."""

    record: Signed[CustodyRecord]
    leaf: bytes
    path: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Moved:
    """Carrier -> challenger: it handed the shard on; ``link`` is that hop, receipt included."""

    link: CustodyLink


AuditMessage = Challenge | Proof | Moved | Reject


def decode_audit_message(frame: bytes) -> AuditMessage:
    """Decode one frame payload of ``/wdp/audit/1.0`` (raises RemoteProtocolError, nothing else)."""
    if len(frame) > MAX_FRAME_SIZE:
        raise RemoteProtocolError(
            RejectCode.TOO_LARGE, f"message of {len(frame)} bytes exceeds limit"
        )
    m = parse_pb(pb.AuditMessage, frame, RejectCode.MALFORMED, "audit message")
    kind = m.WhichOneof("kind")
    if kind == "challenge":
        return Challenge(Signed.from_pb(m.challenge, AuditChallenge))
    if kind == "proof":
        p = m.proof
        if not p.HasField("record"):
            raise RemoteProtocolError(RejectCode.MALFORMED, "audit proof lacks its record")
        if not 0 < len(p.leaf) <= LEAF_SIZE:
            raise RemoteProtocolError(
                RejectCode.MALFORMED, f"audit proof leaf must be 1..{LEAF_SIZE} bytes"
            )
        if len(p.path) > MAX_AUDIT_PATH or any(len(h) != HASH_SIZE for h in p.path):
            raise RemoteProtocolError(
                RejectCode.MALFORMED,
                f"audit proof path must be at most {MAX_AUDIT_PATH} hashes of {HASH_SIZE} bytes",
            )
        record = Signed.from_pb(p.record, CustodyRecord)
        return Proof(record, bytes(p.leaf), tuple(bytes(h) for h in p.path))
    if kind == "reject":
        return decode_reject(m.reject, AUDIT_REJECT_CODES)
    if kind == "moved":
        link = m.moved.link
        if (
            not m.moved.HasField("link")
            or not link.HasField("record")
            or not link.HasField("receipt")
        ):
            raise RemoteProtocolError(RejectCode.MALFORMED, "audit moved lacks its link")
        return Moved(CustodyLink.from_pb(link))
    raise RemoteProtocolError(RejectCode.MALFORMED, "audit message has no known kind")


def encode_audit_message(msg: AuditMessage) -> bytes:
    """Encode a message as a frame payload (without the varint prefix)."""
    out = pb.AuditMessage()
    match msg:
        case Challenge():
            out.challenge.CopyFrom(msg.challenge.to_pb())
        case Proof():
            out.proof.record.CopyFrom(msg.record.to_pb())
            out.proof.leaf = msg.leaf
            out.proof.path.extend(msg.path)
        case Moved():
            out.moved.link.CopyFrom(msg.link.to_pb())
        case Reject():
            out.reject.code = int(msg.code)  # type: ignore[assignment]
            out.reject.detail = msg.detail.encode()[:MAX_DETAIL_BYTES].decode(errors="ignore")
    return out.SerializeToString(deterministic=True)
