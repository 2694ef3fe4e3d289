"""The simulator's half of the agreement check with a real multi-process swarm.

``tests/swarm`` puts files into 10 real ``wdp-node`` processes and SIGKILLs
the 3 that carry the most shards (never node 0, the owner's node, nor node
1). :func:`seizure_outcome` does the same in the simulator with the same
parameters and reports the same observables, so a test can demand that both
give the same outcome: how many shards the victims took, whether the
wanderer can still be rebuilt, and whether repair restores all n shards.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scenario import Policy, Scenario, Swarm
from .world import Simulation

__all__ = ["SeizureOutcome", "seizure_outcome"]


@dataclass(frozen=True)
class SeizureOutcome:
    shards_killed: int  # shards of the wanderer the victims carried
    recoverable: bool  # at least k shards left on live nodes right after the kill
    carried_after: int  # distinct shards carried at the end (n once repair is done)


def seizure_outcome(
    *,
    nodes: int = 10,
    k: int = 3,
    n: int = 6,
    kill: int = 3,
    epoch: int = 3600,
    repair: bool = True,
    seed: int = 1,
) -> SeizureOutcome:
    """Put one wanderer, SIGKILL the ``kill`` most loaded nodes (not 0, 1), let repair run."""
    swarm = Swarm(
        nodes=nodes,
        degree=nodes - 1,
        prefixes=nodes,
        wanderers=1,
        payload_bytes=200_000,
        epoch=epoch,
        horizon_epochs=6,
        ping_interval=5,
        warmup=10,
    )
    policy = Policy("agreement", k, n, wander=True, threat=True, repair=repair)
    sim = Simulation(Scenario("agreement", swarm=swarm), policy, seed)
    sim.advance(swarm.warmup + epoch * 1.2)  # launched, and every shard carried
    held = sim.carriers(0)
    load: dict[int, int] = {}
    for node in held.values():
        load[node] = load.get(node, 0) + 1
    victims = sorted((v for v in load if v not in (0, 1)), key=lambda v: (-load[v], v))[:kill]
    killed = sum(load[v] for v in victims)
    for v in victims:
        sim.seize(v)
    recoverable = len(sim.carriers(0)) >= k
    sim.advance(swarm.horizon_seconds)
    return SeizureOutcome(killed, recoverable, len(sim.carriers(0)))
