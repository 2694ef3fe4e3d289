"""The simulator drives the node and owner cores; it has no copy of their rules.

Three kinds of evidence: the simulator's modules import ``NodeCore``,
``OwnerCore`` and the runtime, and import none of the rule helpers the cores
are built from; they define no state machine, transition table or rule
function of their own (only the attacker models subclass ``NodeCore``, through
its override points) and never call a carrier's handoff hooks or build a
session; and changing a rule *in the core* changes what the simulator does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wdp.core.carrier as carrier_mod
import wdp.core.fetch as fetch_mod
import wdp.core.locator as locator_mod
import wdp.core.migrate as migrate_mod
import wdp.core.owner.repair as repair_mod
from wdp.core.migrate import ReceiverState, SenderState
from wdp.core.node import NodeCore
from wdp.core.owner import OwnerCore
from wdp.sim import world
from wdp.sim.scenario import POLICIES, SeizeFault
from wdp.sim.world import simulate

from .helpers import tiny

SIM = Path(world.__file__).resolve().parent
CORE_RULES = {
    "choose_carrier", "next_hop_at", "check_offer", "check_chain", "check_link", "check_follows",
    "next_offer", "shard_received", "handoff_succeeded", "handoff_failed", "receive_aborted",
    "handle_timer", "receive_data", "store_done", "receipt_persisted", "shard_stored",
    "decode_message", "encode_message", "get_timer", "_evacuate", "_on_message", "_on_offer",
    "_on_data", "_check_receipt", "level", "observe", "is_lost", "ping_ok", "ping_failed",
    "peer_connected", "peer_disconnected", "drain", "panic", "pick_carriers", "launch_offer",
    "create_wanderer", "make_locator", "locator_expiry_ms", "next_generation", "repaired", "lost",
    "_publish", "_republish", "republish", "_lookup", "_launch_try", "_launch_done",
    "_repair_check", "_took_custody", "_start_handoff", "launch", "fetch", "cancel", "forget",
}  # fmt: skip
"""Names of the cores' rules and inputs, and of the rules the old simulator kept for itself."""
OVERRIDES = {"_take_custody", "admit", "receipt_for"}
"""The node core's override points: only the attacker models define them."""
CORE_CLASSES = {
    "Carrier", "SenderSession", "ReceiverSession", "FetchClientSession", "FetchServerSession",
    "ThreatDetector", "LatencyMap", "RepairTracker", "OwnerCore", "NodeCore",
}  # fmt: skip
HANDOFF_HOOKS = {"shard_received", "handoff_succeeded", "handoff_failed", "receive_aborted"}
SESSIONS = {"SenderSession", "ReceiverSession", "FetchClientSession", "FetchServerSession"}
RULE_HELPERS = {
    "pick_carriers", "RepairTracker", "LAUNCH_ATTEMPTS", "STALE_CHECKS", "create_wanderer",
    "launch_offer", "verified_shards", "locator_seed", "make_locator", "open_locator",
    "validate_locator", "locator_dht_key", "locator_expiry_ms", "next_hop_at", "choose_carrier",
    "erasure", "wanderer", "Carrier", *SESSIONS,
}  # fmt: skip
RULE_MODULES = {"wdp.core.erasure", "wdp.core.wanderer", "wdp.core.owner.repair",
                "wdp.core.schedule", "wdp.core.locator"}  # fmt: skip


def _trees() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text()) for p in sorted(SIM.glob("*.py"))}


def _name(node: ast.expr) -> str:
    return getattr(node, "id", getattr(node, "attr", ""))


