"""``/wdp/fetch/1.0``: the owner reads one shard from its current carrier.

One stream carries one fetch. The owner's node (the *client*) sends a
``FetchRequestBody`` signed with the owner key; the carrier (the *server*)
answers with a Reject, or with a Header (the manifest and the custody record
that made it the carrier), the shard as in-order Data, and Done.

Everything here is sans-IO, in the style of :mod:`wdp.core.handoff`: bytes go
into ``receive_data(data, now)``, effects come out (:class:`~.effects.Send`,
:class:`~.effects.Close`, :class:`LoadShard`), time only enters through
``now`` and ``get_timer()`` / ``handle_timer(now)``, and the request's nonce
is a parameter. The libp2p driver (``wdp.node.fetch``) and any simulator run
the same rules.

Server checks, in order; the first failure decides the code (protocols/README.md
section 15):

====  ===============================================================  ===================
step  check                                                            code
====  ===============================================================  ===================
F1    frame, message and request body decode                           TOO_LARGE, MALFORMED,
                                                                       UNSUPPORTED_VERSION
F2    ``wanderer_id`` = H("wdp/v1/wanderer-id" || ``owner_key``)        UNAUTHORIZED
F3    the signature verifies with ``owner_key`` (wdp/v1/fetch-request)  UNAUTHORIZED
F4    ``carrier`` = this node's peer key                               WRONG_RECIPIENT
F5    ``time_ms`` within +-5 min of this node's clock                  STALE_HOP
F6    ``nonce`` not seen in a request that passed F1-F6 before         STALE_HOP
F7    this node carries shard (``wanderer_id``, ``shard_index``)       NOT_HELD
====  ===============================================================  ===================

Happy-path transitions (anything else is a PROTOCOL_VIOLATION):

=======================  ===========  ===========================================
state                    message in   next state
=======================  ===========  ===========================================
server AWAIT_REQUEST     Request      LOADING (then DONE once the shard is loaded)
server LOADING           Reject       REJECTED (the client gave up)
client REQUESTED         Header       RECEIVING
client REQUESTED         Reject       FAILED
client RECEIVING         Data         RECEIVING
client RECEIVING         Done         DONE
client RECEIVING         Reject       FAILED
=======================  ===========  ===========================================
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Self

from .crypto import wanderer_id as derive_wanderer_id
from .effects import Close, Send, ShardKey
from .errors import LocalProtocolError, ProtocolError, RejectCode
from .framing import encode_frame
from .limits import (
    FETCH_IDLE_TIMEOUT,
    FETCH_LOAD_TIMEOUT,
    FETCH_NONCE_MEMORY,
    FETCH_NONCE_SIZE,
    FETCH_REQUEST_TIMEOUT,
    FETCH_RESPONSE_TIMEOUT,
    HASH_SIZE,
    KEY_SIZE,
    MAX_CHUNK_SIZE,
    MAX_DETAIL_BYTES,
    MAX_FETCH_REQUEST_BODY,
    MAX_FRAME_SIZE,
    MAX_SHARDS,
    PROTOCOL_VERSION,
)
from .locator import MAX_CLOCK_SKEW_MS
from .messages import Data, Done, Reject, decode_reject
from .objects import CustodyRecord, Manifest, Signed, _check_len, _check_version, parse_pb
from .proto import wdp_pb2 as pb
from .session import FramedSession, next_state
from .signing import DOMAIN_FETCH, Signer, sha256

__all__ = [
    "FETCH_REJECT_CODES",
    "CarriedShard",
    "FetchClientSession",
    "FetchClientState",
    "FetchEffect",
    "FetchLookup",
    "FetchMessage",
    "FetchRequest",
    "FetchResult",
    "FetchServerSession",
    "FetchServerState",
    "Header",
    "LoadShard",
    "NonceCache",
    "Request",
    "check_fetch_header",
    "check_fetch_request",
    "decode_fetch_message",
    "encode_fetch_message",
    "make_fetch_request",
]


# ---- the signed request ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """The owner's signed request for one shard, addressed to one carrier."""

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
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        r = parse_pb(pb.FetchRequestBody, body, cls.INVALID, cls.WHAT)
        _check_version(r.version, cls.WHAT)
        bad = cls.INVALID
        _check_len(r.wanderer_id, HASH_SIZE, "fetch request wanderer_id", bad)
        _check_len(r.owner_key, KEY_SIZE, "fetch request owner_key", bad)
        if r.shard_index >= MAX_SHARDS:
            raise ProtocolError(bad, f"fetch request shard_index {r.shard_index} >= {MAX_SHARDS}")
        _check_len(r.carrier, KEY_SIZE, "fetch request carrier", bad)
        _check_len(r.nonce, FETCH_NONCE_SIZE, "fetch request nonce", bad)
        return cls(
            wanderer_id=bytes(r.wanderer_id),
            owner_key=bytes(r.owner_key),
            shard_index=r.shard_index,
            carrier=bytes(r.carrier),
            time_ms=r.time_ms,
            nonce=bytes(r.nonce),
            version=r.version,
        )

    @property
    def key(self) -> ShardKey:
        return ShardKey(self.wanderer_id, self.shard_index)


