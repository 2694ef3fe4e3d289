"""`make bench` runs end to end: a reduced run (``--quick``) reports every row.

This checks the report, not the speed: every figure is there and positive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROWS = ["handoff_1MiB", "latency_p50", "latency_p99", "put", "get", "panic",
        "find_healthy", "find_stopped", "find_killed", "dashboard_idle", "dashboard_viewer",
        "big_put", "big_get"]  # fmt: skip


def test_quick_bench_reports_every_row(tmp_path) -> None:
    out_json = tmp_path / "bench.json"
    out = subprocess.run(
        [sys.executable, "-m", "wdp.ops.bench", "--quick", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out_json.read_text())
    assert report["failed"] == []
    assert report["machine"]["nproc"] > 0
    assert report["machine"]["python"]
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ROWS
    assert rows["dashboard_viewer"]["extra"]["bytes_per_second"] > 0  # the viewer got data
    for key, bound in (("dashboard_idle", 1.0), ("dashboard_viewer", 2.0)):
        # What the README states, with room for 5-second windows: nobody watching costs
        # nothing measurable, one viewer well under 2 % of a core.
        row = rows.pop(key)
        assert 0 <= row["value"] < 100 and 0 <= row["baseline"] < 100, key
        assert row["value"] - row["baseline"] < bound, (key, row)
        assert row["ratio_shown"].endswith(" points"), key
    for key, row in rows.items():
        assert row["value"] > 0, key
        assert row["baseline"] is not None and row["baseline"] > 0, key
        assert row["ratio"] > 0, key
        assert f"| {row['what']} | {row['shown']} |" in out.stdout, key
    panic = rows["panic"]["extra"]
    assert panic["exit_status"] == 0
    assert 0 <= panic["left"] <= 20
    assert panic["left"] + panic["wiped"] == 20
    assert out.stdout.startswith("Machine: ")
    assert "| figure | WDP | baseline (same run) | ratio |" in out.stdout
