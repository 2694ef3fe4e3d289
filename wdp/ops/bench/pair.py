"""Parts (a) and (b) of the bench: two processes, handoffs next to a raw libp2p stream.

This process runs a node and launches shards to a second process,
:mod:`wdp.ops.bench.peer`, which also runs the raw sink the baseline writes
to over the same connection (same Noise and Yamux). (a) is throughput for
each of the plan's shard sizes, (b) the latency of a small handoff next to
the libp2p ping round trip; :func:`core_cost` adds what the sans-IO handoff
machines cost for the largest shard with no network at all.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import multiaddr
import trio
from libp2p.peer.id import ID

from wdp.core.carrier import Carrier
from wdp.core.effects import PersistReceipt, Send, StoreShard
from wdp.core.limits import TAG_SIZE
from wdp.core.migrate import ReceiverSession, SenderSession
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, launch_offer
from wdp.node.node import Node, open_node
from wdp.node.store import MemoryStore, ShardMeta
from wdp.node.streams import READ_SIZE, read_exactly
from wdp.ops.bench.peer import RAW_ACK, RAW_PROTOCOL
from wdp.ops.bench.plan import OP_TIMEOUT, MiB, Plan, bench_node_config, new_wanderer
from wdp.ops.bench.report import Report, Row, fmt_size, mbps, percentile, proc_cpu, say

RAW_WRITE = 1 * MiB
READY_TIMEOUT = 30.0

# ---- the peer process -----------------------------------------------------------


@contextmanager
def peer_process(log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    """Start ``wdp.ops.bench.peer``; yields the process and its addresses."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wdp.ops.bench.peer"],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError(f"bench peer not ready in time:\n{log_path.read_text()}")
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"bench peer exited:\n{log_path.read_text()[-2000:]}")
                buf += chunk
        words = buf.split(b"\n", 1)[0].decode().split()
        if not words or words[0] != "ready":
            raise RuntimeError(f"bench peer said {words!r}")
        yield proc, words[2:]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


# ---- timed operations -------------------------------------------------------------------


async def raw_transfer(node: Node, peer: ID, data: bytes) -> None:
    """The baseline: ``len(data)`` bytes on a fresh raw stream in 1 MiB writes, then the ack."""
    stream = await node.host.new_stream(peer, [RAW_PROTOCOL])
    try:
        await stream.write(len(data).to_bytes(8, "big"))
        view = memoryview(data)
        for off in range(0, len(data), RAW_WRITE):
            await stream.write(bytes(view[off : off + RAW_WRITE]))
        ack = await read_exactly(stream, len(RAW_ACK))
        if ack != RAW_ACK:
            raise RuntimeError(f"raw sink answered {ack!r}")
    finally:
        await stream.close()


@dataclass
class Sample:
    """One timed operation: wall seconds and CPU seconds of this process and of the peer."""

    wall: float
    cpu_here: float
    cpu_peer: float


@contextmanager
def measured(peer_pid: int, into: list[Sample]) -> Iterator[None]:
    w0, c0, p0 = time.perf_counter(), time.process_time(), proc_cpu(peer_pid)
    yield
    w1, c1, p1 = time.perf_counter(), time.process_time(), proc_cpu(peer_pid)
    into.append(Sample(w1 - w0, c1 - c0, p1 - p0))


async def handoff(node: Node, peer: ID, w: Wanderer, seed: bytes) -> None:
    with trio.fail_after(OP_TIMEOUT):
        result = await node.launch_shard(w, 0, peer, owner_seed=seed)
    if not result.ok:
        raise RuntimeError(f"handoff failed: {result.code} {result.detail}")


async def timed_handoff(node: Node, peer: ID, w: Wanderer, seed: bytes) -> float:
    t0 = time.perf_counter()
    await handoff(node, peer, w, seed)
    return time.perf_counter() - t0


async def raw(node: Node, peer: ID, data: bytes) -> None:
    with trio.fail_after(OP_TIMEOUT):
        await raw_transfer(node, peer, data)


def cpu_ms(samples: list[Sample]) -> tuple[float, float, float]:
    """Mean wall, sender CPU and receiver CPU per operation, in milliseconds."""
    n = len(samples)
    return (
        1000 * sum(s.wall for s in samples) / n,
        1000 * sum(s.cpu_here for s in samples) / n,
        1000 * sum(s.cpu_peer for s in samples) / n,
    )


