"""Part (c) of the bench: put and get of a large file on a local swarm of wdp-node processes.

The put goes through node 0's local API, the get through node 1's; both are
shown next to the raw stream figure of the pair run. Also the helpers for
talking to a :class:`~wdp.ops.localswarm.LocalSwarm`'s nodes with bounded
waits, which the panic run (:mod:`wdp.ops.bench.panic`) uses too.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wdp.client.api import ApiClient, ClientError
from wdp.core.limits import SEGMENT_SIZE, TAG_SIZE
from wdp.ops.bench.plan import EPOCH, OP_TIMEOUT, MiB, Plan
from wdp.ops.bench.report import Report, Row, fmt_size, mbps, proc_cpu, say
from wdp.ops.localswarm import LocalSwarm, NodeProcess

PEERS_TIMEOUT = 90.0  # a swarm's nodes see each other healthy
# The swarms run with the node's default ping (5 s) and timeout; only the epoch is
# raised (no TTL hop during a measurement), and the panic swarm looks for peers
# every 3 s instead of 30 s so node 1 knows every other node before it panics.
PUTGET_ENV = {"WDP_EPOCH": str(EPOCH)}
PANIC_ENV = {"WDP_EPOCH": str(EPOCH), "WDP_DISCOVERY_INTERVAL": "3"}
PUT_K, PUT_N = 3, 8

T = TypeVar("T")


# ---- talking to a swarm's nodes -------------------------------------------------------


def call_with_deadline(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run a blocking call in a thread; raise TimeoutError if it takes longer.

    The thread is left behind on timeout; stopping the nodes closes its socket.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"{what} took more than {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def api(proc: NodeProcess) -> ApiClient:
    return ApiClient(proc.data_dir / "api.sock")


def status(proc: NodeProcess) -> dict[str, Any] | None:
    if not proc.alive:
        return None
    try:
        answer, _ = call_with_deadline(lambda: api(proc).call({"op": "status"}), 10, "status")
    except (ClientError, OSError, ValueError, TimeoutError):
        return None
    return answer


def healthy_peers(proc: NodeProcess) -> int:
    s = status(proc) or {}
    return sum(1 for p in s.get("peers", []) if p["healthy"])


def wait_until(
    what: str, predicate: Callable[[], bool], timeout: float, every: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ---- (c) put and get on a swarm ----------------------------------------------------------


@dataclass
class PutGetRun:
    """What one put and one get measured (instants from ``time.perf_counter``)."""

    put_start: float
    put_s: float
    get_start: float
    get_s: float
    marks: dict[str, float]  # "uploaded" and "launching" during the put, "first_byte" the get
    cpu: tuple[list[float], list[float], list[float]]  # by node: before, after put, after get
    statuses: list[dict[str, Any]]  # by node, after the get


def raw_reference(report: Report) -> Row | None:
    """The handoff row of the largest shard (its baseline is the raw stream figure)."""
    rows = [r for r in report.rows if r.key.startswith("handoff_")]
    return max(rows, key=lambda r: int(r.extra["size"])) if rows else None


def put_and_get(plan: Plan, swarm: LocalSwarm) -> PutGetRun:
    """Put ``plan.put_size`` random bytes through node 0, get them back through node 1."""
    payload = os.urandom(plan.put_size)
    digest = hashlib.sha256(payload).hexdigest()
    say(f"(c) put {fmt_size(plan.put_size)} through node 0 ({PUT_K}-of-{PUT_N})")
    request = {"op": "put", "name": "bench.bin", "size": len(payload), "k": PUT_K,
               "n": PUT_N, "epoch": EPOCH}  # fmt: skip
    marks: dict[str, float] = {}

    def uploaded(done: int) -> None:
        if done >= len(payload):
            marks["uploaded"] = time.perf_counter()

    def progress(_event: dict[str, Any]) -> None:  # the node is storing
        marks.setdefault("launching", time.perf_counter())

    cpu0 = [proc_cpu(p.pid) for p in swarm.nodes]
    t0 = time.perf_counter()
    answer, _ = call_with_deadline(
        lambda: api(swarm.nodes[0]).call(request, payload, on_progress=progress, sent=uploaded),
        OP_TIMEOUT, "put",
    )  # fmt: skip
    put_s = time.perf_counter() - t0
    cpu1 = [proc_cpu(p.pid) for p in swarm.nodes]
    ticket = answer["ticket"]
    say(f"(c) put took {put_s:.1f} s; get through node 1")

    def first_byte(_done: int) -> None:
        marks.setdefault("first_byte", time.perf_counter())

    t1 = time.perf_counter()
    _, data = call_with_deadline(
        lambda: api(swarm.nodes[1]).call({"op": "get", "ticket": ticket}, received=first_byte),
        OP_TIMEOUT, "get",
    )  # fmt: skip
    get_s = time.perf_counter() - t1
    cpu2 = [proc_cpu(p.pid) for p in swarm.nodes]
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError("get returned different bytes")
    say(f"(c) get took {get_s:.1f} s (checksum ok)")
    statuses = [status(p) or {} for p in swarm.nodes]
    return PutGetRun(t0, put_s, t1, get_s, marks, (cpu0, cpu1, cpu2), statuses)


def add_put_get_rows(plan: Plan, run: PutGetRun, report: Report) -> None:
    """The put row and the get row, each next to the largest shard's raw stream figure."""
    n, size = plan.swarm_nodes, fmt_size(plan.put_size)
    ref = raw_reference(report)
    for key, secs, via in (("put", run.put_s, "node 0"), ("get", run.get_s, "node 1")):
        v = mbps(plan.put_size, secs)
        row = Row(
            key=key,
            what=f"{key} of a {size} file through {via}'s API ({PUT_K}-of-{PUT_N}, "
            f"{n} nodes)",
            value=v, unit="MB/s", shown=f"{v:.1f} MB/s ({secs:.1f} s)",
            extra={"seconds": secs, "bytes": plan.put_size},
        )  # fmt: skip
        if ref is not None and ref.baseline:
            row.baseline_what = (
                f"raw libp2p stream, {fmt_size(ref.extra['size'])}: {ref.baseline:.1f} MB/s"
            )
            row.baseline = ref.baseline
            row.ratio = v / ref.baseline
            row.ratio_shown = f"{row.ratio:.2f}"
        report.rows.append(row)


