"""Small scenarios for the simulator tests: seconds, not minutes."""

from __future__ import annotations

from wdp.sim.scenario import Churn, LossFault, Scenario, SeizeFault, Swarm, Sybil


def tiny(name: str = "tiny", **swarm: object) -> Scenario:
    base = {
        "nodes": 30,
        "degree": 12,
        "prefixes": 20,
        "wanderers": 4,
        "payload_bytes": 3000,
        "epoch": 120,
        "horizon_epochs": 6.0,
        "ping_interval": 10.0,
    }
    base.update(swarm)
    return Scenario(name, swarm=Swarm(**base))  # type: ignore[arg-type]


def busy(name: str = "busy") -> Scenario:
    """Every code path at once: loss, a warned and spread seizure, churn, hoarding Sybils."""
    return tiny(name, nodes=36).replace(
        faults=(
            LossFault(at_epoch=2, duration_seconds=60, fraction=0.5, loss=0.3),
            SeizeFault(at_epoch=3, fraction=0.2, spread_seconds=60, warning_seconds=30),
        ),
        churn=Churn(session_hours=0.3, downtime_hours=0.05),
        sybil=Sybil(fraction=0.1, behaviour="hoard", prefixes=2),
    )
