"""A scenario file of the simulator on the testbed (root, slow): loss on a region,
then its seizure, on real nodes; the report says what was lost and where the
shards fled."""

from __future__ import annotations

import os

import pytest

from wdp.ops.wan.agreement import disagreements
from wdp.ops.wan.scenario import K, N, run_scenario, simulator_outcomes
from wdp.sim.scenario import ScenarioError

pytestmark = [pytest.mark.slow, pytest.mark.wan]


def test_loss_then_seize_runs_from_its_scenario_file(tmp_path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the WAN testbed needs root (network namespaces, a TUN device)")
    report = run_scenario("loss-then-seize", tmp_path, wanderers=4,
                          prefix=f"wdpc{os.getpid() % 100000}")  # fmt: skip
    print("\n".join(report.lines()))
    assert report.seized == [6, 7, 8]  # the last region, whole
    assert any("loss 0.4 on asia" in e for e in report.events)
    assert any("node 6 (asia) seized" in e for e in report.events)
    # A region of 3 of 9 nodes holds at most 3 of a wanderer's 5 shards, and 2 rebuild it:
    # losing one would mean repair and flight both failed.
    assert report.lost == [], report.lines()
    # What fled during the loss left asia, and went to a region that was not seized.
    assert all(to != "asia" for _, to in report.threat_hops), report.threat_hops
    assert max(lvl for t in report.timelines.values() for _, lvl, _ in t) >= 2
    assert (K, N) == (2, 5)
    assert report.caught_fled <= report.caught <= 4 * 3
    # The same scenario in the simulator, laid out and timed alike, agrees within the bound
    # wdp.ops.wan.agreement states (its range over 20 seeds, and a step of slack).
    sims = simulator_outcomes("loss-then-seize", report, 20)
    print(f"testbed: {report.outcome().line()}", *(s.line() for s in sims), sep="\n")
    assert disagreements(report.outcome(), sims) == []


def test_a_scenario_the_testbed_cannot_run_is_one_line(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="only loss and seize faults and churn run on"):
        run_scenario("sybil-drop-20", tmp_path)
