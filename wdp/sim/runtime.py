"""In-process nodes: the real node and owner cores, driven in virtual time.

An :class:`Endpoint` is what ``wdp-node`` is, minus libp2p: a
:class:`~wdp.core.node.NodeCore`, optionally an
:class:`~wdp.core.owner.OwnerCore`, and a memory store. The :class:`Runtime`
performs their effects exactly as the daemon does (``match`` over every
effect type, ``assert_never`` for the rest): streams between endpoints go
over a :class:`Transport` (a perfect link for the test grid, the modelled
network for the simulator), the DHT is one table of locator records, and
every answer goes back into the core that asked. It decides nothing the
protocol decides; what it observes it hands to an :class:`Observer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, assert_never

from wdp.core.effects import ShardKey
from wdp.core.limits import AUDIT_PROTOCOL_ID, MIGRATE_PROTOCOL_ID
from wdp.core.node import (
    AuditEnded,
    AuditServed,
    CloseStream,
    CustodyDropped,
    CustodyRestored,
    FetchEnded,
    FetchServed,
    HandoffEnded,
    LaunchEnded,
    LoadShard,
    NodeCore,
    NodeEffect,
    OpenStream,
    PersistReceipt,
    PublishLocator,
    ResetStream,
    SendData,
    SpotAudited,
    StoreShard,
    ThreatChanged,
    WipeShard,
)
from wdp.core.objects import Reason
from wdp.core.owner import (
    Audit,
    Cancel,
    CheckDone,
    Fetch,
    GetDone,
    KeepDone,
    Launch,
    Lookup,
    NotPlaced,
    OpFailed,
    OwnerCore,
    OwnerEffect,
    Probe,
    Progress,
    PublishPointer,
    PutDone,
    ReadLocal,
    Repaired,
    RepairImpossible,
    SaveOwned,
)
from wdp.core.signing import Signer
from wdp.core.stored import ShardMeta

from .events import EventQueue

__all__ = ["Endpoint", "Link", "LocatorTable", "Observer", "Runtime", "Transport"]


@dataclass(eq=False, slots=True)
class Endpoint:
    """One in-process node: its identity, cores, memory store and open stream ends."""

    index: int
    signer: Signer
    ipv4: str
    core: NodeCore | None = None
    owner: OwnerCore | None = None
    kind: str = "honest"
    alive: bool = True
    inc: int = 0  # incarnation: events of an earlier life are ignored
    store: dict[ShardKey, tuple[bytes, ShardMeta]] = field(default_factory=dict)
    ends: dict[int, tuple[Link, int]] = field(default_factory=dict)  # sid -> (link, side)
    purposes: dict[int, str] = field(default_factory=dict)  # sid -> what an owner opened it for
    timer_at: float | None = None
    owner_timer_at: float | None = None

    @property
    def peer(self) -> bytes:
        return self.signer.public_key


@dataclass(eq=False, slots=True)
class Link:
    """One stream between two endpoints; side 0 opened it.

    Per side: (endpoint, sid, incarnation).
    """

    ends: tuple[tuple[int, int, int], tuple[int, int, int]]
    purpose: str
    wire_free: list[float] = field(default_factory=lambda: [0.0, 0.0])
    arrive: list[float] = field(default_factory=lambda: [0.0, 0.0])
    broken: list[bool] = field(default_factory=lambda: [False, False])
    closed: list[bool] = field(default_factory=lambda: [False, False])


class Transport(Protocol):
    """How bytes and dials fare between endpoints."""

    def reachable(self, src: int, dst: int) -> bool:
        """A dial from ``src`` to ``dst`` would succeed now."""
        ...

    def dial_failure_delay(self, src: int, dst: int) -> float:
        """Seconds until a dial that cannot succeed is known to have failed."""
        ...

    def arrival(self, link: Link, side: int, size: int, now: float) -> float | None:
        """When a frame of ``size`` bytes sent by ``side`` arrives, or None if the stream broke."""
        ...

    def close_arrival(self, link: Link, side: int, now: float) -> float:
        """When the other side learns that ``side`` closed (after what it sent)."""
        ...


class Observer(Protocol):
    """What a runtime reports: reports of the cores, and bytes sent."""

    def node_report(self, ep: Endpoint, effect: NodeEffect) -> None: ...

    def owner_report(self, ep: Endpoint, effect: OwnerEffect) -> None: ...

    def sent(self, ep: Endpoint, link: Link, effect: SendData) -> None: ...


class LocatorTable:
    """The DHT as one reliable table: per key, the best record (spec 9's select order)."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[tuple[int, int, float], bytes]] = {}

    def put(self, eff: PublishLocator | PublishPointer) -> None:
        hop = eff.hop if isinstance(eff, PublishLocator) else 0  # a forward pointer: hop 0
        rank = (eff.generation, hop, eff.expires_at)
        old = self._records.get(eff.dht_key)
        if old is None or old[0] < rank:
            self._records[eff.dht_key] = (rank, eff.value)

    def get(self, dht_key: str, now: float) -> bytes | None:
        entry = self._records.get(dht_key)
        if entry is None or entry[0][2] <= now:
            return None
        return entry[1]


class Runtime:
    """Endpoints over a transport in virtual time (see module docstring)."""

    def __init__(self, q: EventQueue, transport: Transport, observer: Observer) -> None:
        self.q = q
        self.transport = transport
        self.observer = observer
        self.endpoints: list[Endpoint] = []
        self.by_peer: dict[bytes, int] = {}
        self.dht = LocatorTable()

    def add(self, ep: Endpoint) -> Endpoint:
        if ep.index != len(self.endpoints):
            raise ValueError("endpoints are added in index order")
        self.endpoints.append(ep)
        self.by_peer[ep.peer] = ep.index
        return ep

    # ---- life and death ------------------------------------------------------------

    def start(self, ep: Endpoint, core: NodeCore, owner: OwnerCore | None = None) -> None:
        """Start (or restart) an endpoint's process: fresh cores, empty memory store."""
        ep.alive = True
        ep.inc += 1
        ep.core, ep.owner = core, owner
        ep.store = {}
        ep.ends = {}
        ep.purposes = {}
        ep.timer_at = ep.owner_timer_at = None

    def down(self, ep: Endpoint, notice: float) -> None:
        """The endpoint's process is gone: so are its memory store and its streams.

        The other end of each of its streams notices after ``notice`` seconds.
        """
        ep.alive = False
        ep.inc += 1
        ep.core = ep.owner = None
        ep.store = {}
        for link, side in ep.ends.values():
            self.q.after(notice + 0.001, self._lost, link, 1 - side)
        ep.ends = {}

    def _current(self, index: int, inc: int) -> Endpoint | None:
        ep = self.endpoints[index]
        return ep if ep.alive and ep.inc == inc and ep.core is not None else None

    # ---- the node core's effects ------------------------------------------------------

    def perform(self, ep: Endpoint, effects: list[NodeEffect]) -> None:
        """Perform a node core's effects in order (answers go straight back in)."""
        core = ep.core
        if core is None:
            return
        now = self.q.now
        for eff in effects:
            match eff:
                case OpenStream():
                    self._open(ep, eff)
                case SendData():
                    self._send(ep, eff)
                case CloseStream() | ResetStream():
                    self._close(ep, eff.sid)
                case StoreShard():
                    ep.store[eff.key] = (eff.shard, eff.meta)
                    self.perform(ep, core.shard_stored(eff.sid, True, now))
                case PersistReceipt():
                    stored = ep.store.get(eff.key)
                    if stored is not None:
                        ep.store[eff.key] = (stored[0], replace(stored[1], receipt=eff.receipt))
                    self.perform(ep, core.receipt_persisted(eff.sid, stored is not None, now))
                case LoadShard():
                    stored = ep.store.get(eff.key)
                    self.perform(ep, core.shard_loaded(eff.sid, stored and stored[0], now))
                case WipeShard():
                    ep.store.pop(eff.key, None)
                    self.observer.node_report(ep, eff)
                case PublishLocator():
                    self.dht.put(eff)
                    self.observer.node_report(ep, eff)
                case LaunchEnded():
                    self.observer.node_report(ep, eff)
                    if ep.owner is not None:
                        self.perform_owner(ep, ep.owner.launch_ended(eff, now))
                case FetchEnded():
                    self.observer.node_report(ep, eff)
                    if ep.owner is not None:
                        self.perform_owner(ep, ep.owner.fetch_ended(eff, now))
                case AuditEnded():
                    self.observer.node_report(ep, eff)
                    if ep.owner is not None:
                        self.perform_owner(ep, ep.owner.audit_ended(eff, now))
                case (
                    ThreatChanged()
                    | HandoffEnded()
                    | FetchServed()
                    | AuditServed()
                    | CustodyDropped()
                    | CustodyRestored()
                    | SpotAudited()
                ):
                    self.observer.node_report(ep, eff)
                case _:
                    assert_never(eff)
            if ep.core is not core:  # the endpoint went down while performing
                return
        self.arm(ep)

    def _open(self, ep: Endpoint, eff: OpenStream) -> None:
        default = {MIGRATE_PROTOCOL_ID: "hop", AUDIT_PROTOCOL_ID: "audit"}.get(
            eff.protocol, "fetch"
        )
        purpose = ep.purposes.pop(eff.sid, default)
        dst_index = self.by_peer.get(eff.peer)
        dst = None if dst_index is None else self.endpoints[dst_index]
        if dst is None or dst.core is None or not self.transport.reachable(ep.index, dst.index):
            delay = self.transport.dial_failure_delay(ep.index, -1 if dst is None else dst.index)
            self.q.after(delay, self._dial_failed, ep.index, ep.inc, eff.sid)
            return
        rsid, effects = dst.core.accept_stream(eff.protocol, ep.peer, self.q.now)
        link = Link(((ep.index, eff.sid, ep.inc), (dst.index, rsid, dst.inc)), purpose)
        ep.ends[eff.sid] = (link, 0)
        dst.ends[rsid] = (link, 1)
        self.perform(dst, effects)
        assert ep.core is not None
        self.perform(ep, ep.core.stream_opened(eff.sid, self.q.now))

    def _dial_failed(self, index: int, inc: int, sid: int) -> None:
        ep = self._current(index, inc)
        if ep is not None and ep.core is not None:
            self.perform(ep, ep.core.stream_failed(sid, self.q.now, "peer unreachable"))

    def _send(self, ep: Endpoint, eff: SendData) -> None:
        end = ep.ends.get(eff.sid)
        if end is None:
            return
        link, side = end
        self.observer.sent(ep, link, eff)
        if link.broken[side] or link.closed[side]:
            return
        at = self.transport.arrival(link, side, len(eff.data), self.q.now)
        if at is None:  # the connection broke: nothing more arrives this way
            link.broken[side] = True
            return
        self.q.at(at, self._deliver, link, 1 - side, eff.data)

    def _close(self, ep: Endpoint, sid: int) -> None:
        end = ep.ends.pop(sid, None)
        if end is None:
            return
        link, side = end
        if not link.closed[side]:
            link.closed[side] = True
            if not link.broken[side]:
                self.q.at(self.transport.close_arrival(link, side, self.q.now), self._lost,
                          link, 1 - side)  # fmt: skip

    def _deliver(self, link: Link, side: int, data: bytes) -> None:
        index, sid, inc = link.ends[side]
        ep = self._current(index, inc)
        if ep is not None and ep.core is not None:
            self.perform(ep, ep.core.data_received(sid, data, self.q.now))

    def _lost(self, link: Link, side: int) -> None:
        index, sid, inc = link.ends[side]
        ep = self._current(index, inc)
        if ep is not None and ep.core is not None and sid in ep.ends:
            del ep.ends[sid]
            link.closed[side] = True
            self.perform(ep, ep.core.stream_lost(sid, self.q.now))

    # ---- timers --------------------------------------------------------------------------

    def arm(self, ep: Endpoint) -> None:
        """Schedule the endpoint's core timers (each at most once per deadline)."""
        if ep.core is not None:
            t = ep.core.get_timer()
            if t is not None and t != ep.timer_at:
                ep.timer_at = t
                self.q.at(t, self._core_timer, ep.index, ep.inc, t)
        if ep.owner is not None:
            t = ep.owner.get_timer()
            if t is not None and t != ep.owner_timer_at:
                ep.owner_timer_at = t
                self.q.at(t, self._owner_timer, ep.index, ep.inc, t)

    def _core_timer(self, index: int, inc: int, t: float) -> None:
        ep = self._current(index, inc)
        if ep is None or ep.core is None or ep.timer_at != t:
            return
        ep.timer_at = None
        self.perform(ep, ep.core.handle_timer(self.q.now))

    def _owner_timer(self, index: int, inc: int, t: float) -> None:
        ep = self._current(index, inc)
        if ep is None or ep.owner is None or ep.owner_timer_at != t:
            return
        ep.owner_timer_at = None
        self.perform_owner(ep, ep.owner.handle_timer(self.q.now))

    # ---- the owner core's effects ------------------------------------------------------------

    def perform_owner(self, ep: Endpoint, effects: list[OwnerEffect]) -> None:
        """Perform an owner core's effects: launches and fetches go to the node's core."""
        owner, core = ep.owner, ep.core
        if owner is None or core is None:
            return
        now = self.q.now
        for eff in effects:
            match eff:
                case Launch():
                    reason = eff.offer.record.value.reason
                    self._tagged(ep, "repair" if reason is Reason.REPAIR else "launch",
                                 core.launch(eff.offer, eff.shard, eff.tag, now))  # fmt: skip
                case Fetch():
                    self._tagged(ep, "fetch", core.fetch(
                        eff.request, eff.tag, now,
                        expected_manifest=eff.expected_manifest, addrs=eff.addrs,
                    ))  # fmt: skip
                case Audit():
                    self._tagged(ep, "audit", core.audit(
                        eff.challenge, eff.manifest, eff.tag, now, addrs=eff.addrs
                    ))  # fmt: skip
                case Cancel():
                    self.perform(ep, core.cancel(eff.tag, now))
                case Lookup():
                    self._later(ep, "locator_found", eff.tag, self.dht.get(eff.dht_key, now))
                case PublishPointer():
                    self.dht.put(eff)
                case Probe():
                    dst = self.by_peer.get(eff.peer)
                    ok = (
                        dst is not None
                        and self.endpoints[dst].core is not None
                        and self.transport.reachable(ep.index, dst)
                    )
                    self._later(ep, "probe_ended", eff.tag, ok)
                case ReadLocal():
                    stored = ep.store.get(eff.key)
                    self._later(ep, "local_read", eff.tag, None if stored is None else stored[0])
                case (
                    Progress()
                    | PutDone()
                    | GetDone()
                    | KeepDone()
                    | OpFailed()
                    | SaveOwned()
                    | CheckDone()
                    | Repaired()
                    | RepairImpossible()
                    | NotPlaced()
                ):
                    self.observer.owner_report(ep, eff)
                case _:
                    assert_never(eff)
            if ep.owner is not owner:
                return
        self.arm(ep)

    def _tagged(self, ep: Endpoint, purpose: str, effects: list[NodeEffect]) -> None:
        """Perform a launch's or fetch's first effects, naming its stream's purpose."""
        for eff in effects:
            if isinstance(eff, OpenStream):
                ep.purposes[eff.sid] = purpose
        self.perform(ep, effects)

    def _later(self, ep: Endpoint, answer: str, tag: int, value: object) -> None:
        """Call ``owner.<answer>(tag, value, now)`` after the current event (as a DHT would)."""
        self.q.after(0.0, self._answer_owner, ep.index, ep.inc, answer, tag, value)

    def _answer_owner(self, index: int, inc: int, answer: str, tag: int, value: object) -> None:
        ep = self._current(index, inc)
        if ep is not None and ep.owner is not None:
            method: Callable[[int, object, float], list[OwnerEffect]]
            method = getattr(ep.owner, answer)
            self.perform_owner(ep, method(tag, value, self.q.now))
