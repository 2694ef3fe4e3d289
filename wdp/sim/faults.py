"""What happens to the swarm: seizures, loss waves, an adaptive attacker, churn.

Faults act on the network model and on node processes only: a degraded or
lossy node's links get packet loss and extra delay; a seized or crashed node's
process is gone with its memory store (its streams break; its peers notice by
their pings, or after ``detect_delay`` without them); a node that leaves
gracefully is told to drain (``NodeCore.drain``) and stops
``drain_seconds`` later; a node that comes back starts a fresh core. Which
nodes, and when, is drawn from the run's seed, the same under every policy.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import TYPE_CHECKING

from wdp.core.effects import ShardKey
from wdp.core.signing import Signer

from .runtime import Endpoint
from .scenario import AdaptiveFault, LossFault, SeizeFault
from .topology import seed_bytes

if TYPE_CHECKING:
    from .world import Simulation

__all__ = ["Faults"]


class Faults:
    """The scenario's faults and churn, scheduled on the run's event queue."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.seized: set[int] = set()
        self._regions: dict[float, list[int]] = {}

    @property
    def _nodes(self) -> list[Endpoint]:
        return self.sim.topology.nodes

    def _region(self, fraction: float) -> list[int]:
        """Nodes of the /16 networks nearest to a random point (with ``region_rtt``: from
        the last network back), ``fraction`` of all (cached)."""
        if fraction not in self._regions:
            rng = self.sim.rng("region", fraction)
            cx, cy = rng.random(), rng.random()
            net = self.sim.topology.net
            pos = net.prefix_pos
            order = sorted(
                range(len(pos)), key=lambda p: (math.hypot(pos[p][0] - cx, pos[p][1] - cy), p)
            )
            if net.region_rtt:  # a testbed's geography: the last region first, as there
                order = list(reversed(range(len(net.region_rtt))))
            by_prefix: dict[int, list[int]] = {}
            for node in self._nodes:
                by_prefix.setdefault(net.prefix_of[node.index], []).append(node.index)
            want = round(fraction * len(self._nodes))
            chosen: list[int] = []
            for p in order:
                if len(chosen) >= want:
                    break
                chosen += by_prefix.get(p, [])[: want - len(chosen)]
            self._regions[fraction] = chosen
        return self._regions[fraction]

    def schedule(self) -> None:
        sim = self.sim
        q, epoch, count = sim.q, sim.sw.epoch, len(self._nodes)
        for i, f in enumerate(sim.sc.faults):
            rng = sim.rng("fault", i)
            t0 = f.at_epoch * epoch
            if isinstance(f, SeizeFault):
                if f.select == "region":
                    victims = list(self._region(f.fraction))
                else:
                    victims = rng.sample(range(count), round(f.fraction * count))
                for j, v in enumerate(victims):
                    t = t0 + (f.spread_seconds * j / max(1, len(victims)))
                    if f.warning_seconds > 0:
                        q.at(t - f.warning_seconds, self._degrade, v, f.warning_loss,
                             f.warning_rtt)  # fmt: skip
                    q.at(t, self.seize, v, "seize")
            elif isinstance(f, LossFault):
                if f.select == "region":
                    hit = list(self._region(f.fraction))
                else:
                    hit = sorted(rng.sample(range(count), round(f.fraction * count)))
                q.at(t0, self._loss_wave, hit, f.loss, f.extra_rtt)
                q.at(t0 + f.duration_seconds, self._loss_wave, hit, 0.0, 0.0)
            elif isinstance(f, AdaptiveFault):
                for w in range(f.waves):
                    q.at(t0 + w * f.every_epochs * epoch, self._adaptive_wave, f, rng)
        churn = sim.sc.churn
        if churn.session_hours > 0:
            for node in self._nodes:
                if node.kind == "honest":
                    rng = sim.rng("churn", node.index)
                    q.at(rng.expovariate(1.0 / (churn.session_hours * 3600)), self._leave,
                         node, rng)  # fmt: skip

    def prepare(self) -> None:
        """Before any node starts: the attacks on the defences (turncoats, late joiners,
        identity churn) and the nodes that are not online at first."""
        sim = self.sim
        sy, epoch, horizon = sim.sc.sybil, sim.sw.epoch, sim.sw.horizon_seconds
        sybils = [n for n in self._nodes if n.kind in ("drop", "hoard")]
        if sy.honest_epochs > 0:
            for node in sybils:
                node.kind = "sleeper"  # an honest core until it turns
                sim.q.at(sy.honest_epochs * epoch, self._turn, node, sy.behaviour)
        if sy.join_epoch > 0:
            for node in sybils:
                self._offline(node)
                sim.q.at(sy.join_epoch * epoch, self._come_online, node)
        churners = [self._nodes[i] for i in sim.topology.churners]
        for node in churners:
            self._offline(node)
        t, wave = sy.churn_from * epoch, 0
        while churners and t < horizon:
            sim.q.at(t, self._churn_wave, churners, wave)
            t, wave = t + sy.churn_every * epoch, wave + 1

    def _offline(self, node: Endpoint) -> None:
        """A node that is not online when the run starts (before any node starts)."""
        node.alive = False
        alive = self.sim.topology.alive
        alive.pop(bisect_right(alive, node.index) - 1)

    def _come_online(self, node: Endpoint) -> None:
        sim = self.sim
        sim.trace(sim.q.now, "join", sim.topology.name(node.index))
        alive = sim.topology.alive
        alive.insert(bisect_right(alive, node.index), node.index)
        sim.start_node(node, first=False)

    def _turn(self, node: Endpoint, behaviour: str) -> None:
        """A Sybil that behaved turns: it restarts as a ``behaviour`` node, dropping its shards."""
        if not node.alive:
            node.kind = behaviour
            return
        sim = self.sim
        if behaviour == "drop":
            sim.meter.count("dropped", len(node.store))
        self.go_down(node, "turn", graceful=False)
        node.kind = behaviour
        self._come_online(node)

    def _churn_wave(self, churners: list[Endpoint], wave: int) -> None:
        """The churners come online with fresh identities, and all leave together later."""
        sim = self.sim
        runtime = sim.runtime
        for node in churners:
            runtime.by_peer.pop(node.peer, None)
            node.signer = Signer(seed_bytes(sim.seed, "churner", node.index, wave))
            runtime.by_peer[node.peer] = node.index
            self._come_online(node)
        sim.q.after(sim.sc.sybil.churn_stay, self._churn_leave, churners)

    def _churn_leave(self, churners: list[Endpoint]) -> None:
        self.sim.meter.count("churn_waves")
        for node in churners:
            if node.alive:
                self.go_down(node, "churn", graceful=False)

    # ---- the network ------------------------------------------------------------------

    def _degrade(self, v: int, loss: float, rtt: float) -> None:
        if self._nodes[v].alive:
            net = self.sim.topology.net
            net.loss[v] = loss
            net.extra_rtt[v] = rtt
            self.sim.trace(self.sim.q.now, "degrade", self.sim.topology.name(v), loss, rtt)

    def _loss_wave(self, hit: list[int], loss: float, rtt: float) -> None:
        net = self.sim.topology.net
        for v in hit:
            net.loss[v] = loss
            net.extra_rtt[v] = rtt
        self.sim.trace(self.sim.q.now, "loss", len(hit), loss, rtt)

    # ---- seizures ---------------------------------------------------------------------------

    def seize(self, v: int, why: str = "seize") -> None:
        """Node ``v`` is taken now (SIGKILL with a memory store: it and its shards are gone)."""
        node = self._nodes[v]
        if not node.alive:
            return
        self.seized.add(v)
        meter = self.sim.meter
        meter.count("seized")
        meter.count("seized_shards", len(node.core.held) if node.core is not None else 0)
        self.go_down(node, why, graceful=False)

    def _adaptive_wave(self, f: AdaptiveFault, rng: random.Random) -> None:
        """Seize the carriers the attacker saw publish ``lag_epochs`` ago, wanderer by wanderer."""
        sim = self.sim
        known_at = sim.q.now - f.lag_epochs * sim.sw.epoch
        budget = round(f.fraction_per_wave * len(self._nodes))
        owners = sim.topology.owners
        order = list(range(len(owners)))
        rng.shuffle(order)
        targets: list[int] = []
        chosen: set[int] = set()
        for w in order:
            wid = owners[w].wid
            for idx in range(sim.policy.n if wid is not None else 0):
                assert wid is not None
                hist = sim.meter.sightings.get(ShardKey(wid, idx))
                if not hist:
                    continue
                pos = bisect_right(hist, known_at, key=lambda e: e[0])
                if pos == 0:
                    continue
                v = hist[pos - 1][1]
                if v not in chosen and self._nodes[v].alive and len(targets) < budget:
                    chosen.add(v)
                    targets.append(v)
            if len(targets) >= budget:
                break
        sim.trace(sim.q.now, "adaptive-wave", len(targets))
        for v in targets:
            self.seize(v, "adaptive")

    # ---- churn -------------------------------------------------------------------------------

    def _leave(self, node: Endpoint, rng: random.Random) -> None:
        sim = self.sim
        churn = sim.sc.churn
        if not node.alive or node.index in self.seized or node.core is None:
            return
        back = rng.expovariate(1.0 / (churn.downtime_hours * 3600))
        if rng.random() < churn.graceful:
            sim.meter.count("leave_graceful")
            sim.trace(sim.q.now, "drain", sim.topology.name(node.index))
            sim.runtime.perform(node, node.core.drain(sim.q.now))
            sim.q.after(churn.drain_seconds, self._drained, node, node.inc, rng, back)
        else:
            sim.meter.count("leave_crash")
            self.go_down(node, "crash", graceful=False)
            sim.q.after(back, self._rejoin, node, rng)

    def _drained(self, node: Endpoint, inc: int, rng: random.Random, back: float) -> None:
        if node.inc != inc or not node.alive:
            return
        left = len(node.core.held) if node.core is not None else 0
        if left:
            self.sim.meter.count("drain_left_behind", left)
        self.go_down(node, "left", graceful=True)
        self.sim.q.after(back, self._rejoin, node, rng)

    def _rejoin(self, node: Endpoint, rng: random.Random) -> None:
        sim = self.sim
        if node.index in self.seized or node.alive:
            return
        self._come_online(node)
        churn = sim.sc.churn
        sim.q.after(rng.expovariate(1.0 / (churn.session_hours * 3600)), self._leave, node, rng)

    # ---- a node's end -------------------------------------------------------------------------

    def go_down(self, node: Endpoint, why: str, *, graceful: bool) -> None:
        """The node's process is gone (seized, crashed or stopped): so is its memory store."""
        sim = self.sim
        sim.trace(sim.q.now, "down", sim.topology.name(node.index), why, len(node.store))
        net = sim.topology.net
        net.loss[node.index] = 0.0
        net.extra_rtt[node.index] = 0.0
        alive = sim.topology.alive
        alive.pop(bisect_right(alive, node.index) - 1)
        sim.runtime.down(node, 0.0 if graceful else sim.sw.detect_delay)
        sim.pings.gone(node, graceful=graceful)
