"""Part (d) of the bench: a node holding many shards panics; how fast it evacuates and exits.

Node 1 of a local swarm is given the plan's shards by the bench process, then
sent SIGUSR1. The report has how long it took to exit, next to the panic
grace ``wdp-node`` runs with, and how many shards reached another node vs
were wiped, from the other nodes' stores and node 1's log.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import multiaddr
import trio

from wdp.core.carrier import CarrierParams
from wdp.core.wanderer import Wanderer
from wdp.node.node import open_node
from wdp.ops.bench.plan import OP_TIMEOUT, Plan, bench_node_config, new_wanderer
from wdp.ops.bench.report import Report, Row, fmt_size, say
from wdp.ops.bench.swarm import PANIC_ENV, PEERS_TIMEOUT, healthy_peers, status, wait_until
from wdp.ops.localswarm import LocalSwarm, NodeProcess

LAUNCH_CONCURRENCY = 4  # below a carrier's max_inbound (8)

_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def log_time(line: str) -> float | None:
    m = _LOG_TIME.match(line)
    if m is None:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


async def launch_all(plan: Plan, target: NodeProcess) -> tuple[float, int]:
    """Launch the evacuation test's shards to ``target``; returns (seconds, failures)."""
    made = [new_wanderer(plan.evac_shard_size) for _ in range(plan.evac_shards)]
    failures = 0
    async with open_node(bench_node_config()) as node:
        with trio.fail_after(30):
            peer = await node.connect(multiaddr.Multiaddr(target.addrs[0]))
        limiter = trio.CapacityLimiter(LAUNCH_CONCURRENCY)

        async def one(w: Wanderer, seed: bytes) -> None:
            nonlocal failures
            async with limiter:
                # The target answers BUSY past 20 stream opens a second from one peer
                # (its default budget), which this loop can outrun: wait and try again.
                for _attempt in range(10):
                    result = await node.launch_shard(w, 0, peer, owner_seed=seed)
                    if result.ok:
                        return
                    await trio.sleep(0.5)
                failures += 1

        t0 = time.perf_counter()
        with trio.fail_after(OP_TIMEOUT):
            async with trio.open_nursery() as nursery:
                for w, seed in made:
                    nursery.start_soon(one, w, seed)
        took = time.perf_counter() - t0
    return took, failures  # the bench node has left: the target no longer sees it


def held_count(proc: NodeProcess) -> int | None:
    s = status(proc)
    return None if s is None else len(s.get("held", []))


def fill(plan: Plan, target: NodeProcess) -> float:
    """Launch the plan's shards to ``target`` until it holds them all; returns the seconds."""
    total = plan.evac_shards
    say(f"(d) launching {total} shards of {fmt_size(plan.evac_shard_size)} to node 1")
    took, failures = trio.run(launch_all, plan, target)
    if failures:
        raise RuntimeError(f"{failures} of {total} launches to node 1 failed")
    wait_until(f"node 1 to hold {total} shards", lambda: held_count(target) == total, 60)
    return took


@dataclass
class PanicRun:
    """What happened from node 1's SIGUSR1 on."""

    seconds: float  # from the signal to node 1's exit
    exit_status: int
    signalled_at: float  # time.time() when the signal was sent
    counts: list[int]  # shards the other nodes hold once settled
    lines: list[str]  # node 1's log from just before the signal


def held_by(others: list[NodeProcess]) -> list[int]:
    """What ``others`` hold once the counts stop changing (10 s at most)."""

    def settled() -> list[int]:
        return [held_count(p) or 0 for p in others]

    counts = settled()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the receivers committed before node 1 wiped
        time.sleep(0.5)
        again = settled()
        if again == counts:
            break
        counts = again
    return counts


