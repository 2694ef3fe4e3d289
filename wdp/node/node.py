"""A WDP node: host, DHT, carrier core, store, pings and timers in one trio nursery.

:class:`Node` is what the future ``wdp-node`` daemon runs. It drives the
carrier core (``wdp.core.carrier``) and performs its effects:

* ``StartHandoff`` -> dial the peer, open ``/wdp/migrate/1.0``, run a
  SenderSession (:func:`wdp.node.migrate.run_sender`);
* ``PublishLocator`` -> sign a locator (``make_locator``) naming this node and
  its listen addresses, sealed to the owner, and put it in the DHT; it is
  republished at half its lifetime while the shard stays;
* ``WipeShard`` -> wipe from the store (panic);
* ``ThreatChanged`` -> log (and keep for status).

Inbound handoffs are served by the ``/wdp/migrate/1.0`` stream handler;
connection events and pings feed ``carrier.observe``; one timer loop calls
``carrier.handle_timer`` at ``carrier.get_timer()``. Time comes from an
injected ``clock`` (``time.time`` style); :meth:`Node.wake` makes the timer
loop look at the clock again (tests move a fake clock and wake the node).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import multiaddr
import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service import background_trio_service

from wdp.core.carrier import Carrier, CarrierParams, HeldShard
from wdp.core.effects import (
    CarrierEffect,
    PublishLocator,
    ShardKey,
    StartHandoff,
    ThreatChanged,
    WipeShard,
)
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.handoff import ReceiverSession
from wdp.core.limits import MAX_ADDR_BYTES, MAX_CHAIN_LINKS, MAX_HOLDER_ADDRS, MAX_LOCATOR_TTL_MS
from wdp.core.locator import locator_dht_key, make_locator, select_locator, validate_locator
from wdp.core.objects import HolderInfo, Locator, Signed
from wdp.core.rng import Rng
from wdp.core.schedule import next_hop_at
from wdp.core.signing import Signer
from wdp.core.threat import Observation, PeerLost, PeerSeen
from wdp.core.wanderer import Wanderer, launch_offer

from .addrs import LocalIps, advertised_addrs, local_ips, self_ipv4
from .host import (
    MIGRATE_PROTOCOL,
    Clock,
    NotEd25519PeerError,
    bootstrap,
    ensure_ports_free,
    listen_addrs_for,
    new_dht,
    new_wdp_host,
    peer_id_of_key,
    peer_key_of,
    remote_ipv4,
)
from .latency import Pinger
from .migrate import HandoffResult, reset_quietly, run_receiver, run_sender, store_call
from .stats import NodeStats
from .store import MemoryStore, ShardMeta, Store

__all__ = ["Node", "NodeConfig", "open_node"]

log = logging.getLogger(__name__)

KAD_PROTOCOL = "/ipfs/kad/1.0.0"
PUBLISH_RETRY = 30.0  # seconds before retrying a locator put that failed
SHUTDOWN_TIMEOUT = 10.0  # seconds allowed for closing connections on stop


@dataclass
class NodeConfig:
    """Everything a node needs to start.

    Attributes:
        seed: 32-byte Ed25519 seed: the libp2p identity and the WDP peer key.
        listen_addrs: Multiaddrs to listen on (TCP and/or ``/ws``).
        bootstrap: ``.../p2p/<id>`` multiaddrs to connect to at start.
        store: Shard store; a :class:`MemoryStore` if None.
        carrier_params: Carrier tuning (README defaults if None).
        clock: Wall-clock seconds (``time.time`` style).
        rng: Randomness for the carrier (``random.SystemRandom()`` if None).
        ping_interval: Seconds between ping rounds (``math.inf``: no ping loop).
        ping_timeout: Seconds one ping may take.
        lost_after: Failed pings in a row before a peer is reported lost.
        dial_timeout: Seconds to open a migrate stream to a peer.
        enable_dht: Run the Kademlia DHT (locator records).
        announce_addrs: Addresses to advertise (locators, identify) instead of the
            listen addresses, e.g. a NAT's public address or a published port.
        local_ips: This machine's interface addresses; wildcard listen addresses
            (``0.0.0.0``, ``::``) are advertised as one address per entry.
        discovery_interval: Seconds between Kademlia lookups for new peers.
        max_peers: Connections beyond which discovery dials no more peers.
    """

    seed: bytes
    listen_addrs: Sequence[multiaddr.Multiaddr] = field(default_factory=listen_addrs_for)
    bootstrap: Sequence[multiaddr.Multiaddr | str] = ()
    store: Store | None = None
    carrier_params: CarrierParams | None = None
    clock: Clock = time.time
    rng: Rng | None = None
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    lost_after: int = 3
    dial_timeout: float = 10.0
    enable_dht: bool = True
    announce_addrs: Sequence[multiaddr.Multiaddr] | None = None
    local_ips: LocalIps = local_ips
    discovery_interval: float = 30.0
    max_peers: int = 64


class _Notifee(INotifee):
    """Connection events -> PeerSeen / PeerLost."""

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
        self.dht = new_dht(self.host, self.clock) if config.enable_dht else None
        self.rng: Rng = config.rng if config.rng is not None else random.SystemRandom()
        self.carrier = Carrier(
            self.signer,
            self.rng,
            self.clock(),
            config.carrier_params,
            self_ipv4=self_ipv4(
                advertised_addrs(config.listen_addrs, config.announce_addrs, config.local_ips)
            ),
        )
        self.pinger = Pinger(
            self.host,
            self.observe,
            clock=self.clock,
            interval=config.ping_interval,
            timeout=config.ping_timeout,
            lost_after=config.lost_after,
        )
        self.locators: dict[ShardKey, tuple[str, bytes]] = {}  # last locator put per shard
        self.threat_events: list[ThreatChanged] = []
        self.results: deque[HandoffResult] = deque(maxlen=1000)  # latest outbound hops
        self.stats = NodeStats()
        self.running = False
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        self._refresh: dict[ShardKey, tuple[float, PublishLocator]] = {}
        self._pending_wipes = 0
        self._stopping = False
        self._run_scope = trio.CancelScope()
        self.host.set_stream_handler(MIGRATE_PROTOCOL, self._handle_migrate)
        self.host.get_network().register_notifee(_Notifee(self))

    # ---- life cycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
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

    async def _run(self, task_status: trio.TaskStatus[Node]) -> None:
        with self._run_scope:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(self.host.run(self.config.listen_addrs))
                if self.dht is not None:
                    await stack.enter_async_context(background_trio_service(self.dht))
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
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

    # ---- carrier plumbing -------------------------------------------------

    def observe(self, obs: Observation) -> None:
        """Feed a network observation to the carrier and perform what follows."""
        self._dispatch(self.carrier.observe(obs))

    def _spawn(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
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
                self.wake()

        self._nursery.start_soon(guarded)

    def _dispatch(self, effects: list[CarrierEffect]) -> None:
        for eff in effects:
            if isinstance(eff, StartHandoff):
                self._spawn(self._send, eff)
            elif isinstance(eff, PublishLocator):
                self._spawn(self._publish, eff)
            elif isinstance(eff, WipeShard):
                self._pending_wipes += 1
                self._refresh.pop(eff.key, None)
                self._spawn(self._wipe, eff)
            elif isinstance(eff, ThreatChanged):
                self.threat_events.append(eff)
                log.warning("threat level %d: %s", eff.level, "; ".join(eff.reasons) or "no reason")
        self.wake()

    async def _timer_loop(self) -> None:
        while True:
            ev = self._changed
            deadline = self._next_deadline()
            delay = math.inf if deadline is None else max(0.0, deadline - self.clock())
            if delay > 0:
                with trio.move_on_after(delay):
                    await ev.wait()
            else:
                await trio.lowlevel.checkpoint()
            now = self.clock()
            self._dispatch(self.carrier.handle_timer(now))
            for key, (at, eff) in list(self._refresh.items()):
                if at <= now:
                    del self._refresh[key]
                    self._spawn(self._publish, eff)

    def _next_deadline(self) -> float | None:
        times = [at for at, _ in self._refresh.values()]
        t = self.carrier.get_timer()
        if t is not None:
            times.append(t)
        return min(times, default=None)

    async def _ping_loop(self) -> None:
        if math.isinf(self.config.ping_interval):
            return
        next_discovery = 0.0
        while True:
            await self.pinger.ping_all()
            await self._add_dht_peers()
            if time.monotonic() >= next_discovery:
                await self.discover()
                next_discovery = time.monotonic() + self.config.discovery_interval
            await trio.sleep(self.config.ping_interval)

    async def discover(self) -> int:
        """Find peers beyond the bootstrap nodes: a Kademlia lookup of our own id.

        Connects to the closest peers it returns (up to ``max_peers`` connections)
        so they can be pinged and chosen as carriers. Returns how many were new.
        """
        if self.dht is None:
            return 0
        found: list[ID] = []
        with trio.move_on_after(self.config.dial_timeout):
            try:
                found = await self.dht.peer_routing.find_closest_peers_network(
                    self.peer_id.to_bytes()
                )
            except Exception as exc:  # a lookup is best effort; the next round retries
                log.debug("discovery lookup failed: %s", exc)
        connected = set(self.host.get_connected_peers())
        store = self.host.get_peerstore()
        new = 0
        for peer_id in found:
            if len(connected) >= self.config.max_peers:
                break
            if peer_id == self.peer_id or peer_id in connected:
                continue
            try:
                addrs = store.addrs(peer_id)
            except Exception:
                continue
            with trio.move_on_after(self.config.dial_timeout):
                try:
                    await self.host.connect(PeerInfo(peer_id, addrs))
                except Exception as exc:
                    log.debug("discovery: cannot reach %s: %s", peer_id, exc)
                    continue
                connected.add(peer_id)
                new += 1
        if new:
            log.info("discovered %d new peer(s); %d connected", new, len(connected))
        return new

    async def _add_dht_peers(self) -> None:
        """Connected peers that identify says run kad go into the routing table."""
        if self.dht is None:
            return
        store = self.host.get_peerstore()
        for peer_id in self.host.get_connected_peers():
            try:
                if KAD_PROTOCOL in (store.get_protocols(peer_id) or []):
                    await self.dht.add_peer(peer_id)
            except Exception as exc:  # the peerstore raises for peers it does not know
                log.debug("dht: cannot add %s: %s", peer_id, exc)

    # ---- connection events -------------------------------------------------

    def _on_connected(self, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id
        try:
            key = peer_key_of(peer_id)
        except NotEd25519PeerError:
            return
        ipv4 = remote_ipv4(conn)
        self.observe(PeerSeen(key, self.clock(), ipv4))

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
        self.observe(PeerLost(key, self.clock()))

    # ---- handoffs -------------------------------------------------------------

    async def _handle_migrate(self, stream: INetStream) -> None:
        """``/wdp/migrate/1.0`` handler: one inbound handoff per stream."""
        try:
            remote = peer_key_of(stream.muxed_conn.peer_id)
        except NotEd25519PeerError as exc:
            log.info("migrate: refusing a stream from a non-Ed25519 peer: %s", exc)
            await reset_quietly(stream)
            return
        try:
            session = await run_receiver(
                stream,
                signer=self.signer,
                carrier=self.carrier,
                store=self.store,
                remote_peer=remote,
                clock=self.clock,
                sink=self._dispatch,
            )
        except Exception:
            log.exception("migrate: inbound handoff crashed")
            await reset_quietly(stream)
        else:
            self._count_inbound(session, remote)
        finally:
            self.wake()

    def _count_inbound(self, session: ReceiverSession, remote: bytes) -> None:
        offer = session.offer
        if session.committed and offer is not None:
            self.stats.hops_in += 1
            rec = offer.record.value
            log.info(
                "took custody of shard %s hop %d (%s) from %s",
                session.key, rec.hop, rec.reason.name, remote.hex()[:12],
            )  # fmt: skip
        elif session.failure is not None:
            self.stats.count_reject(session.failure.code.name, sent=True)
            log.info("refused a handoff from %s: %s", remote.hex()[:12], session.failure)

    async def _open_migrate(self, peer_id: ID) -> INetStream:
        with trio.fail_after(self.config.dial_timeout):
            return await self.host.new_stream(peer_id, [MIGRATE_PROTOCOL])

    async def _send(self, eff: StartHandoff) -> None:
        """Perform StartHandoff: dial and run a SenderSession."""
        got = await store_call(self.store, self.store.get, eff.key)
        if got is None:
            log.error("store lost shard %s; dropping it from custody", eff.key)
            self.carrier.held.pop(eff.key, None)
            self.wake()
            return
        shard, _meta = got
        try:
            stream = await self._open_migrate(peer_id_of_key(eff.to_peer))
        except Exception as exc:
            log.info("migrate: cannot reach %s: %r", eff.to_peer.hex()[:16], exc)
            self.results.append(HandoffResult(False, RejectCode.TIMEOUT, f"dial failed: {exc!r}"))
            self._dispatch(self.carrier.handoff_failed(eff.key, RejectCode.TIMEOUT, self.clock()))
            return
        try:
            result = await run_sender(
                stream,
                eff.offer,
                shard,
                clock=self.clock,
                carrier=self.carrier,
                store=self.store,
                sink=self._dispatch,
            )
        finally:
            held = self.carrier.held.get(eff.key)
            if held is not None and held.in_flight_to == eff.to_peer:  # ended by a bug
                self._dispatch(
                    self.carrier.handoff_failed(eff.key, RejectCode.TIMEOUT, self.clock())
                )
        self.results.append(result)
        if result.ok:
            self.stats.hops_out += 1
            log.info(
                "handed shard %s to %s (%s)", eff.key, eff.to_peer.hex()[:12],
                eff.offer.record.value.reason.name,
            )  # fmt: skip
        elif result.code is not None:
            self.stats.count_reject(result.code.name, sent=False)
            log.info("handoff of %s to %s failed: %s %s", eff.key, eff.to_peer.hex()[:12],
                     result.code.name, result.detail)  # fmt: skip
        self.wake()

    async def launch(
        self,
        wanderer: Wanderer,
        index: int,
        to_peer: ID | PeerInfo,
        *,
        owner_seed: bytes,
        generation: int = 0,
    ) -> HandoffResult:
        """The owner's hop 0: hand shard ``index`` of ``wanderer`` to ``to_peer``.

        This node only dials; the shard is not in its custody before or after.
        """
        if isinstance(to_peer, PeerInfo):
            await self.host.connect(to_peer)
            peer_id = to_peer.peer_id
        else:
            peer_id = to_peer
        offer = launch_offer(
            wanderer.manifest,
            index,
            owner_seed=owner_seed,
            to_peer=peer_key_of(peer_id),
            now=self.clock(),
            generation=generation,
        )
        try:
            stream = await self._open_migrate(peer_id)
        except Exception as exc:
            return HandoffResult(False, RejectCode.TIMEOUT, f"dial failed: {exc!r}")
        return await run_sender(stream, offer, wanderer.shards[index], clock=self.clock)

    async def _wipe(self, eff: WipeShard) -> None:
        try:
            await store_call(self.store, self.store.wipe, eff.key)
            log.info("wiped %s: %s", eff.key, eff.reason)
        finally:
            self._pending_wipes -= 1
            self.wake()

    # ---- locators -------------------------------------------------------------

    def _holder_addrs(self) -> tuple[bytes, ...]:
        out = [a.to_bytes() for a in self.host.get_addrs()]  # advertised, loopback last
        return tuple(a for a in out if len(a) <= MAX_ADDR_BYTES)[:MAX_HOLDER_ADDRS]

    def locator_for(self, eff: PublishLocator, now: float) -> tuple[str, bytes, float]:
        """Build the locator for a shard this node carries: ``(dht key, value, ttl seconds)``."""
        held = self.carrier.held[eff.key]
        ttl_ms = min(2 * held.manifest.value.epoch_seconds * 1000, MAX_LOCATOR_TTL_MS)
        key, value = make_locator(
            locator_secret=eff.locator_secret,
            owner_key=eff.owner_key,
            holder=HolderInfo(self.peer_key, self._holder_addrs(), eff.record_hash),
            generation=eff.generation,
            hop=eff.hop,
            expires_at_ms=int(now * 1000) + ttl_ms,
            ephemeral_seed=os.urandom(32),
        )
        return key, value, ttl_ms / 1000

    async def _publish(self, eff: PublishLocator) -> None:
        held = self.carrier.held.get(eff.key)
        if held is None or held.last.record.hash != eff.record_hash:
            self._refresh.pop(eff.key, None)  # the shard moved on: its next carrier publishes
            return
        now = self.clock()
        key, value, ttl = self.locator_for(eff, now)
        self._refresh[eff.key] = (now + ttl / 2, eff)
        if self.dht is None:
            return
        try:
            await self.dht.put_value(key, value)
        except Exception as exc:
            log.warning("dht: locator put for %s failed: %r", eff.key, exc)
            self._refresh[eff.key] = (now + min(PUBLISH_RETRY, ttl / 2), eff)
        else:
            self.locators[eff.key] = (key, value)
        self.wake()

    async def get_locator(self, locator_key: bytes | str) -> Signed[Locator] | None:
        """Fetch the best valid locator from the DHT (by locator key or DHT key).

        py-libp2p's ``get_value`` answers from the local store without asking
        the network (and without validating), so a stale or expired local copy
        would hide the current carrier. The local copy is set aside for the
        network query and the better of the two (by ``select_locator``) wins.
        """
        if self.dht is None:
            raise RuntimeError("DHT disabled")
        key = locator_key if isinstance(locator_key, str) else locator_dht_key(locator_key)
        raw = key.encode()
        local = self.dht.value_store.get(raw)
        if local is not None:
            self.dht.value_store.remove(raw)
        found = None
        try:
            # Bounded: with dead peers in the routing table a walk can stall, and
            # a copy this node holds must not be lost to that.
            with trio.move_on_after(self.config.dial_timeout):
                found = await self.dht.get_value(key)
        except Exception as exc:  # the network lookup is best effort
            log.debug("dht lookup of %s failed: %s", key, exc)
        finally:
            if local is not None and self.dht.value_store.get(raw) is None:
                self.dht.value_store.put_record(raw, local)
        values = [v for v in (found, None if local is None else local.value) if v]
        now_ms = int(self.clock() * 1000)
        try:
            best = values[select_locator(key, values, now_ms)] if values else None
        except ProtocolError:
            best = None
        if best is None:
            return None
        return validate_locator(key, best, now_ms)

    # ---- restart, drain, panic -----------------------------------------------

    def _held_from(self, key: ShardKey, meta: ShardMeta, now: float) -> HeldShard | None:
        try:
            links = meta.links()
            manifest = meta.signed_manifest()
        except Exception as exc:
            log.warning("store: %s has unreadable metadata: %s", key, exc)
            return None
        last = links[-1]
        if last.record.value.to_peer != self.peer_key or not last.receipt.verify(self.peer_key):
            log.warning("store: %s was not received by this identity; leaving it", key)
            return None
        params = self.carrier.params
        return HeldShard(
            key=key,
            manifest=manifest,
            chain=links[-MAX_CHAIN_LINKS:],
            locator_secret=meta.locator_secret,
            size=manifest.value.shard_size,
            acquired_at=now,
            next_hop_at=next_hop_at(
                now, float(manifest.value.epoch_seconds), self.rng, params.schedule
            ),
        )

    async def _restore(self) -> None:
        """Take back the committed shards a previous run left in the store."""
        load = getattr(self.store, "load", None)
        if load is None:
            return
        items: list[tuple[ShardKey, ShardMeta]] = await store_call(self.store, load)
        now = self.clock()
        for key, meta in items:
            held = self._held_from(key, meta, now)
            if held is None:
                continue
            self.carrier.held[key] = held
            rec = held.record
            log.info("restored %s (hop %d)", key, rec.hop)
            self._dispatch(
                [
                    PublishLocator(
                        key=key,
                        locator_secret=held.locator_secret,
                        owner_key=held.manifest.value.owner_key,
                        generation=rec.generation,
                        hop=rec.hop,
                        record_hash=held.last.record.hash,
                    )
                ]
            )

    async def drain(self) -> None:
        """Hand every shard to other peers (shutdown); returns once none is left.

        Wrap it in a timeout: with no reachable peer it waits, retrying.
        """
        self._dispatch(self.carrier.drain(self.clock()))
        await self.wait_until(lambda: self.carrier.drained)

    async def panic(self) -> None:
        """Evacuate at once; what is still here after the grace period is wiped.

        Returns once nothing is held and every wipe has reached the store.
        """
        self._dispatch(self.carrier.panic(self.clock()))
        await self.wait_until(lambda: not self.carrier.held and self._pending_wipes == 0)


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
