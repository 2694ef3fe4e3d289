"""The swarm's shape: prefixes on a map, nodes and their neighbours, owners.

Everything here is drawn from the run's seed before anything happens: where
each IPv4 /16 network sits, which network each node is in, which nodes are an
attacker's, who is whose neighbour, and the owner of each wanderer (its own
endpoint in a random honest network, with its payload, seed and launch time)
and its keepers.
It also gives each node the tuning its core runs with; the rules are the
core's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass

from wdp.core.carrier import CarrierParams
from wdp.core.effects import ShardKey
from wdp.core.limits import MAX_EPOCH_SECONDS
from wdp.core.node import NodeParams
from wdp.core.owner import OwnerParams
from wdp.core.placement import Candidate, PlacementParams
from wdp.core.signing import Signer
from wdp.core.threat import ThreatParams

from .network import Network
from .runtime import Endpoint
from .scenario import Policy, Scenario

__all__ = [
    "NEVER",
    "OWNER_VIEW",
    "SimOwner",
    "SwarmView",
    "Topology",
    "rng_for",
    "seed_bytes",
]

NEVER = ThreatParams(min_samples=10**9, min_peers=10**9, min_lost=10**9)
"""Threat thresholds no swarm reaches: the carriers of static policies never flee."""

OWNER_VIEW = 64
"""Live nodes an owner knows each time it places a shard (a node's max_peers)."""


def seed_bytes(*parts: object) -> bytes:
    """32 bytes named by ``parts`` (the run's seed first): every random choice starts here."""
    return hashlib.sha256("/".join(str(p) for p in ("wdp-sim", *parts)).encode()).digest()


def rng_for(*parts: object) -> random.Random:
    """A generator of its own for one purpose, so purposes do not disturb each other."""
    return random.Random(int.from_bytes(seed_bytes(*parts)[:8], "big"))


def ipv4_of(prefix: int, endpoint: int) -> str:
    """The address of ``endpoint`` in /16 network number ``prefix``."""
    return f"{1 + prefix // 250}.{prefix % 250}.{(endpoint >> 8) & 255}.{endpoint & 255}"


@dataclass(eq=False)
class SimOwner:
    """The owner of one wanderer: its endpoint, its secrets, and what became of its put."""

    index: int  # wanderer number
    endpoint: int
    owner_seed: bytes
    nonce: bytes
    launch_at: float
    wid: bytes | None = None  # known once the put has started
    outcome: str | None = None  # "stored" (PutDone) or "failed" (OpFailed)
    placed: int = 0  # shards whose launch succeeded before the put's outcome
    lost_at: float | None = None
    keepers: list[int] = dataclasses.field(default_factory=list)  # keeper endpoints
    repair_activity: bool = False  # this check round rebuilt, relaunched or gave up

    @property
    def started(self) -> bool:
        return self.outcome is not None


class SwarmView:
    """What an owner's core sees of the swarm (an ``OwnerView``).

    Owners are not carriers: its candidates are a fresh random sample of
    ``OWNER_VIEW`` live nodes each time it asks (RTT unknown, all healthy),
    and it carries nothing itself.
    """

    def __init__(self, ep: Endpoint, topology: Topology, rng: random.Random) -> None:
        self._ep = ep
        self._topology = topology
        self._rng = rng

    @property
    def peer(self) -> bytes:
        return self._ep.peer

    @property
    def self_ipv4(self) -> str | None:
        return self._ep.ipv4

    def candidates(self, now: float) -> list[Candidate]:
        alive = self._topology.alive
        nodes = self._topology.nodes
        view = self._rng.sample(alive, min(OWNER_VIEW, len(alive)))
        return [Candidate(nodes[i].peer, nodes[i].ipv4, None, True) for i in view]

    def carried(self, key: ShardKey) -> None:
        return None

    def handed_on(self, key: ShardKey) -> None:
        return None


class Topology:
    """The swarm of one run: network, nodes, neighbours, owners (see module docstring)."""

    def __init__(self, scenario: Scenario, policy: Policy, seed: int) -> None:
        sw, sc = scenario.swarm, scenario
        self.sc = scenario
        self.policy = policy
        self.seed = seed
        topo = rng_for(seed, "topology")
        sy = sc.sybil
        sybil_count = round(sy.fraction * sw.nodes)
        churn_count = round(sy.churners * sw.nodes)
        sybil_prefixes = (sybil_count if sy.spread else sy.prefixes) if sybil_count else 0
        # Churners each sit in a /16 of their own after the Sybils' (rented addresses).
        extra_prefixes = sybil_prefixes + churn_count
        positions = [(topo.random(), topo.random()) for _ in range(sw.prefixes + extra_prefixes)]
        attacker = rng_for(seed, "sybil").sample(range(sw.nodes), sybil_count + churn_count)
        sybils, churners = set(attacker[:sybil_count]), attacker[sybil_count:]
        prefix_of: list[int] = []
        for i in range(sw.nodes):
            if i in sybils:
                prefix_of.append(sw.prefixes + topo.randrange(sybil_prefixes))
            elif sw.region_rtt:  # a testbed's layout: equal blocks, region by region
                prefix_of.append(i * sw.prefixes // sw.nodes)
            else:
                prefix_of.append(topo.randrange(sw.prefixes))
        if sy.spread:  # each Sybil in a /16 of its own (the draws above kept the rng stream)
            for j, i in enumerate(sorted(sybils)):
                prefix_of[i] = sw.prefixes + j
        for j, i in enumerate(churners):
            prefix_of[i] = sw.prefixes + sybil_prefixes + j
        self.net = Network(
            rng_for(seed, "network"),
            prefix_pos=positions,
            prefix_of=prefix_of,
            min_rtt=sw.min_rtt,
            max_rtt=sw.max_rtt,
            jitter=sw.jitter,
            base_loss=sw.base_loss,
            bandwidth=sw.bandwidth,
            region_rtt=sw.region_rtt,
        )
        self.kinds = [sy.behaviour if i in sybils else "honest" for i in range(sw.nodes)]
        for i in churners:
            self.kinds[i] = "churn"
        self.churners = sorted(churners)
        self.pong_delay = [sy.pong_delay if i in sybils else 0.0 for i in range(sw.nodes)]
        links: list[set[int]] = [set() for _ in range(sw.nodes)]
        others = list(range(sw.nodes))
        half = max(1, sw.degree // 2)
        for i in range(sw.nodes):
            for j in topo.sample(others, half + 1):
                if j != i and len(links[i]) < sw.degree:
                    links[i].add(j)
                    links[j].add(i)
        honest = [i for i, kind in enumerate(self.kinds) if kind == "honest"]
        for i in churners:  # an attacker dials as many victims as it likes
            for j in topo.sample(honest, min(sy.churn_links, len(honest))):
                links[i].add(j)
                links[j].add(i)
        self.neighbours = [sorted(peers) for peers in links]
        self.nodes: list[Endpoint] = []
        self.owners: list[SimOwner] = []
        self.alive: list[int] = []  # live node indices, ascending
        self.owner_rng = rng_for(seed, "owners")
        self.manifest_epoch = sw.epoch if policy.wander else MAX_EPOCH_SECONDS

    # ---- endpoints -----------------------------------------------------------------

    def make_nodes(self) -> list[Endpoint]:
        """One endpoint per node (not started), in index order."""
        for i, kind in enumerate(self.kinds):
            ipv4 = ipv4_of(self.net.prefix_of[i], i)
            signer = Signer(seed_bytes(self.seed, "node", i))
            self.nodes.append(Endpoint(i, signer, ipv4, kind=kind))
        self.alive = list(range(len(self.nodes)))
        return self.nodes

    def make_owners(self) -> list[tuple[SimOwner, Endpoint]]:
        """One owner endpoint per wanderer (after the nodes), with its launch time."""
        sw = self.sc.swarm
        place = rng_for(self.seed, "owner-placement")
        out = []
        for w in range(sw.wanderers):
            prefix = 0 if sw.region_rtt else place.randrange(sw.prefixes)
            index = self.net.add_endpoint(prefix)
            owner = SimOwner(
                index=w,
                endpoint=index,
                owner_seed=seed_bytes(self.seed, "owner", w),
                nonce=seed_bytes(self.seed, "nonce", w)[:12],
                launch_at=sw.warmup + place.uniform(0.0, float(sw.epoch)),
            )
            signer = Signer(seed_bytes(self.seed, "owner-node", w))
            self.owners.append(owner)
            out.append((owner, Endpoint(index, signer, ipv4_of(prefix, index), kind="owner")))
        return out

    def make_keepers(self) -> list[Endpoint]:
        """``owners.keepers`` keeper endpoints per wanderer (after the owners), each in a
        random honest network; drawn from generators of their own, so a run with keepers
        has the same swarm, owners and faults as one without."""
        count = self.sc.owners.keepers
        place = rng_for(self.seed, "keeper-placement")
        out = []
        for owner in self.owners:
            for j in range(count):
                prefix = 0 if self.sc.swarm.region_rtt else place.randrange(self.sc.swarm.prefixes)
                index = self.net.add_endpoint(prefix, place)
                signer = Signer(seed_bytes(self.seed, "keeper-node", owner.index, j))
                owner.keepers.append(index)
                ipv4 = ipv4_of(self.net.prefix_of[index], index)
                out.append(Endpoint(index, signer, ipv4, kind="keeper"))
        return out

    def payload(self, owner: SimOwner) -> bytes:
        """The payload wanderer ``owner.index`` stores (the same bytes under every policy)."""
        return rng_for(self.seed, "payload", owner.index).randbytes(self.sc.swarm.payload_bytes)

    # ---- tuning ----------------------------------------------------------------------

    def placement(self) -> PlacementParams:
        """The scenario's placement; without the defences, placement as it was before them."""
        pl = self.sc.placement
        params = PlacementParams(recent_window=pl.recent_window, prefix_bits=pl.prefix_bits)
        if self.policy.defences:
            return params
        return dataclasses.replace(
            params, group_first=False, unproven_share=1.0, urgent_slack=0.0, robust_flight=False
        )

    def node_params(self) -> NodeParams:
        """Every node's tuning: the scenario's placement; threat response if the policy has it."""
        defended = ThreatParams(
            established_only=self.policy.defences, min_age=self.sc.swarm.threat_min_age
        )
        threat = defended if self.policy.threat else NEVER
        sw, defended_carrier = self.sc.swarm, self.policy.defences
        carrier = CarrierParams(
            # Carriers honour the scenario's epoch, even one shorter than a node's default floor.
            min_epoch=min(CarrierParams().min_epoch, float(sw.epoch)),
            placement=self.placement(),
            threat=threat,
            probation=defended_carrier and sw.probation,
            spot_audits=defended_carrier and sw.spot_audits,
        )
        return NodeParams(carrier=carrier, lost_after=self.sc.swarm.lost_after)

    def owner_params(self) -> OwnerParams:
        """Owners check once per epoch (and repair if the policy does), placing as nodes do."""
        return OwnerParams(
            repair=self.policy.repair,
            repair_interval=self.sc.swarm.repair_interval or float(self.sc.swarm.epoch),
            placement=self.placement(),
            audit=self.policy.defences,
        )

    def name(self, endpoint: int) -> str:
        """``n<i>`` for a node, ``o<w>`` for the owner of wanderer ``w``, ``k<w>.<j>`` for
        its keeper ``j`` (in the trace)."""
        n, w = len(self.nodes), len(self.owners)
        if endpoint < n:
            return f"n{endpoint}"
        if endpoint < n + w:
            return f"o{endpoint - n}"
        k = endpoint - n - w
        per = max(1, self.sc.owners.keepers)
        return f"k{k // per}.{k % per}"
