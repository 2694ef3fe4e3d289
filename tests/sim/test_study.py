"""The study's numbers, plots and doc section come from one command, and again the same."""

from __future__ import annotations

import json
from pathlib import Path

from wdp.sim.study import BEGIN, END, StudyConfig, keeper_table, run_study, verdict

CONFIG = """
scenarios = ["seize-30", "churn"]
policies = ["static", "wdp"]
seeds = [1]
sybil_fractions = [0.2]
sybil_policies = ["wdp"]
keeper_scenarios = ["seize-30"]
keeper_counts = [0, 1]
[swarm]
nodes = 30
degree = 10
wanderers = 3
payload_bytes = 2000
epoch = 120
horizon_epochs = 5
ping_interval = 30
"""


def test_one_command_writes_results_plots_and_the_doc(tmp_path: Path) -> None:
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG)
    docs = tmp_path / "docs"
    docs.mkdir()
    stale = f"# Study\n\nprose stays\n\n{BEGIN}\nstale block\n{END}\ntail\n"
    (docs / "durability.md").write_text(stale)
    run_study(config=cfg, docs=docs, workers=1)
    md = (docs / "durability.md").read_text()
    assert md.startswith("# Study\n\nprose stays") and md.endswith(f"{END}\ntail\n")
    assert "stale block" not in md and "**Parameters.** 30 nodes" in md and "epoch 120 s" in md
    assert "| seize-30 |" in md and "Sybil share" in md
    assert "**Keepers**: every owner's node is seized at epoch 2" in md
    assert "seize-30: owners seized, 1 keeper: WDP loses" in md
    for png in ("loss-over-time.png", "bandwidth.png", "sybil.png"):
        assert (docs / "durability" / png).read_bytes().startswith(b"\x89PNG")
    first = json.loads((docs / "durability" / "results.json").read_text())

    run_study(config=cfg, docs=docs, workers=1)
    again = json.loads((docs / "durability" / "results.json").read_text())
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rs]  # noqa: E731
    assert strip(first) == strip(again)
    assert (docs / "durability.md").read_text().split("simulated in")[0] == md.split(
        "simulated in"
    )[0]


def _cell(lost: int, of: int = 300) -> dict[str, object]:
    return {"p_loss_final": lost / of, "lost_final": lost}


def test_the_verdict_fails_when_wandering_loses_more_than_standing_still() -> None:
    cfg = StudyConfig(
        scenarios=("a", "b"), policies=("static-repair", "wdp"), seeds=(1,),
        attacks=("sybil",), must_beat=("b",), under_one_percent=("sybil",),
    )  # fmt: skip
    agg = {
        ("a", "static-repair"): _cell(3), ("a", "wdp"): _cell(6),  # within 1 point
        ("b", "static-repair"): _cell(3), ("b", "wdp"): _cell(2),  # strictly fewer
        ("sybil", "static-repair"): _cell(0), ("sybil", "wdp"): _cell(2),  # under 1 %
    }  # fmt: skip
    assert all(c.ok for c in verdict(agg, cfg))  # type: ignore[arg-type]
    worse = {**agg, ("a", "wdp"): _cell(7), ("b", "wdp"): _cell(3), ("sybil", "wdp"): _cell(3)}
    failed = [c.what for c in verdict(worse, cfg) if not c.ok]  # type: ignore[arg-type]
    assert len(failed) == 3 and failed[0].startswith("a: WDP loses 2.3%")


def test_the_verdict_fails_when_a_keeper_loses_more_than_the_owner_online() -> None:
    cfg = StudyConfig(scenarios=("a",), policies=("wdp",), seeds=(1,), keeper_scenarios=("a",))
    agg = {("a", "wdp"): _cell(3)}

    def runs(lost: int, failed: int = 0) -> list[dict[str, object]]:
        counters = {"keeper_repairs": 9, "keeps": 300 - failed, "put_failures": 0}
        return [{"group": "keepers", "scenario": "a", "params": {"keepers": 1},
                 "wanderers": 300, "lost": [0, lost], "counters": counters}]  # fmt: skip

    (row,) = keeper_table(runs(6))  # type: ignore[arg-type]
    assert row["keepers"] == 1 and row["keeper_repairs"] == 9
    (ok,) = verdict(agg, cfg, [row])  # type: ignore[arg-type]
    assert ok.ok and ok.what == (
        "a: owners seized, 1 keeper: WDP loses 2.0% <= 1.0% with owners online + 1.0%; "
        "every stored wanderer kept (300 of 300)"
    )
    (bad,) = verdict(agg, cfg, keeper_table(runs(7)))  # type: ignore[arg-type]
    assert not bad.ok
    (unkept,) = verdict(agg, cfg, keeper_table(runs(0, failed=1)))  # type: ignore[arg-type]
    assert not unkept.ok and unkept.what.endswith("(299 of 300)")
