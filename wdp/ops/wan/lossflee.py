"""Loss on one region, then who flees where: the testbed run behind "flee to healthy peers".

Three files are put through a node outside the lossy region, then a share of
the packets from and to that region is dropped for ``window`` seconds. The
report counts, from the custody records on every node's disk, the THREAT hops
out of the region and the region each went to, any THREAT hop into it, how
long the first took, and how many shards were still in the region at the end.

``--node-src DIR`` runs the nodes from another checkout's source (its
``wdp`` package on ``PYTHONPATH``) with this checkout's testbed, so the same
run can be made with the node as it was before a change (the defences of
issue 13: ``git worktree add /tmp/before b74fa1d^``). Only what every version's
``status`` reports is used (the peers' key prefixes, their health).

    python -m wdp.ops.wan.lossflee [--node-src DIR] [--window S] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wdp.client.api import ApiClient

from .geography import Geography, three_regions
from .testbed import Testbed

ENV = {"WDP_PING_INTERVAL": "1", "WDP_PING_TIMEOUT": "2", "WDP_DISCOVERY_INTERVAL": "2",
       "WDP_THREAT_MIN_AGE": "10", "WDP_EPOCH": "900"}  # fmt: skip
SEEN_TIMEOUT = 90.0
FILES, FILE_SIZE, K, N = 3, 100_000, 2, 5


@dataclass
class FleeReport:
    node_src: str
    lossy: str
    loss: float
    window: float
    shards: int = 0
    in_lossy_at_loss: int = 0
    from_lossy: dict[str, int] = field(default_factory=dict)  # region -> THREAT hops out
    into_lossy: int = 0  # THREAT hops from elsewhere into the lossy region
    first_flight_after: float | None = None
    in_lossy_at_end: int = 0

    def lines(self) -> list[str]:
        out = sum(self.from_lossy.values())
        where = ", ".join(f"{r} {c}" for r, c in self.from_lossy.items())
        first = "none" if self.first_flight_after is None else f"{self.first_flight_after:.0f} s"
        return [
            f"nodes from {self.node_src}: {self.loss:.0%} loss on {self.lossy} for "
            f"{self.window:g} s; {self.in_lossy_at_loss} of {self.shards} shards there",
            f"THREAT hops out of {self.lossy}: {out} ({where}); into it: {self.into_lossy}; "
            f"first after {first}; {self.in_lossy_at_end} shards still there at the end",
        ]


def status(bed: Testbed, i: int) -> dict[str, Any]:
    answer, _ = ApiClient(bed.nodes[i].data_dir / "api.sock").call({"op": "status"})
    return answer


def wait_seen(bed: Testbed, timeout: float = SEEN_TIMEOUT) -> list[dict[str, Any]]:
    """Every node's status once each counts every other one healthy."""
    n = len(bed.nodes)
    deadline = time.monotonic() + timeout
    while True:
        statuses = [status(bed, i) for i in range(n)]
        if all(sum(p["healthy"] for p in s["peers"]) == n - 1 for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            raise TimeoutError("the testbed's nodes did not all see each other")
        time.sleep(0.5)


def node_keys(statuses: list[dict[str, Any]]) -> dict[str, int]:
    """Node index by key prefix (as ``status`` names peers): each node's is the one it lacks."""
    every = {p["peer"] for s in statuses for p in s["peers"]}
    keys = {}
    for i, s in enumerate(statuses):
        (own,) = every - {p["peer"] for p in s["peers"]}
        keys[own] = i
    return keys


def threat_hops(bed: Testbed, keys: dict[str, int]) -> list[tuple[int, int, str]]:
    """(from node, to node, shard) of every THREAT hop in the custody records held now."""
    hops = []
    for node in bed.nodes:
        for key, meta in node.held().items():
            rec = meta.signed_record().value
            if rec.reason.name == "THREAT":
                hops.append(
                    (keys[rec.from_peer.hex()[:16]], keys[rec.to_peer.hex()[:16]], str(key))
                )
    return hops


def loss_flee(
    geo: Geography, base: Path, *, lossy: str = "eu", loss: float = 0.3, window: float = 120.0,
    node_src: Path | None = None, prefix: str = "wdplf",
) -> FleeReport:  # fmt: skip
    env = dict(ENV) if node_src is None else {**ENV, "PYTHONPATH": str(node_src)}
    report = FleeReport(str(node_src or "this checkout"), lossy, loss, window)
    with Testbed(geo, base, prefix=prefix, env=env) as bed:
        n = len(bed.nodes)
        keys = node_keys(wait_seen(bed))
        inside = {i for i in range(n) if bed.region(i) == lossy}
        owner = ApiClient(bed.nodes[next(i for i in range(n) if i not in inside)].data_dir
                          / "api.sock")  # fmt: skip
        for f in range(FILES):
            owner.call({"op": "put", "name": f"f{f}", "size": FILE_SIZE, "k": K, "n": N},
                       os.urandom(FILE_SIZE))  # fmt: skip
        held = [len(node.held()) for node in bed.nodes]
        report.shards, report.in_lossy_at_loss = sum(held), sum(held[i] for i in inside)
        bed.set_loss(lossy, loss)
        started = time.monotonic()
        first: dict[tuple[int, int, str], float] = {}
        while time.monotonic() < started + window:
            for hop in threat_hops(bed, keys):
                first.setdefault(hop, time.monotonic() - started)
            time.sleep(1)
        out = [(hop, t) for hop, t in first.items() if hop[0] in inside]
        report.from_lossy = {r: sum(bed.region(h[1]) == r for h, _ in out) for r, _ in geo.regions}
        report.into_lossy = sum(h[0] not in inside and h[1] in inside for h in first)
        report.first_flight_after = min((t for _, t in out), default=None)
        report.in_lossy_at_end = sum(len(bed.nodes[i].held()) for i in inside)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.wan.lossflee",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--node-src", type=Path, help="run the nodes from this source tree")
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if args.node_src is not None and not (args.node_src / "wdp" / "node").is_dir():
        parser.error(f"{args.node_src} holds no wdp/node package: give a checkout's top folder")
    base = Path(tempfile.mkdtemp(prefix="wdp-lossflee-"))
    report = loss_flee(three_regions(3), base, window=args.window, node_src=args.node_src)
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 0 if report.from_lossy.get(report.lossy, 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
