"""``make bench``: what WDP costs next to what the same machine does without it.

Every figure is printed next to a baseline measured in the same run:

(a) handoff throughput for 1, 16 and 64 MiB shards from this process's
    in-process :class:`~wdp.node.node.Node` (the owner's hop 0 of a k=1, n=1
    wanderer) to a second process running a node
    (:mod:`wdp.ops.bench.peer`), next to a raw py-libp2p stream of the
    same size between the same two hosts (same Noise and Yamux), written in
    1 MiB writes and acknowledged by the peer; the median of a few runs each;
(b) the latency of a 4 KiB handoff, p50 and p99, next to the libp2p ping
    round trip timed with ``perf_counter`` on the same pair;
(c) put and get of a large file on a 10-node :class:`LocalSwarm` (put through
    node 0's local API, get through node 1's), next to the raw stream figure;
(d) how long a node holding 200 shards of 256 KiB takes to evacuate and exit
    after a panic (SIGUSR1), and how many shards left vs were wiped.

The report goes to stdout as a Markdown table (``--json FILE`` also writes it
as JSON); progress goes to stderr. Everything runs on 127.0.0.1, every wait
is bounded, and every process started here is stopped, also on failure.
``--quick`` runs a reduced version (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import random
import re
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import multiaddr
import trio
from libp2p.peer.id import ID

from wdp.client.api import ApiClient, ClientError
from wdp.core.carrier import Carrier, CarrierParams
from wdp.core.effects import PersistReceipt, Send, StoreShard
from wdp.core.handoff import ReceiverSession, SenderSession
from wdp.core.limits import TAG_SIZE
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, launch_offer
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node
from wdp.node.store import MemoryStore, ShardMeta
from wdp.node.streams import READ_SIZE
from wdp.ops.bench.peer import RAW_ACK, RAW_PROTOCOL, read_exactly
from wdp.ops.localswarm import LocalSwarm, NodeProcess

KiB = 1 << 10
MiB = 1 << 20
MB = 1e6  # throughput is reported in MB/s (10^6 bytes per second)
EPOCH = 3600  # no TTL hop may happen during a measurement
RAW_WRITE = 1 * MiB
READY_TIMEOUT = 30.0
OP_TIMEOUT = 180.0  # one handoff, transfer, put or get
PEERS_TIMEOUT = 90.0  # a swarm's nodes see each other healthy
# The swarms run with the node's default ping (5 s) and timeout; only the epoch is
# raised (no TTL hop during a measurement), and the panic swarm looks for peers
# every 3 s instead of 30 s so node 1 knows every other node before it panics.
PUTGET_ENV = {"WDP_EPOCH": str(EPOCH)}
PANIC_ENV = {"WDP_EPOCH": str(EPOCH), "WDP_DISCOVERY_INTERVAL": "3"}
PUT_K, PUT_N = 3, 8
LAUNCH_CONCURRENCY = 4  # below a carrier's max_inbound (8)

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    sizes: tuple[int, ...] = (1 * MiB, 16 * MiB, 64 * MiB)
    repeats: int = 5
    latency_samples: int = 100
    latency_size: int = 4 * KiB
    swarm_nodes: int = 10
    put_size: int = 256 * MiB
    evac_nodes: int = 6
    evac_shards: int = 200
    evac_shard_size: int = 256 * KiB


QUICK = Plan(sizes=(1 * MiB,), repeats=3, latency_samples=10, put_size=16 * MiB, evac_shards=20)


@dataclass
class Row:
    """One line of the report: a WDP figure, its baseline and their ratio."""

    key: str
    what: str
    value: float
    unit: str
    shown: str
    baseline_what: str = ""
    baseline: float | None = None
    ratio: float | None = None
    ratio_shown: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    machine: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [f"Machine: {machine_line(self.machine)}", ""]
        out += ["| figure | WDP | baseline (same run) | ratio |", "| --- | --- | --- | --- |"]
        for r in self.rows:
            out.append(
                f"| {r.what} | {r.shown} | {r.baseline_what or '-'} | {r.ratio_shown or '-'} |"
            )
        if self.notes or self.failed:
            out.append("")
        out += [f"- {n}" for n in self.notes]
        out += [f"- FAILED: {f}" for f in self.failed]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
            "failed": self.failed,
        }


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- machine ------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine_info() -> dict[str, Any]:
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    try:
        libp2p_version = metadata.version("libp2p")
    except metadata.PackageNotFoundError:  # pragma: no cover
        libp2p_version = "?"
    return {
        "nproc": nproc,
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "libp2p": libp2p_version,
        "loadavg_start": loadavg(),
    }


def machine_line(m: dict[str, Any]) -> str:
    line = f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, py-libp2p {m['libp2p']}"
    line += f"; load average {m['loadavg_start']} at start"
    if "loadavg_end" in m:
        line += f", {m['loadavg_end']} at end"
    return line


# ---- small helpers ------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def mbps(size: int, seconds: float) -> float:
    return size / seconds / MB


def fmt_size(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    return f"{n // KiB} KiB"


def new_wanderer(size: int, payload: bytes | None = None) -> tuple[Wanderer, bytes]:
    """A k=1, n=1 wanderer whose single shard is ``size`` bytes, and its owner seed."""
    seed = os.urandom(32)
    body = payload if payload is not None else os.urandom(size - TAG_SIZE)
    w = create_wanderer(
        body, owner_seed=seed, nonce=os.urandom(12), k=1, n=1, epoch_seconds=EPOCH,
        now=time.time(),
    )  # fmt: skip
    assert w.manifest.value.shard_size == size
    return w, seed


def bench_node_config() -> NodeConfig:
    """The bench process's own node: it only launches (no DHT, no ping loop)."""
    return NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for("127.0.0.1", tcp_port=0, ws_port=None),
        ping_interval=math.inf,
        enable_dht=False,
    )


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