def _time_ms(now: float) -> int:
    return max(0, int(now * 1000))


def make_fetch_request(
    owner_seed: bytes,
    wanderer_id: bytes,
    shard_index: int,
    now: float,
    nonce: bytes,
    *,
    carrier: bytes,
) -> Signed[FetchRequest]:
    """Sign a request for shard ``shard_index``, to be sent to ``carrier`` (its peer key).

    ``nonce`` is 16 fresh random bytes (the caller draws them: the core has no
    randomness); ``now`` is the owner's clock in seconds.
    """
    signer = Signer(owner_seed)
    if derive_wanderer_id(signer.public_key) != wanderer_id:
        raise LocalProtocolError(
            RejectCode.UNAUTHORIZED, "this owner seed does not own that wanderer"
        )
    if len(nonce) != FETCH_NONCE_SIZE or len(carrier) != KEY_SIZE:
        raise LocalProtocolError(
            RejectCode.MALFORMED, f"nonce must be {FETCH_NONCE_SIZE} and carrier {KEY_SIZE} bytes"
        )
    if not 0 <= shard_index < MAX_SHARDS:
        raise LocalProtocolError(RejectCode.MALFORMED, f"shard_index must be below {MAX_SHARDS}")
    body = FetchRequest(
        wanderer_id=wanderer_id,
        owner_key=signer.public_key,
        shard_index=shard_index,
        carrier=carrier,
        time_ms=_time_ms(now),
        nonce=nonce,
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

FETCH_REJECT_CODES = frozenset(RejectCode)
"""Codes a ``/wdp/fetch/1.0`` Reject may carry (1..20)."""


def decode_fetch_message(frame: bytes) -> FetchMessage:
    """Decode one frame payload of ``/wdp/fetch/1.0`` (raises ProtocolError, nothing else)."""
    if len(frame) > MAX_FRAME_SIZE:
        raise ProtocolError(RejectCode.TOO_LARGE, f"message of {len(frame)} bytes exceeds limit")
    m = parse_pb(pb.FetchMessage, frame, RejectCode.MALFORMED, "fetch message")
    kind = m.WhichOneof("kind")
    if kind == "request":
        return Request(Signed.from_pb(m.request, FetchRequest))
    if kind == "header":
        if not m.header.HasField("manifest") or not m.header.HasField("record"):
            raise ProtocolError(RejectCode.MALFORMED, "fetch header lacks its manifest or record")
        return Header(
            Signed.from_pb(m.header.manifest, Manifest),
            Signed.from_pb(m.header.record, CustodyRecord),
        )
    if kind == "data":
        if not 0 < len(m.data.chunk) <= MAX_CHUNK_SIZE:
            raise ProtocolError(RejectCode.MALFORMED, "data chunk must be 1 byte to 1 MiB")
        return Data(m.data.offset, bytes(m.data.chunk))
    if kind == "done":
        if len(m.done.record_hash) != HASH_SIZE:
            raise ProtocolError(RejectCode.MALFORMED, f"done record_hash must be {HASH_SIZE} bytes")
        return Done(bytes(m.done.record_hash))
    if kind == "reject":
        return decode_reject(m.reject, FETCH_REJECT_CODES)
    raise ProtocolError(RejectCode.MALFORMED, "fetch message has no known kind")


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


def _send(msg: FetchMessage) -> Send:
    return Send(msg, encode_frame(encode_fetch_message(msg), MAX_FRAME_SIZE))


# ---- the carrier's checks ------------------------------------------------------------


class NonceCache:
    """Nonces of accepted requests, each kept until its request could no longer be fresh.

    A request with ``time_ms`` t passes the freshness check (F5) only while the
    carrier's clock is at most t + ``window_ms``, so its nonce is remembered
    until then. At most ``capacity`` nonces are kept; when full, the ones
    closest to expiry are forgotten first. (A request names its carrier, F4,
    so a forgotten nonce could only be replayed to the same carrier by someone
    who read the request off its Noise channel.)
    """

    def __init__(
        self, capacity: int = FETCH_NONCE_MEMORY, window_ms: int = MAX_CLOCK_SKEW_MS
    ) -> None:
        if capacity < 1:
            raise ValueError("a nonce cache needs room for at least one nonce")
        self.capacity = capacity
        self.window_ms = window_ms
        self._expiry: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now_ms: int) -> None:
        while self._heap and self._heap[0][0] < now_ms:
            expiry, nonce = heapq.heappop(self._heap)
            if self._expiry.get(nonce) == expiry:
                del self._expiry[nonce]

    def seen(self, nonce: bytes, now_ms: int) -> bool:
        """True if ``nonce`` was accepted before and is still remembered."""
        self._purge(now_ms)
        return nonce in self._expiry

    def add(self, nonce: bytes, time_ms: int, now_ms: int) -> None:
        """Remember the nonce of an accepted request with ``time_ms``."""
        self._purge(now_ms)
        expiry = time_ms + self.window_ms
        old = self._expiry.get(nonce)
        if old is not None and old >= expiry:
            return
        while len(self._expiry) >= self.capacity and old is None:
            gone_expiry, gone = heapq.heappop(self._heap)
            if self._expiry.get(gone) == gone_expiry:
                del self._expiry[gone]
        self._expiry[nonce] = expiry
        heapq.heappush(self._heap, (expiry, nonce))


