"""Small scenarios: what each fault does, under the real core, in a few seconds each."""

from __future__ import annotations

import pytest

from wdp.sim.scenario import (
    POLICIES,
    AdaptiveFault,
    ScenarioError,
    SeizeFault,
    Sybil,
    load_scenario,
    scenario_dir,
    scenario_from_dict,
)
from wdp.sim.world import Simulation, simulate

from .helpers import tiny


def test_bundled_scenarios_load_and_bad_files_say_why() -> None:
    names = {load_scenario(p).name for p in scenario_dir().glob("*.toml")}
    assert {"seize-30", "seize-30-warning", "loss-then-seize", "adaptive-lag1", "churn"} <= names
    assert {"sybil-drop-20", "sybil-hoard-20"} <= names
    with pytest.raises(ScenarioError, match="unknown key"):
        scenario_from_dict({"name": "x", "swarm": {"nodez": 3}})
    with pytest.raises(ScenarioError, match="kind must be"):
        scenario_from_dict({"name": "x", "fault": [{"kind": "meteor"}]})
    with pytest.raises(ScenarioError, match="no scenario file"):
        load_scenario("no-such-scenario")


def test_quiet_swarm_wanders_and_loses_nothing() -> None:
    sim = Simulation(tiny(), POLICIES["wdp"], 1)
    r = sim.run()
    sim.check_custody()
    assert r.lost[-1] == 0
    shards = r.wanderers * 8
    # every shard hops about once per epoch after its launch
    assert 0.7 * shards * 5 < r.counters["hops_TTL"] < 1.3 * shards * 6
    assert all(len(sim.carriers(w)) == 8 for w in range(r.wanderers))


def test_static_policy_never_moves_and_the_poc_copy_dies_with_its_carrier() -> None:
    sc = tiny().replace(faults=(SeizeFault(at_epoch=2, fraction=0.5),))
    static = simulate(sc, POLICIES["static"], 1)
    assert static.counters.get("hops_TTL", 0) == 0 and static.counters["hops"] == 4 * 8
    poc = simulate(sc.with_swarm(wanderers=20), POLICIES["poc"], 1)
    assert 3 <= poc.lost[-1] <= 17  # a single copy on a seized node is gone: about half


def test_repair_rebuilds_lost_shards_as_a_new_generation() -> None:
    sc = tiny(horizon_epochs=8).replace(faults=(SeizeFault(at_epoch=2, fraction=0.3),))
    sim = Simulation(sc, POLICIES["static-repair"], 2, keep_trace=True)
    r = sim.run()
    assert r.counters["seized_shards"] > 0
    assert r.counters["repairs"] == r.counters["hops_REPAIR"] > 0
    assert " repaired " in r.trace and r.lost[-1] == 0
    assert all(len(sim.carriers(w)) == 8 for w in range(r.wanderers))
    assert max(g for w in range(r.wanderers) for g in sim.generations(w)) >= 1
    # without repair the seized shards stay gone
    sim2 = Simulation(sc, POLICIES["static"], 2)
    static = sim2.run()
    assert static.counters["seized_shards"] > 0 and static.counters.get("repairs", 0) == 0
    assert sum(len(sim2.carriers(w)) for w in range(4)) == 4 * 8 - static.counters["seized_shards"]


def test_warning_signs_make_carriers_flee() -> None:
    # At epoch 4 (480 s) the victims have been known for longer than min_age (300 s):
    # only established peers' loss is evidence.
    sc = tiny(horizon_epochs=5).replace(
        faults=(SeizeFault(at_epoch=4, fraction=0.3, warning_seconds=60, warning_loss=0.7),)
    )
    r = simulate(sc, POLICIES["wdp"], 1)
    assert r.counters["threat_critical"] > 0 and r.counters["hops_THREAT"] > 0
    quiet = simulate(sc, POLICIES["static-repair"], 1)
    assert quiet.counters.get("hops_THREAT", 0) == 0  # static carriers do not react


def test_adaptive_attacker_finds_static_shards_and_misses_wandering_ones() -> None:
    def seized(policy: str, lag: float) -> int:
        sc = tiny(nodes=60, wanderers=6, horizon_epochs=5).replace(
            faults=(AdaptiveFault(at_epoch=3, lag_epochs=lag, waves=1, fraction_per_wave=0.2),)
        )
        return sum(simulate(sc, POLICIES[policy], s).counters["seized_shards"] for s in (1, 2, 3))

    late = seized("wdp", 2)
    # static: every seized node is a carrier it knew of; wandering: most have moved on
    assert seized("static", 2) > 1.4 * late
    # ...unless the attacker sees the carriers as they publish
    assert seized("wdp", 0) > 1.4 * late


