"""The simulator's side of a testbed scenario, and the bound the two must meet (fast)."""

from __future__ import annotations

import pytest

from wdp.ops.wan.agreement import Outcome, disagreements, simulated
from wdp.ops.wan.geography import three_regions
from wdp.ops.wan.scenario import FILE_SIZE, TESTBED_EPOCH, K, N
from wdp.sim.scenario import ScenarioError, load_scenario


def run(name: str, seed: int) -> Outcome:
    return simulated(
        load_scenario(name), three_regions(3), wanderers=4, k=K, n=N, epoch=TESTBED_EPOCH,
        payload_bytes=FILE_SIZE, ping_interval=1.0, ping_timeout=2.0, min_age=20.0,
        repair_interval=10.0, seed=seed,
    )  # fmt: skip


def test_loss_then_seize_as_laid_out_on_the_testbed() -> None:
    a, b = run("loss-then-seize", 2), run("loss-then-seize", 2)
    assert a == b  # one seed, one outcome
    assert a.lost == 0  # 3 of 9 nodes hold at most 3 of 5 shards; 2 rebuild
    assert a.caught <= 4 * 3  # never more than 3 shards of a wanderer in one region of 3
    assert a.caught_fled <= a.caught
    # The survivors went CRITICAL and fled among themselves: eu and us only.
    assert a.threat_placed > 0
    assert all(pair.split("->")[1] in ("eu", "us") for pair in a.threat_hops), a.threat_hops


def test_the_bound_is_the_simulators_range_with_a_little_slack() -> None:
    sims = [Outcome(0, 3, 0, {"eu->us": 10}), Outcome(1, 7, 1, {"eu->us": 20})]
    assert disagreements(Outcome(2, 9, 2, {"us->eu": 23}), sims) == []
    assert disagreements(Outcome(0, 1, 0, {"us->eu": 7}), sims) == []
    bad = disagreements(Outcome(3, 10, 3, {"eu->us": 24}), sims)
    assert [b.split(":")[0] for b in bad] == ["lost", "caught", "caught_fled", "threat_placed"]
    assert "testbed 3, simulator 0..1" in bad[0]


def test_only_loss_and_seize_scenarios_are_simulated_alike() -> None:
    with pytest.raises(ScenarioError, match="only loss and seize"):
        run("adaptive-lag1", 1)
