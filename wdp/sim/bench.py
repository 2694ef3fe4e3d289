"""``make bench-sim``: how many handoffs per second the simulator drives through the core.

Three measurements, each a real run of :class:`~wdp.sim.world.Simulation`:

* **fidelity**: real Ed25519 signatures and sealed locators;
* **stand-in**: the same swarm with stand-in signatures (``wdp.sim.standin``);
* **scale**: the target shape (10,000 nodes, 1,000 wanderers of 8 shards) with
  stand-in crypto and pings off, for a few epochs.

The first two run long enough for custody chains to reach their 64-link cap
(offers then carry 64 links at every hop), and report the rate once they
have. The scale run's chains stay short, so its rate is an upper bound; the
time the 8,000,000-handoff target would take is estimated from the
steady-state stand-in rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .scenario import POLICIES, Scenario, Swarm
from .world import Simulation

__all__ = ["BenchResult", "bench"]

TARGET_HANDOFFS = 1_000 * 8 * 1_000  # 1,000 wanderers x 8 shards x 1,000 epochs
TARGET_SECONDS = 120.0


@dataclass
class BenchResult:
    name: str
    nodes: int
    shards: int
    epochs: float
    handoffs: int
    seconds: float
    steady_rate: float | None

    @property
    def rate(self) -> float:
        return self.handoffs / self.seconds if self.seconds else 0.0


def _run(name: str, swarm: Swarm, steady_from: float | None) -> BenchResult:
    sim = Simulation(Scenario(name, swarm=swarm), POLICIES["wdp"], 1)
    steady: float | None = None
    if steady_from is not None:
        sim.advance(steady_from * swarm.epoch)
        hops0, wall0 = sim.counters.get("hops", 0), sim._wall
        sim.advance(swarm.horizon_seconds)
        hops1, wall1 = sim.counters.get("hops", 0), sim._wall
        steady = (hops1 - hops0) / (wall1 - wall0) if wall1 > wall0 else None
    result = sim.run()
    return BenchResult(
        name,
        swarm.nodes,
        swarm.wanderers * 8,
        swarm.horizon_epochs,
        result.counters.get("hops", 0),
        result.wall_seconds,
        steady,
    )


def bench(*, quick: bool = False, scale_epochs: float = 2.0) -> list[BenchResult]:
    small = Swarm(
        nodes=50,
        wanderers=10,
        payload_bytes=4096,
        epoch=600,
        horizon_epochs=24 if quick else 80,
        ping_interval=0,
    )
    steady_from = None if quick else 66.0
    out = [
        _run("fidelity (real Ed25519)", dataclasses.replace(small, crypto="real"), steady_from),
        _run("stand-in signatures", small, steady_from),
    ]
    scale = Swarm(
        nodes=1_000 if quick else 10_000,
        wanderers=100 if quick else 1_000,
        degree=16,
        prefixes=1_000,
        payload_bytes=1024,
        epoch=600,
        horizon_epochs=scale_epochs,
        ping_interval=0,
    )
    out.append(_run("scale shape, stand-in, pings off", scale, None))
    return out


def report(results: list[BenchResult]) -> str:
    lines = [
        f"{'run':36} {'nodes':>6} {'shards':>6} {'epochs':>6} {'handoffs':>9} "
        f"{'seconds':>8} {'handoffs/s':>10} {'steady/s':>9}"
    ]
    for r in results:
        steady = f"{r.steady_rate:9.0f}" if r.steady_rate else f"{'-':>9}"
        lines.append(
            f"{r.name:36} {r.nodes:6} {r.shards:6} {r.epochs:6g} {r.handoffs:9} "
            f"{r.seconds:8.1f} {r.rate:10.0f} {steady}"
        )
    standin = next((r for r in results if r.name.startswith("stand-in")), None)
    rate = (standin.steady_rate or standin.rate) if standin else 0.0
    if rate:
        need = TARGET_HANDOFFS / TARGET_SECONDS
        lines.append(
            f"target: {TARGET_HANDOFFS:,} handoffs (10,000 nodes, 1,000 wanderers x 8 shards, "
            f"1,000 epochs) in {TARGET_SECONDS:.0f} s = {need:,.0f} handoffs/s; at the "
            f"steady stand-in rate it would take {TARGET_HANDOFFS / rate / 60:,.0f} minutes "
            f"({need / rate:,.0f}x short)"
        )
    return "\n".join(lines)