def test_sybils_drop_or_hoard() -> None:
    drop = tiny().replace(sybil=Sybil(fraction=0.2, behaviour="drop", prefixes=2))
    r = simulate(drop, POLICIES["wdp"], 1)
    assert r.counters["dropped"] > 0 and r.counters.get("repairs", 0) > 0
    hoard = tiny().replace(sybil=Sybil(fraction=0.2, behaviour="hoard", prefixes=2))
    r = simulate(hoard, POLICIES["wdp"], 1)
    assert 0 < r.counters["captured_shards"] <= 4 * 8
    assert r.lost[-1] == 0  # hoarders carry on honestly


def test_sybils_sit_in_their_prefixes_or_each_in_a_slash16_of_its_own() -> None:
    def groups(spread: bool) -> tuple[int, int]:
        sc = tiny(nodes=60).replace(sybil=Sybil(fraction=0.5, prefixes=3, spread=spread))
        topo = Simulation(sc, POLICIES["wdp"], 1).topology
        sybil = [topo.net.prefix_of[i] for i, kind in enumerate(topo.kinds) if kind != "honest"]
        honest = {topo.net.prefix_of[i] for i, kind in enumerate(topo.kinds) if kind == "honest"}
        assert not honest & set(sybil)
        return len(sybil), len(set(sybil))

    assert groups(spread=False) == (30, 3)
    assert groups(spread=True) == (30, 30)  # 30 Sybils in 30 /16s, not fewer


def test_real_crypto_runs_the_same_protocol() -> None:
    """Fidelity mode: Ed25519 everywhere and real sealed locators in the DHT table."""
    sc = tiny(crypto="real", wanderers=2, horizon_epochs=4).replace(
        faults=(SeizeFault(at_epoch=2, fraction=0.3),)
    )
    r = simulate(sc, POLICIES["wdp"], 1)
    assert r.counters["hops_TTL"] > 0 and r.lost[-1] == 0
    standin = simulate(sc.with_swarm(crypto="standin"), POLICIES["wdp"], 1)
    # same sizes on the wire: keys and signatures are as long in both modes
    assert abs(r.counters["hops"] - standin.counters["hops"]) < 0.3 * r.counters["hops"]


# -- attacks on the defences ------------------------------------------------------------


def test_fresh_identities_leaving_together_provoke_flight_only_without_the_defences() -> None:
    attacker = Sybil(fraction=0.1, behaviour="hoard", churners=0.25, churn_links=20,
                     churn_stay=60, churn_every=1, churn_from=2)  # fmt: skip
    sc = tiny(nodes=40, horizon_epochs=5).replace(sybil=attacker)
    off = simulate(sc, POLICIES["wdp-off"], 1)
    on = simulate(sc, POLICIES["wdp"], 1)
    assert off.counters["churn_waves"] == on.counters["churn_waves"] >= 2
    assert off.counters.get("threat_critical", 0) > 0 and off.counters.get("hops_THREAT", 0) > 0
    assert on.counters.get("threat_critical", 0) == 0 and on.counters.get("hops_THREAT", 0) == 0


def test_late_joiners_and_sleepers_start_dropping_when_the_scenario_says() -> None:
    late = tiny(horizon_epochs=4).replace(sybil=Sybil(fraction=0.2, join_epoch=2))
    sim = Simulation(late, POLICIES["wdp"], 1)
    sim.advance(1.5 * late.swarm.epoch)
    sybils = [ep for ep in sim.topology.nodes if ep.kind == "drop"]
    assert sybils and not any(ep.alive for ep in sybils)  # not online yet
    sim.advance(2.5 * late.swarm.epoch)
    assert all(ep.alive for ep in sybils)

    sleeper = tiny(horizon_epochs=5).replace(sybil=Sybil(fraction=0.2, honest_epochs=2))
    sim = Simulation(sleeper, POLICIES["wdp"], 1)
    sim.advance(1.9 * sleeper.swarm.epoch)
    assert sim.counters.get("dropped", 0) == 0  # honest so far, and carrying
    assert any(ep.kind == "sleeper" and ep.core and ep.core.held for ep in sim.topology.nodes)
    result = sim.run()
    assert result.counters["dropped"] > 0
