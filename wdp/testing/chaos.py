"""Chaos against a Docker Compose WDP cluster: kill carriers, darken others, get it all back.

Run against a cluster started with ``make cluster-up`` (``docker/compose.yaml``)::

    python -m wdp.testing.chaos --project wdp

1. Puts several files of random bytes (different sizes) through the API node
   (the ``bootstrap`` service, over its TCP API published on 127.0.0.1).
2. Takes a census of the carriers: every container's ``wdp status --json``
   lists the shards it holds.
3. Kills (SIGKILL) 30 % of the containers, chosen among the current carriers
   of those shards, never the API node (it holds the owner's tickets). At most
   n - k shards of any one file are killed: more is a loss no code can undo.
4. Waits (bounded) until the swarm settles: two censuses in a row agree (the
   shards that fled the dead nodes have landed) and enough carriers can go
   dark with k shards of every file left reachable.
5. Darkens more nodes: ``docker pause`` (a network going dark: connections
   hang, nothing answers) and ``docker network disconnect`` of one, again
   among the carriers, keeping k shards of every file reachable per the census.
6. Gets every file back through the API node and compares it byte for byte.
7. Unpauses and reconnects, prints a verdict; the exit status is 1 on any loss.

Every wait has a deadline; the whole run is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wdp.client.api import ApiClient, ClientError
from wdp.core.errors import WdpError

API_SERVICE = "bootstrap"
API_PORT = 5080
DOCKER_TIMEOUT = 60.0  # seconds any one docker command may take
GET_TIMEOUT = 120.0  # seconds one get may take
POLL = 2.0
SIZES = (1_000, 48_000, 700_000, 2_500_000, 150_000, 5_000)


class ChaosError(WdpError):
    """The chaos run cannot proceed (no cluster, a docker command failed, a deadline)."""


def docker(*args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True) -> str:
    """Run one docker command; its stdout, or a ChaosError with its stderr."""
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ChaosError(f"docker {' '.join(args)} took more than {timeout:.0f} s") from None
    except FileNotFoundError:
        raise ChaosError("docker is not installed (no 'docker' on PATH)") from None
    if check and done.returncode != 0:
        raise ChaosError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Container:
    id: str
    name: str
    service: str


@dataclass
class Cluster:
    """The containers of one compose project, found by their compose labels."""

    project: str
    containers: list[Container] = field(default_factory=list)

    def discover(self) -> Cluster:
        out = docker(
            "ps", "--filter", f"label=com.docker.compose.project={self.project}",
            "--format", '{{.ID}} {{.Names}} {{.Label "com.docker.compose.service"}}',
        )  # fmt: skip
        self.containers = []
        for line in out.splitlines():
            cid, name, service = line.split()
            self.containers.append(Container(cid, name, service))
        self.containers.sort(key=lambda c: c.name)
        if not any(c.service == API_SERVICE for c in self.containers):
            raise ChaosError(
                f"no running {API_SERVICE!r} container in compose project {self.project!r}: "
                "start the cluster with 'make cluster-up' (or pass --project)"
            )
        return self

    @property
    def api_container(self) -> Container:
        return next(c for c in self.containers if c.service == API_SERVICE)

    def api_client(self, timeout: float | None = GET_TIMEOUT) -> ApiClient:
        """The API node's TCP API as published on the host, with the node's token."""
        api = self.api_container
        published = docker("port", api.id, f"{API_PORT}/tcp").split()
        if not published:
            raise ChaosError(f"{api.name} does not publish its API port {API_PORT}")
        address = published[0].replace("0.0.0.0:", "127.0.0.1:")
        token = docker("exec", api.id, "cat", "/data/api.token").strip()
        return ApiClient(tcp=address, token=token, timeout=timeout)

    def wait_for_api(self, timeout: float) -> ApiClient:
        """The API client once the API node answers (it may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                api = self.api_client()
                api.call({"op": "status"})
                return api
            except (ChaosError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise ChaosError(f"the API node does not answer: {exc}") from None
            time.sleep(POLL)

    def status(self, container: Container) -> dict[str, object] | None:
        """``wdp status --json`` inside the container, or None if it does not answer."""
        try:
            out = docker("exec", container.id, "wdp", "status", "--json", timeout=30.0)
            status: dict[str, object] = json.loads(out)
        except (ChaosError, ValueError):
            return None
        return status


def addresses_of(container_id: str) -> set[str]:
    """The container's IPv4 addresses on its networks."""
    out = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container_id,
        check=False,
    )  # fmt: skip
    return set(out.split())


@dataclass
class StoredFile:
    name: str
    data: bytes
    ticket: str
    wid_prefix: str  # first 12 hex digits of the wanderer id, as `wdp status` shows shards


@dataclass
class ChaosReport:
    files: int = 0
    intact: int = 0
    killed: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)
    settled_in: float | None = None  # seconds from the kill until the census was stable
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.files > 0 and self.intact == self.files and not self.failures


