"""The swarm simulator: real node and owner cores, driven in virtual time.

Every simulated node is an :class:`~wdp.sim.runtime.Endpoint` running a
:class:`~wdp.core.node.NodeCore` (an attacker's runs one of the subclasses
of :mod:`wdp.sim.attackers`); every wanderer's owner is an endpoint of its
own with a ``NodeCore`` and an :class:`~wdp.core.owner.OwnerCore`, and so is
each of its keepers (handed the repair capability once the put is done). The
:class:`~wdp.sim.runtime.Runtime` performs their effects over the modelled
network (:class:`~wdp.sim.transport.NetworkTransport`): every hop, launch
and repair fetch is a real ``/wdp/migrate/1.0`` or ``/wdp/fetch/1.0``
session with real encoded frames. The simulator decides nothing the
protocol decides. It keeps time, builds the swarm (:mod:`~wdp.sim.topology`),
plays pings and connections (:mod:`~wdp.sim.pings`) and faults
(:mod:`~wdp.sim.faults`), and measures (:mod:`~wdp.sim.measure`).

What it models rather than runs: the network (:mod:`~wdp.sim.network`); the
DHT, one reliable table of locator records (no Kademlia routing, no DHT node
failures); an owner's knowledge of the swarm, a random sample of live nodes
each time it places a shard; a probe, which reaches a node if it is alive.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from wdp.core.capability import RepairCapability
from wdp.core.node import NodeCore
from wdp.core.owner import Launch, OwnerCore
from wdp.core.signing import ED25519, use_scheme
from wdp.core.ticket import Ticket

from .attackers import node_core
from .events import EventQueue, Trace
from .faults import Faults
from .measure import Meter, MeteredTransport, RunResult
from .pings import Pings
from .runtime import Endpoint, Runtime
from .scenario import Policy, Scenario, Sybil
from .standin import STANDIN
from .topology import SimOwner, SwarmView, Topology, rng_for

__all__ = ["RunResult", "Simulation", "simulate"]


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
        self.topology = Topology(scenario, policy, seed)
        self.meter = Meter(self.topology, self.trace)
        transport = MeteredTransport(self.meter, self.topology.net, self.sw.dial_timeout)
        self.runtime = Runtime(self.q, transport, self.meter)
        self.meter.runtime = self.runtime
        self.pings: Pings
        self.faults = Faults(self)
        self._built = False
        self._wall = 0.0

    def rng(self, *parts: object) -> random.Random:
        """The run's generator for one purpose (the same under every policy)."""
        return rng_for(self.seed, *parts)

    @property
    def counters(self) -> dict[str, int]:
        return self.meter.counters

    @property
    def owners(self) -> list[SimOwner]:
        return self.topology.owners

    # ---- building the world ------------------------------------------------------

    def build(self) -> None:
        topo = self.topology
        for ep in topo.make_nodes():
            self.runtime.add(ep)
        self.pings = Pings(self)
        self.faults.prepare()
        for ep in topo.nodes:
            if ep.alive:  # some attackers' nodes come online later
                self.start_node(ep, first=True)
        for owner, ep in topo.make_owners():
            self.runtime.add(ep)
            core = NodeCore(
                ep.signer, self.rng("owner-core", owner.index), self.q.now,
                self_ipv4=ep.ipv4, addrs=(f"/ip4/{ep.ipv4}/tcp/4001".encode(),),
            )  # fmt: skip
            view = SwarmView(ep, topo, topo.owner_rng)
            self.runtime.start(ep, core, OwnerCore(view, topo.owner_rng, topo.owner_params()))
            self.q.at(owner.launch_at, self._launch, owner)
        keeper_rng = self.rng("keepers")
        for ep in topo.make_keepers():
            self.runtime.add(ep)
            core = NodeCore(
                ep.signer, self.rng("keeper-core", ep.index), self.q.now,
                self_ipv4=ep.ipv4, addrs=(f"/ip4/{ep.ipv4}/tcp/4001".encode(),),
            )  # fmt: skip
            view = SwarmView(ep, topo, keeper_rng)
            self.runtime.start(ep, core, OwnerCore(view, keeper_rng, topo.owner_params()))
        for owner in topo.owners:
            self.meter.watch(owner)
        self.meter.on_stored = lambda owner, ticket: self.q.after(
            0.0, self._hand_to_keepers, owner, ticket
        )
        if self.sc.owners.seized_at_epoch > 0:
            self.q.at(self.sc.owners.seized_at_epoch * self.sw.epoch, self._seize_owners)
        step = self.sw.sample_epochs * self.sw.epoch
        for i in range(math.floor(self.sw.horizon_seconds / step + 1e-9) + 1):
            self.q.at(i * step, self.meter.sample)
        self.faults.schedule()
        self._built = True

    def start_node(self, ep: Endpoint, *, first: bool) -> None:
        """Start (or restart) a node's process: a fresh core, an empty memory store."""
        core = node_core(
            ep.kind, ep.signer, self.rng("carrier", ep.index, ep.inc + 1), self.q.now,
            self.topology.node_params(), self_ipv4=ep.ipv4,
            addrs=(f"/ip4/{ep.ipv4}/tcp/4001".encode(),),
        )  # fmt: skip
        self.runtime.start(ep, core)
        self.pings.connect(ep, first)

    def _launch(self, owner: SimOwner) -> None:
        """The owner puts its wanderer (the owner core does the rest)."""
        ep = self.runtime.endpoints[owner.endpoint]
        assert ep.owner is not None
        _, effects = ep.owner.put(
            self.topology.payload(owner), name=f"w{owner.index}",
            k=self.policy.k, n=self.policy.n, epoch=self.topology.manifest_epoch,
            now=self.q.now, owner_seed=owner.owner_seed, nonce=owner.nonce,
        )  # fmt: skip
        for eff in effects:
            if isinstance(eff, Launch):
                owner.wid = eff.offer.record.value.wanderer_id
                break
        self.runtime.perform_owner(ep, effects)

    def _hand_to_keepers(self, owner: SimOwner, ticket: Ticket) -> None:
        """Once its put is done, the owner gives each keeper the wanderer's repair
        capability (never the ticket); keeper ``j`` waits ``(j + 1) x keeper_delay``."""
        if not owner.keepers:
            return
        cap = RepairCapability.of_ticket(ticket)
        for j, index in enumerate(owner.keepers):
            ep = self.runtime.endpoints[index]
            if ep.owner is not None:
                delay = (j + 1) * self.sc.owners.keeper_delay
                _, effects = ep.owner.keep(
                    cap, self.q.now, name=f"w{owner.index}", repair_delay=delay
                )
                self.runtime.perform_owner(ep, effects)

    def _seize_owners(self) -> None:
        """Every owner's node is taken (SIGKILL, memory store): its records go with it."""
        for owner in self.topology.owners:
            ep = self.runtime.endpoints[owner.endpoint]
            if ep.alive:
                self.trace(self.q.now, "down", self.topology.name(ep.index), "seize-owner", 0)
                self.runtime.down(ep, self.sw.detect_delay)
                self.meter.count("owners_seized")
                if owner.outcome is None:  # the put was cut short: nobody keeps it
                    owner.outcome = "failed"
                    self.meter.count("puts_cut_short")

    # ---- faults and questions --------------------------------------------------------

    def seize(self, v: int) -> None:
        """Seize node ``v`` now (SIGKILL with a memory store: it and its shards are gone)."""
        self.faults.seize(v)

    def carriers(self, wanderer: int) -> dict[int, int]:
        """Shard index -> a live node holding it, for one wanderer."""
        wid = self.topology.owners[wanderer].wid
        out: dict[int, int] = {}
        for i in self.topology.alive:
            core = self.topology.nodes[i].core
            if core is not None:
                for key in core.held:
                    if key.wanderer_id == wid:
                        out.setdefault(key.shard_index, i)
        return out

    def generations(self, wanderer: int) -> list[int]:
        """The generation of each shard as its owner last recorded it ([] once forgotten)."""
        owner = self.topology.owners[wanderer]
        core = self.runtime.endpoints[owner.endpoint].owner
        record = None if core is None or owner.wid is None else core.owned.get(owner.wid)
        return [] if record is None else list(record.generations)

    def check_custody(self) -> None:
        """Every shard a live carrier holds is in its store (the driver kept its promises)."""
        for i in self.topology.alive:
            node = self.topology.nodes[i]
            if node.core is not None:
                missing = [k for k in node.core.held if k not in node.store]
                if missing:
                    raise AssertionError(f"n{i} holds {missing[0]} without its bytes")

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

    def _plain_sybil(self) -> bool:
        """The only attack is a Sybil of the plain kind (for the study's Sybil sweep)."""
        sy = self.sc.sybil
        plain = Sybil(sy.fraction, sy.behaviour, sy.prefixes, sy.spread)
        return not self.sc.faults and sy == plain

    def result(self) -> RunResult:
        meter, sw = self.meter, self.sw
        meter.counters["captured_shards"] = len(meter.captured)
        meter.counters["captured_wanderers"] = meter.captured_wanderers()
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
                "ping_interval": sw.ping_interval if self.pings.on else 0,
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
                "sybil_spread": self.sc.sybil.spread,
                "sybil_plain": self._plain_sybil(),
                "defences": self.policy.defences,
                "keepers": self.sc.owners.keepers,
                "owners_seized_at": self.sc.owners.seized_at_epoch,
            },
            times=meter.times,
            lost=meter.lost_series,
            bytes_sent=meter.bytes_series,
            wanderers=len(self.topology.owners),
            payload_bytes=sw.payload_bytes,
            counters=dict(sorted(meter.counters.items())),
            bytes_by_kind=dict(sorted(meter.bytes.items())),
            trace_digest=self.trace.digest(),
            trace_events=self.trace.count,
            events=self.q.processed,
            wall_seconds=self._wall,
            trace=self.trace.text(),
        )


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
