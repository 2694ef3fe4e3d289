"""The architecture holds: the core owns every rule, the drivers only perform effects.

The daemon (``wdp/node``) and the simulator (``wdp/sim``) drive the same two
machines, ``NodeCore`` and ``OwnerCore``. These tests read their source and
fail if a rule the core owns shows up in a driver again, if a driver calls
the carrier's handoff hooks or builds a session itself, if one of them stops
dispatching an effect type, or if a module grows past 800 lines.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from wdp.core.node import NodeEffect
from wdp.core.owner import OwnerEffect

ROOT = Path(__file__).resolve().parents[1]
WDP = ROOT / "wdp"
DRIVERS = [WDP / "node", WDP / "sim"]
TOOLS = [WDP / "ops", WDP / "testing"]

# The carrier's hooks into a handoff, and its custody internals: only NodeCore calls them.
CARRIER_HOOKS = {
    "shard_received", "handoff_succeeded", "handoff_failed", "receive_aborted", "store_lost",
    "next_offer", "admit", "receipt_for", "remember_seen",
}  # fmt: skip
SESSIONS = {"SenderSession", "ReceiverSession", "FetchServerSession", "FetchClientSession"}

# The fingerprints of each rule of the node core and the owner core (issue table):
RULE_NAMES = {
    # locator lifetime, republish at half life, stop once moved on
    "LOCATOR_LIFETIME_EPOCHS": "locator lifetime",
    "MAX_LOCATOR_TTL_MS": "locator lifetime",
    "locator_expiry_ms": "locator lifetime",
    "make_locator": "building locators",
    # N failed pings -> peer lost; observations are the core's to make
    "PeerLost": "ping failures -> peer lost",
    "PingFailed": "ping failures -> peer lost",
    "PingOk": "observations",
    "PeerSeen": "observations",
    # launch attempts, placement, the n-k rule
    "LAUNCH_ATTEMPTS": "launch attempts",
    "pick_carriers": "launch placement",
    "choose_carrier": "placement",
    # repair
    "RepairTracker": "stale rounds",
    "STALE_CHECKS": "stale rounds",
    "erasure": "repair re-encode",
    # restore custody after a restart; the hop schedule
    "HeldShard": "restoring custody",
    "next_hop_at": "the hop schedule",
}
# Deciding by a particular reject code (a dial failure is a TIMEOUT, NOT_HELD means
# look again, ...) is the core's: drivers may name the type, never a member.


def _sources(folders: list[Path]) -> dict[str, ast.Module]:
    return {
        str(p.relative_to(ROOT)): ast.parse(p.read_text())
        for folder in folders
        for p in sorted(folder.rglob("*.py"))
    }


def _names(tree: ast.Module) -> set[str]:
    """Every name a module uses or imports (not attributes of other objects)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.alias):
            out.add(node.name.rsplit(".", 1)[-1])
            if node.asname:
                out.add(node.asname)
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "RejectCode":
            out.add(f"RejectCode.{node.attr}")
    return out


def _calls(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def test_no_rule_of_the_core_lives_in_a_driver() -> None:
    offenders = {}
    for path, tree in _sources(DRIVERS).items():
        names = _names(tree)
        found = [f"{n} ({RULE_NAMES[n]})" for n in sorted(names & RULE_NAMES.keys())]
        found += sorted(n for n in names if n.startswith("RejectCode."))
        if found and not path.endswith("wdp/sim/attackers.py"):  # attackers reuse core types
            offenders[path] = found
    assert not offenders


def test_no_driver_or_tool_calls_the_carriers_hooks_or_builds_a_session() -> None:
    for path, tree in _sources(DRIVERS + TOOLS).items():
        if path.endswith("wdp/sim/attackers.py"):
            continue  # an attacker is the core with one rule bent: it wraps the admission
        calls = _calls(tree)
        assert not calls & CARRIER_HOOKS, (path, sorted(calls & CARRIER_HOOKS))
        if not path.startswith("wdp/ops/bench"):  # the benchmark times the bare machines
            assert not calls & SESSIONS, (path, sorted(calls & SESSIONS))


def _matched(tree: ast.Module) -> set[str]:
    """Class names used as ``case X():`` patterns anywhere in the module."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.MatchClass):
            cls = node.cls
            out.add(cls.attr if isinstance(cls, ast.Attribute) else getattr(cls, "id", ""))
    return out


def _union(alias: object) -> set[str]:
    return {t.__name__ for t in typing.get_args(alias)}


@pytest.mark.parametrize(
    ("union", "drivers"),
    [
        (NodeEffect, ["wdp/node/node.py", "wdp/sim/runtime.py"]),
        (OwnerEffect, ["wdp/node/owner.py", "wdp/sim/runtime.py"]),
    ],
)
def test_the_daemon_and_the_simulator_dispatch_the_same_effects(
    union: object, drivers: list[str]
) -> None:
    wanted = _union(union)
    assert len(wanted) > 10
    for path in drivers:
        tree = ast.parse((ROOT / path).read_text())
        assert wanted <= _matched(tree), (path, sorted(wanted - _matched(tree)))
        assert "assert_never" in _names(tree), path


def test_no_module_is_over_800_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in WDP.rglob("*.py")
        if not p.name.endswith("_pb2.py") and (n := len(p.read_text().splitlines())) > 800
    }
    assert not long


@pytest.mark.slow
def test_an_effect_a_driver_forgets_fails_type_checking(tmp_path: Path) -> None:
    """Add an effect type to the core's union in a copy: mypy must refuse both drivers."""
    copy = tmp_path / "wdp"
    shutil.copytree(WDP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    effects = copy / "core" / "node" / "effects.py"
    text = effects.read_text().replace(
        "NodeEffect = (\n", "@dataclass(frozen=True, slots=True)\nclass Forgotten:\n"
        "    sid: int\n\n\nNodeEffect = (\n    Forgotten\n    | "
    )  # fmt: skip
    effects.write_text(text)
    drivers = ["wdp/node/node.py", "wdp/sim/runtime.py"]
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *drivers],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode != 0
    for driver in drivers:
        assert driver in run.stdout and '"Forgotten"' in run.stdout, run.stdout
