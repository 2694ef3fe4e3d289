"""`wdp sim`: a mistake is one line saying what to fix, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wdp.sim.cli import app as sim_app


def one_error_line(*args: str) -> str:
    result = CliRunner().invoke(sim_app, list(args))
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("wdp sim: error: ")
    return lines[0].removeprefix("wdp sim: error: ")


def test_scenario_mistakes(tmp_path: Path) -> None:
    assert one_error_line("run", str(tmp_path)) == (
        f"cannot read the scenario file {tmp_path}: Is a directory"
    )
    assert one_error_line("run", "no-such-scenario").startswith(
        "no scenario file no-such-scenario (bundled: "
    )
    assert one_error_line("run", "seize-30", "--set", "nodes=many") == (
        "--set nodes=many: nodes takes a whole number (now 200)"
    )


@pytest.mark.parametrize("option", ["--trace", "--json"])
def test_output_in_a_missing_directory_is_refused_before_the_run(
    tmp_path: Path, option: str
) -> None:
    target = tmp_path / "missing" / "out"
    assert one_error_line("run", "seize-30", option, str(target)) == (
        f"{option} {target}: the directory {target.parent} does not exist"
    )


def test_study_file_mistakes(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # without it, the study says that first
    docs = str(tmp_path / "docs")
    missing = tmp_path / "none.toml"
    assert one_error_line("study", "--config", str(missing), "--docs", docs) == (
        f"no study file {missing}"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [1]\n")
    assert one_error_line("study", "--config", str(bad), "--docs", docs) == (
        f"{bad}: missing key(s) scenarios, policies"
    )
    bad.write_text("seeds = [\n")
    assert one_error_line("study", "--config", str(bad), "--docs", docs).startswith(
        f"{bad} is not valid TOML: "
    )
