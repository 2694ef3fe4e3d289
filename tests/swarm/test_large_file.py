"""A file larger than 512 MiB, put and got back through the `wdp` command on a local swarm of
ten real `wdp-node` processes (disk store), with every process's peak memory bounded.

The file becomes 17 segments of 32 MiB (section 19 of the spec), each stored before the
next is read, and comes back a segment at a time into ``FILE.part``, renamed at the end.
Peak RSS is the kernel's: ``VmHWM`` of each node (read before it stops) and ``ru_maxrss``
of each client process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wdp.core.ticket import Ticket
from wdp.ops.localswarm import LocalSwarm

from .test_put_get import wait_for_peers

pytestmark = [pytest.mark.slow, pytest.mark.trio]

SWARM = 10
MIB = 1 << 20
FILE_SIZE = 513 * MIB + 12345  # over 512 MiB, and not a whole number of segments
RSS_LIMIT = 512 * MIB
TIMEOUT = 900.0


def write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(8 * MIB, left))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def wdp_command() -> list[str]:
    exe = shutil.which("wdp", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "wdp.client.cli"]


def run_client(args: list[str], timeout: float) -> tuple[str, int]:
    """Run ``wdp ARGS``; returns its stdout and its peak RSS in bytes."""
    proc = subprocess.Popen(
        [*wdp_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"wdp {args[0]} did not finish in {timeout} s")
        time.sleep(0.2)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"wdp {args[0]} failed: {err}"
    return out, usage.ru_maxrss * 1024


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


async def test_a_file_over_512_mib_streams_in_and_out_in_bounded_memory(
    swarm_factory, tmp_path: Path
) -> None:
    swarm: LocalSwarm = swarm_factory(SWARM)
    await wait_for_peers(swarm, 0, SWARM - 1)
    src = tmp_path / "big.bin"
    want = write_file(src, FILE_SIZE)

    api = ["--data-dir", str(swarm.nodes[0].data_dir)]
    started = time.monotonic()
    out, put_rss = run_client(["put", str(src), *api], TIMEOUT)
    put_s = time.monotonic() - started
    ticket = Ticket.decode(out.strip())
    assert ticket.is_file

    dst = tmp_path / "back.bin"
    api = ["--data-dir", str(swarm.nodes[1].data_dir)]  # through a node that did not put it
    started = time.monotonic()
    _, get_rss = run_client(["get", out.strip(), "-o", str(dst), *api], TIMEOUT)
    get_s = time.monotonic() - started
    assert dst.stat().st_size == FILE_SIZE
    assert sha256_of(dst) == want
    assert not (tmp_path / "back.bin.part").exists()

    rss = {f"node {n.index}": peak_rss(n.pid) for n in swarm.nodes}
    rss |= {"wdp put": put_rss, "wdp get": get_rss}
    print(f"put {put_s:.1f} s ({FILE_SIZE / put_s / 1e6:.1f} MB/s), "
          f"get {get_s:.1f} s ({FILE_SIZE / get_s / 1e6:.1f} MB/s)")  # fmt: skip
    print("peak RSS (MiB):", {k: round(v / MIB) for k, v in rss.items()})
    over = {k: v for k, v in rss.items() if v >= RSS_LIMIT}
    assert not over, f"peak RSS at or over 512 MiB: {over}"