@dataclass(frozen=True, slots=True)
class CarriedShard:
    """What a carrier knows of a shard it holds: the manifest and the hop that brought it."""

    manifest: Signed[Manifest]
    record: Signed[CustodyRecord]


FetchLookup = Callable[[ShardKey], CarriedShard | None]
"""The shard this node carries under a key (committed custody only), or None."""


def check_fetch_request(
    request: Signed[FetchRequest],
    *,
    local_peer: bytes,
    lookup: FetchLookup,
    now: float,
    nonces: NonceCache,
) -> CarriedShard:
    """Checks F2-F7 of a decoded request (F1 is decoding); raise ProtocolError or serve.

    A request that passes F2-F6 uses up its nonce, whether or not this node
    carries the shard.
    """
    req = request.value
    if req.wanderer_id != derive_wanderer_id(req.owner_key):
        raise ProtocolError(
            RejectCode.UNAUTHORIZED, "the request's owner key does not own that wanderer"
        )
    if not request.verify(req.owner_key):
        raise ProtocolError(
            RejectCode.UNAUTHORIZED, "the request is not signed by the wanderer's owner key"
        )
    if req.carrier != local_peer:
        raise ProtocolError(RejectCode.WRONG_RECIPIENT, "the request is addressed to another node")
    now_ms = _time_ms(now)
    skew = req.time_ms - now_ms
    if abs(skew) > MAX_CLOCK_SKEW_MS:
        raise ProtocolError(
            RejectCode.STALE_HOP,
            f"request time is {skew / 1000:+.0f} s from this node's clock "
            f"(limit +-{MAX_CLOCK_SKEW_MS // 1000} s)",
        )
    if nonces.seen(req.nonce, now_ms):
        raise ProtocolError(RejectCode.STALE_HOP, "the request's nonce was used before")
    nonces.add(req.nonce, req.time_ms, now_ms)
    carried = lookup(req.key)
    if carried is None or carried.manifest.value.owner_key != req.owner_key:
        raise ProtocolError(RejectCode.NOT_HELD, "this node does not carry that shard")
    return carried


