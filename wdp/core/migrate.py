"""The ``/wdp/migrate/1.0`` handoff as two sans-IO state machines.

One stream carries one handoff. Bytes from the stream go into
``receive_data(data, now)``; the machines answer with effects (send framed
bytes, store, wipe, report). Time only enters through ``now`` arguments and
``get_timer()`` / ``handle_timer(now)``, as in aioquic.

The one rule that keeps a shard alive: the sender wipes only after a valid,
signed receipt, and the receiver sends a receipt only after the shard is
verified and stored and the receipt itself is durable (``StoreShard``, then
``PersistReceipt``: a crash can never leave a sender that wiped and a
receiver that forgets). Every other path ends with the sender still holding it.

Happy-path transitions (anything else is a PROTOCOL_VIOLATION):

========================  ===========  ========================
state                     message in   next state
========================  ===========  ========================
sender OFFERED            Accept       AWAIT_RECEIPT
sender OFFERED            Reject       FAILED
sender OFFERED            Receipt      DONE (a retried offer the receiver already took)
sender AWAIT_RECEIPT      Receipt      DONE
sender AWAIT_RECEIPT      Reject       FAILED
receiver AWAIT_OFFER      Offer        RECEIVING (or AWAIT_DONE on a retried offer)
receiver RECEIVING        Data         RECEIVING, then STORING
receiver RECEIVING        Reject       REJECTED
receiver STORING          Reject       REJECTED (the stored copy is wiped)
receiver COMMITTING       Reject       REJECTED (the stored copy is wiped)
receiver AWAIT_DONE       Done         CLOSED
========================  ===========  ========================
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Protocol

from .custody import check_offer, check_sender
from .effects import (
    Close,
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    PersistReceipt,
    Send,
    ShardKey,
    StoreShard,
    WipeShard,
)
from .errors import LocalProtocolError, ProtocolError, RejectCode, RemoteProtocolError
from .framing import encode_frame
from .limits import (
    DATA_IDLE_TIMEOUT,
    DONE_TIMEOUT,
    MAX_CHUNK_SIZE,
    MAX_FRAME_SIZE,
    MIN_TRANSFER_RATE,
    OFFER_TIMEOUT,
    RECEIPT_TIMEOUT,
    STORE_TIMEOUT,
)
from .messages import (
    MIGRATE_DATA_FIELD,
    Accept,
    Data,
    Done,
    Message,
    Offer,
    Receipt,
    Reject,
    data_frame,
    decode_message,
    encode_message,
)
from .objects import CustodyLink, CustodyRecord, Signed
from .objects import Receipt as ReceiptBody
from .objects import time_ms as _time_ms
from .session import FramedSession, RateFloor, ShardAssembly, next_state
from .signing import Signer


class SenderState(Enum):
    IDLE = "IDLE"
    OFFERED = "OFFERED"
    AWAIT_RECEIPT = "AWAIT_RECEIPT"
    DONE = "DONE"
    FAILED = "FAILED"


class ReceiverState(Enum):
    AWAIT_OFFER = "AWAIT_OFFER"
    RECEIVING = "RECEIVING"
    STORING = "STORING"
    COMMITTING = "COMMITTING"
    AWAIT_DONE = "AWAIT_DONE"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


SENDER_TRANSITIONS: dict[tuple[SenderState, type[Message]], SenderState] = {
    (SenderState.OFFERED, Accept): SenderState.AWAIT_RECEIPT,
    (SenderState.OFFERED, Reject): SenderState.FAILED,
    (SenderState.OFFERED, Receipt): SenderState.DONE,
    (SenderState.AWAIT_RECEIPT, Receipt): SenderState.DONE,
    (SenderState.AWAIT_RECEIPT, Reject): SenderState.FAILED,
}

RECEIVER_TRANSITIONS: dict[tuple[ReceiverState, type[Message]], ReceiverState] = {
    (ReceiverState.AWAIT_OFFER, Offer): ReceiverState.RECEIVING,
    (ReceiverState.RECEIVING, Data): ReceiverState.RECEIVING,
    (ReceiverState.RECEIVING, Reject): ReceiverState.REJECTED,
    (ReceiverState.STORING, Reject): ReceiverState.REJECTED,
    (ReceiverState.COMMITTING, Reject): ReceiverState.REJECTED,
    (ReceiverState.AWAIT_DONE, Done): ReceiverState.CLOSED,
}

SENDER_TERMINAL = frozenset({SenderState.DONE, SenderState.FAILED})
RECEIVER_TERMINAL = frozenset({ReceiverState.CLOSED, ReceiverState.REJECTED})


def _send(msg: Message) -> Send:
    if isinstance(msg, Data):
        return Send(msg, data_frame(MIGRATE_DATA_FIELD, msg))
    return Send(msg, encode_frame(encode_message(msg), MAX_FRAME_SIZE))


class ReceiverPolicy(Protocol):
    """What a receiver needs to know about its own node (the carrier core provides it)."""

    def admit(self, offer: Offer, remote_peer: bytes = b"") -> ProtocolError | None:
        """Local refusals, in spec order: STALE_HOP, SHUTTING_DOWN, BUSY, CAPACITY, SIBLING_HELD.

        ``remote_peer``: the stream's authenticated peer (budgets are per peer).
        """
        ...

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        """The receipt already given for this hop, if this node still holds the shard from it."""
        ...

    def verified_offer(self, digest: bytes) -> Offer | None:
        """An offer whose frame hashes to ``digest`` and passed every stateless check here."""
        ...

    def offer_verified(self, digest: bytes, offer: Offer) -> None:
        """Remember that the frame hashing to ``digest`` is ``offer`` and passed those checks."""
        ...


class _Session(FramedSession[Message, Effect]):
    """Both migrate roles: the shard they are about."""

    def __init__(self) -> None:
        super().__init__()
        self.key: ShardKey | None = None

    def _decode(self, frame: bytes) -> Message:
        return decode_message(frame)


class SenderSession(_Session):
    """The current carrier's side: offer, send data, wipe on a valid receipt."""

    def __init__(self, offer: Offer, shard: bytes) -> None:
        super().__init__()
        rec = offer.record.value
        if len(shard) != offer.manifest.value.shard_size:
            raise LocalProtocolError(RejectCode.MALFORMED, "shard size differs from the manifest")
        self.offer = offer
        self.shard = shard
        self.record = offer.record
        self.key = ShardKey(rec.wanderer_id, rec.shard_index)
        self.state = SenderState.IDLE
        self.receipt: Signed[ReceiptBody] | None = None

    def start(self, now: float) -> list[Effect]:
        """Send the offer."""
        if self.state is not SenderState.IDLE:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "session already started")
        self.state = SenderState.OFFERED
        self._deadline = now + OFFER_TIMEOUT
        return [_send(self.offer)]

    @property
    def finished(self) -> bool:
        return self.state in SENDER_TERMINAL

    def _on_message(self, msg: Message, now: float) -> list[Effect]:
        nxt = next_state(SENDER_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        if isinstance(msg, Accept):
            if msg.record_hash != self.record.hash:
                raise RemoteProtocolError(
                    RejectCode.PROTOCOL_VIOLATION, "accept names another record"
                )
            self.state = nxt
            size = len(self.shard)
            self._deadline = now + RECEIPT_TIMEOUT + size / MIN_TRANSFER_RATE
            return [
                _send(Data(off, self.shard[off : off + MAX_CHUNK_SIZE]))
                for off in range(0, size, MAX_CHUNK_SIZE)
            ]
        assert isinstance(msg, Receipt)
        self._check_receipt(msg.receipt)
        self.state = nxt
        self.receipt = msg.receipt
        self._deadline = None
        assert self.key is not None
        return [
            WipeShard(self.key, "custody passed: valid receipt"),
            _send(Done(self.record.hash)),
            Close(),
            HandoffSucceeded(self.key, CustodyLink(self.record, msg.receipt)),
        ]

    def _check_receipt(self, receipt: Signed[ReceiptBody]) -> None:
        rec: CustodyRecord = self.record.value
        r = receipt.value
        if r.receiver != rec.to_peer or r.record_hash != self.record.hash:
            raise RemoteProtocolError(RejectCode.BAD_RECEIPT, "receipt acknowledges another record")
        if r.shard_hash != rec.shard_hash:
            raise RemoteProtocolError(RejectCode.BAD_RECEIPT, "receipt names another shard hash")
        if not receipt.verify(rec.to_peer):
            raise RemoteProtocolError(RejectCode.BAD_RECEIPT, "receipt signature is invalid")

    def _on_timeout(self, now: float) -> list[Effect]:
        what = "accept" if self.state is SenderState.OFFERED else "receipt"
        return self._end(ProtocolError(RejectCode.TIMEOUT, f"no {what} in time"), notify=True)

    def _on_lost(self, now: float) -> list[Effect]:
        # Without a receipt the shard stays here.
        return self._end(
            ProtocolError(RejectCode.TIMEOUT, "stream closed before a receipt"), notify=False
        )

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[Effect]:
        in_doubt = self.state is SenderState.AWAIT_RECEIPT and not by_peer
        self.state = SenderState.FAILED
        self.failure = exc
        self._deadline = None
        effects: list[Effect] = []
        if notify:
            effects.append(_send(Reject(exc.code, exc.detail)))
        effects += [Close(), HandoffFailed(self.key, exc.code, exc.detail, by_peer, in_doubt)]
        return effects


class ReceiverSession(_Session):
    """The next carrier's side: verify the offer, take the data, store, sign a receipt."""

    def __init__(
        self,
        signer: Signer,
        policy: ReceiverPolicy,
        now: float,
        remote_peer: bytes,
    ) -> None:
        super().__init__()
        self.signer = signer
        self.policy = policy
        self.remote_peer = remote_peer
        self.state = ReceiverState.AWAIT_OFFER
        self.offer: Offer | None = None
        self._shard: ShardAssembly | None = None  # once accepted
        self._deadline = now + OFFER_TIMEOUT
        self.committed = False
        self.receipt: Signed[ReceiptBody] | None = None  # signed once stored, sent once persisted
        self._offer_digest: bytes | None = None  # SHA-256 of the offer's frame
        # The policy admitted this session's offer (it holds a reservation to free
        # if it fails; a refused replay of the same offer must not free another's).
        self.admitted = False
        self._idle_at = 0.0  # RECEIVING: the next Data must come by then
        self._floor: RateFloor | None = None  # RECEIVING: the data rate it must keep
        self._known_offer = False  # that frame passed the offer checks here before

    @property
    def finished(self) -> bool:
        return self.state in RECEIVER_TERMINAL

    def _decode(self, frame: bytes) -> Message:
        """Decode a frame; the offer frame is first looked up among offers verified before.

        A replayed offer (the same bytes, up to 64 links and 129 signatures)
        then costs one hash and a lookup instead of parsing and verifying.
        """
        if self.state is not ReceiverState.AWAIT_OFFER:
            return decode_message(frame)
        self._offer_digest = hashlib.sha256(frame).digest()
        known = self.policy.verified_offer(self._offer_digest)
        if known is not None:
            self._known_offer = True
            return known
        return decode_message(frame)

    def _on_message(self, msg: Message, now: float) -> list[Effect]:
        nxt = next_state(RECEIVER_TRANSITIONS, self.state, msg)
        if isinstance(msg, Reject):
            return self._end(ProtocolError(msg.code, msg.detail), notify=False, by_peer=True)
        if isinstance(msg, Offer):
            return self._on_offer(msg, now)
        if isinstance(msg, Data):
            return self._on_data(msg, now)
        assert isinstance(msg, Done) and self.offer is not None
        if msg.record_hash != self.offer.record.hash:
            raise RemoteProtocolError(RejectCode.PROTOCOL_VIOLATION, "done names another record")
        self.state = nxt
        self._deadline = None
        return [Close()]

    def _on_offer(self, offer: Offer, now: float) -> list[Effect]:
        rec = offer.record.value
        self.key = ShardKey(rec.wanderer_id, rec.shard_index)
        if self._known_offer:  # every check but the sender's passed on these very bytes
            check_sender(offer, self.remote_peer)
        else:
            check_offer(offer, local_peer=self.signer.public_key, remote_peer=self.remote_peer)
            if self._offer_digest is not None:
                self.policy.offer_verified(self._offer_digest, offer)
        self.offer = offer
        earlier = self.policy.receipt_for(offer)
        if earlier is not None:  # a retried offer: this node already holds the shard
            self.state = ReceiverState.AWAIT_DONE
            self.committed = True
            self._deadline = now + DONE_TIMEOUT
            return [_send(Receipt(earlier))]
        refusal = self.policy.admit(offer, self.remote_peer)
        if refusal is not None:
            raise refusal
        self.admitted = True
        self.state = ReceiverState.RECEIVING
        manifest = offer.manifest.value
        root = manifest.shard_roots[rec.shard_index] if manifest.auditable else None
        self._shard = ShardAssembly(manifest.shard_size, rec.shard_hash, root)
        self._floor = RateFloor(manifest.shard_size, now)
        self._data_due(now)
        return [_send(Accept(offer.record.hash))]

    def _data_due(self, now: float) -> None:
        """The next data must come within the idle timeout, and the rate floor must hold."""
        assert self._floor is not None
        self._idle_at = now + DATA_IDLE_TIMEOUT
        self._deadline = min(self._idle_at, self._floor.ends_at)

    def _on_data(self, data: Data, now: float) -> list[Effect]:
        assert self.offer is not None and self.key is not None and self._shard is not None
        shard = self._shard.add(data.offset, data.chunk, "the data does not hash to the shard hash")
        self._data_due(now)
        if shard is None:
            return []
        self.state = ReceiverState.STORING
        self._deadline = now + STORE_TIMEOUT
        return [
            StoreShard(
                key=self.key,
                shard=shard,
                manifest=self.offer.manifest,
                chain=self.offer.chain,
                record=self.offer.record,
                locator_secret=self.offer.locator_secret,
            )
        ]

    def store_done(self, ok: bool, now: float, detail: str = "") -> list[Effect]:
        """The driver's answer to StoreShard: sign the receipt and have it persisted, or refuse."""
        assert self.key is not None
        if self.state is ReceiverState.REJECTED:
            # The sender gave up while we stored: it keeps its copy, so drop ours.
            return [WipeShard(self.key, "handoff aborted while storing")] if ok else []
        if self.state is not ReceiverState.STORING:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, "store_done without a store")
        if not ok:
            return self._end(
                ProtocolError(RejectCode.CAPACITY, detail or "the shard could not be stored"),
                notify=True,
            )
        assert self.offer is not None
        rec = self.offer.record
        self.receipt = Signed.create(
            ReceiptBody(
                record_hash=rec.hash,
                receiver=self.signer.public_key,
                shard_hash=rec.value.shard_hash,
                time_ms=_time_ms(now),
            ),
            self.signer,
        )
        self.state = ReceiverState.COMMITTING  # STORE_TIMEOUT still runs
        return [PersistReceipt(self.key, self.receipt)]

    def receipt_persisted(self, ok: bool, now: float) -> list[Effect]:
        """The driver's answer to PersistReceipt: send the receipt, or give the shard up."""
        assert self.key is not None
        if self.state is ReceiverState.REJECTED:
            return [WipeShard(self.key, "handoff aborted while committing")]
        if self.state is not ReceiverState.COMMITTING or self.receipt is None:
            raise LocalProtocolError(
                RejectCode.PROTOCOL_VIOLATION, "receipt_persisted without a receipt to persist"
            )
        if not ok:
            # The sender never sees a receipt and keeps its copy; ours goes.
            return [
                WipeShard(self.key, "the receipt could not be recorded"),
                *self._end(
                    ProtocolError(RejectCode.CAPACITY, "the receipt could not be recorded"),
                    notify=True,
                ),
            ]
        assert self.offer is not None
        self.state = ReceiverState.AWAIT_DONE
        self.committed = True
        self._deadline = now + DONE_TIMEOUT
        link = CustodyLink(self.offer.record, self.receipt)
        return [_send(Receipt(self.receipt)), HandoffSucceeded(self.key, link)]

    def _on_timeout(self, now: float) -> list[Effect]:
        if self.state is ReceiverState.AWAIT_DONE:  # Done is informative: the shard is ours
            self.state = ReceiverState.CLOSED
            self._deadline = None
            return [Close()]
        if self.state is ReceiverState.RECEIVING and now < self._idle_at:
            assert self._floor is not None and self._shard is not None
            if not self._floor.holds(self._shard.received, now):
                return self._end(RateFloor.failure(), notify=True)
            self._deadline = min(self._idle_at, self._floor.ends_at)
            return []
        return self._end(
            ProtocolError(RejectCode.TIMEOUT, f"timed out in {self.state.value}"), notify=True
        )

    def _on_lost(self, now: float) -> list[Effect]:
        if self.state is ReceiverState.AWAIT_DONE:
            self.state = ReceiverState.CLOSED
            self._deadline = None
            return []
        return self._end(
            ProtocolError(RejectCode.TIMEOUT, "stream closed mid-handoff"), notify=False
        )

    def _end(self, exc: ProtocolError, *, notify: bool, by_peer: bool = False) -> list[Effect]:
        if self.state is ReceiverState.AWAIT_DONE:
            # Already committed: a late complaint cannot take the shard back.
            self.state = ReceiverState.CLOSED
            self._deadline = None
            return [Close()]
        self.state = ReceiverState.REJECTED
        self.failure = exc
        self._deadline = None
        if self._shard is not None:
            self._shard.discard()
        effects: list[Effect] = []
        if notify:
            effects.append(_send(Reject(exc.code, exc.detail)))
        effects += [Close(), HandoffFailed(self.key, exc.code, exc.detail, by_peer)]
        return effects
