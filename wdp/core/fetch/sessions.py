"""The server (carrier) and client (owner) sessions of ``/wdp/fetch/1.0``.

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

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..effects import Close, Send, ShardKey
from ..errors import LocalProtocolError, ProtocolError, RejectCode, RemoteProtocolError
from ..framing import encode_frame
from ..limits import (
    FETCH_IDLE_TIMEOUT,
    FETCH_LOAD_TIMEOUT,
    FETCH_REQUEST_TIMEOUT,
    FETCH_RESPONSE_TIMEOUT,
    MAX_CHUNK_SIZE,
    MAX_FRAME_SIZE,
)
from ..messages import FETCH_DATA_FIELD, Data, Done, Reject, data_frame
from ..objects import CustodyRecord, Manifest, Signed
from ..session import ExchangeSession, RateFloor, ShardAssembly, next_state
from ..signing import sha256
from .checks import FetchLookup, NonceCache, check_fetch_header, check_fetch_request
from .request import (
    FetchMessage,
    FetchRequest,
    Header,
    Request,
    decode_fetch_message,
    encode_fetch_message,
)

if TYPE_CHECKING:
    from ..carrier import HeldShard


def _send(msg: FetchMessage) -> Send:
    if isinstance(msg, Data):
        return Send(msg, data_frame(FETCH_DATA_FIELD, msg))
    return Send(msg, encode_frame(encode_fetch_message(msg), MAX_FRAME_SIZE))


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


class _FetchSession(ExchangeSession[FetchMessage, FetchEffect]):
    """Both fetch roles: how a frame decodes and how the peer is told."""

    def _decode(self, frame: bytes) -> FetchMessage:
        return decode_fetch_message(frame)

    def _reject(self, exc: ProtocolError) -> FetchEffect:
        return _send(Reject(exc.code, exc.detail))

    def _closed(self) -> FetchEffect:
        return Close()


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
        self.held: HeldShard | None = None
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
        self.held = check_fetch_request(
            msg.request, local_peer=self.local_peer, lookup=self.lookup, now=now, nonces=self.nonces
        )
        self.state = nxt
        self._deadline = now + FETCH_LOAD_TIMEOUT
        return [LoadShard(msg.request.value.key)]

    def shard_loaded(self, shard: bytes | None, now: float) -> list[FetchEffect]:
        """The driver's answer to LoadShard: the stored bytes, or None if they are gone."""
        if self.finished:
            return []  # timed out or the client left while the store was read
        if self.state is not FetchServerState.LOADING or self.held is None:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "shard_loaded without a load")
        manifest, record = self.held.manifest, self.held.last.record
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
        self._shard: ShardAssembly | None = None  # once the header is in
        self._complete: bytes | None = None  # every byte arrived and hashed
        self._floor: RateFloor | None = None  # once the header is in: the data rate it keeps
        self._idle_at = 0.0

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
            self._floor = RateFloor(msg.manifest.value.shard_size, now)
            self._data_due(now)
            return []
        assert self.header is not None
        manifest = self.header.manifest.value
        if isinstance(msg, Data):
            return self._on_data(msg, manifest, now)
        assert isinstance(msg, Done)
        if self._complete is None:
            got = 0 if self._shard is None else self._shard.received
            raise RemoteProtocolError(
                RejectCode.PROTOCOL_VIOLATION, f"done after {got} of {manifest.shard_size} bytes"
            )
        if msg.record_hash != self.header.record.hash:
            raise RemoteProtocolError(RejectCode.PROTOCOL_VIOLATION, "done names another record")
        self.state = nxt
        self._deadline = None
        shard, self._complete = self._complete, None
        self.result = FetchResult(self.header.manifest, self.header.record, shard)
        return [Close()]

    def _on_data(self, data: Data, manifest: Manifest, now: float) -> list[FetchEffect]:
        if self._shard is None:
            index = self.request.value.shard_index
            self._shard = ShardAssembly(manifest.shard_size, manifest.shard_hashes[index])
        mismatch = "the data does not hash to the manifest's hash"
        shard = self._shard.add(data.offset, data.chunk, mismatch)
        if shard is not None:
            self._complete = shard
        self._data_due(now)
        return []

    def _data_due(self, now: float) -> None:
        """The next message must come within the idle timeout; until the last byte, the
        rate floor must hold too."""
        assert self._floor is not None
        self._idle_at = now + FETCH_IDLE_TIMEOUT
        floor = self._floor.ends_at if self._complete is None else self._idle_at
        self._deadline = min(self._idle_at, floor)

    def _on_timeout(self, now: float) -> list[FetchEffect]:
        if self._floor is not None and self._complete is None and now < self._idle_at:
            received = 0 if self._shard is None else self._shard.received
            if not self._floor.holds(received, now):
                return self._end(RateFloor.failure(), notify=True)
            self._deadline = min(self._idle_at, self._floor.ends_at)
            return []
        what = "answer" if self.state is FetchClientState.REQUESTED else "data"
        return self._end(ProtocolError(RejectCode.TIMEOUT, f"no {what} in time"), notify=True)

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[FetchEffect]:
        self.state = FetchClientState.FAILED
        self._shard = None
        self._complete = None
        return self._fail_with(exc, notify, by_peer)