# ---- the client's checks ---------------------------------------------------------------


def check_fetch_header(
    header: Header, request: FetchRequest, expected_manifest_hash: bytes | None = None
) -> None:
    """The client's checks C1-C6 of a decoded Header; raise ProtocolError if one fails."""
    manifest, record = header.manifest, header.record
    m, rec = manifest.value, record.value
    if expected_manifest_hash is not None and manifest.hash != expected_manifest_hash:
        raise ProtocolError(RejectCode.BAD_MANIFEST, "the manifest is not the expected one")
    if m.owner_key != request.owner_key:
        raise ProtocolError(RejectCode.BAD_MANIFEST, "the manifest belongs to another owner")
    if not manifest.verify(m.owner_key):
        raise ProtocolError(RejectCode.BAD_MANIFEST, "the manifest signature is invalid")
    if not record.verify(rec.from_peer):
        raise ProtocolError(RejectCode.BAD_SIGNATURE, "the custody record signature is invalid")
    bad = RejectCode.BAD_CHAIN
    if rec.wanderer_id != request.wanderer_id or rec.shard_index != request.shard_index:
        raise ProtocolError(bad, "the custody record is for another shard")
    if rec.shard_index >= m.n:
        raise ProtocolError(bad, f"shard index {rec.shard_index} is not below n={m.n}")
    if rec.shard_hash != m.shard_hashes[rec.shard_index]:
        raise ProtocolError(bad, "the record's shard hash is not the manifest's")
    if rec.manifest_hash != manifest.hash:
        raise ProtocolError(bad, "the record names another manifest")
    if rec.hop == 0 and rec.from_peer != m.owner_key:
        raise ProtocolError(bad, "hop 0 was not signed by the owner")
    if rec.to_peer != request.carrier:
        raise ProtocolError(RejectCode.WRONG_SENDER, "the record names another carrier")


# ---- sessions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadShard:
    """Server: read the shard's bytes from the store; answer with ``shard_loaded``."""

    key: ShardKey


FetchEffect = Send | Close | LoadShard


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A verified fetch: the shard's bytes hash to ``manifest.shard_hashes[index]``."""

    manifest: Signed[Manifest]
    record: Signed[CustodyRecord]
    shard: bytes


class FetchServerState(Enum):
    AWAIT_REQUEST = "AWAIT_REQUEST"
    LOADING = "LOADING"
    DONE = "DONE"
    REJECTED = "REJECTED"


class FetchClientState(Enum):
    IDLE = "IDLE"
    REQUESTED = "REQUESTED"
    RECEIVING = "RECEIVING"
    DONE = "DONE"
    FAILED = "FAILED"


SERVER_TRANSITIONS: dict[tuple[FetchServerState, type[FetchMessage]], FetchServerState] = {
    (FetchServerState.AWAIT_REQUEST, Request): FetchServerState.LOADING,
    (FetchServerState.LOADING, Reject): FetchServerState.REJECTED,
}

