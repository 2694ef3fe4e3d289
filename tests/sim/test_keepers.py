"""Keepers in the simulator: owners' nodes seized, keepers' owner cores repair, once each."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wdp.core.owner import OwnerCore
from wdp.sim.cli import app as sim_app
from wdp.sim.scenario import POLICIES, Owners, ScenarioError, SeizeFault, scenario_from_dict
from wdp.sim.world import Simulation

from .helpers import tiny

# Owners gone at epoch 2; at epoch 3 half the nodes are seized, carriers included. Static
# 3-of-8 with repair: shards do not move, so whatever is repaired after epoch 3 was
# repaired by a keeper.
SEIZED = tiny(horizon_epochs=8, wanderers=6).replace(faults=(SeizeFault(at_epoch=3, fraction=0.5),))


def run(keepers: int, seized_at: float = 2.0) -> Simulation:
    sc = SEIZED.replace(owners=Owners(keepers=keepers, seized_at_epoch=seized_at))
    sim = Simulation(sc, POLICIES["static-repair"], 3, keep_trace=True)
    sim.run()
    sim.check_custody()
    return sim


def test_without_keepers_nothing_repairs_after_the_owners_are_seized() -> None:
    sim = run(0)
    r = sim.result()
    assert r.counters["owners_seized"] == 6 and r.counters["seized_shards"] > 0
    assert r.counters.get("repairs", 0) == 0
    assert any(len(sim.carriers(w)) < 8 for w in range(6))
    # the same world with the owners online repairs it
    online = run(0, seized_at=0.0).result()
    assert online.counters["repairs"] > 0 and "owners_seized" not in online.counters


def test_one_keeper_brings_every_wanderer_the_seizure_left_readable_back_to_n() -> None:
    sim = run(1)
    r = sim.result()
    keepers = sim.runtime.endpoints[-6:]
    assert [ep.kind for ep in keepers] == ["keeper"] * 6
    assert all(isinstance(ep.owner, OwnerCore) for ep in keepers)
    # a keeper holds the repair capability, never the owner's seed (and forgets a lost wanderer)
    records = [rec for ep in keepers if ep.owner is not None for rec in ep.owner.owned.values()]
    assert len(records) == 6 - r.lost[-1]
    assert all(rec.kept and rec.capability.startswith("wdpr") and not rec.ticket for rec in records)
    assert r.counters["keeps"] == 6 and r.counters["keeper_repairs"] == r.counters["repairs"] > 0
    # Half the nodes seized may leave a wanderer under k (nothing can rebuild it); every
    # other one is back to n, and none was lost after the seizure's first sample.
    held = [len(sim.carriers(w)) for w in range(6)]
    assert all(h == 8 or h < 3 for h in held) and held.count(8) >= 4
    seizure_sample = 2 * 3 + 1  # samples every half epoch; the seizure is at epoch 3
    assert r.lost[-1] == r.lost[seizure_sample] == 6 - held.count(8)
    assert " kept " in r.trace


def test_two_keepers_repair_each_lost_shard_once() -> None:
    one, two = run(1).result(), run(2).result()
    assert two.counters["keeps"] == 12
    # The second keeper waits twice as long and finds the first one's generation.
    assert two.counters["keeper_repairs"] == one.counters["keeper_repairs"]
    assert two.counters["hops_REPAIR"] == one.counters["hops_REPAIR"]


def test_keeper_settings_are_checked() -> None:
    with pytest.raises(ScenarioError, match=r"owners\.keeper_delay"):
        scenario_from_dict({"name": "x", "owners": {"keeper_delay": 0}})
    with pytest.raises(ScenarioError, match="unknown key"):
        scenario_from_dict({"name": "x", "owners": {"keepers_per_owner": 1}})
    sc = scenario_from_dict({"name": "x", "owners": {"keepers": 2, "seized_at_epoch": 3}})
    assert sc.owners == Owners(keepers=2, seized_at_epoch=3)
    with pytest.raises(ScenarioError, match="after every owner has started its put"):
        scenario_from_dict({"name": "x", "owners": {"keepers": 1, "seized_at_epoch": 1}})


def test_wdp_sim_run_seizes_the_owners_and_says_what_the_keepers_did() -> None:
    small = ["--set", "nodes=30", "--set", "wanderers=3", "--set", "horizon_epochs=4"]
    args = ["run", "churn", *small, "--keepers", "1", "--owners-seized-at", "2"]
    result = CliRunner().invoke(sim_app, args)
    assert result.exit_code == 0, result.output
    assert "owners' nodes seized at epoch 2; 1 keeper(s) per wanderer, " in result.output
    plain = CliRunner().invoke(sim_app, ["run", "churn", *small])
    assert plain.exit_code == 0 and "keeper" not in plain.output
