"""A testbed's geography in the simulator: RTTs between networks given outright."""

from __future__ import annotations

import pytest

from wdp.sim.scenario import (
    POLICIES,
    LossFault,
    ScenarioError,
    SeizeFault,
    Sybil,
    scenario_from_dict,
)
from wdp.sim.world import Simulation

from .helpers import tiny

RTT = ((0.02, 0.06, 0.15), (0.06, 0.02, 0.15), (0.15, 0.15, 0.02))


def regional(**swarm: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {"nodes": 9, "degree": 8, "prefixes": 3, "region_rtt": RTT}
    base.update(swarm)
    return tiny("regions", **base)


def test_nodes_fill_the_regions_in_blocks_and_take_their_rtts() -> None:
    sim = Simulation(regional(), POLICIES["wdp"], 1)
    sim.run()
    net = sim.topology.net
    assert net.prefix_of[:9] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert all(net.prefix_of[o.endpoint] == 0 for o in sim.owners)  # owners in the first
    assert net.rtt(0, 1) == pytest.approx(0.02)
    assert net.rtt(0, 4) == pytest.approx(0.06)
    assert net.rtt(8, 2) == pytest.approx(0.15)
    assert 0.15 <= net.sample_rtt(8, 2) <= 0.15 * 1.1  # jitter on top, as ever


def test_a_region_fault_takes_the_last_region() -> None:
    sc = regional().replace(faults=(
        LossFault(at_epoch=2, duration_seconds=30, fraction=0.3, select="region", loss=0.4),
        SeizeFault(at_epoch=3, fraction=0.3, select="region"),
    ))  # fmt: skip
    sim = Simulation(sc, POLICIES["wdp"], 3)
    r = sim.run()
    assert sorted(sim.faults.seized) == [6, 7, 8]
    assert r.lost[-1] == 0  # 3 of 9 nodes hold at most 3 of 8 shards, and repair follows


def test_threat_age_and_repair_interval_reach_the_cores() -> None:
    sim = Simulation(regional(threat_min_age=20.0, repair_interval=30.0), POLICIES["wdp"], 1)
    assert sim.topology.node_params().carrier.threat.min_age == 20.0
    assert sim.topology.owner_params().repair_interval == 30.0
    plain = Simulation(tiny(), POLICIES["wdp"], 1).topology
    assert plain.node_params().carrier.threat.min_age == 300.0
    assert plain.owner_params().repair_interval == 120.0  # one epoch


def test_bad_region_tables_say_why() -> None:
    def load(**swarm: object) -> None:
        scenario_from_dict(
            {"name": "x", "swarm": {"nodes": 9, "degree": 8, "prefixes": 3, **swarm}}
        )

    load(region_rtt=[list(row) for row in RTT])  # a TOML array of arrays is fine
    with pytest.raises(ScenarioError, match="prefixes x prefixes"):
        load(region_rtt=[[0.02, 0.06], [0.06, 0.02]])
    with pytest.raises(ScenarioError, match="not symmetric"):
        load(region_rtt=[[0.02, 0.06, 0.15], [0.07, 0.02, 0.15], [0.15, 0.15, 0.02]])
    with pytest.raises(ScenarioError, match=r"0 \.\. 10 seconds"):
        load(region_rtt=[[-1, 0.06, 0.15], [0.06, 0.02, 0.15], [0.15, 0.15, 0.02]])
    with pytest.raises(ScenarioError, match="threat_min_age"):
        load(threat_min_age=-1)
    with pytest.raises(ScenarioError, match="Sybils"):
        regional().replace(sybil=Sybil(fraction=0.2)).check()