CLIENT_TRANSITIONS: dict[tuple[FetchClientState, type[FetchMessage]], FetchClientState] = {
    (FetchClientState.REQUESTED, Header): FetchClientState.RECEIVING,
    (FetchClientState.REQUESTED, Reject): FetchClientState.FAILED,
    (FetchClientState.RECEIVING, Data): FetchClientState.RECEIVING,
    (FetchClientState.RECEIVING, Done): FetchClientState.DONE,
    (FetchClientState.RECEIVING, Reject): FetchClientState.FAILED,
}

SERVER_TERMINAL = frozenset({FetchServerState.DONE, FetchServerState.REJECTED})
CLIENT_TERMINAL = frozenset({FetchClientState.DONE, FetchClientState.FAILED})


class _FetchSession(FramedSession[FetchMessage, FetchEffect]):
    """Both fetch roles: whether the failure was the peer's Reject, and how it ends."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_by_peer = False  # the failure is the code of the peer's Reject

    def _decode(self, frame: bytes) -> FetchMessage:
        return decode_fetch_message(frame)

    def _on_lost(self, now: float) -> list[FetchEffect]:
        return self._end(
            ProtocolError(RejectCode.TIMEOUT, "stream closed before the fetch ended"), notify=False
        )

    def _fail_with(self, exc: ProtocolError, notify: bool, by_peer: bool) -> list[FetchEffect]:
        self.failure = exc
        self.failed_by_peer = by_peer
        self._deadline = None
        effects: list[FetchEffect] = []
        if notify:
            effects.append(_send(Reject(exc.code, exc.detail)))
        effects.append(Close())
        return effects


class FetchServerSession(_FetchSession):
    """The carrier's side: check the request, load the shard, send it."""

    def __init__(
        self, *, local_peer: bytes, lookup: FetchLookup, nonces: NonceCache, now: float
    ) -> None:
        super().__init__()
        self.local_peer = local_peer
        self.lookup = lookup
        self.nonces = nonces
        self.state = FetchServerState.AWAIT_REQUEST
        self.request: Signed[FetchRequest] | None = None
        self.carried: CarriedShard | None = None
        self._deadline = now + FETCH_REQUEST_TIMEOUT

    @property
    def finished(self) -> bool:
        return self.state in SERVER_TERMINAL

    @property
    def key(self) -> ShardKey | None:
        return None if self.request is None else self.request.value.key

    def _on_message(self, msg: FetchMessage, now: float) -> list[FetchEffect]:
        nxt = next_state(SERVER_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        assert isinstance(msg, Request)
        self.request = msg.request
        self.carried = check_fetch_request(
            msg.request, local_peer=self.local_peer, lookup=self.lookup, now=now, nonces=self.nonces
        )
        self.state = nxt
        self._deadline = now + FETCH_LOAD_TIMEOUT
        return [LoadShard(msg.request.value.key)]

    def shard_loaded(self, shard: bytes | None, now: float) -> list[FetchEffect]:
        """The driver's answer to LoadShard: the stored bytes, or None if they are gone."""
        if self.finished:
            return []  # timed out or the client left while the store was read
        if self.state is not FetchServerState.LOADING or self.carried is None:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "shard_loaded without a load")
        manifest, record = self.carried.manifest, self.carried.record
        index = record.value.shard_index
        if (
            shard is None
            or len(shard) != manifest.value.shard_size
            or sha256(shard) != manifest.value.shard_hashes[index]
        ):
            return self._end(
                ProtocolError(RejectCode.NOT_HELD, "this node's copy of the shard is gone"),
                notify=True,
            )
        self.state = FetchServerState.DONE
        self._deadline = None
        effects: list[FetchEffect] = [_send(Header(manifest, record))]
        effects += [
            _send(Data(off, shard[off : off + MAX_CHUNK_SIZE]))
            for off in range(0, len(shard), MAX_CHUNK_SIZE)
        ]
        effects += [_send(Done(record.hash)), Close()]
        return effects

    def _on_timeout(self, now: float) -> list[FetchEffect]:
        what = "request" if self.state is FetchServerState.AWAIT_REQUEST else "shard load"
        return self._end(ProtocolError(RejectCode.TIMEOUT, f"no {what} in time"), notify=True)

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[FetchEffect]:
        self.state = FetchServerState.REJECTED
        return self._fail_with(exc, notify, by_peer)


