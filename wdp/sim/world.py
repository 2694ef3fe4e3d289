"""The swarm simulator: the node's own core machines, driven in virtual time.

Each simulated node is what ``wdp-node`` is, minus libp2p: a
:class:`wdp.core.carrier.Carrier` (schedule, placement, threat response,
admission), a shard store, a pinger and a locator publisher. Every handoff
is a real :class:`~wdp.core.handoff.SenderSession` talking to a real
:class:`~wdp.core.handoff.ReceiverSession` with real encoded frames (offers
carry their custody chains, data carries the shard bytes, receipts are
signed), delivered over :class:`~wdp.sim.network.Network`. The simulator
decides nothing the protocol decides: it only moves bytes, stores, wipes,
keeps time and plays the attacker. Owners launch and repair with
:mod:`wdp.core.wanderer` and :mod:`wdp.core.repair`.

What it models rather than runs: the DHT is one reliable table of locator
records (no Kademlia routing, no DHT node failures); an owner knows a random
sample of live nodes when it places a shard; fetching shards for a repair is
a read of the carrier's store (the fetch protocol itself is not simulated).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wdp.core import erasure
from wdp.core.carrier import Carrier, CarrierParams
from wdp.core.effects import (
    CarrierEffect,
    Close,
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    PublishLocator,
    Send,
    ShardKey,
    StartHandoff,
    StoreShard,
    ThreatChanged,
    WipeShard,
)
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.handoff import ReceiverPolicy, ReceiverSession, SenderSession
from wdp.core.limits import MAX_EPOCH_SECONDS, MAX_LOCATOR_TTL_MS, TAG_SIZE
from wdp.core.locator import locator_dht_key, make_locator, open_locator, validate_locator
from wdp.core.messages import Data, Offer
from wdp.core.objects import HolderInfo, Signed
from wdp.core.objects import Receipt as ReceiptBody
from wdp.core.placement import Candidate, PlacementParams
from wdp.core.repair import LAUNCH_ATTEMPTS, RepairTracker, pick_carriers
from wdp.core.signing import ED25519, Signer, public_key_of, use_scheme
from wdp.core.threat import PeerLost, PeerSeen, PingFailed, PingOk, ThreatLevel, ThreatParams
from wdp.core.wanderer import (
    Wanderer,
    create_wanderer,
    launch_offer,
    locator_seed,
    verified_shards,
)

from .events import EventQueue, Trace
from .network import Network
from .scenario import (
    AdaptiveFault,
    LossFault,
    Policy,
    Scenario,
    SeizeFault,
)
from .standin import STANDIN

__all__ = ["RunResult", "Simulation", "simulate"]

NEVER = ThreatParams(min_samples=10**9, min_peers=10**9, min_lost=10**9)
"""Threat thresholds no swarm reaches: the carriers of static policies never flee."""

OWNER_VIEW = 64  # live nodes an owner knows when it places a shard (a node's max_peers)
LOST_LINK = -1


def _seed_bytes(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in ("wdp-sim", *parts)).encode()).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_seed_bytes(*parts)[:8], "big"))


class DropPolicy:
    """A black-hole Sybil: admits everything, signs the receipt, then deletes the shard."""

    def admit(self, offer: Offer) -> ProtocolError | None:
        return None

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        return None


class HoardPolicy:
    """A hoarding Sybil: an honest carrier that also takes sibling shards (and keeps copies)."""

    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier
        self.siblings_taken = 0

    def admit(self, offer: Offer) -> ProtocolError | None:
        refusal = self.carrier.admit(offer)
        if refusal is not None and refusal.code is RejectCode.SIBLING_HELD:
            self.siblings_taken += 1
            return None
        return refusal

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        return self.carrier.receipt_for(offer)


class SimNode:
    """One carrier node: identity, carrier core, store, links to its neighbours."""

    __slots__ = (
        "alive",
        "carrier",
        "inc",
        "index",
        "ipv4",
        "kind",
        "link",
        "neighbours",
        "peer",
        "policy",
        "rng",
        "seized",
        "signer",
        "store",
        "streams",
        "timer_at",
    )

    def __init__(self, index: int, signer: Signer, ipv4: str, kind: str) -> None:
        self.index = index
        self.signer = signer
        self.peer = signer.public_key
        self.ipv4 = ipv4
        self.kind = kind  # "honest", "drop" or "hoard"
        self.alive = True
        self.seized = False
        self.inc = 0  # incarnation: events of an earlier life are ignored
        self.carrier: Carrier | None = None
        self.policy: ReceiverPolicy = DropPolicy()
        self.rng: random.Random = random.Random(0)
        self.store: dict[ShardKey, bytes] = {}
        self.timer_at: float | None = None
        self.neighbours: list[int] = []
        self.link: dict[int, int] = {}  # neighbour -> failed pings in a row, or LOST_LINK
        self.streams: dict[int, None] = {}


class Stream:
    """One /wdp/migrate/1.0 stream: a sender session and a receiver session."""

    __slots__ = (
        "arrive",
        "broken",
        "dst",
        "dst_inc",
        "job",
        "purpose",
        "receiver",
        "sender",
        "sid",
        "src",
        "src_inc",
        "stored",
        "timer_at",
        "wire_free",
    )

    def __init__(
        self, sid: int, src: int, dst: int, sender: SenderSession, receiver: ReceiverSession
    ) -> None:
        self.sid = sid
        self.src = src  # endpoint index (a node, or an owner)
        self.dst = dst
        self.src_inc = 0
        self.dst_inc = 0
        self.sender = sender
        self.receiver = receiver
        self.stored: StoreShard | None = None
        self.timer_at: list[float | None] = [None, None]
        self.wire_free = [0.0, 0.0]  # per direction: when the sender's link is free again
        self.arrive = [0.0, 0.0]  # per direction: last arrival (frames stay in order)
        self.broken = [False, False]
        self.purpose = "hop"
        self.job: LaunchJob | None = None


@dataclass(eq=False)
class SimOwner:
    """The owner of one wanderer: its node identity, secrets and repair memory."""

    index: int  # wanderer number
    endpoint: int
    signer: Signer
    owner_seed: bytes
    wanderer: Wanderer
    tracker: RepairTracker
    launch_at: float
    launched: bool = False
    launch_failed: int = 0
    pending: int = 0  # launch jobs running
    repairing: set[int] = field(default_factory=set)
    lost_at: float | None = None
    locator_keys: dict[tuple[int, int], bytes] = field(default_factory=dict)

    @property
    def wid(self) -> bytes:
        return self.wanderer.manifest.value.wanderer_id

    def locator_key(self, index: int, generation: int) -> bytes:
        key = self.locator_keys.get((index, generation))
        if key is None:
            key = public_key_of(locator_seed(self.owner_seed, index, generation))
            self.locator_keys[(index, generation)] = key
        return key


@dataclass(eq=False)
class LaunchJob:
    """Hop 0 of one shard (GENESIS or REPAIR): up to LAUNCH_ATTEMPTS peers are tried."""

    owner: SimOwner
    index: int
    generation: int
    taken: set[bytes]
    shards: tuple[bytes, ...]
    attempts: int = LAUNCH_ATTEMPTS


@dataclass
class RunResult:
    """What one run measured."""

    scenario: str
    policy: str
    seed: int
    params: dict[str, Any]
    times: list[float]  # sample times, in epochs
    lost: list[int]  # wanderers lost by each sample time
    bytes_sent: list[int]  # cumulative bytes on migrate streams and fetches, per sample
    wanderers: int
    payload_bytes: int
    counters: dict[str, int]
    bytes_by_kind: dict[str, int]
    trace_digest: str
    trace_events: int
    events: int
    wall_seconds: float
    trace: str = ""

    @property
    def lost_fraction(self) -> list[float]:
        return [x / self.wanderers if self.wanderers else 0.0 for x in self.lost]

    @property
    def sessions_per_second(self) -> float:
        return self.counters.get("sessions", 0) / self.wall_seconds if self.wall_seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "params": self.params,
            "times": self.times,
            "lost": self.lost,
            "bytes_sent": self.bytes_sent,
            "wanderers": self.wanderers,
            "payload_bytes": self.payload_bytes,
            "counters": self.counters,
            "bytes_by_kind": self.bytes_by_kind,
            "trace_digest": self.trace_digest,
            "trace_events": self.trace_events,
            "events": self.events,
            "wall_seconds": self.wall_seconds,
        }


class Simulation:
    """One run of a scenario under a storage policy with one seed."""

    def __init__(
        self, scenario: Scenario, policy: Policy, seed: int, *, keep_trace: bool = False
    ) -> None:
        scenario.check()
        policy.check()
        self.sc = scenario
        self.sw = scenario.swarm
        self.policy = policy
        self.seed = seed
        self.q = EventQueue()
        self.trace = Trace(keep=keep_trace)
        self.scheme = STANDIN if self.sw.crypto == "standin" else ED25519
        self.real_crypto = self.sw.crypto == "real"
        self.manifest_epoch = self.sw.epoch if policy.wander else MAX_EPOCH_SECONDS
        self.pings = policy.threat and self.sw.ping_interval > 0
        self.nodes: list[SimNode] = []
        self.owners: list[SimOwner] = []
        self.by_peer: dict[bytes, int] = {}
        self.alive: list[int] = []  # live node indices, ascending
        self.streams: dict[int, Stream] = {}
        self._sid = 0
        self.dht: dict[bytes, tuple[tuple[int, int, int], int, bytes]] = {}
        self.sightings: dict[ShardKey, list[tuple[float, int]]] = {}
        self.captured: set[tuple[bytes, int]] = set()
        self.counters: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.times: list[float] = []
        self.lost_series: list[int] = []
        self.bytes_series: list[int] = []
        self._regions: dict[float, list[int]] = {}
        self.net: Network
        self.owner_rng = _rng(seed, "owners")
        self._built = False
        self._wall = 0.0

    # ---- helpers ---------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def _add_bytes(self, kind: str, n: int) -> None:
        self.bytes[kind] = self.bytes.get(kind, 0) + n

    def _name(self, endpoint: int) -> str:
        n = len(self.nodes)
        return f"n{endpoint}" if endpoint < n else f"o{endpoint - n}"

    # ---- building the world ------------------------------------------------------

    def build(self) -> None:
        sw, sc = self.sw, self.sc
        topo = _rng(self.seed, "topology")
        sybil_count = round(sc.sybil.fraction * sw.nodes)
        sybil_prefixes = sc.sybil.prefixes if sybil_count else 0
        positions = [(topo.random(), topo.random()) for _ in range(sw.prefixes + sybil_prefixes)]
        sybils = set(_rng(self.seed, "sybil").sample(range(sw.nodes), sybil_count))
        prefix_of = []
        for i in range(sw.nodes):
            if i in sybils:
                prefix_of.append(sw.prefixes + topo.randrange(sybil_prefixes))
            else:
                prefix_of.append(topo.randrange(sw.prefixes))
        self.net = Network(
            _rng(self.seed, "network"),
            prefix_pos=positions,
            prefix_of=prefix_of,
            min_rtt=sw.min_rtt,
            max_rtt=sw.max_rtt,
            jitter=sw.jitter,
            base_loss=sw.base_loss,
            bandwidth=sw.bandwidth,
        )
        for i in range(sw.nodes):
            p = prefix_of[i]
            ipv4 = f"{1 + p // 250}.{p % 250}.{(i >> 8) & 255}.{i & 255}"
            kind = sc.sybil.behaviour if i in sybils else "honest"
            node = SimNode(i, Signer(_seed_bytes(self.seed, "node", i)), ipv4, kind)
            self.nodes.append(node)
            self.by_peer[node.peer] = i
        links: list[set[int]] = [set() for _ in range(sw.nodes)]
        others = list(range(sw.nodes))
        half = max(1, sw.degree // 2)
        for i in range(sw.nodes):
            for j in topo.sample(others, half + 1):
                if j != i and len(links[i]) < sw.degree:
                    links[i].add(j)
                    links[j].add(i)
        for node, peers in zip(self.nodes, links, strict=True):
            node.neighbours = sorted(peers)
        self.alive = list(range(sw.nodes))
        for node in self.nodes:
            self._start_node(node, first=True)
        self._build_owners()
        self._schedule_faults()
        self._built = True

    def _carrier_params(self) -> CarrierParams:
        pl = self.sc.placement
        return CarrierParams(
            placement=PlacementParams(recent_window=pl.recent_window, prefix_bits=pl.prefix_bits),
            threat=ThreatParams() if self.policy.threat else NEVER,
        )

    def _start_node(self, node: SimNode, first: bool = False) -> None:
        """Start (or restart) a node process: fresh carrier, empty memory store."""
        now = self.q.now
        node.alive = True
        node.inc += 1
        node.store = {}
        node.streams = {}
        node.timer_at = None
        node.rng = _rng(self.seed, "carrier", node.index, node.inc)
        if node.kind == "drop":
            node.carrier = None
            node.policy = DropPolicy()
        else:
            node.carrier = Carrier(node.signer, node.rng, now, self._carrier_params(), node.ipv4)
            node.policy = node.carrier if node.kind == "honest" else HoardPolicy(node.carrier)
        node.link = {j: 0 for j in node.neighbours if self.nodes[j].alive or first}
        for j in node.neighbours:
            if j not in node.link:
                node.link[j] = LOST_LINK
        if node.carrier is not None:
            effects: list[CarrierEffect] = []
            for j in node.neighbours:
                other = self.nodes[j]
                if node.link[j] == LOST_LINK:
                    continue
                effects += node.carrier.observe(PeerSeen(other.peer, now, other.ipv4))
                if not self.pings:  # the connection's own round trip: one RTT sample
                    rtt = self.net.sample_rtt(node.index, j)
                    effects += node.carrier.observe(PingOk(other.peer, rtt, now))
            self._dispatch(node, effects)
            if self.pings:
                phase = node.rng.uniform(0.0, self.sw.ping_interval)
                self.q.after(phase, self._ping_round, node, node.inc)
        if not first:  # neighbours reconnect to it
            for j in node.neighbours:
                other = self.nodes[j]
                if other.alive and other.carrier is not None and not self.pings:
                    other.link[node.index] = 0
                    self._observe(other, PeerSeen(node.peer, now, node.ipv4))

    def _build_owners(self) -> None:
        sw, pol = self.sw, self.policy
        place = _rng(self.seed, "owner-placement")
        for w in range(sw.wanderers):
            endpoint = self.net.add_endpoint(place.randrange(sw.prefixes))
            owner_seed = _seed_bytes(self.seed, "owner", w)
            launch_at = sw.warmup + place.uniform(0.0, float(sw.epoch))
            payload = _rng(self.seed, "payload", w).randbytes(sw.payload_bytes)
            wanderer = create_wanderer(
                payload,
                owner_seed=owner_seed,
                nonce=_seed_bytes(self.seed, "nonce", w)[:12],
                k=pol.k,
                n=pol.n,
                epoch_seconds=self.manifest_epoch,
                now=launch_at,
            )
            owner = SimOwner(
                index=w,
                endpoint=endpoint,
                signer=Signer(_seed_bytes(self.seed, "owner-node", w)),
                owner_seed=owner_seed,
                wanderer=wanderer,
                tracker=RepairTracker(pol.k, pol.n),
                launch_at=launch_at,
            )
            self.owners.append(owner)
            self.q.at(launch_at, self._launch_wanderer, owner)
            if pol.repair:
                self.q.at(launch_at + sw.epoch, self._repair_check, owner)
        step = sw.sample_epochs * sw.epoch
        for i in range(math.floor(sw.horizon_seconds / step + 1e-9) + 1):
            self.q.at(i * step, self._sample)

    # ---- faults --------------------------------------------------------------------

    def _region(self, fraction: float) -> list[int]:
        """Nodes of the /16 networks nearest to a random point, ``fraction`` of all (cached)."""
        if fraction not in self._regions:
            rng = _rng(self.seed, "region", fraction)
            cx, cy = rng.random(), rng.random()
            pos = self.net.prefix_pos
            order = sorted(
                range(len(pos)), key=lambda p: (math.hypot(pos[p][0] - cx, pos[p][1] - cy), p)
            )
            by_prefix: dict[int, list[int]] = {}
            for node in self.nodes:
                by_prefix.setdefault(self.net.prefix_of[node.index], []).append(node.index)
            want = round(fraction * len(self.nodes))
            chosen: list[int] = []
            for p in order:
                if len(chosen) >= want:
                    break
                chosen += by_prefix.get(p, [])[: want - len(chosen)]
            self._regions[fraction] = chosen
        return self._regions[fraction]

    def _schedule_faults(self) -> None:
        epoch = self.sw.epoch
        for i, f in enumerate(self.sc.faults):
            rng = _rng(self.seed, "fault", i)
            t0 = f.at_epoch * epoch
            if isinstance(f, SeizeFault):
                count = round(f.fraction * len(self.nodes))
                if f.select == "region":
                    victims = list(self._region(f.fraction))
                else:
                    victims = rng.sample(range(len(self.nodes)), count)
                for j, v in enumerate(victims):
                    t = t0 + (f.spread_seconds * j / max(1, len(victims)))
                    if f.warning_seconds > 0:
                        self.q.at(t - f.warning_seconds, self._degrade, v, f.warning_loss,
                                  f.warning_rtt)  # fmt: skip
                    self.q.at(t, self._seize, v, "seize")
            elif isinstance(f, LossFault):
                if f.select == "region":
                    hit = list(self._region(f.fraction))
                else:
                    hit = sorted(
                        rng.sample(range(len(self.nodes)), round(f.fraction * len(self.nodes)))
                    )
                self.q.at(t0, self._loss_wave, hit, f.loss, f.extra_rtt)
                self.q.at(t0 + f.duration_seconds, self._loss_wave, hit, 0.0, 0.0)
            elif isinstance(f, AdaptiveFault):
                for w in range(f.waves):
                    self.q.at(t0 + w * f.every_epochs * epoch, self._adaptive_wave, f, rng)
        churn = self.sc.churn
        if churn.session_hours > 0:
            for node in self.nodes:
                if node.kind == "honest":
                    rng = _rng(self.seed, "churn", node.index)
                    self.q.at(rng.expovariate(1.0 / (churn.session_hours * 3600)), self._leave,
                              node, rng)  # fmt: skip

    def _degrade(self, v: int, loss: float, rtt: float) -> None:
        if self.nodes[v].alive:
            self.net.loss[v] = loss
            self.net.extra_rtt[v] = rtt
            self.trace(self.q.now, "degrade", self._name(v), loss, rtt)

    def _loss_wave(self, hit: list[int], loss: float, rtt: float) -> None:
        for v in hit:
            self.net.loss[v] = loss
            self.net.extra_rtt[v] = rtt
        self.trace(self.q.now, "loss", len(hit), loss, rtt)

    def seize(self, v: int) -> None:
        """Seize node ``v`` now (SIGKILL with a memory store: it and its shards are gone)."""
        self._seize(v, "seize")

    def carriers(self, wanderer: int) -> dict[int, int]:
        """Shard index -> a live node holding it, for one wanderer."""
        wid = self.owners[wanderer].wid
        out: dict[int, int] = {}
        for i in self.alive:
            carrier = self.nodes[i].carrier
            if carrier is not None:
                for key in carrier.held:
                    if key.wanderer_id == wid:
                        out.setdefault(key.shard_index, i)
        return out

    def _seize(self, v: int, why: str) -> None:
        node = self.nodes[v]
        if not node.alive:
            return
        node.seized = True
        self.count("seized")
        self.count("seized_shards", len(node.carrier.held) if node.carrier else 0)
        self._go_down(node, why, graceful=False)

    def _adaptive_wave(self, f: AdaptiveFault, rng: random.Random) -> None:
        known_at = self.q.now - f.lag_epochs * self.sw.epoch
        budget = round(f.fraction_per_wave * len(self.nodes))
        order = list(range(len(self.owners)))
        rng.shuffle(order)
        targets: list[int] = []
        chosen: set[int] = set()
        for w in order:
            owner = self.owners[w]
            for idx in range(self.policy.n):
                hist = self.sightings.get(ShardKey(owner.wid, idx))
                if not hist:
                    continue
                pos = bisect_right(hist, known_at, key=lambda e: e[0])
                if pos == 0:
                    continue
                v = hist[pos - 1][1]
                if v not in chosen and self.nodes[v].alive and len(targets) < budget:
                    chosen.add(v)
                    targets.append(v)
            if len(targets) >= budget:
                break
        self.trace(self.q.now, "adaptive-wave", len(targets))
        for v in targets:
            self._seize(v, "adaptive")

    def _leave(self, node: SimNode, rng: random.Random) -> None:
        churn = self.sc.churn
        if not node.alive or node.seized:
            return
        back = rng.expovariate(1.0 / (churn.downtime_hours * 3600))
        if rng.random() < churn.graceful and node.carrier is not None:
            self.count("leave_graceful")
            self.trace(self.q.now, "drain", self._name(node.index))
            self._dispatch(node, node.carrier.drain(self.q.now))
            self.q.after(churn.drain_seconds, self._drained, node, node.inc, rng, back)
        else:
            self.count("leave_crash")
            self._go_down(node, "crash", graceful=False)
            self.q.after(back, self._rejoin, node, rng)

    def _drained(self, node: SimNode, inc: int, rng: random.Random, back: float) -> None:
        if node.inc != inc or not node.alive:
            return
        left = len(node.carrier.held) if node.carrier else 0
        if left:
            self.count("drain_left_behind", left)
        self._go_down(node, "left", graceful=True)
        self.q.after(back, self._rejoin, node, rng)

    def _rejoin(self, node: SimNode, rng: random.Random) -> None:
        if node.seized or node.alive:
            return
        self.trace(self.q.now, "join", self._name(node.index))
        self.alive.insert(bisect_right(self.alive, node.index), node.index)
        self._start_node(node)
        churn = self.sc.churn
        self.q.after(rng.expovariate(1.0 / (churn.session_hours * 3600)), self._leave, node, rng)

    def _go_down(self, node: SimNode, why: str, *, graceful: bool) -> None:
        """The node's process is gone (seized, crashed or stopped): so is its memory store."""
        now = self.q.now
        self.trace(now, "down", self._name(node.index), why, len(node.store))
        node.alive = False
        node.inc += 1
        node.store = {}
        node.carrier = None
        self.net.loss[node.index] = 0.0
        self.net.extra_rtt[node.index] = 0.0
        self.alive.pop(bisect_right(self.alive, node.index) - 1)
        delay = 0.0 if graceful else self.sw.detect_delay
        for sid in list(node.streams):
            st = self.streams.get(sid)
            if st is not None:
                self.q.after(delay + 0.001, self._stream_lost, st, 1 if st.src == node.index else 0)
        node.streams = {}
        if graceful or not self.pings:  # without pings, peers learn it from the connection
            for j in node.neighbours:
                self.q.after(delay, self._peer_gone, self.nodes[j], self.nodes[j].inc, node)

    def _peer_gone(self, other: SimNode, inc: int, gone: SimNode) -> None:
        if not (other.alive and other.inc == inc and other.carrier is not None):
            return
        if other.link.get(gone.index, 0) != LOST_LINK:
            other.link[gone.index] = LOST_LINK
            self._observe(other, PeerLost(gone.peer, self.q.now))

    # ---- pings ---------------------------------------------------------------------

    def _observe(self, node: SimNode, obs: PeerSeen | PeerLost | PingOk | PingFailed) -> None:
        assert node.carrier is not None
        effects = node.carrier.observe(obs)
        if effects:
            self._dispatch(node, effects)

    def _ping_round(self, node: SimNode, inc: int) -> None:
        if not node.alive or node.inc != inc or node.carrier is None:
            return
        now = self.q.now
        net, nodes, i = self.net, self.nodes, node.index
        observe = node.carrier.observe
        failed: list[int] = []
        effects: list[CarrierEffect] = []
        for j in node.neighbours:
            other = nodes[j]
            state = node.link[j]
            if state == LOST_LINK:  # not connected: try to reconnect
                if other.alive and not net.ping_fails(i, j):
                    node.link[j] = 0
                    effects += observe(PeerSeen(other.peer, now, other.ipv4))
                continue
            if not other.alive or net.ping_fails(i, j):
                failed.append(j)
                continue
            node.link[j] = 0
            effects += observe(PingOk(other.peer, net.sample_rtt(i, j), now))
        self.count("pings", len(node.neighbours))
        if effects:
            self._dispatch(node, effects)
        else:
            self._arm_node(node)
        if failed:
            self.q.after(self.sw.ping_timeout, self._ping_failed, node, inc, failed)
        self.q.after(self.sw.ping_interval, self._ping_round, node, inc)

    def _ping_failed(self, node: SimNode, inc: int, failed: list[int]) -> None:
        if not node.alive or node.inc != inc or node.carrier is None:
            return
        now = self.q.now
        effects: list[CarrierEffect] = []
        for j in failed:
            if node.link[j] == LOST_LINK:
                continue
            peer = self.nodes[j].peer
            effects += node.carrier.observe(PingFailed(peer, now))
            node.link[j] += 1
            if node.link[j] >= self.sw.lost_after:
                node.link[j] = LOST_LINK
                effects += node.carrier.observe(PeerLost(peer, now))
        self._dispatch(node, effects)

    # ---- the carrier's effects -----------------------------------------------------------

    def _dispatch(self, node: SimNode, effects: list[CarrierEffect]) -> None:
        now = self.q.now
        for eff in effects:
            if isinstance(eff, StartHandoff):
                self._start_handoff(node, eff)
            elif isinstance(eff, PublishLocator):
                self._publish(node, eff, first=True)
            elif isinstance(eff, WipeShard):
                node.store.pop(eff.key, None)
                self.count("panic_wipes")
                self.trace(now, "wipe", self._name(node.index), eff.key)
            elif isinstance(eff, ThreatChanged):
                self.trace(now, "threat", self._name(node.index), eff.level)
                if eff.level >= ThreatLevel.CRITICAL:
                    self.count("threat_critical")
        self._arm_node(node)

    def _arm_node(self, node: SimNode) -> None:
        if node.carrier is None:
            return
        t = node.carrier.get_timer()
        if t is not None and t != node.timer_at:
            node.timer_at = t
            self.q.at(t, self._node_timer, node, node.inc, t)

    def _node_timer(self, node: SimNode, inc: int, t: float) -> None:
        if node.inc != inc or node.timer_at != t or node.carrier is None:
            return
        node.timer_at = None
        self._dispatch(node, node.carrier.handle_timer(self.q.now))

    # ---- locators and the DHT ----------------------------------------------------------------

    def _publish(self, node: SimNode, eff: PublishLocator, first: bool) -> None:
        """The node's locator publisher (wdp.node.node.Node._publish), into one DHT table."""
        if node.carrier is None:
            return
        held = node.carrier.held.get(eff.key)
        if held is None or held.last.record.hash != eff.record_hash:
            return  # the shard moved on: its next carrier publishes
        now = self.q.now
        ttl_ms = min(2 * held.manifest.value.epoch_seconds * 1000, MAX_LOCATOR_TTL_MS)
        expires = int(now * 1000) + ttl_ms
        locator_key = held.record.locator_key
        value = b""
        if self.real_crypto:
            _, value = make_locator(
                locator_secret=eff.locator_secret,
                owner_key=eff.owner_key,
                holder=HolderInfo(node.peer, (node.ipv4.encode(),), eff.record_hash),
                generation=eff.generation,
                hop=eff.hop,
                expires_at_ms=expires,
                ephemeral_seed=_seed_bytes(self.seed, "eph", now, node.index, eff.key),
            )
        rank = (eff.generation, eff.hop, expires)
        old = self.dht.get(locator_key)
        if old is None or old[0] < rank:
            self.dht[locator_key] = (rank, node.index, value)
        self.count("locator_puts")
        if first:
            self.sightings.setdefault(eff.key, []).append((now, node.index))
        self.q.after(ttl_ms / 2000, self._republish, node, node.inc, eff)

    def _republish(self, node: SimNode, inc: int, eff: PublishLocator) -> None:
        if node.alive and node.inc == inc:
            self._publish(node, eff, first=False)

    def _lookup(self, owner: SimOwner, index: int) -> int | None:
        """The owner reads shard ``index``'s locator: the holder's node index, or None."""
        key = owner.locator_key(index, owner.tracker.generations[index])
        entry = self.dht.get(key)
        if entry is None:
            return None
        (_, _, expires), holder, value = entry
        now_ms = int(self.q.now * 1000)
        if expires <= now_ms:
            return None
        if self.real_crypto:  # the owner checks and opens the record as its node does
            loc = validate_locator(locator_dht_key(key), value, now_ms)
            return self.by_peer.get(open_locator(owner.owner_seed, loc.value).holder)
        return holder

    # ---- handoffs -------------------------------------------------------------------------

    def _new_stream(
        self, src: int, dst: SimNode, sender: SenderSession, src_inc: int, remote: bytes
    ) -> Stream:
        self._sid += 1
        receiver = ReceiverSession(dst.signer, dst.policy, self.q.now, remote_peer=remote)
        st = Stream(self._sid, src, dst.index, sender, receiver)
        st.src_inc, st.dst_inc = src_inc, dst.inc
        self.streams[st.sid] = st
        dst.streams[st.sid] = None
        if src < len(self.nodes):
            self.nodes[src].streams[st.sid] = None
        self.count("sessions")
        return st

    def _start_handoff(self, node: SimNode, eff: StartHandoff) -> None:
        """Perform StartHandoff as the node does: dial, then run a SenderSession."""
        assert node.carrier is not None
        shard = node.store.get(eff.key)
        if shard is None:
            raise AssertionError(f"{self._name(node.index)} holds {eff.key} without its bytes")
        target = self.nodes[self.by_peer[eff.to_peer]]
        if not target.alive:
            self.count("dial_failures")
            self.q.after(self.sw.dial_timeout, self._dial_failed, node, node.inc, eff.key)
            return
        st = self._new_stream(
            node.index, target, SenderSession(eff.offer, shard), node.inc, node.peer
        )
        self._sender_effects(st, st.sender.start(self.q.now))

    def _dial_failed(self, node: SimNode, inc: int, key: ShardKey) -> None:
        if node.alive and node.inc == inc and node.carrier is not None:
            self._dispatch(node, node.carrier.handoff_failed(key, RejectCode.TIMEOUT, self.q.now))

    def _side_alive(self, st: Stream, side: int) -> bool:
        endpoint, inc = (st.src, st.src_inc) if side == 0 else (st.dst, st.dst_inc)
        if endpoint >= len(self.nodes):
            return True  # owners do not fail
        node = self.nodes[endpoint]
        return node.alive and node.inc == inc

    def _send(self, st: Stream, side: int, eff: Send) -> None:
        size = len(eff.data)
        kind = "data" if isinstance(eff.message, Data) else "control"
        self._add_bytes(f"{st.purpose}_{kind}", size)
        if st.broken[side]:
            return
        a, b = (st.src, st.dst) if side == 0 else (st.dst, st.src)
        now = self.q.now
        start = max(now, st.wire_free[side])
        st.wire_free[side] = start + size / self.net.bandwidth
        delay = self.net.frame_delay(a, b)
        if delay is None:  # the connection broke: nothing more arrives this way
            st.broken[side] = True
            self.count("streams_broken")
            return
        at = max(st.wire_free[side] + delay, st.arrive[side])
        st.arrive[side] = at
        self.q.at(at, self._deliver, st, 1 - side, eff.data)

    def _close(self, st: Stream, side: int) -> None:
        if not st.broken[side]:
            at = max(self.q.now, st.arrive[side]) + 0.0005
            st.arrive[side] = at
            self.q.at(at, self._stream_lost, st, 1 - side)

    def _deliver(self, st: Stream, side: int, data: bytes) -> None:
        if not self._side_alive(st, side):
            return
        if side == 1:
            self._receiver_effects(st, st.receiver.receive_data(data, self.q.now))
        else:
            self._sender_effects(st, st.sender.receive_data(data, self.q.now))

    def _stream_lost(self, st: Stream, side: int) -> None:
        """End of stream (the other side closed, or its node vanished)."""
        if not self._side_alive(st, side):
            return
        if side == 1:
            self._receiver_effects(st, st.receiver.connection_lost(self.q.now))
        else:
            self._sender_effects(st, st.sender.connection_lost(self.q.now))

    def _arm_stream(self, st: Stream, side: int) -> None:
        session = st.sender if side == 0 else st.receiver
        t = session.get_timer()
        if t is not None and t != st.timer_at[side]:
            st.timer_at[side] = t
            self.q.at(t, self._stream_timer, st, side, t)
        if st.sender.finished and st.receiver.finished:
            self._forget_stream(st)

    def _forget_stream(self, st: Stream) -> None:
        if self.streams.pop(st.sid, None) is not None:
            for endpoint in (st.src, st.dst):
                if endpoint < len(self.nodes):
                    self.nodes[endpoint].streams.pop(st.sid, None)

    def _stream_timer(self, st: Stream, side: int, t: float) -> None:
        if st.timer_at[side] != t or not self._side_alive(st, side):
            return
        st.timer_at[side] = None
        if side == 0:
            self._sender_effects(st, st.sender.handle_timer(self.q.now))
        else:
            self._receiver_effects(st, st.receiver.handle_timer(self.q.now))

    def _sender_effects(self, st: Stream, effects: list[Effect]) -> None:
        now = self.q.now
        node = self.nodes[st.src] if st.src < len(self.nodes) else None
        for eff in effects:
            if isinstance(eff, Send):
                self._send(st, 0, eff)
            elif isinstance(eff, Close):
                self._close(st, 0)
            elif isinstance(eff, WipeShard):
                if node is not None:
                    node.store.pop(eff.key, None)
            elif isinstance(eff, HandoffSucceeded):
                if node is not None and node.carrier is not None:
                    self._dispatch(node, node.carrier.handoff_succeeded(eff.key, now))
                elif st.job is not None:
                    self._launch_done(st.job, True, st)
            elif isinstance(eff, HandoffFailed):
                self.count(f"failed_{eff.code.name}")
                if node is not None and node.carrier is not None and eff.key is not None:
                    self._dispatch(
                        node, node.carrier.handoff_failed(eff.key, eff.code, now, eff.in_doubt)
                    )
                elif st.job is not None:
                    self._launch_done(st.job, False, st)
        self._arm_stream(st, 0)

    def _receiver_effects(self, st: Stream, effects: list[Effect]) -> None:
        node = self.nodes[st.dst]
        for eff in effects:
            if isinstance(eff, Send):
                self._send(st, 1, eff)
            elif isinstance(eff, Close):
                self._close(st, 1)
            elif isinstance(eff, StoreShard):
                node.store[eff.key] = eff.shard
                st.stored = eff
                self._receiver_effects(st, st.receiver.store_done(True, self.q.now))
            elif isinstance(eff, WipeShard):
                node.store.pop(eff.key, None)
            elif isinstance(eff, HandoffSucceeded):
                self._took_custody(node, st, eff)
            elif isinstance(eff, HandoffFailed):
                offer = st.receiver.offer
                if node.carrier is not None and offer is not None:
                    node.carrier.receive_aborted(offer.record.hash)
        self._arm_stream(st, 1)

    def _took_custody(self, node: SimNode, st: Stream, eff: HandoffSucceeded) -> None:
        now = self.q.now
        rec = eff.link.record.value
        self.count("hops")
        self.count(f"hops_{rec.reason.name}")
        self.trace(
            now, "hop", f"{rec.wanderer_id.hex()[:8]}/{rec.shard_index}", rec.generation,
            rec.hop, rec.reason.name, self._name(st.src), self._name(node.index),
        )  # fmt: skip
        if node.kind == "drop":
            node.store.pop(eff.key, None)
            self.count("dropped")
            return
        if node.kind == "hoard":
            self.captured.add((rec.wanderer_id, rec.shard_index))
        assert node.carrier is not None and st.stored is not None
        self._dispatch(node, node.carrier.shard_received(st.stored, eff.link, now))

    # ---- owners: launch and repair -------------------------------------------------------------

    def _candidates(self) -> list[Candidate]:
        view = self.owner_rng.sample(self.alive, min(OWNER_VIEW, len(self.alive)))
        return [Candidate(self.nodes[i].peer, self.nodes[i].ipv4, None, True) for i in view]

    def _placement(self) -> PlacementParams:
        pl = self.sc.placement
        return PlacementParams(recent_window=pl.recent_window, prefix_bits=pl.prefix_bits)

    def _launch_wanderer(self, owner: SimOwner) -> None:
        taken: set[bytes] = set()
        shards = owner.wanderer.shards
        for index in range(self.policy.n):
            owner.pending += 1
            self._launch_try(LaunchJob(owner, index, 0, taken, shards))

    def _launch_try(self, job: LaunchJob) -> None:
        owner = job.owner
        picks = (
            pick_carriers(
                self._candidates(),
                1,
                rng=self.owner_rng,
                exclude=job.taken,
                params=self._placement(),
            )
            if job.attempts > 0
            else []
        )
        if not picks:
            self._launch_finished(job, ok=False)
            return
        job.attempts -= 1
        peer = picks[0]
        job.taken.add(peer)
        offer = launch_offer(
            owner.wanderer.manifest,
            job.index,
            owner_seed=owner.owner_seed,
            to_peer=peer,
            now=self.q.now,
            generation=job.generation,
        )
        target = self.nodes[self.by_peer[peer]]
        st = self._new_stream(
            owner.endpoint,
            target,
            SenderSession(offer, job.shards[job.index]),
            0,
            owner.signer.public_key,
        )
        st.purpose = "launch" if job.generation == 0 else "repair"
        st.job = job
        self._sender_effects(st, st.sender.start(self.q.now))

    def _launch_done(self, job: LaunchJob, ok: bool, st: Stream) -> None:
        st.job = None  # report once
        if ok:
            self._launch_finished(job, ok=True)
        else:
            self.q.after(0.0, self._launch_try, job)

    def _launch_finished(self, job: LaunchJob, *, ok: bool) -> None:
        owner = job.owner
        owner.pending -= 1
        if job.generation == 0:
            if not ok:
                owner.launch_failed += 1
                self.count("launch_failures")
            if owner.pending == 0:
                owner.launched = True
        else:
            owner.repairing.discard(job.index)
            if ok:
                owner.tracker.repaired(job.index)
                self.count("repairs")
                self.trace(self.q.now, "repaired", f"{owner.wid.hex()[:8]}/{job.index}",
                           owner.tracker.generations[job.index])  # fmt: skip
            else:
                self.count("repair_launch_failures")

    def _repair_check(self, owner: SimOwner) -> None:
        """One check round of the owner's node (wdp.core.repair rules)."""
        self.q.after(self.sw.epoch, self._repair_check, owner)
        if owner.lost_at is not None or not owner.launched:
            return
        holders: dict[int, int] = {}
        for index in range(self.policy.n):
            if index in owner.repairing:
                continue
            holder = self._lookup(owner, index)
            reachable = holder is not None and self.nodes[holder].alive
            owner.tracker.observe(index, reachable)
            if reachable and holder is not None:
                holders[index] = holder
        lost = [i for i in owner.tracker.lost() if i not in owner.repairing]
        if not lost:
            return
        self.count("repair_rounds")
        m = owner.wanderer.manifest.value
        got: dict[int, bytes] = {}
        delay = 0.0
        for index, holder in sorted(holders.items()):
            if len(got) >= m.k:
                break
            shard = self.nodes[holder].store.get(ShardKey(owner.wid, index))
            if shard is None:
                continue  # the locator named a node that no longer holds it
            if not verified_shards(m, {index: shard}):
                continue
            got[index] = shard
            self._add_bytes("repair_fetch", len(shard))
            delay = max(
                delay, self.net.rtt(owner.endpoint, holder) + len(shard) / self.net.bandwidth
            )
        if len(got) < m.k:
            self.count("repair_impossible")
            self.trace(self.q.now, "repair-impossible", owner.wid.hex()[:8], len(got))
            return
        ciphertext = erasure.decode(got, m.k, m.n, m.payload_size + TAG_SIZE)
        shards = tuple(erasure.encode(ciphertext, m.k, m.n))
        taken = {self.nodes[h].peer for h in holders.values()}
        for index in lost:
            owner.repairing.add(index)
            owner.pending += 1
            job = LaunchJob(owner, index, owner.tracker.next_generation(index), taken, shards)
            self.q.after(delay, self._launch_try, job)

    # ---- measuring -------------------------------------------------------------------------------

    def _sample(self) -> None:
        now = self.q.now
        k = self.policy.k
        have: dict[bytes, set[int]] = {}
        for i in self.alive:
            carrier = self.nodes[i].carrier
            if carrier is not None:
                for key in carrier.held:
                    have.setdefault(key.wanderer_id, set()).add(key.shard_index)
        lost = 0
        for owner in self.owners:
            started = owner.launched or owner.launch_failed
            if owner.lost_at is None and started and len(have.get(owner.wid, ())) < k:
                owner.lost_at = now
                self.trace(now, "lost", owner.wid.hex()[:8])
            lost += owner.lost_at is not None
        self.times.append(now / self.sw.epoch)
        self.lost_series.append(lost)
        self.bytes_series.append(sum(self.bytes.values()))

    # ---- running ----------------------------------------------------------------

    def advance(self, until: float) -> None:
        """Run the world up to virtual time ``until`` (seconds); builds it first if needed."""
        with use_scheme(self.scheme):
            if not self._built:
                self.build()
            t0 = time.perf_counter()
            self.q.run(min(until, self.sw.horizon_seconds))
            self._wall += time.perf_counter() - t0

    def run(self) -> RunResult:
        """Run to the horizon and report."""
        t0 = time.perf_counter()
        with use_scheme(self.scheme):
            if not self._built:
                self.build()
        self._wall += time.perf_counter() - t0
        self.advance(self.sw.horizon_seconds)
        return self.result()

    def result(self) -> RunResult:
        self.counters["captured_shards"] = len(self.captured)
        self.counters["captured_wanderers"] = self._captured_wanderers()
        sw = self.sw
        return RunResult(
            scenario=self.sc.name,
            policy=self.policy.name,
            seed=self.seed,
            params={
                "nodes": sw.nodes,
                "degree": sw.degree,
                "prefixes": sw.prefixes,
                "wanderers": sw.wanderers,
                "payload_bytes": sw.payload_bytes,
                "epoch": sw.epoch,
                "horizon_epochs": sw.horizon_epochs,
                "ping_interval": sw.ping_interval if self.pings else 0,
                "crypto": sw.crypto,
                "k": self.policy.k,
                "n": self.policy.n,
                "wander": self.policy.wander,
                "threat": self.policy.threat,
                "repair": self.policy.repair,
                "prefix_bits": self.sc.placement.prefix_bits,
                "recent_window": self.sc.placement.recent_window,
                "sybil_fraction": self.sc.sybil.fraction,
                "sybil_behaviour": self.sc.sybil.behaviour,
            },
            times=self.times,
            lost=self.lost_series,
            bytes_sent=self.bytes_series,
            wanderers=len(self.owners),
            payload_bytes=sw.payload_bytes,
            counters=dict(sorted(self.counters.items())),
            bytes_by_kind=dict(sorted(self.bytes.items())),
            trace_digest=self.trace.digest(),
            trace_events=self.trace.count,
            events=self.q.processed,
            wall_seconds=self._wall,
            trace=self.trace.text(),
        )

    def _captured_wanderers(self) -> int:
        per: dict[bytes, int] = {}
        for wid, _ in self.captured:
            per[wid] = per.get(wid, 0) + 1
        return sum(1 for c in per.values() if c >= self.policy.k)

    def check_custody(self) -> None:
        """Every shard a live carrier holds is in its store (the driver kept its promises)."""
        for i in self.alive:
            node = self.nodes[i]
            if node.carrier is not None:
                missing = [k for k in node.carrier.held if k not in node.store]
                if missing:
                    raise AssertionError(f"{self._name(i)} holds {missing[0]} without its bytes")


def simulate(
    scenario: Scenario,
    policy: Policy,
    seed: int,
    *,
    keep_trace: bool = False,
    setup: Callable[[Simulation], None] | None = None,
) -> RunResult:
    """Run one scenario under one policy; ``setup`` may adjust the world before it starts."""
    sim = Simulation(scenario, policy, seed, keep_trace=keep_trace)
    if setup is not None:
        with use_scheme(sim.scheme):
            sim.build()
            setup(sim)
    return sim.run()