def test_sim_imports_the_cores_and_the_runtime_and_no_rule_helper() -> None:
    imported: set[str] = set()
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {a.name for a in node.names}
                imported |= names
                assert module not in RULE_MODULES, (name, module)
                if module.startswith("wdp.core"):
                    assert not names & RULE_HELPERS, (name, names & RULE_HELPERS)
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & RULE_MODULES, name
    assert {"NodeCore", "OwnerCore", "Runtime", "NetworkTransport"} <= imported
    world_imports = {
        a.name
        for node in ast.walk(_trees()["world.py"])
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    assert {"NodeCore", "OwnerCore", "Runtime"} <= world_imports


def test_sim_defines_no_machine_table_or_rule_of_its_own() -> None:
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {_name(b) for b in node.bases}
                allowed = {"NodeCore"} if name == "attackers.py" else set()
                assert not bases & ((CORE_CLASSES - allowed) | {"Enum", "IntEnum"}), (
                    name, node.name,
                )  # fmt: skip
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.name not in CORE_RULES, (name, node.name)
                if name != "attackers.py":
                    assert node.name not in OVERRIDES, (name, node.name)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    ident = getattr(target, "id", "")
                    assert "TRANSITION" not in ident.upper(), (name, ident)
            if isinstance(node, ast.Dict) and node.keys:
                # (state, message) -> state tables are the shape of a handoff machine
                assert not all(isinstance(k, ast.Tuple) for k in node.keys), name


def test_sim_never_calls_handoff_hooks_nor_builds_sessions() -> None:
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = _name(node.func)
                assert called not in HANDOFF_HOOKS, (name, called, node.lineno)
                assert called not in SESSIONS, (name, called, node.lineno)
            if isinstance(node, ast.Attribute):  # not even passed around to be called later
                assert node.attr not in HANDOFF_HOOKS, (name, node.attr, node.lineno)


def test_every_simulated_node_and_owner_runs_the_cores() -> None:
    sim = world.Simulation(tiny(), POLICIES["wdp"], 1)
    sim.run()
    eps = sim.runtime.endpoints
    nodes, owners = eps[: sim.sw.nodes], eps[sim.sw.nodes :]
    assert len(owners) == sim.sw.wanderers
    assert all(isinstance(ep.core, NodeCore) and ep.owner is None for ep in nodes)
    assert all(isinstance(ep.core, NodeCore) and isinstance(ep.owner, OwnerCore) for ep in owners)


def test_a_rule_changed_in_the_core_changes_the_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = tiny()
    normal = simulate(sc, POLICIES["wdp"], 1)
    assert normal.counters["hops_TTL"] > 20

    # Take "OFFERED + Accept -> AWAIT_RECEIPT" out of the core's sender table: no hop may pass.
    table = dict(migrate_mod.SENDER_TRANSITIONS)
    del table[(SenderState.OFFERED, migrate_mod.Accept)]
    monkeypatch.setattr(migrate_mod, "SENDER_TRANSITIONS", table)
    broken = simulate(sc, POLICIES["wdp"], 1)
    assert broken.counters.get("hops", 0) == 0
    assert broken.counters["failed_PROTOCOL_VIOLATION"] > 0
    monkeypatch.undo()

    # The receiver's table too: refuse Data, and nothing is stored.
    table = dict(migrate_mod.RECEIVER_TRANSITIONS)
    del table[(ReceiverState.RECEIVING, migrate_mod.Data)]
    monkeypatch.setattr(migrate_mod, "RECEIVER_TRANSITIONS", table)
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
    monkeypatch.undo()

    # The node core's locator lifetime: one epoch instead of two, so refreshed within an epoch.
    monkeypatch.setattr(locator_mod, "LOCATOR_LIFETIME_EPOCHS", 1)
    short = simulate(sc, POLICIES["wdp"], 1)
    assert short.counters["locator_puts"] > 1.3 * normal.counters["locator_puts"]


def test_owner_rules_changed_in_the_core_change_repair(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = tiny(horizon_epochs=8).replace(faults=(SeizeFault(at_epoch=2, fraction=0.3),))
    normal = simulate(sc, POLICIES["static-repair"], 2)
    assert normal.counters["repairs"] > 0
    # A shard must be missing for many more check rounds before the owner rebuilds it,
    # and a carrier that fails or ignores its audit only makes the shard stale.
    monkeypatch.setattr(repair_mod, "STALE_CHECKS", 100)
    monkeypatch.setattr(repair_mod.RepairTracker, "fail", lambda t, i: t.observe(i, False))
    patient = simulate(sc, POLICIES["static-repair"], 2)
    assert patient.counters.get("repairs", 0) == 0
    assert patient.counters["checks"] > 0.8 * normal.counters["checks"] > 0  # still checked


def test_the_sim_runs_the_core_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {
        "sender": 0, "receiver": 0, "carrier_timer": 0, "placement": 0, "fetch_client": 0,
        "fetch_server": 0, "owner_put": 0,
    }  # fmt: skip

    def counting(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    for name, cls in (
        ("sender", migrate_mod.SenderSession),
        ("receiver", migrate_mod.ReceiverSession),
        ("fetch_client", fetch_mod.FetchClientSession),
        ("fetch_server", fetch_mod.FetchServerSession),
    ):
        monkeypatch.setattr(cls, "receive_data", counting(name, cls.receive_data))
    monkeypatch.setattr(
        carrier_mod.Carrier,
        "handle_timer",
        counting("carrier_timer", carrier_mod.Carrier.handle_timer),
    )
    monkeypatch.setattr(
        carrier_mod, "choose_carrier", counting("placement", carrier_mod.choose_carrier)
    )
    monkeypatch.setattr(OwnerCore, "put", counting("owner_put", OwnerCore.put))
    sc = tiny().replace(faults=(SeizeFault(at_epoch=2, fraction=0.3),))
    r = simulate(sc, POLICIES["wdp"], 1)
    assert all(calls.values()), calls
    assert calls["owner_put"] == r.wanderers
    assert calls["placement"] >= r.counters["hops_TTL"]
    assert calls["receiver"] >= 3 * r.counters["hops"]  # offer, data, done at least
    # repair fetched its shards over /wdp/fetch/1.0, and those bytes are repair traffic
    assert r.counters["repairs"] > 0 and r.bytes_by_kind["repair_fetch_data"] > 0