def add_put_get_notes(plan: Plan, run: PutGetRun, report: Report) -> None:
    """Where the put's and the get's time went, and the CPU the nodes used.

    Also fills in the ``extra`` of the put and get rows, the last two of the report.
    """
    t0, put_s, t1, get_s, marks = run.put_start, run.put_s, run.get_start, run.get_s, run.marks
    put_end = t0 + put_s
    wire = PUT_N * -(-(plan.put_size + TAG_SIZE) // PUT_K)
    if "uploaded" in marks and "launching" in marks:
        up, launch_at = marks["uploaded"] - t0, marks["launching"] - t0
        report.rows[-2].extra.update(upload_s=up, launching_at_s=launch_at)
        segments = -(-plan.put_size // SEGMENT_SIZE)
        report.notes.append(
            f"put: node 0 stores the file as {segments} segment(s) of at most "
            f"{SEGMENT_SIZE // MiB} MiB, each before it reads the next; the last byte "
            f"reached it after {up:.1f} s, and the put ended "
            f"{put_end - marks['uploaded']:.1f} s later (the last segment, the index, and the wait "
            f"until the index can be found; {PUT_N} handoffs a "
            f"segment, {wire / MiB:.0f} MiB on the wire in all, "
            f"{mbps(wire, put_s):.0f} MB/s out of one process)"
        )
    if "first_byte" in marks:
        rebuilt = marks["first_byte"] - t1
        report.rows[-1].extra.update(first_byte_s=rebuilt)
        report.notes.append(
            f"get: the first verified byte reached the client after {rebuilt:.1f} s "
            f"(node 1 found, fetched and decoded the first segment's {PUT_K} shards), "
            f"the rest {get_s - rebuilt:.1f} s later, a segment at a time"
        )
    cpu0, cpu1, cpu2 = run.cpu
    put_cpu = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
    get_cpu = [b - a for a, b in zip(cpu1, cpu2, strict=True)]
    report.notes.append(
        f"CPU seconds used by the nodes: put {put_s:.1f} s wall, node 0 {put_cpu[0]:.1f} s, "
        f"the other nodes {sum(put_cpu[1:]):.1f} s together; get {get_s:.1f} s wall, "
        f"node 1 {get_cpu[1]:.1f} s, the other nodes "
        f"{sum(get_cpu) - get_cpu[1]:.1f} s together ({report.machine['nproc']} CPUs)"
    )
    levels = [s.get("threat_level", "?") for s in run.statuses]
    hops = sum(int(s.get("hops_out", 0)) for s in run.statuses)
    report.notes.append(
        f"put/get swarm after the get: threat levels by node {levels}, "
        f"{hops} carrier-to-carrier hops (0 expected with a {EPOCH} s epoch)"
    )


def run_put_get(plan: Plan, base: Path, report: Report) -> None:
    n = plan.swarm_nodes
    say(f"(c) starting {n} wdp-node processes")
    with LocalSwarm(n, base / "putget", store="memory", env=PUTGET_ENV) as swarm:
        wait_until(
            f"node 0 to see {PUT_N} healthy peers",
            lambda: healthy_peers(swarm.nodes[0]) >= PUT_N, PEERS_TIMEOUT,
        )  # fmt: skip
        run = put_and_get(plan, swarm)
        add_put_get_rows(plan, run, report)
        add_put_get_notes(plan, run, report)