Census = dict[str, set[tuple[str, int]]]  # container name -> {(wanderer prefix, shard index)}


def census(cluster: Cluster, files: list[StoredFile], among: Iterable[Container]) -> Census:
    """Which container holds which shard of ``files``, read from each node's status."""
    wanted = {f.wid_prefix for f in files}
    out: Census = {}
    for c in among:
        status = cluster.status(c)
        held = status.get("held", []) if status else []
        shards: set[tuple[str, int]] = set()
        for h in held if isinstance(held, list) else []:
            prefix, _, index = str(h.get("shard", "")).partition("/")
            if prefix in wanted and index.isdigit():
                shards.add((prefix, int(index)))
        out[c.name] = shards
    return out


def reachable(files: list[StoredFile], counts: Census, down: set[str]) -> dict[str, int]:
    """Distinct shards of each file held by containers not in ``down``."""
    per: dict[str, set[int]] = {f.wid_prefix: set() for f in files}
    for name, shards in counts.items():
        if name not in down:
            for prefix, index in shards:
                per[prefix].add(index)
    return {prefix: len(indexes) for prefix, indexes in per.items()}


def pick(
    rng: random.Random,
    candidates: list[Container],
    count: int,
    keeps: Callable[[set[str]], bool],
    down: set[str],
) -> list[Container]:
    """Up to ``count`` candidates not ``down``, in random order, as long as ``keeps`` holds."""
    order = list(candidates)
    rng.shuffle(order)
    chosen: list[Container] = []
    for c in order:
        if len(chosen) == count:
            break
        if c.name not in down and keeps(down | {c.name} | {x.name for x in chosen}):
            chosen.append(c)
    return chosen


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_chaos(
    project: str,
    *,
    files: int = 4,
    k: int = 2,
    n: int = 6,
    epoch: int = 60,
    kill_fraction: float = 0.3,
    pause: int = 1,
    seed: int | None = None,
    timeout: float = 420.0,
) -> ChaosReport:
    """One chaos run against ``project``; see the module docstring for the steps."""
    deadline = time.monotonic() + timeout
    rng = random.Random(seed)
    report = ChaosReport()
    cluster = Cluster(project).discover()
    api = cluster.wait_for_api(min(120.0, timeout / 3))
    api_node = cluster.api_container
    total = len(cluster.containers)
    kill_count = max(1, round(kill_fraction * total))
    if total - 1 < n or total - 1 - kill_count - pause - 1 < 1:
        raise ChaosError(
            f"{total} containers are too few to put {n} shards per file (one per node "
            f"besides the API node), kill {kill_count} and darken {pause + 1}: "
            "scale up (NODES=...) or lower --n / --pause"
        )
    log(f"cluster {project}: {total} containers, API node {api_node.name}")

    def left() -> float:
        return deadline - time.monotonic()

    # Enough healthy peers for one shard per peer.
    while True:
        status, _ = api.call({"op": "status"})
        healthy = sum(1 for p in status["peers"] if p["healthy"])
        if healthy >= total - 1:
            break
        if left() < timeout / 2:
            raise ChaosError(f"the API node sees {healthy} healthy peers of {total - 1}")
        time.sleep(POLL)

    stored: list[StoredFile] = []
    for i in range(files):
        size = SIZES[i % len(SIZES)] + rng.randrange(1000)
        data = rng.randbytes(size)
        answer, _ = api.call(
            {"op": "put", "name": f"chaos-{i}.bin", "size": size, "k": k, "n": n,
             "epoch": epoch},
            data,
        )  # fmt: skip
        stored.append(StoredFile(f"chaos-{i}.bin", data, answer["ticket"], ""))
    listed, _ = api.call({"op": "ls", "tickets": True})
    by_ticket = {w["ticket"]: w["id"] for w in listed["wanderers"]}
    for f in stored:
        f.wid_prefix = by_ticket[f.ticket][:12]
    report.files = len(stored)
    log(f"put {len(stored)} files ({', '.join(str(len(f.data)) for f in stored)} bytes), "
        f"k={k} n={n} epoch={epoch}s")  # fmt: skip

    others = [c for c in cluster.containers if c is not api_node]
    counts = census(cluster, stored, cluster.containers)
    log("carriers: " + ", ".join(f"{name}={len(s)}" for name, s in counts.items() if s))
    carriers = [c for c in others if counts.get(c.name)]

    # Kill: at most n - k shards of any file, so the data stays recoverable.
    def within_budget(down: set[str]) -> bool:
        return all(r >= k for r in reachable(stored, counts, down).values())

    victims = pick(rng, carriers, kill_count, within_budget, set())
    if len(victims) < kill_count:
        log(f"only {len(victims)} carriers can be killed without losing more than n-k shards")
    for c in victims:
        docker("kill", c.id)
        report.killed.append(c.name)
    log(f"killed {', '.join(report.killed)}")
    dead = set(report.killed)
    alive = [c for c in cluster.containers if c.name not in dead]

    # Settle: wait until two censuses in a row agree (the shards that fled the
    # dead have landed) and enough carriers can go dark with k shards left per file.
    started = time.monotonic()
    settle_deadline = min(deadline - 150.0, started + max(2 * epoch, 120.0))
    previous: Census | None = None
    while True:
        counts = census(cluster, stored, alive)
        live_carriers = [c for c in alive if c is not api_node and counts.get(c.name)]
        dark = pick(rng, live_carriers, pause + 1, within_budget, dead)
        if counts == previous and len(dark) == pause + 1:
            report.settled_in = time.monotonic() - started
            break
        if time.monotonic() > settle_deadline:
            rest = [c for c in alive if c is not api_node and c not in dark]
            dark += pick(
                rng, rest, pause + 1 - len(dark), within_budget, dead | {d.name for d in dark}
            )
            log("the swarm did not settle in time; darkening what keeps k shards per file")
            break
        previous = counts
    log(f"census {time.monotonic() - started:.0f} s after the kill: shards per file on live nodes "
        f"{sorted(reachable(stored, counts, set()).values())}")  # fmt: skip

    # Darken: pause some carriers and disconnect one, keeping k shards per file reachable.
    to_pause, to_disconnect = dark[:pause], dark[pause:]
    networks: dict[str, list[str]] = {}
    addresses: dict[str, set[str]] = {}
    try:
        for c in to_pause:
            docker("pause", c.id)
            report.paused.append(c.name)
        for c in to_disconnect:
            nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", c.id))
            networks[c.id] = sorted(nets)
            addresses[c.id] = addresses_of(c.id)
            for net in networks[c.id]:
                docker("network", "disconnect", net, c.id)
            report.disconnected.append(c.name)
        log(f"paused {', '.join(report.paused) or 'none'}; "
            f"disconnected {', '.join(report.disconnected) or 'none'}")  # fmt: skip

        # Get everything back through the API node.
        for f in stored:
            budget = max(5.0, min(GET_TIMEOUT, left()))
            api.timeout = budget
            began = time.monotonic()
            try:
                _, data = api.call({"op": "get", "ticket": f.ticket})
            except ClientError as exc:
                report.failures.append(f"{f.name}: {exc}")
                log(f"LOST {f.name}: {exc}")
                continue
            took = time.monotonic() - began
            if data == f.data:
                report.intact += 1
                log(f"got {f.name} back byte-identical ({len(data)} bytes, {took:.1f} s)")
            else:
                report.failures.append(f"{f.name}: {len(data)} bytes differ from the original")
                log(f"CORRUPT {f.name}: the bytes differ")
    finally:
        for c in to_pause:
            docker("unpause", c.id, check=False)
        for cid, nets in networks.items():
            for net in nets:
                docker("network", "connect", net, cid, check=False)
            if addresses_of(cid) != addresses[cid]:
                # The node listens on the address it had; a new one needs a restart
                # (its identity is on its volume, so it comes back as itself).
                docker("restart", "--time", "5", cid, check=False)
                log(f"restarted {cid[:12]}: its address changed when it was reconnected")
        if to_pause or networks:
            log("unpaused and reconnected")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.testing.chaos",
        description="Kill, pause and disconnect carriers of a compose WDP cluster; "
        "get every file back byte for byte.",
    )
    parser.add_argument("--project", default=os.environ.get("WDP_PROJECT", "wdp"),
                        help="compose project name of the cluster (default: wdp)")  # fmt: skip
    parser.add_argument("--files", type=int, default=4, help="files to put (default 4)")
    parser.add_argument("--k", type=int, default=2, help="shards needed per file (default 2)")
    parser.add_argument("--n", type=int, default=6, help="shards made per file (default 6)")
    parser.add_argument("--epoch", type=int, default=60, help="seconds per hop (default 60)")
    parser.add_argument("--pause", type=int, default=1, help="containers to pause (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random choices")
    parser.add_argument("--timeout", type=float, default=420.0,
                        help="seconds the whole run may take (default 420)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.k <= args.n or args.files < 1 or args.pause < 0:
        parser.error("need 1 <= k <= n, --files >= 1 and --pause >= 0")
    started = time.monotonic()
    try:
        report = run_chaos(
            args.project, files=args.files, k=args.k, n=args.n, epoch=args.epoch,
            pause=args.pause, seed=args.seed, timeout=args.timeout,
        )  # fmt: skip
    except (ChaosError, ClientError) as exc:
        print(f"chaos: error: {exc}", file=sys.stderr)
        return 2
    took = math.ceil(time.monotonic() - started)
    if report.ok:
        print(f"CHAOS PASSED: {report.intact}/{report.files} files byte-identical after killing "
              f"{len(report.killed)}, pausing {len(report.paused)} and disconnecting "
              f"{len(report.disconnected)} container(s) ({took} s)")  # fmt: skip
        return 0
    print(f"CHAOS FAILED: {report.intact}/{report.files} files back intact ({took} s)")
    for failure in report.failures:
        print(f"  {failure}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