# ---- (a) and (b): one pair of processes ----------------------------------------------


async def warm_up(node: Node, peer: ID) -> None:
    """Streams, imports, the peer's first allocations."""
    for _ in range(2):
        w, seed = new_wanderer(1 * MiB)
        await handoff(node, peer, w, seed)
        await raw(node, peer, os.urandom(1 * MiB))
        with trio.fail_after(10):
            await node.pinger.rtt(peer)


async def throughput_row(plan: Plan, node: Node, peer: ID, peer_pid: int, size: int) -> Row:
    """(a) for one shard size: the median of ``plan.repeats`` handoffs and raw transfers."""
    body = os.urandom(size - TAG_SIZE)
    data = os.urandom(size)
    hand: list[Sample] = []
    base: list[Sample] = []
    for rep in range(plan.repeats):
        w, seed = new_wanderer(size, body)
        for which in ("raw", "handoff") if rep % 2 == 0 else ("handoff", "raw"):
            # Alternate the order so neither side always goes first.
            if which == "raw":
                with measured(peer_pid, base):
                    await raw(node, peer, data)
            else:
                with measured(peer_pid, hand):
                    await handoff(node, peer, w, seed)
    hand_t, raw_t = [x.wall for x in hand], [x.wall for x in base]
    h, r = mbps(size, statistics.median(hand_t)), mbps(size, statistics.median(raw_t))
    say(f"handoff {fmt_size(size)}: {h:.1f} MB/s, raw stream {r:.1f} MB/s")
    return Row(
        key=f"handoff_{size // MiB}MiB",
        what=f"handoff of a {fmt_size(size)} shard, process to process",
        value=h, unit="MB/s", shown=f"{h:.1f} MB/s",
        baseline_what=f"raw libp2p stream, {fmt_size(size)}: {r:.1f} MB/s",
        baseline=r, ratio=h / r, ratio_shown=f"{h / r:.2f}",
        extra={"size": size, "handoff_seconds": hand_t, "raw_seconds": raw_t,
               "handoff_ms_wall_sender_receiver": cpu_ms(hand),
               "raw_ms_wall_sender_receiver": cpu_ms(base)},
    )  # fmt: skip


async def throughput(plan: Plan, node: Node, peer: ID, peer_pid: int, report: Report) -> None:
    """(a): a row per shard size, and a note on the CPU the largest one took."""
    for size in plan.sizes:
        report.rows.append(await throughput_row(plan, node, peer, peer_pid, size))
    if plan.sizes:
        big = report.rows[-1].extra
        hw, hs, hr = big["handoff_ms_wall_sender_receiver"]
        rw, rs, rr = big["raw_ms_wall_sender_receiver"]
        report.notes.append(
            f"CPU per {fmt_size(big['size'])} transfer (mean of {plan.repeats}): raw stream "
            f"{rw:.0f} ms wall, sender {rs:.0f} ms CPU, receiver {rr:.0f} ms CPU; handoff "
            f"{hw:.0f} ms wall, sender {hs:.0f} ms CPU, receiver {hr:.0f} ms CPU"
        )


async def latency(plan: Plan, node: Node, peer: ID, report: Report) -> None:
    """(b): a ping and a small handoff, alternately; rows for p50 and p99."""
    made = [new_wanderer(plan.latency_size) for _ in range(plan.latency_samples)]
    lat: list[float] = []
    rtts: list[float] = []
    for w, seed in made:
        with trio.fail_after(10):
            rtts.append(await node.pinger.rtt(peer))
        lat.append(await timed_handoff(node, peer, w, seed))
    for p in (50, 99):
        h, r = percentile(lat, p) * 1000, percentile(rtts, p) * 1000
        say(f"handoff {fmt_size(plan.latency_size)} p{p}: {h:.2f} ms, ping RTT {r:.3f} ms")
        report.rows.append(
            Row(
                key=f"latency_p{p}",
                what=f"latency of a {fmt_size(plan.latency_size)} handoff, p{p} "
                f"({len(lat)} handoffs)",
                value=h, unit="ms", shown=f"{h:.2f} ms",
                baseline_what=f"libp2p ping RTT p{p}: {r:.3f} ms",
                baseline=r, ratio=h / r, ratio_shown=f"{h / r:.1f}x the RTT",
            )
        )  # fmt: skip
    report.rows[-1].extra = {
        "handoff_ms": [x * 1000 for x in lat],
        "ping_ms": [x * 1000 for x in rtts],
    }


