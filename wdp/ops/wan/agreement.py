"""The simulator's side of a testbed scenario, and whether the two agree.

:func:`simulated` runs a scenario file in ``wdp sim`` the way
:mod:`wdp.ops.wan.scenario` runs it on the testbed: the same nodes in the same
regions with the testbed's round-trip times (``Swarm.region_rtt``), the same
epoch, ping, threat and repair timing, the same number of wanderers and k-of-n,
faults on the last region, time scaled from the scenario's epoch alike, churn
too. What differs, and why it is allowed to: the simulator's owners are
endpoints of their own in the first region (the testbed's owner is node 0, a
carrier too, and the only node that does not churn),
its puts are spread over one epoch (the testbed's come one after another
before the faults start, so faults are shifted to come as long after them),
and its network is a model (a TCP-like stream, no Python scheduling delays).

Both sides report the same observables (:class:`Outcome`): wanderers lost,
shards caught in the seized region when it fell, and the shards held at the
end whose last hop was a THREAT hop, by the regions it went from and to.
:func:`disagreements` states the bound: the testbed's lost wanderers, caught
shards, caught shards that had fled there and THREAT-placed shards must each
lie within the range the simulator gives over several seeds, widened by
``BOUNDS``' slack: one testbed run is one draw, and the simulator's spread
over seeds is the spread of outcomes the same model allows for the same
setup; the slack allows a count one or two steps beyond it (a tenth of the
THREAT-placed shards) for what the model leaves out.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from wdp.core.objects import Reason
from wdp.sim.scenario import LossFault, Policy, Scenario, ScenarioError, SeizeFault, Swarm
from wdp.sim.world import Simulation

from .geography import Geography

__all__ = ["Outcome", "disagreements", "simulated"]

# What is compared, and the slack beyond the simulator's range over seeds.
BOUNDS = (("lost", 1), ("caught", 2), ("caught_fled", 1), ("threat_placed", 3))


@dataclass
class Outcome:
    """What one run of a scenario came to (testbed or simulator)."""

    lost: int  # wanderers that could not be rebuilt at the end
    caught: int  # shards held in the seized region when it fell
    caught_fled: int  # ... of them, those that had come there by a THREAT hop
    threat_hops: dict[str, int] = field(default_factory=dict)  # "eu->us": shards held at the end

    @property
    def threat_placed(self) -> int:
        return sum(self.threat_hops.values())

    def line(self) -> str:
        return (f"lost {self.lost}, caught {self.caught} ({self.caught_fled} by THREAT hops), "
                f"THREAT-placed at the end {self.threat_hops or {}}")  # fmt: skip


def scaled(sc: Scenario, epoch: float, shift_epochs: float) -> tuple[LossFault | SeizeFault, ...]:
    """The scenario's loss and seize faults with seconds scaled to ``epoch`` and every
    fault ``shift_epochs`` later (the testbed's clock starts after its puts)."""
    scale = epoch / sc.swarm.epoch
    out: list[LossFault | SeizeFault] = []
    for f in sc.faults:
        if isinstance(f, LossFault):
            out.append(dataclasses.replace(
                f, at_epoch=f.at_epoch + shift_epochs,
                duration_seconds=f.duration_seconds * scale))  # fmt: skip
        elif isinstance(f, SeizeFault):
            out.append(dataclasses.replace(
                f, at_epoch=f.at_epoch + shift_epochs, spread_seconds=f.spread_seconds * scale,
                warning_seconds=f.warning_seconds * scale))  # fmt: skip
        else:
            raise ScenarioError(
                f"{sc.name}: only loss and seize faults and churn run on the testbed"
            )
    return tuple(out)


def simulated(
    sc: Scenario, geo: Geography, *, wanderers: int, k: int, n: int, epoch: float,
    payload_bytes: int, ping_interval: float, ping_timeout: float, min_age: float,
    repair_interval: float, seed: int,
) -> Outcome:  # fmt: skip
    """One simulator run of ``sc`` laid out and timed as on the testbed (module docstring)."""
    nodes = sum(count for _, count in geo.regions)
    if len({count for _, count in geo.regions}) != 1:
        raise ScenarioError("the simulator's regions are equal blocks: give every region as many")
    warmup = max(min_age, 2 * ping_interval)
    shift = (warmup + epoch / 2) / epoch  # the faults come as long after the mean launch
    faults = scaled(sc, epoch, shift)
    horizon = max((f.at_epoch for f in faults), default=shift) + 2
    scale = epoch / sc.swarm.epoch
    churn = dataclasses.replace(
        sc.churn, session_hours=sc.churn.session_hours * scale,
        downtime_hours=sc.churn.downtime_hours * scale,
        drain_seconds=sc.churn.drain_seconds * scale,
    )  # fmt: skip
    if churn.session_hours:  # a churn run lasts the scenario's horizon, as on the testbed
        horizon = max(horizon, shift + sc.swarm.horizon_epochs)
    swarm = Swarm(
        nodes=nodes, degree=nodes - 1, prefixes=len(geo.regions), wanderers=wanderers,
        payload_bytes=payload_bytes, epoch=round(epoch), horizon_epochs=horizon,
        sample_epochs=0.25, ping_interval=ping_interval, ping_timeout=ping_timeout,
        jitter=geo.jitter, warmup=warmup, threat_min_age=min_age,
        repair_interval=repair_interval,
        region_rtt=tuple(tuple(ms / 1000 for ms in row) for row in geo.rtt_ms),
    )  # fmt: skip
    scenario = Scenario(f"{sc.name}@testbed", swarm=swarm, faults=faults, churn=churn)
    policy = Policy("testbed", k, n, wander=True, threat=True, repair=True)
    sim = Simulation(scenario, policy, seed)
    topo = sim.topology
    seize_at = min((f.at_epoch for f in faults if isinstance(f, SeizeFault)), default=None)
    caught = caught_fled = 0
    if seize_at is not None:
        sim.advance(seize_at * epoch - 1e-6)
        seized_region = len(geo.regions) - 1
        for i in topo.alive:
            core = topo.nodes[i].core
            if core is not None and topo.net.prefix_of[i] == seized_region:
                caught += len(core.held)
                caught_fled += sum(h.record.reason == Reason.THREAT for h in core.held.values())
    result = sim.run()
    names = geo.names
    hops: Counter[str] = Counter()
    for i in topo.alive:
        core = topo.nodes[i].core
        if core is None:
            continue
        for held in core.held.values():
            rec = held.record
            if rec.reason != Reason.THREAT:
                continue
            frm = sim.runtime.by_peer.get(rec.from_peer)
            if frm is None or frm >= nodes:
                where = names[0]  # an owner's endpoint sits in the first region
            elif frm in topo.alive:
                where = names[topo.net.prefix_of[frm]]
            else:
                where = "gone"  # seized, or away in churn
            hops[f"{where}->{names[topo.net.prefix_of[i]]}"] += 1
    return Outcome(result.lost[-1], caught, caught_fled, dict(sorted(hops.items())))


def disagreements(testbed: Outcome, sims: list[Outcome]) -> list[str]:
    """What breaks the bound of the module docstring (empty: they agree)."""
    out = []
    for name, slack in BOUNDS:
        values = [getattr(s, name) for s in sims]
        lo, hi = min(values) - slack, max(values) + slack
        got = getattr(testbed, name)
        if not lo <= got <= hi:
            out.append(f"{name}: testbed {got}, simulator {min(values)}..{max(values)} (+-{slack})")
    return out
