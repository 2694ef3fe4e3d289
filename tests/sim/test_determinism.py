"""Same seed, same trace (byte for byte, across processes and hash seeds); another seed, another."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wdp.sim.scenario import POLICIES
from wdp.sim.world import simulate

from .helpers import busy, tiny

RUN = [
    sys.executable, "-m", "wdp.sim.cli", "run", "seize-30", "--policy", "wdp",
    "--set", "nodes=30", "--set", "wanderers=4", "--set", "horizon_epochs=6",
    "--set", "epoch=120", "--set", "payload_bytes=3000",
]  # fmt: skip


def _trace_in_subprocess(tmp: Path, seed: int, hashseed: str) -> bytes:
    out = tmp / f"trace-{seed}-{hashseed}.txt"
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    subprocess.run([*RUN, "--seed", str(seed), "--trace", str(out)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    return out.read_bytes()


def test_same_seed_same_trace_bytes_across_processes(tmp_path: Path) -> None:
    a = _trace_in_subprocess(tmp_path, 5, "0")
    b = _trace_in_subprocess(tmp_path, 5, "12345")  # set and dict orders of bytes differ
    assert a == b
    assert a.count(b" hop ") > 50  # it did something


def test_different_seed_different_trace(tmp_path: Path) -> None:
    assert _trace_in_subprocess(tmp_path, 5, "0") != _trace_in_subprocess(tmp_path, 6, "0")


def test_every_code_path_is_deterministic() -> None:
    sc = busy()
    a = simulate(sc, POLICIES["wdp"], 3, keep_trace=True)
    b = simulate(sc, POLICIES["wdp"], 3, keep_trace=True)
    assert a.trace == b.trace and a.trace_digest == b.trace_digest
    assert a.counters == b.counters and a.lost == b.lost
    for kind in (" down ", " join ", " drain ", " loss ", " degrade ", " threat ", " hop "):
        assert kind in a.trace, kind
    c = simulate(sc, POLICIES["wdp"], 4, keep_trace=True)
    assert c.trace != a.trace


def test_policies_share_the_swarm_and_its_faults() -> None:
    """Common random numbers: the same nodes fall under every policy."""
    sc = tiny().replace(faults=busy().faults)
    downs = []
    for policy in ("static", "wdp"):
        r = simulate(sc, POLICIES[policy], 2, keep_trace=True)
        downs.append([line.split()[2] for line in r.trace.splitlines() if " down " in line])
    assert downs[0] == downs[1] and downs[0]