def panic(target: NodeProcess, others: list[NodeProcess], total: int) -> PanicRun:
    """Send ``target`` SIGUSR1, wait for it to exit, count what the others then hold."""
    log_start = len(target.log())
    say(f"(d) node 1 holds {total}; SIGUSR1")
    wall0 = time.time()
    t0 = time.perf_counter()
    target.send(signal.SIGUSR1)
    code = target.wait(timeout=60)
    secs = time.perf_counter() - t0
    say(f"(d) node 1 exited with status {code} after {secs:.2f} s")
    counts = held_by(others)
    lines = target.log()[log_start:].splitlines()
    return PanicRun(secs, code, wall0, counts, lines)


def add_panic_report(
    plan: Plan, took: float, before: list[int], run: PanicRun, report: Report
) -> None:
    """The panic row (next to the panic grace) and its notes, from the counts and the log."""
    n, total, secs, code = plan.evac_nodes, plan.evac_shards, run.seconds, run.exit_status
    counts, lines = run.counts, run.lines
    left = sum(counts) - sum(before)
    wiped_log = sum(1 for ln in lines if " wiped " in ln and "panic" in ln)
    handed = sum(1 for ln in lines if "handed shard" in ln)
    late = max(0, left + wiped_log - total)  # wiped here, yet their handoff then completed
    lost = total - left
    done_at = next((log_time(ln) for ln in lines if "panic done" in ln), None)
    store_empty = None if done_at is None else max(0.0, done_at - run.signalled_at)
    grace = CarrierParams().panic_grace  # what wdp-node runs with
    report.rows.append(
        Row(
            key="panic",
            what=f"panic (SIGUSR1) to exit, node holding {total} x "
            f"{fmt_size(plan.evac_shard_size)} shards ({n} nodes)",
            value=secs, unit="s",
            shown=f"{secs:.2f} s: {left} left, {lost} wiped",
            baseline_what=f"panic grace: {grace:.1f} s",
            baseline=grace, ratio=secs / grace, ratio_shown=f"{secs / grace:.2f}",
            extra={"left": left, "wiped": lost, "wiped_in_log": wiped_log,
                   "completed_after_wipe": late, "handed_in_log": handed,
                   "exit_status": code, "store_empty_seconds": store_empty,
                   "held_by_others": counts, "launch_seconds": took},
        )
    )  # fmt: skip
    rejects: dict[str, int] = {}
    for ln in lines:
        m = re.search(r"handoff of \S+ failed: ([A-Z_]+)", ln)
        if m:
            rejects[m.group(1)] = rejects.get(m.group(1), 0) + 1
    report.notes.append(
        f"panic: {left} of {total} shards reached another node ({counts} by node), "
        f"{lost} were lost; node 1 logged {handed} handoffs done, {wiped_log} wipes at the "
        f"deadline ({late} of those shards were mid-handoff and arrived anyway), "
        f"failed handoff attempts {rejects or 'none'}"
    )
    if store_empty is not None:
        report.notes.append(
            f"panic: node 1's log says its store was empty {store_empty:.2f} s after the "
            f"signal; the rest of the {secs:.2f} s is shutting down (exit status {code})"
        )
    report.notes.append(
        f"panic setup: {total} launches of {fmt_size(plan.evac_shard_size)} to node 1 took "
        f"{took:.1f} s ({LAUNCH_CONCURRENCY} at a time)"
    )


def run_evacuation(plan: Plan, base: Path, report: Report) -> None:
    n = plan.evac_nodes
    say(f"(d) starting {n} wdp-node processes")
    with LocalSwarm(n, base / "panic", store="memory", env=PANIC_ENV) as swarm:
        target, others = swarm.nodes[1], [p for i, p in enumerate(swarm.nodes) if i != 1]
        wait_until(
            f"node 1 to see all {n - 1} other nodes healthy",
            lambda: healthy_peers(target) >= n - 1, PEERS_TIMEOUT,
        )  # fmt: skip
        took = fill(plan, target)
        before = [held_count(p) or 0 for p in others]
        if any(before):
            report.notes.append(f"before the panic other nodes already held {before} shard(s)")
        run = panic(target, others, plan.evac_shards)
        add_panic_report(plan, took, before, run, report)
