"""The hop budget sweep writes its numbers, plot and doc section from one call."""

from __future__ import annotations

import json
from pathlib import Path

from wdp.sim.budget import BEGIN, END, BudgetConfig, run_budget

TINY = BudgetConfig(epochs=(120, 240), lags=(120,), span=960.0, first_wave=480.0,
                    wave_gap=120.0, nodes=30, wanderers=3)  # fmt: skip


def test_the_budget_sweep_writes_rows_plot_and_doc(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "durability.md").write_text(f"# Study\n\nprose\n\n{BEGIN}\nstale\n{END}\n")
    out = run_budget(docs=docs, workers=1, config=TINY)
    rows = json.loads((docs / "durability" / "budget.json").read_text())
    assert out["runs"] == len(rows) == 2 * 2 + 2  # two cases per epoch, and static once each
    assert {r["epoch"] for r in rows} == {120, 240, None}
    wdp = [r for r in rows if r["policy"] == "wdp" and r["case"] == "hoard"]
    static = next(r for r in rows if r["policy"] == "static-repair" and r["case"] == "hoard")
    assert all(r["hops"] > 0 and r["upkeep"] > static["upkeep"] for r in wdp)
    md = (docs / "durability.md").read_text()
    assert "stale" not in md and "| 2 min |" in md and "| static + repair |" in md
    assert (docs / "durability" / "budget.png").read_bytes().startswith(b"\x89PNG")
