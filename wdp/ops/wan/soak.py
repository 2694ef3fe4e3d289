"""A bounded soak on the WAN testbed: false alarms under ordinary load, then a raid.

For ``minutes`` the swarm does ordinary things: a put of a small file through a
random node every ``load_every`` seconds and a get of an earlier one through
another; a third of the way in one node restarts (SIGTERM: it drains, then
comes back with the same identity); half way one node leaves for good
(SIGTERM). Every threat level change any node logged in that time is a false
alarm: the report gives them per node-hour, and the highest level reached.
Then the last region is seized (its nodes SIGKILLed at once), and the report
says how long the first surviving node took to go CRITICAL.

    python -m wdp.ops.wan.soak [--minutes M]     # make soak
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from wdp.client.api import ApiClient, ClientError
from wdp.ops.localswarm import NodeProcess

from .geography import Geography, three_regions
from .testbed import Testbed

THREAT_LINE = re.compile(r"^(\S+ \S+) WARNING +wdp\.node[.\w]*: threat level (\d): (.*)$")
FILE_SIZE = 256 * 1024
K, N = 3, 5  # fits the nodes left after one leaves
SEEN_TIMEOUT = 120.0
SEIZURE_TIMEOUT = 90.0
SOAK_ENV = {"WDP_PING_INTERVAL": "2", "WDP_DISCOVERY_INTERVAL": "5", "WDP_EPOCH": "120",
            "WDP_MIN_EPOCH": "60", "WDP_REPAIR_INTERVAL": "60"}  # fmt: skip


@dataclass
class SoakReport:
    nodes: int
    minutes: float
    puts: int = 0
    gets: int = 0
    failed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    transitions: dict[int, list[tuple[float, int, str]]] = field(default_factory=dict)
    highest_level: int = 0
    per_node_hour: float = 0.0
    seizure_detected_after: float | None = None
    seizure_reasons: str = ""

    def lines(self) -> list[str]:
        return [
            f"soak: {self.nodes} nodes, {self.minutes:g} min of ordinary load "
            f"({self.puts} puts, {self.gets} gets, 1 restart, 1 graceful leave; "
            f"{len(self.failed)} failed, {len(self.lost)} files unreadable at the end)",
            f"threat changes under ordinary load: {sum(map(len, self.transitions.values()))} "
            f"({self.per_node_hour:.2f} per node-hour); highest level {self.highest_level}",
            "seizure of a region: "
            + (f"CRITICAL after {self.seizure_detected_after:.1f} s ({self.seizure_reasons})"
               if self.seizure_detected_after is not None else "NOT detected"),
        ]  # fmt: skip


def threat_changes(node: NodeProcess, since: float, until: float) -> list[tuple[float, int, str]]:
    """The threat level changes ``node`` logged between two wall-clock times."""
    out = []
    for line in node.log().splitlines():
        m = THREAT_LINE.match(line)
        if m:
            at = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if since <= at <= until:
                out.append((at, int(m[2]), m[3]))
    return out


def _api(node: NodeProcess) -> ApiClient:
    return ApiClient(node.data_dir / "api.sock")


def _read(node: NodeProcess, ticket: str, report: SoakReport | None, what: str) -> bool:
    """Get ``ticket`` through ``node``; a failure goes in ``report.failed``."""
    try:
        _, data = _api(node).call({"op": "get", "ticket": ticket})
        if len(data) != FILE_SIZE:
            raise ClientError(f"got {len(data)} bytes")
    except (ClientError, OSError) as exc:
        if report is not None:
            report.failed.append(f"{what}{exc}")
        return False
    if report is not None:
        report.gets += 1
    return True


def wait_seen(bed: Testbed, live: list[int]) -> None:
    deadline = time.monotonic() + SEEN_TIMEOUT
    while True:
        counts = [sum(p["healthy"] for p in _api(bed.nodes[i]).call({"op": "status"})[0]["peers"])
                  for i in live]  # fmt: skip
        if min(counts) >= len(live) - 1:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes did not all see each other: {counts}")
        time.sleep(1)


def soak(
    geo: Geography, base: Path, minutes: float, *, env: dict[str, str] | None = None,
    load_every: float = 10.0, seed: int = 0, prefix: str = "wdpsoak",
) -> SoakReport:  # fmt: skip
    rng = random.Random(seed)
    with Testbed(geo, base, prefix=prefix, env={**SOAK_ENV, **(env or {})}) as bed:
        n = len(bed.nodes)
        live = list(range(n))
        wait_seen(bed, live)
        report = SoakReport(nodes=n, minutes=minutes)
        restart, leave = 1, n // 2  # neither the bootstrap (0) nor a node of the seized region
        tickets: list[tuple[str, str]] = []  # (name, ticket)
        failed: dict[str, str] = {}  # name -> ticket, of the files a get failed for
        started = time.time()
        end = started + minutes * 60
        restarted = left = False
        while time.time() < end:
            now = time.time()
            if not restarted and now >= started + (end - started) / 3:
                restarted = True
                bed.nodes[restart].send(signal.SIGTERM)
                bed.nodes[restart].wait(60)
                assert bed.swarm is not None
                bed.swarm.nodes[restart] = bed.swarm.spawn(restart, bed.nodes[0].addrs[:1])
            if not left and now >= started + (end - started) / 2:
                left = True
                bed.nodes[leave].send(signal.SIGTERM)
                bed.nodes[leave].wait(60)
                live.remove(leave)
            a, b = rng.sample(live, 2)
            try:
                name = f"soak{report.puts}-node{a}"
                answer, _ = _api(bed.nodes[a]).call(
                    {"op": "put", "name": name, "size": FILE_SIZE, "k": K, "n": N},
                    os.urandom(FILE_SIZE))  # fmt: skip
                tickets.append((name, answer["ticket"]))
                report.puts += 1
                name, ticket = rng.choice(tickets)
                if not _read(bed.nodes[b], ticket, report, f"{time.time() - started:.0f} s: "
                             f"get of {name} through node{b}: "):  # fmt: skip
                    failed[name] = ticket
            except (ClientError, OSError) as exc:
                report.failed.append(f"{time.time() - started:.0f} s: put through node{a}: {exc}")
            time.sleep(max(0.0, now + load_every - time.time()))
        ordinary_end = time.time()
        # A failed get is a lost file only if it cannot be read at all, now, from any node.
        for name, ticket in failed.items():
            if not any(_read(bed.nodes[i], ticket, None, "") for i in live):
                report.lost.append(name)
        for i in range(n):
            report.transitions[i] = threat_changes(bed.nodes[i], started, ordinary_end)
        levels = [lvl for changes in report.transitions.values() for _, lvl, _ in changes]
        report.highest_level = max(levels, default=0)
        report.per_node_hour = len(levels) / (n * (ordinary_end - started) / 3600)
        seized = [i for i in live if bed.places[i][0] == len(geo.regions) - 1]
        survivors = [i for i in live if i not in seized]
        raid = time.time()
        for i in seized:
            bed.nodes[i].proc.kill()
        deadline = raid + SEIZURE_TIMEOUT
        while time.time() < deadline and report.seizure_detected_after is None:
            time.sleep(0.5)
            for i in survivors:
                critical = [c for c in threat_changes(bed.nodes[i], raid, time.time()) if c[1] >= 2]
                if critical:
                    report.seizure_detected_after = critical[0][0] - raid
                    report.seizure_reasons = critical[0][2]
                    break
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.wan.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--per-region", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="wdp-soak-"))
    report = soak(three_regions(args.per_region), base, args.minutes)
    print("\n".join([*report.lines(), *(f"  failed: {f}" for f in report.failed),
                     f"node logs: {base}"]))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    ok = report.seizure_detected_after is not None and report.highest_level < 2
    return 0 if ok and not report.lost else 1


if __name__ == "__main__":
    sys.exit(main())
