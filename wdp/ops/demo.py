"""``make demo``: WDP's main job on one machine, with nothing but the project.

Starts 10 wdp-node processes on 127.0.0.1, prints node 0's dashboard link,
puts a sample file through node 0,
shows the shards hopping live, SIGKILLs 30 % of the nodes chosen among the
current carriers, waits for repair, gets the file back through node 1 and
prints a verdict with the checksum. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from wdp.client.api import ApiClient, ClientError
from wdp.ops.localswarm import LocalSwarm

NODES = 10
K, N = 3, 8
EPOCH = 4
console = Console(soft_wrap=True)  # a verdict line stays one line in a file or a pipe


def status(swarm: LocalSwarm, i: int) -> dict[str, Any] | None:
    if not swarm.nodes[i].alive:
        return None
    try:
        answer, _ = ApiClient(swarm.nodes[i].data_dir / "api.sock").call({"op": "status"})
    except (ClientError, OSError, ValueError):
        return None
    return answer


def placement(swarm: LocalSwarm, wid_prefix: str) -> dict[int, tuple[int, int, str]]:
    """shard index -> (node, hop, reason) for the wanderer, from every live node."""
    out: dict[int, tuple[int, int, str]] = {}
    for i in range(len(swarm.nodes)):
        s = status(swarm, i)
        for h in (s or {}).get("held", []):
            wid, _, index = h["shard"].partition("/")
            if wid_prefix.startswith(wid) or wid.startswith(wid_prefix[:12]):
                idx = int(index)
                if idx not in out or h["hop"] > out[idx][1]:
                    out[idx] = (i, h["hop"], h["reason"])
    return out


def table(title: str, where: dict[int, tuple[int, int, str]], dead: set[int]) -> Table:
    t = Table(title=title, min_width=len(title))  # a title wider than the table would wrap
    t.add_column("shard")
    t.add_column("carrier")
    t.add_column("hop")
    t.add_column("arrived by")
    for idx in range(N):
        if idx in where:
            node, hop, reason = where[idx]
            t.add_row(str(idx), f"node {node}", str(hop), reason)
        else:
            t.add_row(str(idx), "[red]lost[/red]", "-", "-")
    if dead:
        t.caption = "seized: " + ", ".join(f"node {d}" for d in sorted(dead))
    return t


def watch(
    swarm: LocalSwarm,
    wid: str,
    seconds: float,
    title: str,
    dead: set[int],
    until: Callable[[dict[int, tuple[int, int, str]]], bool] | None = None,
) -> dict[int, tuple[int, int, str]]:
    """Show where the shards are for up to ``seconds``; returns the last placement seen.

    On a terminal the table is redrawn live. On a file or a pipe (``make demo
    > out``, CI) only the last table is printed: rich's Live would print that
    last frame without the newline after it, running it into the next line.
    """
    deadline = time.monotonic() + seconds
    first = placement(swarm, wid)

    def poll(show: Callable[[dict[int, tuple[int, int, str]]], None]) -> dict[int, Any]:
        where = first
        while time.monotonic() < deadline:
            where = placement(swarm, wid)
            show(where)
            if until is not None and until(where):
                break
            time.sleep(0.5)
        return where

    if not console.is_terminal:
        where = poll(lambda _where: None)
        console.print(table(title, where, dead))
        return where
    with Live(table(title, first, dead), console=console, refresh_per_second=2) as live:
        return poll(lambda where: live.update(table(title, where, dead)))


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="wdp-demo-"))
    try:
        return run(base)
    except ClientError as exc:  # a node refused or failed a request: its message says why
        error(f"{exc} (the nodes' logs are in {base})")
    except (RuntimeError, TimeoutError, OSError) as exc:  # a node did not start
        first_line = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        error(f"{first_line} (the nodes' logs are in {base})")
    except KeyboardInterrupt:
        error("interrupted; the nodes were stopped")
        return 130
    return 1


def error(message: str) -> None:
    """One plain line (no markup: a message may hold brackets, e.g. [::1])."""
    console.print(f"demo: error: {message}", markup=False, highlight=False, soft_wrap=True)


def run(base: Path) -> int:
    env = {"WDP_PING_INTERVAL": "0.5", "WDP_PING_TIMEOUT": "1", "WDP_DISCOVERY_INTERVAL": "2",
           "WDP_REPAIR_INTERVAL": "2", "WDP_EPOCH": str(EPOCH),
           "WDP_MIN_EPOCH": str(EPOCH),  # below the 60 s floor a node keeps by default
           "WDP_DASHBOARD": "127.0.0.1:0"}  # each node's on a free port  # fmt: skip
    console.print(f"[bold]Starting {NODES} wdp-node processes on 127.0.0.1[/bold] (logs in {base})")
    with LocalSwarm(NODES, base, store="memory", env=env) as swarm:
        deadline = time.monotonic() + 60
        while True:
            s = status(swarm, 0)
            healthy = sum(1 for p in (s or {}).get("peers", []) if p["healthy"])
            if healthy >= N:
                break
            if time.monotonic() > deadline:
                console.print("[red]peers were not discovered in time[/red]")
                return 1
            time.sleep(0.5)
        link, _ = ApiClient(swarm.nodes[0].data_dir / "api.sock").call({"op": "dashboard"})
        console.print(f"Node 0's dashboard (open it to watch): {link['link']}", highlight=False)
        payload = os.urandom(3 << 20)
        digest = hashlib.sha256(payload).hexdigest()
        console.print(f"Putting a 3 MiB file through node 0 (sha256 {digest[:16]}...), "
                      f"{K}-of-{N} shards, epoch {EPOCH} s")  # fmt: skip
        answer, _ = ApiClient(swarm.nodes[0].data_dir / "api.sock").call(
            {"op": "put", "name": "sample.bin", "size": len(payload), "k": K, "n": N}, payload
        )
        ticket = answer["ticket"]
        console.print(f"ticket: {ticket[:24]}... (secret)")
        ls, _ = ApiClient(swarm.nodes[0].data_dir / "api.sock").call({"op": "ls"})
        wid = ls["wanderers"][-1]["id"]
        where = watch(swarm, wid, 3 * EPOCH, "shards wandering (TTL hops every epoch)", set())
        carriers = sorted({node for node, _, _ in where.values()} - {0, 1})
        victims = carriers[: NODES * 3 // 10]
        names = ", ".join(f"node {v}" for v in victims)
        console.print(f"[bold red]Seizing {len(victims)} carriers: {names} (SIGKILL)[/bold red]")
        for v in victims:
            swarm.nodes[v].send(signal.SIGKILL)
        watch(swarm, wid, 90, "after the seizure: repair rebuilds lost shards", set(victims),
              until=lambda w: len(w) == N)  # fmt: skip
        console.print("Getting the file back through node 1")
        _, data = ApiClient(swarm.nodes[1].data_dir / "api.sock").call(
            {"op": "get", "ticket": ticket}
        )
        got = hashlib.sha256(data).hexdigest()
        if got == digest:
            console.print(
                f"[bold green]PASS[/bold green]: the file came back byte-identical after "
                f"{len(victims)} of {NODES} nodes were seized (sha256 {got})"
            )
            return 0
        console.print(f"[bold red]FAIL[/bold red]: sha256 {got} != {digest}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
