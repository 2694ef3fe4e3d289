"""A WDP node on py-libp2p: the driver of one :class:`~wdp.core.node.NodeCore`.

The core decides everything the protocol decides; :class:`Node` performs its
effects and feeds back what happened, in one trio nursery:

* both protocols (``/wdp/migrate/1.0``, ``/wdp/fetch/1.0``) are registered at
  construction; each stream, inbound or opened for the core (``OpenStream``),
  is pumped by a :class:`~wdp.node.streams.StreamPump`;
* the store (``StoreShard``, ``PersistReceipt``, ``LoadShard``,
  ``WipeShard``) runs in a worker thread when it blocks (the disk store);
* the DHT puts locators (``PublishLocator``) and answers lookups;
* pings, connection events and the operator's drain and panic become inputs;
* one timer loop calls ``handle_timer`` at ``get_timer()``.

Time comes from an injected ``clock`` (``time.time`` style); :meth:`Node.wake`
makes the timer loop look at the clock again (tests move a fake clock and
wake the node). The owner's side runs beside it (:mod:`wdp.node.owner`).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Protocol, TypeVar, assert_never

import multiaddr
import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.kad_dht import KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service import background_trio_service

if TYPE_CHECKING:  # trio_typing (a libp2p dependency) ships the trio stubs mypy sees
    from trio_typing import TaskStatus

from wdp.core.audit import AuditChallenge
from wdp.core.carrier import Carrier, CarrierParams
from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode, WdpError
from wdp.core.fetch import FetchRequest, FetchResult
from wdp.core.limits import AUDIT_PROTOCOL_ID, FETCH_PROTOCOL_ID, MIGRATE_PROTOCOL_ID
from wdp.core.messages import Offer
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
    NodeParams,
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
from wdp.core.objects import Manifest, Signed
from wdp.core.rng import Rng
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, launch_offer

from .addrs import advertised_addrs, self_ipv4
from .config import NodeConfig
from .dht import add_dht_peers, discover, discovery_wait, lookup_locator, publish_locator
from .history import NodeHistory
from .host import (
    Clock,
    NotEd25519PeerError,
    bootstrap,
    ensure_ports_free,
    new_dht,
    new_wdp_host,
    peer_id_of_key,
    peer_key_of,
    remote_ipv4,
)
from .kadguard import KadGuard
from .ping import Pinger
from .refusals import RefusalLog
from .reports import log_report
from .stats import NodeStats
from .store import MemoryStore, ShardMeta, Store
from .streams import StreamPump, reset_quietly

__all__ = ["FetchError", "Node", "NodeConfig", "open_node", "store_call"]

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0  # seconds allowed for closing connections on stop
PROTOCOLS = (
    TProtocol(MIGRATE_PROTOCOL_ID),
    TProtocol(FETCH_PROTOCOL_ID),
    TProtocol(AUDIT_PROTOCOL_ID),
)


T = TypeVar("T")


async def store_call(store: Store, fn: Callable[..., T], *args: object) -> T:
    """Call a store method, in a worker thread if the store blocks (disk)."""
    if store.blocking:
        return await trio.to_thread.run_sync(fn, *args)
    return fn(*args)


class _Notifee(INotifee):
    """Connection events -> the core's peer_connected / peer_disconnected."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self.node._on_connected(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self.node._on_disconnected(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass


Report = LaunchEnded | FetchEnded | AuditEnded


class OwnerSide(Protocol):
    """Where a node hands the reports of launches, fetches and audits its owner's side asked for."""

    def launch_ended(self, report: LaunchEnded) -> None: ...

    def fetch_ended(self, report: FetchEnded) -> None: ...

    def audit_ended(self, report: AuditEnded) -> None: ...


