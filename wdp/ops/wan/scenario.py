"""The simulator's scenario files on the testbed: the same faults, on real nodes.

A scenario's faults are replayed against real ``wdp-node`` processes, with time
scaled from the scenario's epoch to the testbed's (``--epoch``, 20 s by
default, so a scenario's "epoch 4" comes 80 s in and a 300 s loss lasts 10 s).
Faults on "a region" hit the last testbed region (the owner's node, node 0, is
in the first); a random seizure picks among the other nodes. Supported: ``loss``
and ``seize`` (random or by region, with warning signs and spread) and
``[churn]`` (every node but the owner's leaves and comes back; a churn run
lasts the scenario's horizon); Sybils and the adaptive attacker are
simulator-only.

Each run puts files through node 0 first, then reports which wanderers were
lost (a get through a surviving node fails), every THREAT hop with the regions
it went from and to (from the survivors' custody records), and each node's
threat timeline.

    python -m wdp.ops.wan.scenario loss-then-seize     # make testbed-scenario NAME=...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wdp.client.api import ApiClient, ClientError
from wdp.core.objects import Reason
from wdp.sim.scenario import Churn, LossFault, ScenarioError, SeizeFault, load_scenario

from .agreement import Outcome, disagreements, simulated
from .geography import three_regions
from .soak import threat_changes, wait_seen
from .testbed import Testbed

TESTBED_EPOCH = 20
DRAIN_WAIT = 30.0  # seconds a leaving node may still drain when it is due back
FILE_SIZE = 64 * 1024
K, N = 2, 5
ENV = {"WDP_PING_INTERVAL": "1", "WDP_PING_TIMEOUT": "2", "WDP_DISCOVERY_INTERVAL": "3",
       "WDP_THREAT_MIN_AGE": "20", "WDP_REPAIR_INTERVAL": "10"}  # fmt: skip


@dataclass
class ScenarioReport:
    name: str
    nodes: int
    wanderers: int
    epoch: float
    seized: list[int] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    threat_hops: list[tuple[str, str]] = field(default_factory=list)  # (from region, to region)
    timelines: dict[int, list[tuple[float, int, str]]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    caught: int = 0  # shards on the seized nodes' disks when they fell
    caught_fled: int = 0  # ... of them, those that had come there by a THREAT hop

    def outcome(self) -> Outcome:
        pairs = Counter(f"{a}->{b}" for a, b in self.threat_hops)
        return Outcome(len(self.lost), self.caught, self.caught_fled, dict(sorted(pairs.items())))

    def lines(self) -> list[str]:
        moves: dict[str, int] = {}
        for a, b in self.threat_hops:
            moves[f"{a}->{b}"] = moves.get(f"{a}->{b}", 0) + 1
        alarms = {i: [lvl for _, lvl, _ in t] for i, t in self.timelines.items() if t}
        return [
            f"{self.name} on the testbed: {self.nodes} nodes, {self.wanderers} wanderers "
            f"({K} of {N}), epoch {self.epoch:g} s",
            *[f"  {e}" for e in self.events],
            f"lost: {len(self.lost)} of {self.wanderers} {self.lost or ''}".rstrip(),
            f"caught by the seizure: {self.caught} shards ({self.caught_fled} had fled there)",
            f"THREAT hops: {len(self.threat_hops)} {moves or ''}".rstrip(),
            f"threat levels reached per node: {alarms}",
        ]


def run_scenario(
    name: str, base: Path, *, per_region: int = 3, wanderers: int = 6,
    epoch: float = TESTBED_EPOCH, seed: int = 1, prefix: str = "wdpsc",
) -> ScenarioReport:  # fmt: skip
    sc = load_scenario(name)
    unsupported = [f.kind for f in sc.faults if not isinstance(f, LossFault | SeizeFault)]
    if unsupported or sc.sybil.fraction or sc.sybil.churners:
        raise ScenarioError(f"{name}: only loss and seize faults and churn run on the testbed")
    scale = epoch / sc.swarm.epoch
    geo = three_regions(per_region)
    rng = random.Random(seed)
    env = {**ENV, "WDP_EPOCH": str(int(epoch)), "WDP_MIN_EPOCH": str(int(epoch))}
    with Testbed(geo, base, prefix=prefix, env=env) as bed:
        n = len(bed.nodes)
        report = ScenarioReport(name, n, wanderers, epoch)
        wait_seen(bed, list(range(n)))
        owner = ApiClient(bed.nodes[0].data_dir / "api.sock")
        tickets = [
            owner.call({"op": "put", "name": f"w{w}", "size": FILE_SIZE, "k": K, "n": N},
                       os.urandom(FILE_SIZE))[0]["ticket"]
            for w in range(wanderers)
        ]  # fmt: skip
        target = geo.names[-1]
        in_target = [i for i in range(n) if bed.region(i) == target]
        schedule: list[tuple[float, str, Callable[[], None]]] = []

        def shape(region: str, loss: float, extra_ms: float) -> Callable[[], None]:
            def act() -> None:
                bed.router_call({"loss": {region: loss}, "extra_ms": {region: extra_ms}})

            return act

        def kill(i: int) -> Callable[[], None]:
            return lambda: bed.nodes[i].proc.kill()

        for f in sc.faults:
            assert isinstance(f, LossFault | SeizeFault)  # checked above
            at = f.at_epoch * epoch
            if isinstance(f, LossFault):
                region = target if f.select == "region" else rng.choice(geo.names[1:])
                schedule.append((at, f"loss {f.loss:g} on {region}",
                                 shape(region, f.loss, f.extra_rtt * 1000)))  # fmt: skip
                end = at + f.duration_seconds * scale
                schedule.append((end, f"loss on {region} ends", shape(region, 0.0, 0.0)))
                continue
            if f.select == "region":
                victims = in_target
            else:
                victims = sorted(rng.sample(range(1, n), max(1, round(f.fraction * n))))
            if f.warning_seconds and f.select == "region":
                warn = at - f.warning_seconds * scale
                schedule.append((warn, f"warning signs on {target}",
                                 shape(target, f.warning_loss, f.warning_rtt * 1000)))  # fmt: skip
            for j, i in enumerate(victims):
                when = at + f.spread_seconds * scale * j / max(1, len(victims))
                schedule.append((when, f"node {i} ({bed.region(i)}) seized", kill(i)))
            report.seized += victims
        end = max((at for at, _, _ in schedule), default=0.0) + 2 * epoch
        if sc.churn.session_hours:
            end = max(end, sc.swarm.horizon_epochs * epoch)
            schedule += churn_schedule(bed, sc.churn, scale, end, seed)
        schedule.sort(key=lambda e: e[0])
        started = time.time()
        for at, what, act in schedule:
            time.sleep(max(0.0, started + at - time.time()))
            act()
            report.events.append(f"{time.time() - started:5.1f} s: {what}")
        time.sleep(max(0.0, started + end - time.time()))
        survivors = [i for i in range(n) if bed.nodes[i].alive]
        for i in report.seized:  # a SIGKILLed node's disk store is still there to read
            caught = [meta.signed_record().value.reason for meta in bed.nodes[i].held().values()]
            report.caught += len(caught)
            report.caught_fled += sum(r == Reason.THREAT for r in caught)
        reader = ApiClient(bed.nodes[survivors[1] if len(survivors) > 1 else 0].data_dir
                           / "api.sock")  # fmt: skip
        for w, ticket in enumerate(tickets):
            try:
                reader.call({"op": "get", "ticket": ticket})
            except ClientError:
                report.lost.append(f"w{w}")
        keys = {}
        for i in survivors:
            keys[ApiClient(bed.nodes[i].data_dir / "api.sock").call({"op": "status"})[0]
                 ["peer_key"]] = i  # fmt: skip
        for i in survivors:
            for meta in bed.nodes[i].held().values():
                rec = meta.signed_record().value
                if rec.reason.name == "THREAT":
                    frm = keys.get(rec.from_peer.hex()[:16])
                    report.threat_hops.append(
                        (bed.region(frm) if frm is not None else "gone", bed.region(i))
                    )
        for i in range(n):
            report.timelines[i] = threat_changes(bed.nodes[i], started, time.time())
        return report


Act = Callable[[], None]


def churn_schedule(
    bed: Testbed, churn: Churn, scale: float, horizon: float, seed: int
) -> list[tuple[float, str, Act]]:
    """Every node but the owner's (node 0) leaves and comes back as ``churn`` says, its
    times scaled: a graceful leave drains first (SIGTERM), a crash (SIGKILL) loses what the
    node held, as the simulator's memory store does (its shard directory is removed before
    it comes back with the same identity)."""
    session = churn.session_hours * 3600 * scale
    down = churn.downtime_hours * 3600 * scale

    def leave(i: int, graceful: bool) -> Act:
        return lambda: bed.nodes[i].send(signal.SIGTERM if graceful else signal.SIGKILL)

    def come_back(i: int, graceful: bool) -> Act:
        def act() -> None:
            node = bed.nodes[i]
            try:
                node.wait(DRAIN_WAIT)
            except subprocess.TimeoutExpired:  # still draining: it is time to be back
                node.proc.kill()
                node.wait(DRAIN_WAIT)
            if not graceful:
                shutil.rmtree(node.data_dir / "shards", ignore_errors=True)
            assert bed.swarm is not None
            bed.swarm.nodes[i] = bed.swarm.spawn(i, bed.nodes[0].addrs[:1])

        return act

    out: list[tuple[float, str, Act]] = []
    for i in range(1, len(bed.nodes)):
        rng = random.Random(f"{seed}/churn/{i}")
        t = rng.expovariate(1 / session)
        while t < horizon:
            graceful = rng.random() < churn.graceful
            what = "leaves (drains)" if graceful else "crashes"
            out.append((t, f"node {i} ({bed.region(i)}) {what}", leave(i, graceful)))
            back = t + rng.expovariate(1 / down)
            if back < horizon:
                out.append((back, f"node {i} ({bed.region(i)}) comes back", come_back(i, graceful)))
            t = back + rng.expovariate(1 / session)
    return out


def simulator_outcomes(name: str, report: ScenarioReport, seeds: int) -> list[Outcome]:
    """The same scenario in ``wdp sim``, laid out and timed as ``report``'s run."""
    per_region = report.nodes // 3
    return [
        simulated(load_scenario(name), three_regions(per_region), wanderers=report.wanderers,
                  k=K, n=N, epoch=report.epoch, payload_bytes=FILE_SIZE,
                  ping_interval=float(ENV["WDP_PING_INTERVAL"]),
                  ping_timeout=float(ENV["WDP_PING_TIMEOUT"]),
                  min_age=float(ENV["WDP_THREAT_MIN_AGE"]),
                  repair_interval=float(ENV["WDP_REPAIR_INTERVAL"]), seed=seed)
        for seed in range(seeds)
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.wan.scenario",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="a scenario of wdp sim (wdp sim list), or its file")
    parser.add_argument("--epoch", type=float, default=TESTBED_EPOCH)
    parser.add_argument("--per-region", type=int, default=3)
    parser.add_argument("--wanderers", type=int, default=6)
    parser.add_argument("--sim-seeds", type=int, default=20,
                        help="simulator runs to compare with (0: none)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = run_scenario(args.name, Path(tempfile.mkdtemp(prefix="wdp-scenario-")),
                              per_region=args.per_region, wanderers=args.wanderers,
                              epoch=args.epoch)  # fmt: skip
        sims = simulator_outcomes(args.name, report, args.sim_seeds)
    except ScenarioError as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    if not sims:
        return 0
    print(f"testbed:   {report.outcome().line()}")
    for seed, o in enumerate(sims):
        print(f"sim {seed:2}:    {o.line()}")
    bad = disagreements(report.outcome(), sims)
    print("agreement with the simulator: " + ("yes" if not bad else "NO: " + "; ".join(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
