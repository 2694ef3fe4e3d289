"""Part (f) of the bench: a file of several GiB put and got back through the ``wdp`` command
on a local swarm of ``wdp-node`` processes (disk store), with every process's peak memory.

The file is ``plan.big_size`` random bytes on disk (4 GiB; 48 MiB with ``--quick``); node
0 puts it, node 1 gets it back into another file, and both files' SHA-256 must agree. Each
node gets enough ``capacity`` for its share and may hold all of it from one launcher
(``launch_share`` 1.0): at 3-of-8, 4 GiB is about 10.7 GiB of shards over nine carriers.
Peak RSS is the kernel's ``VmHWM`` of each node and of each ``wdp`` command (read while it runs).
The put and get rows stand beside the raw stream figure of the pair run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from wdp.ops.bench.plan import EPOCH, MiB, Plan
from wdp.ops.bench.report import Report, Row, fmt_size, mbps, say
from wdp.ops.bench.swarm import (
    PEERS_TIMEOUT,
    PUT_K,
    PUT_N,
    healthy_peers,
    raw_reference,
    wait_until,
)
from wdp.ops.localswarm import LocalSwarm

BLOCK = 8 * MiB


def write_random(path: Path, size: int) -> str:
    """``size`` random bytes into ``path``; returns their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def wdp_command() -> list[str]:
    exe = shutil.which("wdp", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "wdp.client.cli"]


def run_wdp(args: list[str], timeout: float) -> tuple[str, float, int]:
    """Run ``wdp ARGS``; its stdout, seconds taken and peak RSS (bytes). Raises on failure.

    The peak is the process's own ``VmHWM``, read while it runs (every 0.1 s).
    Not ``wait4``'s ``ru_maxrss``: Linux carries a process's peak across
    ``exec``, and ``subprocess`` starts the child with ``vfork``, so that
    figure is this (parent) process's peak whenever it was the larger.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        [*wdp_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = started + timeout
    peak = 0
    while True:
        with contextlib.suppress(OSError, RuntimeError):  # it may have just exited
            peak = max(peak, peak_rss(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"wdp {args[0]} did not finish in {timeout:.0f} s")
        time.sleep(0.1)
    took = time.monotonic() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"wdp {args[0]} failed: {err.strip()[-500:]}")
    return out, took, peak


def peak_rss(pid: int) -> int:
    """The peak resident set of a running process (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_big(plan: Plan, base: Path, report: Report) -> None:
    size = plan.big_size
    share = size * PUT_N // PUT_K // (plan.swarm_nodes - 1)
    env = {"WDP_EPOCH": str(EPOCH), "WDP_CAPACITY": str(2 * share + 256 * MiB),
           "WDP_LAUNCH_SHARE": "1.0"}  # fmt: skip
    say(f"(f) starting {plan.swarm_nodes} wdp-node processes (disk store)")
    with LocalSwarm(plan.swarm_nodes, base / "big", store="disk", env=env) as swarm:
        wait_until(
            f"node 0 to see {PUT_N} healthy peers",
            lambda: healthy_peers(swarm.nodes[0]) >= PUT_N, PEERS_TIMEOUT,
        )  # fmt: skip
        src, dst = base / "big.in", base / "big.out"
        say(f"(f) writing {fmt_size(size)} of random bytes")
        want = write_random(src, size)
        timeout = 600 + size / MiB  # generous: at least 1 MiB/s
        node0 = ["--data-dir", str(swarm.nodes[0].data_dir)]
        out, put_s, put_rss = run_wdp(["put", str(src), "--epoch", str(EPOCH), *node0], timeout)
        say(f"(f) put took {put_s:.1f} s; get through node 1")
        node1 = ["--data-dir", str(swarm.nodes[1].data_dir)]
        _, get_s, get_rss = run_wdp(["get", out.strip(), "-o", str(dst), *node1], timeout)
        if sha256_of(dst) != want:
            raise RuntimeError("the big get returned different bytes")
        say(f"(f) get took {get_s:.1f} s (checksum ok)")
        nodes = [peak_rss(n.pid) for n in swarm.nodes]
        src.unlink()
        dst.unlink()
    ref = raw_reference(report)
    rss = {"nodes_mib": [round(r / MiB) for r in nodes], "put_mib": round(put_rss / MiB),
           "get_mib": round(get_rss / MiB)}  # fmt: skip
    for key, secs, via, client in (("big_put", put_s, "node 0", put_rss),
                                   ("big_get", get_s, "node 1", get_rss)):  # fmt: skip
        v = mbps(size, secs)
        row = Row(
            key=key,
            what=f"{key[4:]} of a {fmt_size(size)} file with `wdp` through {via} "
            f"({PUT_K}-of-{PUT_N}, {plan.swarm_nodes} nodes, disk store)",
            value=v, unit="MB/s",
            shown=f"{v:.1f} MB/s ({secs:.0f} s); peak RSS: nodes up to "
            f"{max(nodes) // MiB} MiB, wdp {client // MiB} MiB",
            extra={"seconds": secs, "bytes": size, "peak_rss": rss},
        )  # fmt: skip
        if ref is not None and ref.baseline:
            row.baseline_what = (
                f"raw libp2p stream, {fmt_size(ref.extra['size'])}: {ref.baseline:.1f} MB/s"
            )
            row.baseline = ref.baseline
            row.ratio = v / ref.baseline
            row.ratio_shown = f"{row.ratio:.2f}"
        report.rows.append(row)
    report.notes.append(f"big file: peak RSS by node (MiB) {rss['nodes_mib']}")