async def pair_bench(plan: Plan, peer_addr: str, peer_pid: int, report: Report) -> None:
    async with open_node(bench_node_config()) as node:
        with trio.fail_after(30):
            peer = await node.connect(multiaddr.Multiaddr(peer_addr))
        await warm_up(node, peer)
        await throughput(plan, node, peer, peer_pid, report)
        await latency(plan, node, peer, report)


# ---- the handoff machines alone --------------------------------------------------------


def core_cost(size: int) -> tuple[float, float]:
    """Seconds the sans-IO handoff machines spend on one shard, with no network at all.

    Returns (sender, receiver): the sender turning the shard into framed Data
    messages once Accept arrives (all of them, before the first is written),
    and the receiver decoding them fed in ``READ_SIZE`` pieces as the stream
    driver feeds them, hashing, storing in a memory store and signing the receipt.
    """
    w, seed = new_wanderer(size)
    receiver = Signer(os.urandom(32))
    now = time.time()
    carrier = Carrier(receiver, random.Random(0), now)
    offer = launch_offer(w.manifest, 0, owner_seed=seed, to_peer=receiver.public_key, now=now)
    sender = SenderSession(offer, w.shards[0])
    session = ReceiverSession(receiver, carrier, now, remote_peer=Signer(os.urandom(32)).public_key)
    answer = b"".join(
        e.data
        for s in sender.start(now)
        if isinstance(s, Send)
        for e in session.receive_data(s.data, now)
        if isinstance(e, Send)
    )
    t0 = time.perf_counter()
    frames = [e.data for e in sender.receive_data(answer, now) if isinstance(e, Send)]
    send_s = time.perf_counter() - t0
    wire = b"".join(frames)
    pieces = [wire[off : off + READ_SIZE] for off in range(0, len(wire), READ_SIZE)]
    del frames, wire
    store = MemoryStore()
    receipts = 0
    t0 = time.perf_counter()
    for piece in pieces:
        for eff in session.receive_data(piece, now):
            if isinstance(eff, StoreShard):
                store.put(eff.key, eff.shard, ShardMeta.from_store(eff))
                for persist in session.store_done(True, now):
                    assert isinstance(persist, PersistReceipt)
                    store.commit(persist.key, persist.receipt.to_bytes())
                    answer_effects = session.receipt_persisted(True, now)
                    receipts += sum(isinstance(x, Send) for x in answer_effects)
    recv_s = time.perf_counter() - t0
    if receipts != 1:
        raise RuntimeError("the in-memory handoff did not end in a receipt")
    return send_s, recv_s


def note_core_cost(size: int, report: Report) -> None:
    """A note with :func:`core_cost` (best of 3) next to the pair's transfer of ``size``."""
    costs = [core_cost(size) for _ in range(3)]
    send_s, recv_s = min(c[0] for c in costs), min(c[1] for c in costs)
    raw = next((r for r in report.rows if r.extra.get("size") == size), None)
    transfer = ""
    if raw is not None:
        raw_ms = statistics.median(raw.extra["raw_seconds"]) * 1000
        hand_ms = statistics.median(raw.extra["handoff_seconds"]) * 1000
        transfer = f"; the raw stream moved it in {raw_ms:.0f} ms, the handoff in {hand_ms:.0f} ms"
    report.notes.append(
        f"handoff CPU per {fmt_size(size)} shard with no network (sans-IO core, best of 3): "
        f"sender {send_s * 1000:.0f} ms building every Data frame before the first is written, "
        f"receiver {recv_s * 1000:.0f} ms decoding, hashing and storing{transfer}"
    )
    report.machine["core_cost_ms"] = {
        "size": size,
        "sender": send_s * 1000,
        "receiver": recv_s * 1000,
    }


def run_pair(plan: Plan, base: Path, report: Report) -> None:
    say("(a, b) starting the peer process")
    with peer_process(base / "bench_peer.log") as (proc, addrs):
        trio.run(pair_bench, plan, addrs[0], proc.pid, report)
    note_core_cost(max(plan.sizes), report)
