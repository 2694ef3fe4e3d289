"""The simulator drives the core's own machines; it has no copy of their rules.

Two kinds of evidence: the simulator's source defines no state machine,
transition table, or rule function of its own and never subclasses a core
machine; and changing a rule *in the core* changes what the simulator does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wdp.core.carrier as carrier_mod
import wdp.core.handoff as handoff_mod
from wdp.core.handoff import ReceiverState, SenderState
from wdp.sim import world
from wdp.sim.scenario import POLICIES
from wdp.sim.world import simulate

from .helpers import tiny

SIM = Path(world.__file__).resolve().parent
CORE_RULES = {
    "choose_carrier", "next_hop_at", "check_offer", "check_chain", "check_link", "check_follows",
    "next_offer", "shard_received", "handoff_succeeded", "handoff_failed", "handle_timer",
    "receive_data", "store_done", "decode_message", "encode_message", "get_timer", "_evacuate",
    "_on_message", "_on_offer", "_on_data", "_check_receipt", "level", "observe",
}  # fmt: skip
CORE_CLASSES = {"Carrier", "SenderSession", "ReceiverSession", "ThreatDetector", "LatencyMap"}


def _trees() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text()) for p in SIM.glob("*.py")}


def test_sim_imports_the_core_machines() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse((SIM / "world.py").read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wdp.core"):
            imported |= {a.name for a in node.names}
    assert {"Carrier", "SenderSession", "ReceiverSession"} <= imported
    assert {"pick_carriers", "RepairTracker", "launch_offer", "create_wanderer"} <= imported


def test_sim_defines_no_machine_table_or_rule_of_its_own() -> None:
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & (CORE_CLASSES | {"Enum", "IntEnum"}), (name, node.name)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.name not in CORE_RULES, (name, node.name)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    ident = getattr(target, "id", "")
                    assert "TRANSITION" not in ident.upper(), (name, ident)
            if isinstance(node, ast.Dict) and node.keys:
                # (state, message) -> state tables are the shape of a handoff machine
                assert not all(isinstance(k, ast.Tuple) for k in node.keys), name


def test_a_rule_changed_in_the_core_changes_the_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = tiny()
    normal = simulate(sc, POLICIES["wdp"], 1)
    assert normal.counters["hops_TTL"] > 20

    # Take "OFFERED + Accept -> AWAIT_RECEIPT" out of the core's sender table: no hop may pass.
    table = dict(handoff_mod.SENDER_TRANSITIONS)
    del table[(SenderState.OFFERED, handoff_mod.Accept)]
    monkeypatch.setattr(handoff_mod, "SENDER_TRANSITIONS", table)
    broken = simulate(sc, POLICIES["wdp"], 1)
    assert broken.counters.get("hops", 0) == 0
    assert broken.counters["failed_PROTOCOL_VIOLATION"] > 0
    monkeypatch.undo()

    # The receiver's table too: refuse Data, and nothing is stored.
    table = dict(handoff_mod.RECEIVER_TRANSITIONS)
    del table[(ReceiverState.RECEIVING, handoff_mod.Data)]
    monkeypatch.setattr(handoff_mod, "RECEIVER_TRANSITIONS", table)
    assert simulate(sc, POLICIES["wdp"], 1).counters.get("hops", 0) == 0
    monkeypatch.undo()

    # The carrier's schedule: hop every ~2 epochs instead of every epoch.
    real = carrier_mod.next_hop_at
    monkeypatch.setattr(
        carrier_mod,
        "next_hop_at",
        lambda t, epoch, rng, params=None: real(t, 2 * epoch, rng, params),
    )
    slow = simulate(sc, POLICIES["wdp"], 1)
    assert slow.counters["hops_TTL"] < 0.7 * normal.counters["hops_TTL"]


def test_the_sim_runs_the_core_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"sender": 0, "receiver": 0, "carrier_timer": 0, "placement": 0}

    def counting(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(
        handoff_mod.SenderSession,
        "receive_data",
        counting("sender", handoff_mod.SenderSession.receive_data),
    )
    monkeypatch.setattr(
        handoff_mod.ReceiverSession, "receive_data",
        counting("receiver", handoff_mod.ReceiverSession.receive_data),
    )  # fmt: skip
    monkeypatch.setattr(
        carrier_mod.Carrier,
        "handle_timer",
        counting("carrier_timer", carrier_mod.Carrier.handle_timer),
    )
    monkeypatch.setattr(
        carrier_mod, "choose_carrier", counting("placement", carrier_mod.choose_carrier)
    )
    r = simulate(tiny(), POLICIES["wdp"], 1)
    assert all(calls.values()), calls
    assert calls["placement"] >= r.counters["hops_TTL"]
    assert calls["receiver"] >= 3 * r.counters["hops"]  # offer, data, done at least