class Node:
    """One WDP node. Start it with ``await nursery.start(node.run)`` or :func:`open_node`."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.clock: Clock = config.clock
        self.signer = Signer(config.seed)
        self.peer_key = self.signer.public_key
        self.store: Store = config.store if config.store is not None else MemoryStore()
        self.host = new_wdp_host(
            config.seed, config.listen_addrs, config.announce_addrs, config.local_ips
        )
        self.peer_id: ID = self.host.get_id()
        if peer_key_of(self.peer_id) != self.peer_key:  # pragma: no cover - identity invariant
            raise RuntimeError("libp2p identity and WDP peer key differ")
        self.dht: KadDHT | None = None
        self.kad_guard: KadGuard | None = None
        if config.enable_dht:
            self.dht, self.kad_guard = new_dht(self.host, self.clock, config.kad_limits)
            self.kad_guard.on_refused = lambda kind, peer, detail: self.refusals.refused(
                kind, peer, detail, self.clock()
            )
        self.rng: Rng = config.rng if config.rng is not None else random.SystemRandom()
        self.core = NodeCore(
            self.signer,
            self.rng,
            self.clock(),
            NodeParams(
                carrier=config.carrier_params or CarrierParams(),
                budget=config.stream_budget,
                lost_after=config.lost_after,
            ),
            self_ipv4=self_ipv4(
                advertised_addrs(config.listen_addrs, config.announce_addrs, config.local_ips)
            ),
        )
        self.core.set_addrs([a.to_bytes() for a in self.host.get_addrs()])  # again once listening
        self.pinger = Pinger(self.host, self._ping_result, timeout=config.ping_timeout)
        self.owner: OwnerSide | None = None
        self.locators: dict[ShardKey, tuple[str, bytes]] = {}  # last locator put per shard
        self.history = NodeHistory()  # threat changes and hops, for status and the dashboard
        self.stats = NodeStats()
        self.refusals = RefusalLog()
        self.running = False
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        self._pumps: dict[int, StreamPump] = {}
        self._waiters: dict[int, Callable[[Report], None]] = {}
        self._tags = itertools.count(-1, -1)  # the node's own launches and fetches
        self._pending_wipes = 0
        self._stopping = False
        self._run_scope = trio.CancelScope()
        for protocol in PROTOCOLS:
            self.host.set_stream_handler(protocol, self._inbound_handler(protocol))
        self.host.get_network().register_notifee(_Notifee(self))

    @property
    def carrier(self) -> Carrier:
        """The core's carrier, for status and metrics (read it; never drive it)."""
        return self.core.carrier

    # ---- life cycle ---------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, join the DHT, restore stored shards, then serve until stopped.

        Stops on :meth:`stop` or when cancelled; either way the connections
        are closed first, so peers see the disconnect at once. (py-libp2p's own
        shutdown closes them inside an already cancelled scope: sockets linger
        and peers notice nothing.) The host therefore runs under a shield and
        outside cancellation is turned into :meth:`stop`.
        """
        ensure_ports_free(self.config.listen_addrs)  # raises OSError(EADDRINUSE) unwrapped
        async with trio.open_nursery() as watcher:
            watcher.start_soon(self._stop_when_cancelled)
            with trio.CancelScope(shield=True):
                await self._run(task_status)
            watcher.cancel_scope.cancel()

    async def _stop_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await self.stop()

    async def _run(self, task_status: TaskStatus[Node]) -> None:
        with self._run_scope:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(self.host.run(self.config.listen_addrs))
                if self.dht is not None:
                    await stack.enter_async_context(background_trio_service(self.dht))
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        self.core.set_addrs([a.to_bytes() for a in self.host.get_addrs()])
                        await self._restore()
                        if self.config.bootstrap:
                            await bootstrap(self.host, self.dht, self.config.bootstrap)
                        nursery.start_soon(self._timer_loop)
                        nursery.start_soon(self._ping_loop)
                        self.running = True
                        task_status.started(self)
                        await trio.sleep_forever()
                finally:
                    self._stopping = True
                    self.running = False
                    self._nursery = None
                    self.refusals.flush()

    async def stop(self) -> None:
        """Close every connection, then end :meth:`run` (idempotent)."""
        self._stopping = True
        with trio.move_on_after(SHUTDOWN_TIMEOUT):
            try:
                await self.host.close()
            except Exception as exc:
                log.warning("closing the host failed: %r", exc)
        self._run_scope.cancel()

    @property
    def open_streams(self) -> int:
        """Streams being pumped right now (migrate and fetch)."""
        return len(self._pumps)

    @property
    def addrs(self) -> list[multiaddr.Multiaddr]:
        """Advertised addresses (wildcards expanded, or announce), each ending in /p2p/<id>."""
        return list(self.host.get_addrs())

    def wake(self) -> None:
        """Something changed (or the clock moved): re-check timers and waiters."""
        ev, self._changed = self._changed, trio.Event()
        ev.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; re-checked after every change on this node."""
        while not predicate():
            await self._changed.wait()

    async def connect(self, addr: multiaddr.Multiaddr | str) -> ID:
        """Connect to a ``.../p2p/<id>`` address and add the peer to the DHT routing table."""
        ids = await bootstrap(self.host, self.dht, [addr])
        if not ids:
            raise ConnectionError(f"cannot connect to {addr}")
        return ids[0]

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run an effect in the background; a failing effect is logged, never fatal."""
        name = getattr(fn, "__name__", repr(fn))
        if self._nursery is None:
            log.warning("node not running: dropped %s", name)
            return

        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception:
                log.exception("%s failed", name)
            finally:
                self.wake()

        self._nursery.start_soon(guarded)

    # ---- performing the core's effects ---------------------------------------------

    def perform(self, effects: list[NodeEffect]) -> None:
        """Perform the core's effects in order; answers come back in later tasks."""
        for eff in effects:
            match eff:
                case OpenStream():
                    self.spawn(self._open, eff)
                case SendData():
                    pump = self._pumps.get(eff.sid)
                    if pump is not None:
                        pump.send(eff.data)
                case CloseStream():
                    pump = self._pumps.get(eff.sid)
                    if pump is not None:
                        pump.close()
                case ResetStream():
                    pump = self._pumps.get(eff.sid)
                    if pump is not None:
                        pump.reset()
                case StoreShard():
                    self._store(eff)
                case PersistReceipt():
                    self._persist(eff)
                case LoadShard():
                    self._load(eff)
                case WipeShard():
                    self._wipe(eff)
                case PublishLocator():
                    self.spawn(self._publish, eff)
                case ThreatChanged():
                    self.history.threat(self.clock(), eff)
                    log.warning("threat level %d: %s", eff.level, "; ".join(eff.reasons) or "calm")
                case HandoffEnded():
                    self._handoff_ended(eff)
                case LaunchEnded() | FetchEnded() | AuditEnded():
                    self._owner_report(eff)
                case (
                    FetchServed() | AuditServed() | CustodyDropped() | CustodyRestored()
                    | SpotAudited()
                ):  # fmt: skip
                    log_report(eff, self.stats, self._refused)
                case _:
                    assert_never(eff)
        self.wake()

    def _storage(
        self, op: Callable[[], T], then: Callable[[T | Exception], list[NodeEffect]]
    ) -> None:
        """Run a store operation, then give its outcome to ``then`` (which answers the core).

        A memory store answers at once; the disk store runs in a worker thread.
        """
        if not self.store.blocking:
            try:
                result: T | Exception = op()
            except Exception as exc:
                result = exc
            self.perform(then(result))
            return

        async def in_thread() -> None:
            try:
                result: T | Exception = await trio.to_thread.run_sync(op)
            except Exception as exc:
                result = exc
            self.perform(then(result))

        self.spawn(in_thread)

    def _handoff_ended(self, eff: HandoffEnded) -> None:
        self.history.hop(self.clock(), eff)
        peer = eff.peer.hex()[:12]
        reason = eff.reason.name if eff.reason is not None else "?"
        code = eff.code.name if eff.code is not None else ""
        if eff.inbound and eff.ok:
            self.stats.hops_in += 1
            log.info("took custody of shard %s hop %s (%s) from %s", eff.key, eff.hop, reason, peer)
        elif eff.inbound:
            self.stats.count_reject(code, sent=not eff.by_peer)
            self._refused("handoff", eff.code, peer, eff.detail)
        elif eff.ok:
            self.stats.hops_out += 1
            log.info("handed shard %s to %s (%s)", eff.key, peer, reason)
        else:
            self.stats.count_reject(code, sent=False)
            log.info("handoff of %s to %s failed: %s %s", eff.key, peer, code, eff.detail)

    def _refused(self, what: str, code: RejectCode | None, peer: str, detail: str) -> None:
        kind = f"{what} {code.name if code is not None else 'aborted'}"
        self.refusals.refused(kind, peer, detail, self.clock())

    def _owner_report(self, eff: LaunchEnded | FetchEnded | AuditEnded) -> None:
        if isinstance(eff, AuditEnded):
            self.stats.count_audit_run(eff.result is not None, eff.code)
        waiter = self._waiters.pop(eff.tag, None)
        if waiter is not None:
            waiter(eff)
        elif self.owner is not None and eff.tag > 0:
            match eff:
                case LaunchEnded():
                    self.owner.launch_ended(eff)
                case FetchEnded():
                    self.owner.fetch_ended(eff)
                case AuditEnded():
                    self.owner.audit_ended(eff)

    # ---- streams -----------------------------------------------------------------------

    def _inbound_handler(self, protocol: TProtocol) -> Callable[[INetStream], Awaitable[None]]:
        async def handle(stream: INetStream) -> None:
            try:
                remote = peer_key_of(stream.muxed_conn.peer_id)
            except NotEd25519PeerError as exc:
                self.refusals.refused(
                    f"{protocol} non-Ed25519 peer", str(stream.muxed_conn.peer_id), str(exc),
                    self.clock(),
                )  # fmt: skip
                await reset_quietly(stream)
                return
            sid, effects = self.core.accept_stream(protocol, remote, self.clock())
            await self._pump(sid, stream, effects)

        return handle

    async def _pump(self, sid: int, stream: INetStream, first: list[NodeEffect]) -> None:
        pump = StreamPump(
            stream,
            lambda data: self.perform(self.core.data_received(sid, data, self.clock())),
            lambda: self.perform(self.core.stream_lost(sid, self.clock())),
        )
        self._pumps[sid] = pump
        try:
            self.perform(first)
            await pump.run()
        finally:
            self._pumps.pop(sid, None)
            self.wake()

    async def _open(self, eff: OpenStream) -> None:
        try:
            peer_id = peer_id_of_key(eff.peer)
            with trio.fail_after(eff.timeout or self.config.dial_timeout):
                if eff.addrs:
                    await self._dial(peer_id, eff.addrs)
                stream = await self.host.new_stream(peer_id, [TProtocol(eff.protocol)])
        except Exception as exc:
            log.info("cannot open %s to %s: %r", eff.protocol, eff.peer.hex()[:16], exc)
            self.perform(self.core.stream_failed(eff.sid, self.clock(), repr(exc)))
            return
        await self._pump(eff.sid, stream, self.core.stream_opened(eff.sid, self.clock()))

    async def _dial(self, peer_id: ID, raw_addrs: Sequence[bytes]) -> None:
        """Connect to a peer at addresses a verified locator gave (fresh news it is there)."""
        addrs = []
        for raw in raw_addrs:
            try:
                addrs.append(multiaddr.Multiaddr(raw))
            except Exception:
                continue
        # py-libp2p refuses to redial a peer for 60 s after a failed dial: forget that.
        self.host.get_network().unblock_peer(peer_id)  # type: ignore[attr-defined]
        await self.host.connect(PeerInfo(peer_id, addrs))

    async def probe(self, peer: bytes, raw_addrs: Sequence[bytes]) -> bool:
        """Can ``peer`` be reached (at ``raw_addrs``)? Dials, bounded by the dial timeout."""
        if peer == self.peer_key:
            return True
        with trio.move_on_after(self.config.dial_timeout):
            try:
                await self._dial(peer_id_of_key(peer), raw_addrs)
            except Exception as exc:
                log.debug("probe of %s failed: %r", peer.hex()[:16], exc)
                return False
            return True
        return False

    # ---- the store ---------------------------------------------------------------------

    def _store(self, eff: StoreShard) -> None:
        def then(result: Exception | None) -> list[NodeEffect]:
            if isinstance(result, Exception):
                log.warning("cannot store %s: %s", eff.key, result)
                return self.core.shard_stored(
                    eff.sid, False, self.clock(), "the shard could not be stored"
                )
            return self.core.shard_stored(eff.sid, True, self.clock())

        self._storage(lambda: self.store.put(eff.key, eff.shard, eff.meta), then)

    def _persist(self, eff: PersistReceipt) -> None:
        def then(result: Exception | None) -> list[NodeEffect]:
            if isinstance(result, Exception):
                log.error("cannot record the receipt for %s: %s", eff.key, result)
            return self.core.receipt_persisted(eff.sid, result is None, self.clock())

        self._storage(lambda: self.store.commit(eff.key, eff.receipt), then)

    def _load(self, eff: LoadShard) -> None:
        def then(result: tuple[bytes, ShardMeta] | Exception | None) -> list[NodeEffect]:
            if isinstance(result, Exception):
                log.warning("cannot read %s from the store: %s", eff.key, result)
                return self.core.load_failed(eff.sid, self.clock(), str(result))
            return self.core.shard_loaded(
                eff.sid, None if result is None else result[0], self.clock()
            )

        self._storage(lambda: self.store.get(eff.key), then)

    def _wipe(self, eff: WipeShard) -> None:
        self._pending_wipes += 1

        def then(result: Exception | None) -> list[NodeEffect]:
            self._pending_wipes -= 1
            if isinstance(result, Exception):
                log.error("cannot wipe %s: %s", eff.key, result)
            else:
                log.info("wiped %s: %s", eff.key, eff.reason)
            return []

        self._storage(lambda: self.store.wipe(eff.key), then)

    async def read_shard(self, key: ShardKey) -> bytes | None:
        """This node's stored bytes of ``key`` (for the owner's side)."""
        got = await store_call(self.store, self.store.get, key)
        return None if got is None else got[0]

    async def _restore(self) -> None:
        """Take back the committed shards a previous run left in the store."""
        load = getattr(self.store, "load", None)
        if load is not None:
            items = await store_call(self.store, load)
            self.perform(self.core.restore(items, self.clock()))

    # ---- the DHT ------------------------------------------------------------------------

    async def _publish(self, eff: PublishLocator) -> None:
        if self.dht is None:
            return
        try:
            await publish_locator(self.dht, eff.dht_key, eff.value, self.spawn)
        except Exception as exc:
            log.warning("dht: locator put for %s failed: %r", eff.key, exc)
            self.perform(self.core.locator_failed(eff.key, eff.record_hash, self.clock()))
        else:
            self.locators[eff.key] = (eff.dht_key, eff.value)

    async def publish_record(self, dht_key: str, value: bytes) -> int:
        """Put a record the owner's side made (a forward pointer) here and at the closest
        peers; how many peers took it (``publish_locator``'s errors pass through)."""
        if self.dht is None:
            return 0
        return await publish_locator(self.dht, dht_key, value, self.spawn)

    async def lookup_locator(self, dht_key: str) -> bytes | None:
        """The best valid locator value under ``dht_key`` (a walk bounded by the dial timeout)."""
        if self.dht is None:
            return None
        now_ms, timeout = int(self.clock() * 1000), self.config.dial_timeout
        return await lookup_locator(self.dht, dht_key, now_ms, timeout, self.spawn)

    # ---- pings and connections ----------------------------------------------------------------

    def _ping_result(self, peer_id: ID, rtt: float | None) -> None:
        try:
            key = peer_key_of(peer_id)
        except NotEd25519PeerError:
            return
        now = self.clock()
        if rtt is None:
            self.perform(self.core.ping_failed(key, now))
        else:
            self.perform(self.core.ping_ok(key, rtt, now))

    async def _ping_loop(self) -> None:
        if math.isinf(self.config.ping_interval):
            return
        next_discovery = 0.0
        wait = self.config.discovery_interval
        while True:
            await self.pinger.ping_all()
            if self.dht is not None:
                await add_dht_peers(self.host, self.dht)
                if time.monotonic() >= next_discovery:
                    found = await self.discover()
                    wait = discovery_wait(wait, found, self.config.discovery_interval)
                    next_discovery = time.monotonic() + wait
            await trio.sleep(self.config.ping_interval)

    async def discover(self) -> int:
        """Find and connect to peers beyond the bootstrap nodes; returns how many were new."""
        if self.dht is None:
            return 0
        return await discover(
            self.host,
            self.dht,
            max_peers=self.config.max_peers,
            dial_timeout=self.config.dial_timeout,
        )

    def _on_connected(self, conn: INetConn) -> None:
        try:
            key = peer_key_of(conn.muxed_conn.peer_id)
        except NotEd25519PeerError:
            return
        self.perform(self.core.peer_connected(key, remote_ipv4(conn), self.clock()))

    def _on_disconnected(self, conn: INetConn) -> None:
        if self._stopping:
            return
        peer_id = conn.muxed_conn.peer_id
        if self.host.get_network().get_connections(peer_id):
            return  # another connection to the peer is still up
        self.pinger.forget(peer_id)
        try:
            key = peer_key_of(peer_id)
        except NotEd25519PeerError:
            return
        self.perform(self.core.peer_disconnected(key, self.clock()))

    # ---- time -------------------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        while True:
            ev = self._changed
            deadline = self.core.get_timer()
            delay = math.inf if deadline is None else max(0.0, deadline - self.clock())
            if delay > 0:
                with trio.move_on_after(delay):
                    await ev.wait()
            else:
                await trio.lowlevel.checkpoint()
            self.perform(self.core.handle_timer(self.clock()))

    # ---- the owner's streams, run by the node itself (tests, tools) ------------------------------

    async def _report(self, start: Callable[[int], list[NodeEffect]]) -> Report:
        tag = next(self._tags)
        done = trio.Event()
        got: list[Report] = []

        def waiter(report: Report) -> None:
            got.append(report)
            done.set()

        self._waiters[tag] = waiter
        try:
            self.perform(start(tag))
            await done.wait()
        finally:
            if self._waiters.pop(tag, None) is not None:
                self.perform(self.core.cancel(tag, self.clock()))
        return got[0]

    async def launch(self, offer: Offer, shard: bytes) -> LaunchEnded:
        """Run an owner's hop 0 (``launch_offer``) from this node and wait for its end."""
        report = await self._report(lambda tag: self.core.launch(offer, shard, tag, self.clock()))
        assert isinstance(report, LaunchEnded)
        return report

    async def launch_shard(
        self,
        wanderer: Wanderer,
        index: int,
        to_peer: ID | PeerInfo,
        *,
        owner_seed: bytes,
        generation: int = 0,
    ) -> LaunchEnded:
        """Hand shard ``index`` of ``wanderer`` to ``to_peer`` as its hop 0 (tools, tests)."""
        if isinstance(to_peer, PeerInfo):
            await self.host.connect(to_peer)
            to_peer = to_peer.peer_id
        offer = launch_offer(
            wanderer.manifest,
            index,
            owner_seed=owner_seed,
            to_peer=peer_key_of(to_peer),
            now=self.clock(),
            generation=generation,
        )
        return await self.launch(offer, wanderer.shards[index])

    async def fetch(
        self,
        request: Signed[FetchRequest],
        *,
        expected_manifest: bytes | None = None,
        addrs: Sequence[bytes] = (),
    ) -> FetchEnded:
        """Fetch the shard ``request`` names from its carrier and wait for the end."""
        report = await self._report(
            lambda tag: self.core.fetch(
                request, tag, self.clock(), expected_manifest=expected_manifest, addrs=addrs
            )
        )
        assert isinstance(report, FetchEnded)
        return report

    async def audit(
        self,
        challenge: Signed[AuditChallenge],
        manifest: Signed[Manifest],
        *,
        addrs: Sequence[bytes] = (),
    ) -> AuditEnded:
        """Challenge the carrier ``challenge`` names and wait for the end (tools, tests)."""
        report = await self._report(
            lambda tag: self.core.audit(challenge, manifest, tag, self.clock(), addrs=addrs)
        )
        assert isinstance(report, AuditEnded)
        return report

    async def fetch_result(self, request: Signed[FetchRequest], **kwargs: object) -> FetchResult:
        """:meth:`fetch`, raising :class:`FetchError` unless a verified shard came back."""
        report = await self.fetch(request, **kwargs)  # type: ignore[arg-type]
        if report.result is None:
            assert report.code is not None
            raise FetchError(report.code, report.detail, by_peer=report.by_peer)
        return report.result

    # ---- drain and panic ----------------------------------------------------------------------

    async def drain(self) -> None:
        """Hand every shard to other peers (shutdown); returns once none is left.

        Wrap it in a timeout: with no reachable peer it waits, retrying.
        """
        self.perform(self.core.drain(self.clock()))
        await self.wait_until(lambda: self.core.drained)

    async def panic(self) -> None:
        """Evacuate at once; what is still here after the grace period is wiped.

        Returns once nothing is held and every wipe has reached the store.
        """
        self.perform(self.core.panic(self.clock()))
        await self.wait_until(lambda: not self.core.held and self._pending_wipes == 0)


class FetchError(WdpError):
    """A fetch that did not deliver a verified shard; ``code`` is the reject code."""

    def __init__(self, code: RejectCode, detail: str, *, by_peer: bool = False) -> None:
        super().__init__(f"{'carrier' if by_peer else 'fetch'} {code.name}: {detail}")
        self.code = code
        self.detail = detail
        self.by_peer = by_peer


@asynccontextmanager
async def open_node(config: NodeConfig) -> AsyncIterator[Node]:
    """Run a node for the duration of the block."""
    node = Node(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        try:
            yield node
        finally:
            nursery.cancel_scope.cancel()  # run() turns this into a graceful stop
