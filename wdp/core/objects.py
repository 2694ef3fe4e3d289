"""The signed objects of WDP v1: manifest, custody record, receipt, locator.

Each object is a frozen dataclass with ``encode()`` (the body bytes that get
signed) and ``decode(body)`` (parse and validate every field, raising
:class:`RemoteProtocolError` with the object's reject code). :class:`Signed`
keeps the exact received body next to the parsed value, so signatures and
hashes are always computed over the bytes that travelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Generic, Protocol, Self, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from .crypto import wanderer_id as derive_wanderer_id
from .errors import RejectCode, RemoteProtocolError
from .limits import (
    HASH_SIZE,
    KEY_SIZE,
    MANIFEST_VERSIONS,
    MAX_ADDR_BYTES,
    MAX_EPOCH_SECONDS,
    MAX_HOLDER_ADDRS,
    MAX_MANIFEST_BODY,
    MAX_PAYLOAD_SIZE,
    MAX_RECEIPT_BODY,
    MAX_RECORD_BODY,
    MAX_SEALED_HOLDER,
    MAX_SHARD_SIZE,
    MAX_SHARDS,
    MIN_EPOCH_SECONDS,
    MIN_SEALED_HOLDER,
    NONCE_SIZE,
    PROTOCOL_VERSION,
    SIGNATURE_SIZE,
    TAG_SIZE,
)
from .proto import wdp_pb2 as pb
from .signing import (
    DOMAIN_LOCATOR,
    DOMAIN_MANIFEST,
    DOMAIN_RECEIPT,
    DOMAIN_RECORD,
    Signer,
    sha256,
    verify,
)


class Cipher(IntEnum):
    CHACHA20_POLY1305 = 1


class Reason(IntEnum):
    """Why a shard moved; hop 0 is GENESIS or REPAIR, later hops TTL, THREAT or DRAIN."""

    GENESIS = 1
    TTL = 2
    THREAT = 3
    DRAIN = 4
    REPAIR = 5


HOP_ZERO_REASONS = frozenset({Reason.GENESIS, Reason.REPAIR})
MOVE_REASONS = frozenset({Reason.TTL, Reason.THREAT, Reason.DRAIN})


M = TypeVar("M", bound=Message)


# Per message type: (name, repeated) of each message-typed field, to walk nested messages.
_SUBMESSAGES: dict[type[Message], tuple[tuple[str, bool], ...]] = {}


def _submessages(msg: Message) -> tuple[tuple[str, bool], ...]:
    found = _SUBMESSAGES.get(type(msg))
    if found is None:
        found = tuple(
            (f.name, bool(f.is_repeated))
            for f in msg.DESCRIPTOR.fields
            if f.type == FieldDescriptor.TYPE_MESSAGE
        )
        _SUBMESSAGES[type(msg)] = found
    return found


def misplaced_field(msg: Message) -> str | None:
    """The name of a known field that arrived with the wrong wire type, or None.

    upb keeps such a field as an unknown field (so a ``version`` sent
    length-delimited would read as version 0); the spec (section 1) makes it a
    parse failure, as prost does. Only the kept unknown fields and the set
    message fields are visited, so a well-formed message costs little.
    """
    unknown = UnknownFieldSet(msg)
    if len(unknown):
        by_number = msg.DESCRIPTOR.fields_by_number
        for i in range(len(unknown)):
            number = unknown[i].field_number
            if number in by_number:
                return str(by_number[number].full_name)
    for name, repeated in _submessages(msg):
        if repeated:
            subs = getattr(msg, name)
        elif msg.HasField(name):
            subs = (getattr(msg, name),)
        else:
            continue
        for sub in subs:
            wrong = misplaced_field(sub)
            if wrong is not None:
                return wrong
    return None


def parse_pb(cls: type[M], data: bytes, code: RejectCode, what: str) -> M:
    """Parse protobuf bytes, turning every parser failure into a RemoteProtocolError.

    A known field number with the wrong wire type, at any depth, is a failure
    too (spec section 1), whatever the parser made of it.
    """
    try:
        msg = cls.FromString(data)
    except (DecodeError, ValueError, TypeError, RecursionError) as exc:
        raise RemoteProtocolError(code, f"{what} is not a valid protobuf message: {exc}") from None
    wrong = misplaced_field(msg)
    if wrong is not None:
        raise RemoteProtocolError(code, f"{what}: field {wrong} has the wrong wire type")
    return msg


def _check_len(value: bytes, size: int, name: str, code: RejectCode) -> None:
    if len(value) != size:
        raise RemoteProtocolError(code, f"{name} must be {size} bytes, got {len(value)}")


def _check_version(version: int, what: str, known: tuple[int, ...] = (PROTOCOL_VERSION,)) -> None:
    if version not in known:
        speaks = " and ".join(str(v) for v in known)
        raise RemoteProtocolError(
            RejectCode.UNSUPPORTED_VERSION,
            f"{what} version {version} is not supported (this node speaks {speaks})",
        )


def time_ms(now: float) -> int:
    """A time in seconds as the wire carries it (``time_ms`` fields): whole ms, never negative."""
    return max(0, int(now * 1000))


def shard_size_for(payload_size: int, k: int) -> int:
    """Bytes per shard: the ciphertext (payload + tag) split into k equal blocks."""
    return max(1, -(-(payload_size + TAG_SIZE) // k))


class SignedBody(Protocol):
    DOMAIN: ClassVar[bytes]
    MAX_BODY: ClassVar[int]
    INVALID: ClassVar[RejectCode]
    WHAT: ClassVar[str]

    def encode(self) -> bytes: ...

    @classmethod
    def decode(cls, body: bytes) -> Self: ...


T = TypeVar("T", bound=SignedBody)


@dataclass(frozen=True, slots=True)
class Signed(Generic[T]):
    """A parsed object with the exact body bytes and signature it arrived with."""

    body: bytes
    signature: bytes
    value: T
    hash: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", sha256(self.body))

    @classmethod
    def create(cls, value: T, signer: Signer) -> Signed[T]:
        """Encode ``value`` and sign the body bytes."""
        body = value.encode()
        return cls(body, signer.sign(value.DOMAIN, body), value)

    @classmethod
    def from_pb(cls, msg: pb.Signed, kind: type[T]) -> Signed[T]:
        """Parse a ``Signed`` message's body as ``kind`` (signature NOT yet checked)."""
        if len(msg.body) > kind.MAX_BODY:
            raise RemoteProtocolError(
                RejectCode.TOO_LARGE,
                f"{kind.WHAT} body of {len(msg.body)} bytes exceeds {kind.MAX_BODY}",
            )
        if len(msg.signature) != SIGNATURE_SIZE:
            raise RemoteProtocolError(
                kind.INVALID, f"{kind.WHAT} signature must be {SIGNATURE_SIZE} bytes"
            )
        return cls(bytes(msg.body), bytes(msg.signature), kind.decode(bytes(msg.body)))

    @classmethod
    def from_bytes(cls, data: bytes, kind: type[T]) -> Signed[T]:
        """Parse an encoded ``Signed`` message (signature NOT yet checked)."""
        return cls.from_pb(parse_pb(pb.Signed, data, kind.INVALID, kind.WHAT), kind)

    def verify(self, public_key: bytes) -> bool:
        """True if the signature over the received body is ``public_key``'s."""
        return verify(public_key, self.value.DOMAIN, self.body, self.signature)

    def to_pb(self) -> pb.Signed:
        return pb.Signed(body=self.body, signature=self.signature)

    def to_bytes(self) -> bytes:
        return self.to_pb().SerializeToString(deterministic=True)


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the owner signs about a wanderer: its coding, shard hashes and epoch.

    Version 2 adds the repair key (locators are sealed to it, and its holder
    may audit) and one Merkle root per shard (what possession audits check).
    A version 1 manifest has neither: its shards cannot be audited.
    """

    DOMAIN: ClassVar[bytes] = DOMAIN_MANIFEST
    MAX_BODY: ClassVar[int] = MAX_MANIFEST_BODY
    INVALID: ClassVar[RejectCode] = RejectCode.BAD_MANIFEST
    WHAT: ClassVar[str] = "manifest"

    wanderer_id: bytes
    owner_key: bytes
    nonce: bytes
    payload_size: int
    k: int
    n: int
    shard_size: int
    shard_hashes: tuple[bytes, ...]
    epoch_seconds: int
    created_at_ms: int
    cipher: Cipher = Cipher.CHACHA20_POLY1305
    version: int = PROTOCOL_VERSION
    repair_key: bytes = b""  # v2
    shard_roots: tuple[bytes, ...] = ()  # v2: n Merkle roots (wdp.core.merkle)

    @property
    def auditable(self) -> bool:
        """Its shards carry Merkle roots, so a carrier can prove possession."""
        return self.version >= 2

    def may_start(self, record: CustodyRecord) -> bool:
        """Whether ``record`` (a hop 0) comes from a key allowed to start a chain.

        The owner key starts every generation; from version 2 on, the repair
        key may start a REPAIR generation too, so a keeper (who holds the
        repair seed, not the owner seed) can relaunch a lost shard.
        """
        if record.from_peer == self.owner_key:
            return True
        return (
            self.version >= 2
            and record.reason is Reason.REPAIR
            and record.from_peer == self.repair_key
        )

    @property
    def sealing_key(self) -> bytes:
        """The key locators of this wanderer are sealed to: the repair key from v2 on."""
        return self.repair_key if self.version >= 2 else self.owner_key

    def encode(self) -> bytes:
        return pb.ManifestBody(
            version=self.version,
            wanderer_id=self.wanderer_id,
            owner_key=self.owner_key,
            cipher=int(self.cipher),  # type: ignore[arg-type]
            nonce=self.nonce,
            payload_size=self.payload_size,
            k=self.k,
            n=self.n,
            shard_size=self.shard_size,
            shard_hashes=list(self.shard_hashes),
            epoch_seconds=self.epoch_seconds,
            created_at_ms=self.created_at_ms,
            repair_key=self.repair_key,
            shard_roots=list(self.shard_roots),
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        m = parse_pb(pb.ManifestBody, body, cls.INVALID, cls.WHAT)
        _check_version(m.version, cls.WHAT, MANIFEST_VERSIONS)
        bad = RejectCode.BAD_MANIFEST
        _check_len(m.owner_key, KEY_SIZE, "manifest owner_key", bad)
        _check_len(m.wanderer_id, HASH_SIZE, "manifest wanderer_id", bad)
        if m.wanderer_id != derive_wanderer_id(m.owner_key):
            raise RemoteProtocolError(bad, "manifest wanderer_id does not derive from owner_key")
        if int(m.cipher) != Cipher.CHACHA20_POLY1305:
            raise RemoteProtocolError(bad, f"manifest cipher {m.cipher} is not supported")
        _check_len(m.nonce, NONCE_SIZE, "manifest nonce", bad)
        if not 1 <= m.k <= m.n <= MAX_SHARDS:
            raise RemoteProtocolError(bad, f"manifest needs 1 <= k <= n <= {MAX_SHARDS}")
        if m.payload_size > MAX_PAYLOAD_SIZE:
            raise RemoteProtocolError(bad, f"manifest payload_size exceeds {MAX_PAYLOAD_SIZE}")
        if m.shard_size != shard_size_for(m.payload_size, m.k):
            raise RemoteProtocolError(bad, "manifest shard_size does not match payload_size and k")
        if m.shard_size > MAX_SHARD_SIZE:
            raise RemoteProtocolError(
                RejectCode.TOO_LARGE, f"shard_size {m.shard_size} exceeds {MAX_SHARD_SIZE}"
            )
        if len(m.shard_hashes) != m.n:
            raise RemoteProtocolError(
                bad, f"manifest lists {len(m.shard_hashes)} hashes for n={m.n}"
            )
        for h in m.shard_hashes:
            _check_len(h, HASH_SIZE, "manifest shard hash", bad)
        if not MIN_EPOCH_SECONDS <= m.epoch_seconds <= MAX_EPOCH_SECONDS:
            raise RemoteProtocolError(bad, f"manifest epoch_seconds {m.epoch_seconds} out of range")
        v2 = m.version >= 2  # a v1 body's fields 13 and 14, if any, are unknown to v1: ignored
        if v2:
            _check_len(m.repair_key, KEY_SIZE, "manifest repair_key", bad)
            if len(m.shard_roots) != m.n:
                raise RemoteProtocolError(
                    bad, f"manifest lists {len(m.shard_roots)} Merkle roots for n={m.n}"
                )
            for r in m.shard_roots:
                _check_len(r, HASH_SIZE, "manifest shard root", bad)
        return cls(
            wanderer_id=bytes(m.wanderer_id),
            owner_key=bytes(m.owner_key),
            nonce=bytes(m.nonce),
            payload_size=m.payload_size,
            k=m.k,
            n=m.n,
            shard_size=m.shard_size,
            shard_hashes=tuple(bytes(h) for h in m.shard_hashes),
            epoch_seconds=m.epoch_seconds,
            created_at_ms=m.created_at_ms,
            cipher=Cipher(m.cipher),
            version=m.version,
            repair_key=bytes(m.repair_key) if v2 else b"",
            shard_roots=tuple(bytes(r) for r in m.shard_roots) if v2 else (),
        )


@dataclass(frozen=True, slots=True)
class CustodyRecord:
    """One hop of a shard, signed by the sender (by the owner at hop 0)."""

    DOMAIN: ClassVar[bytes] = DOMAIN_RECORD
    MAX_BODY: ClassVar[int] = MAX_RECORD_BODY
    INVALID: ClassVar[RejectCode] = RejectCode.MALFORMED
    WHAT: ClassVar[str] = "custody record"

    wanderer_id: bytes
    shard_index: int
    generation: int
    hop: int
    from_peer: bytes
    to_peer: bytes
    shard_hash: bytes
    manifest_hash: bytes
    locator_key: bytes
    reason: Reason
    time_ms: int
    prev_record_hash: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return pb.CustodyRecordBody(
            version=self.version,
            wanderer_id=self.wanderer_id,
            shard_index=self.shard_index,
            generation=self.generation,
            hop=self.hop,
            from_peer=self.from_peer,
            to_peer=self.to_peer,
            shard_hash=self.shard_hash,
            manifest_hash=self.manifest_hash,
            locator_key=self.locator_key,
            reason=int(self.reason),  # type: ignore[arg-type]
            time_ms=self.time_ms,
            prev_record_hash=self.prev_record_hash,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        r = parse_pb(pb.CustodyRecordBody, body, cls.INVALID, cls.WHAT)
        _check_version(r.version, cls.WHAT)
        bad = cls.INVALID
        for name, size in (
            ("wanderer_id", HASH_SIZE),
            ("from_peer", KEY_SIZE),
            ("to_peer", KEY_SIZE),
            ("shard_hash", HASH_SIZE),
            ("manifest_hash", HASH_SIZE),
            ("locator_key", KEY_SIZE),
        ):
            _check_len(getattr(r, name), size, f"custody record {name}", bad)
        if r.reason not in Reason._value2member_map_:
            raise RemoteProtocolError(bad, f"custody record reason {r.reason} is unknown")
        reason = Reason(r.reason)
        if r.hop == 0:
            if reason not in HOP_ZERO_REASONS:
                raise RemoteProtocolError(bad, "hop 0 must be GENESIS or REPAIR")
            if (reason is Reason.GENESIS) != (r.generation == 0):
                raise RemoteProtocolError(bad, "GENESIS is generation 0 and REPAIR a later one")
            if r.prev_record_hash:
                raise RemoteProtocolError(bad, "hop 0 has no previous record")
        else:
            if reason not in MOVE_REASONS:
                raise RemoteProtocolError(bad, f"hop {r.hop} must be TTL, THREAT or DRAIN")
            _check_len(r.prev_record_hash, HASH_SIZE, "custody record prev_record_hash", bad)
        if r.from_peer == r.to_peer:
            raise RemoteProtocolError(bad, "custody record hands a shard to its own sender")
        return cls(
            wanderer_id=bytes(r.wanderer_id),
            shard_index=r.shard_index,
            generation=r.generation,
            hop=r.hop,
            from_peer=bytes(r.from_peer),
            to_peer=bytes(r.to_peer),
            shard_hash=bytes(r.shard_hash),
            manifest_hash=bytes(r.manifest_hash),
            locator_key=bytes(r.locator_key),
            reason=reason,
            time_ms=r.time_ms,
            prev_record_hash=bytes(r.prev_record_hash),
            version=r.version,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receiver's signed statement that it verified and stored the shard."""

    DOMAIN: ClassVar[bytes] = DOMAIN_RECEIPT
    MAX_BODY: ClassVar[int] = MAX_RECEIPT_BODY
    INVALID: ClassVar[RejectCode] = RejectCode.BAD_RECEIPT
    WHAT: ClassVar[str] = "receipt"

    record_hash: bytes
    receiver: bytes
    shard_hash: bytes
    time_ms: int
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return pb.ReceiptBody(
            version=self.version,
            record_hash=self.record_hash,
            receiver=self.receiver,
            shard_hash=self.shard_hash,
            time_ms=self.time_ms,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        r = parse_pb(pb.ReceiptBody, body, cls.INVALID, cls.WHAT)
        _check_version(r.version, cls.WHAT)
        _check_len(r.record_hash, HASH_SIZE, "receipt record_hash", cls.INVALID)
        _check_len(r.receiver, KEY_SIZE, "receipt receiver", cls.INVALID)
        _check_len(r.shard_hash, HASH_SIZE, "receipt shard_hash", cls.INVALID)
        return cls(
            record_hash=bytes(r.record_hash),
            receiver=bytes(r.receiver),
            shard_hash=bytes(r.shard_hash),
            time_ms=r.time_ms,
            version=r.version,
        )


@dataclass(frozen=True, slots=True)
class Locator:
    """The DHT value that lets the owner find a shard's current carrier."""

    DOMAIN: ClassVar[bytes] = DOMAIN_LOCATOR
    MAX_BODY: ClassVar[int] = MAX_SEALED_HOLDER + 64
    INVALID: ClassVar[RejectCode] = RejectCode.MALFORMED
    WHAT: ClassVar[str] = "locator"

    generation: int
    hop: int
    expires_at_ms: int
    sealed_holder: bytes
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return pb.LocatorBody(
            version=self.version,
            generation=self.generation,
            hop=self.hop,
            expires_at_ms=self.expires_at_ms,
            sealed_holder=self.sealed_holder,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        loc = parse_pb(pb.LocatorBody, body, cls.INVALID, cls.WHAT)
        _check_version(loc.version, cls.WHAT)
        if not MIN_SEALED_HOLDER <= len(loc.sealed_holder) <= MAX_SEALED_HOLDER:
            raise RemoteProtocolError(
                cls.INVALID,
                f"locator sealed_holder must be {MIN_SEALED_HOLDER}..{MAX_SEALED_HOLDER} bytes",
            )
        return cls(
            generation=loc.generation,
            hop=loc.hop,
            expires_at_ms=loc.expires_at_ms,
            sealed_holder=bytes(loc.sealed_holder),
            version=loc.version,
        )


@dataclass(frozen=True, slots=True)
class HolderInfo:
    """Who carries a shard; travels only sealed to the owner's key."""

    holder: bytes
    addrs: tuple[bytes, ...]
    record_hash: bytes

    def encode(self) -> bytes:
        return pb.HolderInfo(
            holder=self.holder, addrs=list(self.addrs), record_hash=self.record_hash
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        bad = RejectCode.MALFORMED
        h = parse_pb(pb.HolderInfo, body, bad, "holder info")
        _check_len(h.holder, KEY_SIZE, "holder info holder", bad)
        _check_len(h.record_hash, HASH_SIZE, "holder info record_hash", bad)
        if len(h.addrs) > MAX_HOLDER_ADDRS or any(len(a) > MAX_ADDR_BYTES for a in h.addrs):
            raise RemoteProtocolError(bad, "holder info lists too many or too long addresses")
        return cls(bytes(h.holder), tuple(bytes(a) for a in h.addrs), bytes(h.record_hash))


@dataclass(frozen=True, slots=True)
class CustodyLink:
    """A completed hop: the sender's record and the receiver's receipt."""

    record: Signed[CustodyRecord]
    receipt: Signed[Receipt]

    def to_pb(self) -> pb.CustodyLink:
        return pb.CustodyLink(record=self.record.to_pb(), receipt=self.receipt.to_pb())

    @classmethod
    def from_pb(cls, msg: pb.CustodyLink) -> CustodyLink:
        return cls(Signed.from_pb(msg.record, CustodyRecord), Signed.from_pb(msg.receipt, Receipt))