class FetchClientSession(_FetchSession):
    """The owner's side: send the request, verify the header and every byte."""

    def __init__(
        self, request: Signed[FetchRequest], *, expected_manifest_hash: bytes | None = None
    ) -> None:
        super().__init__()
        self.request = request
        self.expected_manifest_hash = expected_manifest_hash
        self.state = FetchClientState.IDLE
        self.header: Header | None = None
        self.result: FetchResult | None = None
        self._buf = bytearray()
        self._hasher = hashlib.sha256()

    @property
    def finished(self) -> bool:
        return self.state in CLIENT_TERMINAL

    @property
    def key(self) -> ShardKey:
        return self.request.value.key

    def start(self, now: float) -> list[FetchEffect]:
        """Send the request."""
        if self.state is not FetchClientState.IDLE:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "session already started")
        self.state = FetchClientState.REQUESTED
        self._deadline = now + FETCH_RESPONSE_TIMEOUT
        return [_send(Request(self.request))]

    def _on_message(self, msg: FetchMessage, now: float) -> list[FetchEffect]:
        nxt = next_state(CLIENT_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        if isinstance(msg, Header):
            check_fetch_header(msg, self.request.value, self.expected_manifest_hash)
            self.header = msg
            self.state = nxt
            self._deadline = now + FETCH_IDLE_TIMEOUT
            return []
        assert self.header is not None
        manifest = self.header.manifest.value
        if isinstance(msg, Data):
            return self._on_data(msg, manifest, now)
        assert isinstance(msg, Done)
        if len(self._buf) != manifest.shard_size:
            raise ProtocolError(
                RejectCode.PROTOCOL_VIOLATION,
                f"done after {len(self._buf)} of {manifest.shard_size} bytes",
            )
        if msg.record_hash != self.header.record.hash:
            raise ProtocolError(RejectCode.PROTOCOL_VIOLATION, "done names another record")
        self.state = nxt
        self._deadline = None
        shard, self._buf = bytes(self._buf), bytearray()
        self.result = FetchResult(self.header.manifest, self.header.record, shard)
        return [Close()]

    def _on_data(self, data: Data, manifest: Manifest, now: float) -> list[FetchEffect]:
        size = manifest.shard_size
        if data.offset != len(self._buf):
            raise ProtocolError(
                RejectCode.PROTOCOL_VIOLATION,
                f"data at offset {data.offset}, expected {len(self._buf)}",
            )
        if len(self._buf) + len(data.chunk) > size:
            raise ProtocolError(RejectCode.TOO_LARGE, f"data runs past the shard size {size}")
        self._buf += data.chunk
        self._hasher.update(data.chunk)
        self._deadline = now + FETCH_IDLE_TIMEOUT
        index = self.request.value.shard_index
        if len(self._buf) == size and self._hasher.digest() != manifest.shard_hashes[index]:
            raise ProtocolError(
                RejectCode.SHARD_HASH_MISMATCH, "the data does not hash to the manifest's hash"
            )
        return []

    def _on_timeout(self, now: float) -> list[FetchEffect]:
        what = "answer" if self.state is FetchClientState.REQUESTED else "data"
        return self._end(ProtocolError(RejectCode.TIMEOUT, f"no {what} in time"), notify=True)

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[FetchEffect]:
        self.state = FetchClientState.FAILED
        self._buf = bytearray()
        return self._fail_with(exc, notify, by_peer)
