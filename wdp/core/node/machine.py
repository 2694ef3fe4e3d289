"""One node's protocol core: the carrier and every stream session it runs, by stream id.

:class:`NodeCore` is to a WDP node what aioquic's ``QuicConnection`` is to a
QUIC connection: it owns the :class:`~wdp.core.carrier.Carrier` (custody,
schedule, placement, threat response) and every ``/wdp/migrate/1.0``,
``/wdp/fetch/1.0`` and ``/wdp/audit/1.0`` session, joins them (a receiver's custody goes to the
carrier, the carrier's next hop becomes a sender), and keeps one timer for
all of it. Inputs carry ``now``; outputs are the effects of
:mod:`wdp.core.node.effects`. A driver moves bytes, runs the store and the
DHT, and feeds back what happened; it decides nothing.

Inputs, by source:

* streams: :meth:`accept_stream` (the peer opened one), :meth:`stream_opened`
  / :meth:`stream_failed` (answers to ``OpenStream``), :meth:`data_received`,
  :meth:`stream_lost`;
* the store: :meth:`shard_stored`, :meth:`receipt_persisted`,
  :meth:`shard_loaded`, and :meth:`restore` at start-up;
* the DHT: :meth:`locator_failed`;
* the network: :meth:`ping_ok`, :meth:`ping_failed`, :meth:`peer_connected`,
  :meth:`peer_disconnected`;
* the operator: :meth:`drain`, :meth:`panic`;
* the owner's side (:class:`~wdp.core.owner.OwnerCore`): :meth:`launch`,
  :meth:`fetch`, :meth:`audit`, :meth:`cancel`;
* time: :meth:`get_timer` / :meth:`handle_timer` (hop times, session
  deadlines, locator refresh, threat windows, the end of a panic).

Rules that live here (and nowhere in a driver): a receiver's custody is the
carrier's once the receipt is durable; a failed dial is a TIMEOUT; a store
that lost a shard's bytes ends its custody; ``lost_after`` failed pings in a
row report the peer lost; a locator lives ``LOCATOR_LIFETIME_EPOCHS`` epochs
(at most a day), is republished at half its lifetime while the shard stays,
retried after a failed put, and no longer published once the shard moved on
(spec 6.10, 9); custody is taken back from the store after a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..audit import (
    AuditChallenge,
    AuditClientSession,
    AuditEffect,
    AuditServerSession,
    make_spot_challenge,
)
from ..carrier import Carrier, CarrierParams, HeldShard
from ..effects import (
    CarrierEffect,
    Close,
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    Send,
    ShardKey,
    SpotAudit,
    StartHandoff,
    ThreatChanged,
    WipeShard,
)
from ..effects import PersistReceipt as SessionPersistReceipt
from ..effects import PublishLocator as CarrierPublish
from ..effects import StoreShard as SessionStoreShard
from ..errors import LocalProtocolError, ProtocolError, RejectCode
from ..fetch import FetchClientSession, FetchEffect, FetchRequest, FetchServerSession
from ..fetch import LoadShard as SessionLoadShard
from ..latency import PeerStats
from ..limits import (
    AUDIT_PROTOCOL_ID,
    FETCH_PROTOCOL_ID,
    MAX_ADDR_BYTES,
    MAX_HOLDER_ADDRS,
    MIGRATE_PROTOCOL_ID,
)
from ..messages import Offer
from ..migrate import ReceiverPolicy, ReceiverSession, SenderSession
from ..nonces import NonceCache
from ..objects import CustodyLink, Manifest, Signed
from ..placement import Candidate
from ..rng import Rng
from ..signing import Signer
from ..stored import ShardMeta, StoreError
from ..threat import Observation, PeerLost, PeerSeen, PingFailed, PingOk, ThreatLevel
from .budget import INBOUND, OpenRate, StreamBudget, over_buffer_budget, over_stream_budget
from .effects import (
    AuditEnded,
    CloseStream,
    CustodyDropped,
    CustodyRestored,
    FetchEnded,
    HandoffEnded,
    LaunchEnded,
    LoadShard,
    NodeEffect,
    OpenStream,
    PersistReceipt,
    ResetStream,
    SendData,
    SpotAudited,
    StoreShard,
)
from .exchanges import EXCHANGE_PROTOCOLS, ClientSession, report, server_session
from .locators import Locators
from .streams import Phase, Role, Stream

__all__ = ["NodeCore", "NodeParams"]


@dataclass(frozen=True, slots=True)
class NodeParams:
    """Tuning of a node's core; every default is in the README.

    Attributes:
        carrier: The carrier's tuning (capacity, retries, schedule, placement, threat).
        budget: What other peers' inbound streams may take (count, partial frames).
        lost_after: Failed pings in a row after which a peer is reported lost.
        publish_retry: Seconds before a locator put that failed is tried again
            (at most half the locator's lifetime).
        ask_open_timeout: Seconds a fetch or an audit may take to reach its
            carrier and open the stream: a carrier that is gone or paused costs
            this, not a full dial timeout (a get then asks another).
    """

    carrier: CarrierParams = field(default_factory=CarrierParams)
    budget: StreamBudget = field(default_factory=StreamBudget)
    lost_after: int = 3
    publish_retry: float = 30.0
    ask_open_timeout: float = 2.0

    def __post_init__(self) -> None:
        if self.lost_after < 1:
            raise ValueError("lost_after must be >= 1")
        if not self.publish_retry > 0 or not self.ask_open_timeout > 0:
            raise ValueError("publish_retry and ask_open_timeout must be positive")


class NodeCore:
    """The carrier and every stream session of one node, with one timer (see module docstring)."""

    def __init__(
        self,
        signer: Signer,
        rng: Rng,
        now: float,
        params: NodeParams | None = None,
        *,
        self_ipv4: str | None = None,
        addrs: Sequence[bytes] = (),
    ) -> None:
        self.signer = signer
        self.peer = signer.public_key
        self.rng = rng
        self.params = params if params is not None else NodeParams()
        self._open_rate = OpenRate(self.params.budget)  # inbound streams per peer per second
        self.carrier = Carrier(signer, rng, now, self.params.carrier, self_ipv4=self_ipv4)
        self.policy: ReceiverPolicy = self.carrier  # who admits offers (the carrier's rules)
        self.nonces = NonceCache()  # of fetch requests
        self.audit_nonces = NonceCache()  # of audit challenges
        self._streams: dict[int, Stream] = {}
        self._by_tag: dict[int, int] = {}
        self._spot_tags: set[int] = set()  # audits this core runs itself (tags below 0)
        self._next_sid = 1
        self._ping_failures: dict[bytes, int] = {}
        self._locators = Locators(self.carrier, rng, self.params.publish_retry)
        self._addrs: tuple[bytes, ...] = ()
        self.set_addrs(addrs)

    # ---- queries -----------------------------------------------------------------

    @property
    def self_ipv4(self) -> str | None:
        return self.carrier.self_ipv4

    @property
    def held(self) -> dict[ShardKey, HeldShard]:
        """The shards this node carries (committed custody only)."""
        return self.carrier.held

    @property
    def level(self) -> ThreatLevel:
        return self.carrier.level

    @property
    def drained(self) -> bool:
        return self.carrier.drained

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def peers(self) -> list[PeerStats]:
        """Every peer the latency map tracks, sorted by key."""
        return self.carrier.latency.peers()

    def candidates(self, now: float) -> list[Candidate]:
        """Peers as placement sees them, less those the carrier's spot audits distrust
        (the owner's side chooses its carriers from these: one node, one verdict)."""
        distrusted = self.carrier.evidence.distrusted(now)
        return [c for c in self.carrier.candidates() if c.peer not in distrusted]

    def carried(self, key: ShardKey) -> HeldShard | None:
        """This node's custody of ``key``, if it carries it."""
        return self.carrier.held.get(key)

    def handed_on(self, key: ShardKey) -> CustodyLink | None:
        """The hop by which this node recently handed ``key`` on (its audit answers Moved)."""
        return self.carrier.handed_on(key)

    def is_lost(self, peer: bytes) -> bool:
        """The peer was reported lost and has not been seen or answered a ping since."""
        stats = self.carrier.latency.stats(peer)
        return stats is not None and stats.lost

    @property
    def addrs(self) -> tuple[bytes, ...]:
        """The addresses this node's locators give."""
        return self._addrs

    def set_addrs(self, addrs: Sequence[bytes]) -> None:
        """The addresses this node's locators give (advertised multiaddrs, loopback last)."""
        fit = tuple(a for a in addrs if len(a) <= MAX_ADDR_BYTES)
        self._addrs = fit[:MAX_HOLDER_ADDRS]

    # ---- streams -------------------------------------------------------------------

    def _new_stream(self, role: Role, peer: bytes, **fields: object) -> Stream:
        sid = self._next_sid
        self._next_sid += 1
        stream = Stream(sid, role, peer, **fields)  # type: ignore[arg-type]
        self._streams[sid] = stream
        if stream.tag is not None:
            self._by_tag[stream.tag] = sid
        return stream

    def accept_stream(
        self, protocol: str, remote_peer: bytes, now: float
    ) -> tuple[int, list[NodeEffect]]:
        """The peer ``remote_peer`` (its authenticated key) opened a stream for ``protocol``.

        Returns the stream's id, by which the driver reports its bytes and its end.
        """
        over = self._open_rate.allow(remote_peer, now) or over_stream_budget(
            self.params.budget, self._streams.values(), remote_peer
        )
        if protocol == MIGRATE_PROTOCOL_ID:
            stream = self._new_stream(Role.RECEIVE, remote_peer)
            stream.session = ReceiverSession(self.signer, self.policy, now, remote_peer)
        elif protocol in EXCHANGE_PROTOCOLS:
            stream = self._new_stream(Role.SERVE, remote_peer)
            nonces = self.nonces if protocol == FETCH_PROTOCOL_ID else self.audit_nonces
            stream.session = server_session(
                protocol, local_peer=self.peer, carrier=self.carrier, nonces=nonces, now=now
            )
        else:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, f"no session for {protocol}")
        if over is not None:  # refused at once, with the protocol's own reject
            refused = stream.session.abort(ProtocolError(RejectCode.BUSY, over), now)
            return stream.sid, self._route(stream, refused, now)
        return stream.sid, []

    def stream_opened(self, sid: int, now: float) -> list[NodeEffect]:
        """The stream asked for with ``OpenStream`` is ready."""
        stream = self._streams.get(sid)
        if stream is None:  # cancelled while it was being opened
            return [ResetStream(sid)]
        if stream.phase is not Phase.OPENING:
            raise LocalProtocolError(RejectCode.PROTOCOL_VIOLATION, f"stream {sid} is open")
        if stream.role is Role.HOP:
            assert stream.key is not None
            stream.phase = Phase.LOADING
            stream.waiting.add("load")
            return [LoadShard(sid, stream.key)]
        if stream.role is Role.LAUNCH:
            assert stream.shard is not None
            return self._start_sender(stream, stream.shard, now)
        assert stream.role is Role.ASK and stream.client is not None
        session = stream.client()
        stream.session = session
        stream.phase = Phase.RUNNING
        return self._route(stream, session.start(now), now)

    def stream_failed(self, sid: int, now: float, detail: str = "") -> list[NodeEffect]:
        """The stream asked for with ``OpenStream`` could not be opened (dial or protocol)."""
        stream = self._streams.get(sid)
        if stream is None:
            return []
        stream.closed = True
        why = f"dial failed: {detail}" if detail else "dial failed"
        out = self._unstarted_failure(stream, why, now)
        self._forget_if_done(stream)
        return out

    def data_received(self, sid: int, data: bytes, now: float) -> list[NodeEffect]:
        """Bytes arrived on stream ``sid``."""
        stream = self._streams.get(sid)
        if stream is None or stream.session is None or stream.closed:
            return []
        out = self._route(stream, stream.session.receive_data(data, now), now)
        if stream.role in INBOUND and stream.session.buffered:
            over = over_buffer_budget(self.params.budget, self._streams.values(), stream)
            if over is not None:
                out += self._route(
                    stream, stream.session.abort(ProtocolError(RejectCode.BUSY, over), now), now
                )
        return out

    def stream_lost(self, sid: int, now: float) -> list[NodeEffect]:
        """Stream ``sid`` ended: the peer closed or reset it, or it broke."""
        stream = self._streams.get(sid)
        if stream is None:
            return []
        stream.closed = True
        if stream.session is None:
            out = self._unstarted_failure(stream, "stream closed before it was used", now)
        else:
            out = self._route(stream, stream.session.connection_lost(now), now)
        self._forget_if_done(stream)
        return out

    def _unstarted_failure(self, stream: Stream, why: str, now: float) -> list[NodeEffect]:
        """An outbound stream ended before its session started."""
        if stream.reported:
            return []
        stream.reported = True
        code = RejectCode.TIMEOUT
        if stream.role is Role.HOP:
            assert stream.key is not None
            self.carrier.handoff_failed(stream.key, code, now)
            offer = stream.offer
            return [
                HandoffEnded(
                    stream.key, stream.peer, inbound=False, ok=False,
                    reason=None if offer is None else offer.record.value.reason,
                    hop=None if offer is None else offer.record.value.hop,
                    code=code, detail=why,
                )
            ]  # fmt: skip
        if stream.role is Role.LAUNCH:
            assert stream.key is not None and stream.tag is not None
            return [LaunchEnded(stream.tag, stream.key, stream.peer, False, code, why)]
        assert stream.role is Role.ASK and stream.tag is not None
        if stream.protocol == AUDIT_PROTOCOL_ID:
            assert stream.key is not None
            return self._audit_report(
                AuditEnded(stream.tag, stream.key, stream.peer, None, code, why), now
            )
        return [FetchEnded(stream.tag, None, code, f"cannot open a fetch stream: {why}")]

    # ---- answers of the store --------------------------------------------------------

    def shard_stored(self, sid: int, ok: bool, now: float, detail: str = "") -> list[NodeEffect]:
        """The answer to ``StoreShard``."""
        stream = self._answer(sid, "store")
        if stream is None or not isinstance(stream.session, ReceiverSession):
            return []
        return self._route(stream, stream.session.store_done(ok, now, detail), now)

    def receipt_persisted(self, sid: int, ok: bool, now: float) -> list[NodeEffect]:
        """The answer to ``PersistReceipt``."""
        stream = self._answer(sid, "receipt")
        if stream is None or not isinstance(stream.session, ReceiverSession):
            return []
        return self._route(stream, stream.session.receipt_persisted(ok, now), now)

    def shard_loaded(self, sid: int, shard: bytes | None, now: float) -> list[NodeEffect]:
        """The answer to ``LoadShard``: the stored bytes, or None if the store has none."""
        stream = self._answer(sid, "load")
        if stream is None:
            return []
        if stream.role is Role.SERVE:
            assert isinstance(stream.session, FetchServerSession | AuditServerSession)
            return self._route(stream, stream.session.shard_loaded(shard, now), now)
        assert stream.role is Role.HOP and stream.key is not None
        if stream.closed:  # the stream went away while the shard was read
            self._forget_if_done(stream)
            return []
        if shard is None:
            return self._custody_lost(stream, "the store no longer has its bytes")
        return self._start_sender(stream, shard, now)

    def load_failed(self, sid: int, now: float, detail: str = "") -> list[NodeEffect]:
        """``LoadShard`` could not be answered (the store failed to read): try again later.

        Unlike ``shard_loaded(sid, None)`` this says nothing about the bytes
        being gone, so custody stays; a hop is given up for now, a fetch refused.
        """
        stream = self._streams.get(sid)
        if stream is None or "load" not in stream.waiting:
            return []
        if stream.role is Role.SERVE:
            return self.shard_loaded(sid, None, now)
        stream.waiting.discard("load")
        assert stream.role is Role.HOP and stream.key is not None
        out: list[NodeEffect] = []
        if not stream.closed:
            stream.closed = True
            out.append(ResetStream(sid))
        out += self._unstarted_failure(stream, f"the store could not read it: {detail}", now)
        self._forget_if_done(stream)
        return out

    def _answer(self, sid: int, what: str) -> Stream | None:
        stream = self._streams.get(sid)
        if stream is None or what not in stream.waiting:
            return None
        stream.waiting.discard(what)
        return stream

    def _custody_lost(self, stream: Stream, why: str) -> list[NodeEffect]:
        assert stream.key is not None
        self.carrier.store_lost(stream.key)
        self._locators.stop(stream.key)
        stream.closed = stream.reported = True
        self._forget_if_done(stream)
        return [ResetStream(stream.sid), CustodyDropped(stream.key, why)]

    def _start_sender(self, stream: Stream, shard: bytes, now: float) -> list[NodeEffect]:
        assert stream.offer is not None
        try:
            session = SenderSession(stream.offer, shard)
        except LocalProtocolError as exc:
            if stream.role is Role.HOP:
                return self._custody_lost(stream, f"the stored bytes are not the shard: {exc}")
            stream.closed = True
            stream.reported = True
            self._forget_if_done(stream)
            assert stream.key is not None and stream.tag is not None
            return [
                ResetStream(stream.sid),
                LaunchEnded(stream.tag, stream.key, stream.peer, False, exc.code, exc.detail),
            ]
        stream.session = session
        stream.phase = Phase.RUNNING
        stream.shard = None
        return self._route(stream, session.start(now), now)

    # ---- the owner's streams -----------------------------------------------------------

    def launch(self, offer: Offer, shard: bytes, tag: int, now: float) -> list[NodeEffect]:
        """Run an owner's hop 0 (``offer`` from ``launch_offer``); ends in ``LaunchEnded(tag)``.

        The shard is not in this node's custody before or after.
        """
        rec = offer.record.value
        stream = self._new_stream(
            Role.LAUNCH, rec.to_peer, phase=Phase.OPENING,
            key=ShardKey(rec.wanderer_id, rec.shard_index), tag=tag, offer=offer, shard=shard,
        )  # fmt: skip
        return [OpenStream(stream.sid, rec.to_peer, MIGRATE_PROTOCOL_ID)]

    def fetch(
        self,
        request: Signed[FetchRequest],
        tag: int,
        now: float,
        *,
        expected_manifest: bytes | None = None,
        addrs: Sequence[bytes] = (),
    ) -> list[NodeEffect]:
        """Fetch a shard from the carrier ``request`` names; ends in ``FetchEnded(tag)``."""

        def client() -> FetchClientSession:
            return FetchClientSession(request, expected_manifest_hash=expected_manifest)

        req = request.value
        return self._ask(req.carrier, FETCH_PROTOCOL_ID, client, tag, addrs, req.key)

    def audit(
        self,
        challenge: Signed[AuditChallenge],
        manifest: Signed[Manifest],
        tag: int,
        now: float,
        *,
        addrs: Sequence[bytes] = (),
    ) -> list[NodeEffect]:
        """Challenge the carrier ``challenge`` names to prove it holds the shard.

        ``manifest`` is the owner's (v2) manifest, against whose Merkle root the
        proof is checked. Ends in ``AuditEnded(tag)``.
        """

        def client() -> AuditClientSession:
            return AuditClientSession(challenge, manifest)

        client()  # a manifest that cannot be audited fails here, before any stream
        c = challenge.value
        return self._ask(c.carrier, AUDIT_PROTOCOL_ID, client, tag, addrs, c.key)

    def _ask(
        self,
        peer: bytes,
        protocol: str,
        client: Callable[[], ClientSession],
        tag: int,
        addrs: Sequence[bytes],
        key: ShardKey,
    ) -> list[NodeEffect]:
        stream = self._new_stream(
            Role.ASK, peer, phase=Phase.OPENING, tag=tag, key=key, protocol=protocol,
            client=client, addrs=tuple(addrs),
        )  # fmt: skip
        return [OpenStream(stream.sid, peer, protocol, tuple(addrs), self.params.ask_open_timeout)]

    def cancel(self, tag: int, now: float) -> list[NodeEffect]:
        """Give up a launch or fetch: its stream is reset and it reports nothing more."""
        sid = self._by_tag.pop(tag, None)
        stream = None if sid is None else self._streams.get(sid)
        if stream is None:
            return []
        stream.reported = True
        out: list[NodeEffect] = []
        if stream.phase is Phase.OPENING:
            del self._streams[stream.sid]  # a late stream_opened gets a ResetStream
            return out
        if stream.session is not None and not stream.session.finished:
            self._route(stream, stream.session.connection_lost(now), now)  # reports suppressed
        if not stream.closed:
            stream.closed = True
            out.append(ResetStream(stream.sid))
        self._forget_if_done(stream)
        return out

    # ---- session effects -----------------------------------------------------------------

    def _route(
        self, stream: Stream, effects: Sequence[Effect | FetchEffect | AuditEffect], now: float
    ) -> list[NodeEffect]:
        """Bind a session's effects to its stream; hand custody outcomes to the carrier."""
        out: list[NodeEffect] = []
        sid = stream.sid
        for eff in effects:
            match eff:
                case Send():
                    if not stream.closed:
                        out.append(SendData(sid, eff.data, eff.message))
                case Close():
                    if not stream.closed:
                        stream.closed = True
                        out.append(self._close(stream))
                case SessionStoreShard():
                    stream.stored = eff
                    stream.waiting.add("store")
                    out.append(StoreShard(sid, eff.key, eff.shard, ShardMeta.from_store(eff)))
                case SessionPersistReceipt():
                    stream.waiting.add("receipt")
                    out.append(PersistReceipt(sid, eff.key, eff.receipt.to_bytes()))
                case SessionLoadShard():
                    stream.waiting.add("load")
                    out.append(LoadShard(sid, eff.key))
                case WipeShard():
                    if stream.role is not Role.LAUNCH:  # an owner's copy is not custody
                        out.append(eff)
                case HandoffSucceeded():
                    out += self._succeeded(stream, eff, now)
                case HandoffFailed():
                    out += self._failed(stream, eff, now)
        session = stream.session
        if session is not None and session.finished and not stream.reported:
            out += self._exchange_report(stream, now)
        self._forget_if_done(stream)
        return out

    def _close(self, stream: Stream) -> CloseStream | ResetStream:
        """Close, or reset where this side refused a fetch (so the carrier stops writing)."""
        session = stream.session
        if (
            isinstance(session, FetchClientSession | AuditClientSession)
            and session.failure is not None
            and not session.failed_by_peer
        ):
            return ResetStream(stream.sid)
        return CloseStream(stream.sid)

    def _succeeded(self, stream: Stream, eff: HandoffSucceeded, now: float) -> list[NodeEffect]:
        stream.reported = True
        rec = eff.link.record.value
        if stream.role is Role.LAUNCH:
            assert stream.tag is not None
            return [LaunchEnded(stream.tag, eff.key, stream.peer, True, link=eff.link)]
        report = HandoffEnded(
            eff.key, stream.peer, inbound=stream.role is Role.RECEIVE, ok=True,
            reason=rec.reason, hop=rec.hop, link=eff.link,
        )  # fmt: skip
        if stream.role is Role.RECEIVE:
            assert stream.stored is not None
            return [report, *self._take_custody(stream.stored, eff.link, now)]
        self.carrier.handoff_succeeded(eff.key, now, eff.link)
        self._locators.stop(eff.key)
        return [report]

    def _take_custody(
        self, stored: SessionStoreShard, link: CustodyLink, now: float
    ) -> list[NodeEffect]:
        """The receipt is durable and sent: the shard is this carrier's now (spec 6.10)."""
        return self._carrier(self.carrier.shard_received(stored, link, now), now)

    def _failed(self, stream: Stream, eff: HandoffFailed, now: float) -> list[NodeEffect]:
        stream.reported = True
        offer = stream.offer
        if stream.role is Role.RECEIVE:
            assert isinstance(stream.session, ReceiverSession)
            offer = stream.session.offer
            if offer is not None and stream.session.admitted:
                self.carrier.receive_aborted(offer.record.hash)
        elif stream.role is Role.LAUNCH:
            assert stream.tag is not None and stream.key is not None
            return [LaunchEnded(stream.tag, stream.key, stream.peer, False, eff.code, eff.detail)]
        elif eff.key is not None:
            self.carrier.handoff_failed(eff.key, eff.code, now, eff.in_doubt)
        rec = None if offer is None else offer.record.value
        return [
            HandoffEnded(
                eff.key, stream.peer, inbound=stream.role is Role.RECEIVE, ok=False,
                reason=None if rec is None else rec.reason, hop=None if rec is None else rec.hop,
                code=eff.code, detail=eff.detail, by_peer=eff.by_peer,
            )
        ]  # fmt: skip

    def _exchange_report(self, stream: Stream, now: float) -> list[NodeEffect]:
        if stream.role is Role.RECEIVE:
            # Over without a custody outcome: a retried offer answered with the receipt
            # given before (reported then). Nothing is owed; the stream can be forgotten.
            stream.reported = True
            return []
        if stream.role not in (Role.SERVE, Role.ASK):
            return []
        assert stream.session is not None
        stream.reported = True
        if stream.tag is not None:
            self._by_tag.pop(stream.tag, None)
        return self._audit_report(report(stream.session, stream.tag), now)  # type: ignore[arg-type]

    def _spot_audit(self, eff: SpotAudit, now: float) -> list[NodeEffect]:
        """Challenge the peer this node handed a shard to, with its own key (spec 18.4 A3)."""
        challenge = make_spot_challenge(
            self.carrier.signer, owner_key=eff.manifest.value.owner_key,
            shard_index=eff.key.shard_index, carrier=eff.peer, leaf_index=eff.leaf_index,
            now=now, nonce=eff.nonce,
        )  # fmt: skip
        tag = min(self._spot_tags, default=0) - 1
        self._spot_tags.add(tag)
        return self.audit(challenge, eff.manifest, tag, now)

    def _audit_report(self, ended: NodeEffect, now: float) -> list[NodeEffect]:
        """A spot audit's end goes to the carrier (and out as ``SpotAudited``); others pass."""
        if not isinstance(ended, AuditEnded) or ended.tag not in self._spot_tags:
            return [ended]
        self._spot_tags.discard(ended.tag)
        passed = ended.result is not None
        counted = self.carrier.spot_audited(ended.key, ended.carrier, passed, ended.code, now)
        return [SpotAudited(ended.key, ended.carrier, counted, ended.code, ended.detail)]

    def _forget_if_done(self, stream: Stream) -> None:
        if stream.done:
            self._streams.pop(stream.sid, None)
            if stream.tag is not None and self._by_tag.get(stream.tag) == stream.sid:
                del self._by_tag[stream.tag]

    # ---- the carrier ---------------------------------------------------------------------

    def _carrier(self, effects: Iterable[CarrierEffect], now: float) -> list[NodeEffect]:
        """Perform the carrier's decisions that belong to the core; pass the rest on."""
        out: list[NodeEffect] = []
        for eff in effects:
            match eff:
                case StartHandoff():
                    stream = self._new_stream(
                        Role.HOP, eff.to_peer, phase=Phase.OPENING, key=eff.key, offer=eff.offer
                    )
                    out.append(OpenStream(stream.sid, eff.to_peer, MIGRATE_PROTOCOL_ID))
                case CarrierPublish():
                    self._locators.start(eff.key, eff.record_hash, now)
                    publish = self._locators.publish(eff.key, now, self.peer, self._addrs)
                    if publish is not None:
                        out.append(publish)
                case WipeShard():
                    self._locators.stop(eff.key)
                    out.append(eff)
                case ThreatChanged():
                    out.append(eff)
                case SpotAudit():
                    out += self._spot_audit(eff, now)
        return out

    def locator_failed(self, key: ShardKey, record_hash: bytes, now: float) -> list[NodeEffect]:
        """A ``PublishLocator`` put failed: try again soon (not later than the refresh)."""
        self._locators.failed(key, record_hash, now)
        return []

    # ---- network observations ----------------------------------------------------------------

    def _observe(self, obs: Observation) -> list[NodeEffect]:
        return self._carrier(self.carrier.observe(obs), obs.now)

    def ping_ok(self, peer: bytes, rtt: float, now: float) -> list[NodeEffect]:
        """A ping to ``peer`` came back after ``rtt`` seconds."""
        self._ping_failures.pop(peer, None)
        return self._observe(PingOk(peer, rtt, now))

    def ping_failed(self, peer: bytes, now: float) -> list[NodeEffect]:
        """A ping to ``peer`` failed; ``lost_after`` in a row report the peer lost (once)."""
        out = self._observe(PingFailed(peer, now))
        failures = self._ping_failures.get(peer, 0) + 1
        self._ping_failures[peer] = failures
        if failures == self.params.lost_after:
            out += self._observe(PeerLost(peer, now))
        return out

    def peer_connected(self, peer: bytes, ipv4: str | None, now: float) -> list[NodeEffect]:
        """A connection to ``peer`` is up (``ipv4``: its address, if known).

        Failed pings are counted afresh from here: a peer that was lost and
        came back is reported lost again after ``lost_after`` more failures.
        """
        self._ping_failures.pop(peer, None)
        return self._observe(PeerSeen(peer, now, ipv4))

    def peer_disconnected(self, peer: bytes, now: float) -> list[NodeEffect]:
        """The last connection to ``peer`` went down."""
        self._ping_failures.pop(peer, None)
        return self._observe(PeerLost(peer, now))

    # ---- the operator, restarts, time ------------------------------------------------------------

    def drain(self, now: float) -> list[NodeEffect]:
        """Shutting down: every shard is handed on (DRAIN); ``drained`` says when done."""
        return self._carrier(self.carrier.drain(now), now)

    def panic(self, now: float) -> list[NodeEffect]:
        """Evacuate at once (THREAT); what is still here after the grace period is wiped."""
        return self._carrier(self.carrier.panic(now), now)

    def restore(self, stored: Iterable[tuple[ShardKey, ShardMeta]], now: float) -> list[NodeEffect]:
        """Take custody back of the committed shards a previous run left in the store."""
        out: list[NodeEffect] = []
        for key, meta in stored:
            try:
                effects = self.carrier.restore(key, meta, now)
            except StoreError as exc:
                out.append(CustodyRestored(key, False, why=str(exc)))
                continue
            out.append(CustodyRestored(key, True, hop=self.carrier.held[key].record.hop))
            out += self._carrier(effects, now)
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        times = [t for t in (self._locators.get_timer(), self.carrier.get_timer()) if t is not None]
        for stream in self._streams.values():
            if stream.session is not None:
                t = stream.session.get_timer()
                if t is not None:
                    times.append(t)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[NodeEffect]:
        """Call at (or after) ``get_timer()``; early or late calls are harmless."""
        out = self._carrier(self.carrier.handle_timer(now), now)
        for stream in list(self._streams.values()):
            session = stream.session
            if session is not None:
                t = session.get_timer()
                if t is not None and t <= now:
                    out += self._route(stream, session.handle_timer(now), now)
        return out + self._locators.due(now, self.peer, self._addrs)