# ---- (a) and (b): one pair of processes ----------------------------------------------


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


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from /proc (0.0 if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


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


async def pair_bench(plan: Plan, peer_addr: str, peer_pid: int, report: Report) -> None:
    async with open_node(bench_node_config()) as node:
        with trio.fail_after(30):
            peer = await node.connect(multiaddr.Multiaddr(peer_addr))
        # Warm up: streams, imports, the peer's first allocations.
        for _ in range(2):
            w, seed = new_wanderer(1 * MiB)
            await handoff(node, peer, w, seed)
            await raw(node, peer, os.urandom(1 * MiB))
            with trio.fail_after(10):
                await node.pinger.rtt(peer)

        for size in plan.sizes:
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
            report.rows.append(
                Row(
                    key=f"handoff_{size // MiB}MiB",
                    what=f"handoff of a {fmt_size(size)} shard, process to process",
                    value=h, unit="MB/s", shown=f"{h:.1f} MB/s",
                    baseline_what=f"raw libp2p stream, {fmt_size(size)}: {r:.1f} MB/s",
                    baseline=r, ratio=h / r, ratio_shown=f"{h / r:.2f}",
                    extra={"size": size, "handoff_seconds": hand_t, "raw_seconds": raw_t,
                           "handoff_ms_wall_sender_receiver": cpu_ms(hand),
                           "raw_ms_wall_sender_receiver": cpu_ms(base)},
                )
            )  # fmt: skip
        if plan.sizes:
            big = report.rows[-1].extra
            hw, hs, hr = big["handoff_ms_wall_sender_receiver"]
            rw, rs, rr = big["raw_ms_wall_sender_receiver"]
            report.notes.append(
                f"CPU per {fmt_size(big['size'])} transfer (mean of {plan.repeats}): raw stream "
                f"{rw:.0f} ms wall, sender {rs:.0f} ms CPU, receiver {rr:.0f} ms CPU; handoff "
                f"{hw:.0f} ms wall, sender {hs:.0f} ms CPU, receiver {hr:.0f} ms CPU"
            )

        # (b) latency: a ping and a 4 KiB handoff, alternately.
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


def run_pair(plan: Plan, base: Path, report: Report) -> None:
    say("(a, b) starting the peer process")
    with peer_process(base / "bench_peer.log") as (proc, addrs):
        trio.run(pair_bench, plan, addrs[0], proc.pid, report)
    size = max(plan.sizes)
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


# ---- (c) put and get on a swarm ----------------------------------------------------------


def raw_reference(report: Report) -> Row | None:
    """The handoff row of the largest shard (its baseline is the raw stream figure)."""
    rows = [r for r in report.rows if r.key.startswith("handoff_")]
    return max(rows, key=lambda r: int(r.extra["size"])) if rows else None


def run_put_get(plan: Plan, base: Path, report: Report) -> None:
    n = plan.swarm_nodes
    say(f"(c) starting {n} wdp-node processes")
    with LocalSwarm(n, base / "putget", store="memory", env=PUTGET_ENV) as swarm:
        wait_until(
            f"node 0 to see {PUT_N} healthy peers",
            lambda: healthy_peers(swarm.nodes[0]) >= PUT_N, PEERS_TIMEOUT,
        )  # fmt: skip
        payload = os.urandom(plan.put_size)
        digest = hashlib.sha256(payload).hexdigest()
        size = fmt_size(plan.put_size)
        say(f"(c) put {size} through node 0 ({PUT_K}-of-{PUT_N})")
        request = {"op": "put", "name": "bench.bin", "size": len(payload), "k": PUT_K,
                   "n": PUT_N, "epoch": EPOCH}  # fmt: skip
        marks: dict[str, float] = {}

        def uploaded(done: int) -> None:
            if done >= len(payload):
                marks["uploaded"] = time.perf_counter()

        def progress(_event: dict[str, Any]) -> None:  # the node is launching shards
            marks.setdefault("launching", time.perf_counter())

        cpu0 = [proc_cpu(p.pid) for p in swarm.nodes]
        t0 = time.perf_counter()
        answer, _ = call_with_deadline(
            lambda: api(swarm.nodes[0]).call(request, payload, on_progress=progress, sent=uploaded),
            OP_TIMEOUT, "put",
        )  # fmt: skip
        put_s = time.perf_counter() - t0
        put_end = t0 + put_s
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
        ref = raw_reference(report)
        for key, secs, via in (("put", put_s, "node 0"), ("get", get_s, "node 1")):
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
        wire = PUT_N * -(-(plan.put_size + TAG_SIZE) // PUT_K)
        if "uploaded" in marks and "launching" in marks:
            up, launch_at = marks["uploaded"] - t0, marks["launching"] - t0
            report.rows[-2].extra.update(upload_s=up, launching_at_s=launch_at)
            report.notes.append(
                f"put: the file reached node 0 after {up:.1f} s, encrypting and coding ended "
                f"about {launch_at:.1f} s in (progress events come every 0.2 s), and the "
                f"{PUT_N} handoffs ({wire / MiB:.0f} MiB on the wire) took the last "
                f"{put_end - marks['launching']:.1f} s "
                f"({mbps(wire, put_end - marks['launching']):.0f} MB/s out of one process)"
            )
        if "first_byte" in marks:
            rebuilt = marks["first_byte"] - t1
            report.rows[-1].extra.update(first_byte_s=rebuilt)
            report.notes.append(
                f"get: node 1 spent {rebuilt:.1f} s finding, fetching and decoding "
                f"{PUT_K} shards before the first byte reached the client, then "
                f"{get_s - rebuilt:.1f} s sending the file over the API socket"
            )
        put_cpu = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
        get_cpu = [b - a for a, b in zip(cpu1, cpu2, strict=True)]
        report.notes.append(
            f"CPU seconds used by the nodes: put {put_s:.1f} s wall, node 0 {put_cpu[0]:.1f} s, "
            f"the other nodes {sum(put_cpu[1:]):.1f} s together; get {get_s:.1f} s wall, "
            f"node 1 {get_cpu[1]:.1f} s, the other nodes "
            f"{sum(get_cpu) - get_cpu[1]:.1f} s together ({report.machine['nproc']} CPUs)"
        )
        levels = [s.get("threat_level", "?") for s in statuses]
        hops = sum(int(s.get("hops_out", 0)) for s in statuses)
        report.notes.append(
            f"put/get swarm after the get: threat levels by node {levels}, "
            f"{hops} carrier-to-carrier hops (0 expected with a {EPOCH} s epoch)"
        )


# ---- (d) panic evacuation ---------------------------------------------------------------

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
                for _attempt in range(3):
                    result = await node.launch_shard(w, 0, peer, owner_seed=seed)
                    if result.ok:
                        return
                    await trio.sleep(0.2)
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


def run_evacuation(plan: Plan, base: Path, report: Report) -> None:
    n = plan.evac_nodes
    say(f"(d) starting {n} wdp-node processes")
    with LocalSwarm(n, base / "panic", store="memory", env=PANIC_ENV) as swarm:
        target, others = swarm.nodes[1], [p for i, p in enumerate(swarm.nodes) if i != 1]
        wait_until(
            f"node 1 to see all {n - 1} other nodes healthy",
            lambda: healthy_peers(target) >= n - 1, PEERS_TIMEOUT,
        )  # fmt: skip
        total = plan.evac_shards
        say(f"(d) launching {total} shards of {fmt_size(plan.evac_shard_size)} to node 1")
        took, failures = trio.run(launch_all, plan, target)
        if failures:
            raise RuntimeError(f"{failures} of {total} launches to node 1 failed")
        wait_until(f"node 1 to hold {total} shards", lambda: held_count(target) == total, 60)
        before = [held_count(p) or 0 for p in others]
        if any(before):
            report.notes.append(f"before the panic other nodes already held {before} shard(s)")
        log_start = len(target.log())
        say(f"(d) node 1 holds {total}; SIGUSR1")
        wall0 = time.time()
        t0 = time.perf_counter()
        target.send(signal.SIGUSR1)
        code = target.wait(timeout=60)
        secs = time.perf_counter() - t0
        say(f"(d) node 1 exited with status {code} after {secs:.2f} s")

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
        left = sum(counts) - sum(before)
        lines = target.log()[log_start:].splitlines()
        wiped_log = sum(1 for ln in lines if " wiped " in ln and "panic" in ln)
        handed = sum(1 for ln in lines if "handed shard" in ln)
        late = max(0, left + wiped_log - total)  # wiped here, yet their handoff then completed
        lost = total - left
        done_at = next((log_time(ln) for ln in lines if "panic done" in ln), None)
        store_empty = None if done_at is None else max(0.0, done_at - wall0)
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


# ---- main ---------------------------------------------------------------------------

SECTIONS: tuple[tuple[str, Callable[[Plan, Path, Report], None]], ...] = (
    ("pair", run_pair),
    ("putget", run_put_get),
    ("panic", run_evacuation),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a reduced run (smoke test)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    parser.add_argument(
        "--only",
        choices=[name for name, _ in SECTIONS],
        action="append",
        help="run only this part (repeatable): pair = (a) and (b), putget = (c), panic = (d)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # py-libp2p logs routine events (a peer closing a connection) at WARNING or ERROR.
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    plan = QUICK if args.quick else Plan()
    report = Report(machine_info())
    report.machine["settings"] = {
        "plan": asdict(plan), "putget_env": PUTGET_ENV, "panic_env": PANIC_ENV,
    }  # fmt: skip
    say(f"machine: {machine_line(report.machine)}")
    base = Path(tempfile.mkdtemp(prefix="wdp-bench-"))
    say(f"logs in {base}")
    started = time.monotonic()
    for name, section in SECTIONS:
        if args.only and name not in args.only:
            continue
        try:
            section(plan, base, report)
        except Exception as exc:
            say(f"{name} failed: {exc!r}")
            report.failed.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
    report.machine["loadavg_end"] = loadavg()
    report.machine["seconds"] = round(time.monotonic() - started, 1)
    report.notes.append(f"whole run: {report.machine['seconds']:.0f} s")
    print(report.markdown(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if not args.keep and not report.failed:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    elif report.failed:
        say(f"logs kept in {base}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
