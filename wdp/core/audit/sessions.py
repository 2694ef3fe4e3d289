"""The carrier and challenger sessions of ``/wdp/audit/1.0``.

Happy-path transitions (anything else is a PROTOCOL_VIOLATION):

=========================  ===========  ==============================================
state                      message in   next state
=========================  ===========  ==============================================
carrier AWAIT_CHALLENGE    Challenge    LOADING (then DONE once the shard is loaded),
                                        or DONE at once after sending Moved
carrier LOADING            Reject       REJECTED (the challenger gave up)
challenger CHALLENGED      Proof        DONE (passed) or FAILED (a check failed)
challenger CHALLENGED      Moved        DONE (moved on) or FAILED (a check failed)
challenger CHALLENGED      Reject       FAILED
=========================  ===========  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..effects import Close, Send, ShardKey
from ..errors import LocalProtocolError, ProtocolError, RejectCode
from ..fetch import LoadShard
from ..framing import encode_frame
from ..limits import (
    AUDIT_LOAD_TIMEOUT,
    AUDIT_REQUEST_TIMEOUT,
    AUDIT_RESPONSE_TIMEOUT,
    MAX_FRAME_SIZE,
)
from ..messages import Reject
from ..nonces import NonceCache
from ..objects import CustodyLink, CustodyRecord, Manifest, Signed
from ..session import ExchangeSession, next_state
from ..signing import sha256
from .challenge import AuditChallenge, AuditMessage, Challenge, Moved, Proof, decode_audit_message
from .challenge import encode_audit_message as _encode
from .checks import (
    AuditLookup,
    MovedLookup,
    SenderLookup,
    check_challenge,
    check_moved,
    check_proof,
    make_proof,
)

if TYPE_CHECKING:
    from ..carrier import HeldShard

__all__ = [
    "AuditClientSession",
    "AuditClientState",
    "AuditEffect",
    "AuditResult",
    "AuditServerSession",
    "AuditServerState",
]


def _send(msg: AuditMessage) -> Send:
    return Send(msg, encode_frame(_encode(msg), MAX_FRAME_SIZE))


AuditEffect = Send | Close | LoadShard


@dataclass(frozen=True, slots=True)
class AuditResult:
    """An answered audit: the carrier proved it holds the shard under ``record``, or
    showed the hop ``moved`` by which it handed the shard on (``record`` is that hop's)."""

    record: Signed[CustodyRecord]
    moved: CustodyLink | None = None

    @property
    def proved(self) -> bool:
        return self.moved is None


class AuditServerState(Enum):
    AWAIT_CHALLENGE = "AWAIT_CHALLENGE"
    LOADING = "LOADING"
    DONE = "DONE"
    REJECTED = "REJECTED"


class AuditClientState(Enum):
    IDLE = "IDLE"
    CHALLENGED = "CHALLENGED"
    DONE = "DONE"
    FAILED = "FAILED"


SERVER_TRANSITIONS: dict[tuple[AuditServerState, type[AuditMessage]], AuditServerState] = {
    (AuditServerState.AWAIT_CHALLENGE, Challenge): AuditServerState.LOADING,
    (AuditServerState.LOADING, Reject): AuditServerState.REJECTED,
}

CLIENT_TRANSITIONS: dict[tuple[AuditClientState, type[AuditMessage]], AuditClientState] = {
    (AuditClientState.CHALLENGED, Proof): AuditClientState.DONE,
    (AuditClientState.CHALLENGED, Moved): AuditClientState.DONE,
    (AuditClientState.CHALLENGED, Reject): AuditClientState.FAILED,
}


class _AuditSession(ExchangeSession[AuditMessage, AuditEffect]):
    """Both audit roles: how a frame decodes and how the peer is told."""

    def _decode(self, frame: bytes) -> AuditMessage:
        return decode_audit_message(frame)

    def _reject(self, exc: ProtocolError) -> AuditEffect:
        return _send(Reject(exc.code, exc.detail))

    def _closed(self) -> AuditEffect:
        return Close()


class AuditServerSession(_AuditSession):
    """The carrier's side: check the challenge, read the shard, prove the leaf."""

    def __init__(
        self,
        *,
        local_peer: bytes,
        lookup: AuditLookup,
        nonces: NonceCache,
        now: float,
        moved: MovedLookup = lambda key: None,
        received_from: SenderLookup = lambda key: None,
    ) -> None:
        super().__init__()
        self.local_peer = local_peer
        self.lookup = lookup
        self.moved = moved
        self.received_from = received_from
        self.nonces = nonces
        self.state = AuditServerState.AWAIT_CHALLENGE
        self.challenge: Signed[AuditChallenge] | None = None
        self.held: HeldShard | None = None
        self._deadline = now + AUDIT_REQUEST_TIMEOUT

    @property
    def finished(self) -> bool:
        return self.state in (AuditServerState.DONE, AuditServerState.REJECTED)

    @property
    def key(self) -> ShardKey | None:
        return None if self.challenge is None else self.challenge.value.key

    def _on_message(self, msg: AuditMessage, now: float) -> list[AuditEffect]:
        nxt = next_state(SERVER_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        assert isinstance(msg, Challenge)
        self.challenge = msg.challenge
        found = check_challenge(
            msg.challenge,
            local_peer=self.local_peer,
            lookup=self.lookup,
            now=now,
            nonces=self.nonces,
            moved=self.moved,
            received_from=self.received_from,
        )
        if isinstance(found, CustodyLink):
            self.state = AuditServerState.DONE
            self._deadline = None
            return [_send(Moved(found)), Close()]
        self.held = found
        self.state = nxt
        self._deadline = now + AUDIT_LOAD_TIMEOUT
        return [LoadShard(msg.challenge.value.key)]

    def shard_loaded(self, shard: bytes | None, now: float) -> list[AuditEffect]:
        """The driver's answer to LoadShard: the stored bytes, or None if they are gone."""
        if self.finished:
            return []
        if self.state is not AuditServerState.LOADING or self.held is None:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "shard_loaded without a load")
        assert self.challenge is not None
        manifest = self.held.manifest.value
        index = self.held.record.shard_index
        if (
            shard is None
            or len(shard) != manifest.shard_size
            or sha256(shard) != manifest.shard_hashes[index]
        ):
            return self._end(
                ProtocolError(RejectCode.NOT_HELD, "this node's copy of the shard is gone"),
                notify=True,
            )
        self.state = AuditServerState.DONE
        self._deadline = None
        proof = make_proof(self.held, shard, self.challenge.value.leaf_index)
        return [_send(proof), Close()]

    def _on_timeout(self, now: float) -> list[AuditEffect]:
        what = "challenge" if self.state is AuditServerState.AWAIT_CHALLENGE else "shard load"
        return self._end(ProtocolError(RejectCode.TIMEOUT, f"no {what} in time"), notify=True)

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[AuditEffect]:
        self.state = AuditServerState.REJECTED
        return self._fail_with(exc, notify, by_peer)


class AuditClientSession(_AuditSession):
    """The challenger's side: send the challenge, check the proof against the manifest."""

    def __init__(self, challenge: Signed[AuditChallenge], manifest: Signed[Manifest]) -> None:
        super().__init__()
        c, m = challenge.value, manifest.value
        if c.wanderer_id != m.wanderer_id or not m.auditable:
            raise LocalProtocolError(
                RejectCode.UNSUPPORTED_VERSION, "only a version 2 manifest's shards can be audited"
            )
        self.challenge = challenge
        self.manifest = manifest
        self.state = AuditClientState.IDLE
        self.result: AuditResult | None = None

    @property
    def finished(self) -> bool:
        return self.state in (AuditClientState.DONE, AuditClientState.FAILED)

    @property
    def key(self) -> ShardKey:
        return self.challenge.value.key

    def start(self, now: float) -> list[AuditEffect]:
        """Send the challenge."""
        if self.state is not AuditClientState.IDLE:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "session already started")
        self.state = AuditClientState.CHALLENGED
        self._deadline = now + AUDIT_RESPONSE_TIMEOUT
        return [_send(Challenge(self.challenge))]

    def _on_message(self, msg: AuditMessage, now: float) -> list[AuditEffect]:
        nxt = next_state(CLIENT_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        if isinstance(msg, Moved):
            check_moved(msg, self.challenge.value, self.manifest)
            self.result = AuditResult(msg.link.record, msg.link)
        else:
            assert isinstance(msg, Proof)
            check_proof(msg, self.challenge.value, self.manifest)
            self.result = AuditResult(msg.record)
        self.state = nxt
        self._deadline = None
        return [Close()]

    def _on_timeout(self, now: float) -> list[AuditEffect]:
        return self._end(ProtocolError(RejectCode.TIMEOUT, "no answer in time"), notify=True)

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[AuditEffect]:
        self.state = AuditClientState.FAILED
        return self._fail_with(exc, notify, by_peer)
