"""Run the WAN testbed: the network (:mod:`.netns`), the router, and one
``wdp-node`` per testbed node inside its namespace (:class:`LocalSwarm` with
``ip netns exec``), the first node of the first region the bootstrap.

    python -m wdp.ops.wan run [--per-region N] [--minutes M]   # make testbed
    python -m wdp.ops.wan down                                  # make testbed-down

``run`` prints each node's region, address and API socket, then waits (at most
``--minutes``; Ctrl-C ends it sooner) and tears everything down. ``down``
removes what a crashed run left (its namespaces and the processes in them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wdp.ops.localswarm import LocalSwarm, NodeProcess

from . import netns
from .geography import Geography, GeographyError, node_address, three_regions, to_json
from .router import TUN_NAME

DEFAULT_PREFIX = "wdptb"
READY_TIMEOUT = 30.0
NODE_PORT = 4001


class Testbed:
    """A running testbed; a context manager that always tears down what it built."""

    __test__ = False  # not a pytest class

    def __init__(
        self, geo: Geography, base_dir: Path, *, prefix: str = DEFAULT_PREFIX,
        env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.geo = geo
        self.base_dir = Path(base_dir)
        self.prefix = prefix
        self.env = env or {}
        self.places = geo.nodes()  # node index -> (region, index in region)
        self.control = self.base_dir / "router.sock"
        self.router: subprocess.Popen[bytes] | None = None
        self.swarm: LocalSwarm | None = None

    def __enter__(self) -> Testbed:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def nodes(self) -> list[NodeProcess]:
        assert self.swarm is not None
        return self.swarm.nodes

    def region(self, node: int) -> str:
        return self.geo.regions[self.places[node][0]][0]

    def expected_rtt_ms(self, a: int, b: int) -> float:
        return self.geo.rtt_ms[self.places[a][0]][self.places[b][0]]

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        netns.build(self.geo, self.prefix)
        spec = self.base_dir / "geography.json"
        spec.write_text(json.dumps(to_json(self.geo)))
        with open(self.base_dir / "router.log", "ab") as log:
            self.router = subprocess.Popen(
                [*netns.exec_prefix(netns.router_ns(self.prefix)), sys.executable, "-m",
                 "wdp.ops.wan.router", str(spec), str(self.control)],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        _await_line(self.router, "ready", READY_TIMEOUT, self.base_dir / "router.log")
        netns.route_through_tun(self.prefix, TUN_NAME)
        wrap = {
            i: netns.exec_prefix(netns.node_ns(self.prefix, r, j))
            for i, (r, j) in enumerate(self.places)
        }
        listen = {
            i: f"/ip4/{node_address(r, j)}/tcp/{NODE_PORT}" for i, (r, j) in enumerate(self.places)
        }
        self.swarm = LocalSwarm(len(self.places), self.base_dir / "nodes", env=self.env,
                                wrap=wrap, listen=listen)  # fmt: skip
        self.swarm.start()

    def set_loss(self, region: str, p: float) -> dict[str, Any]:
        """Drop a share ``p`` of the packets from or to ``region`` from now on."""
        return self.router_call({"loss": {region: p}})

    def router_call(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.control))
            s.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(s.makefile("rb").readline())
        if not answer.get("ok"):
            raise GeographyError(answer.get("error", "the router refused"))
        return dict(answer)

    def stop(self) -> None:
        if self.swarm is not None:
            self.swarm.stop()
        if self.router is not None:
            self.router.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.router.wait(10)
            if self.router.stdout is not None:
                self.router.stdout.close()
        netns.remove(self.prefix)


def _await_line(proc: subprocess.Popen[bytes], word: str, timeout: float, log: Path) -> None:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise netns.NetnsError(f"the router did not start in {timeout:.0f} s: "
                                   f"{log.read_text()[-1000:]}")  # fmt: skip
    line = proc.stdout.readline().decode().strip()
    if line != word:
        raise netns.NetnsError(f"the router said {line!r}: {log.read_text()[-1000:]}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wdp.ops.wan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start the testbed, wait, tear it down")
    run.add_argument("--per-region", type=int, default=2, help="nodes per region (default 2)")
    run.add_argument("--minutes", type=float, default=30.0, help="at most this long (default 30)")
    run.add_argument("--dir", type=Path, help="data and logs (default: a new temporary folder)")
    sub.add_parser("down", help="remove what a crashed run left")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "down":
            gone = netns.remove(DEFAULT_PREFIX)
            print(f"removed {len(gone)} namespace(s)")
            return 0
        base = args.dir or Path(tempfile.mkdtemp(prefix="wdp-testbed-"))
        geo = three_regions(args.per_region)
        with Testbed(geo, base) as bed:
            for i, proc in enumerate(bed.nodes):
                region, j = bed.places[i]
                print(f"node {i}: {bed.region(i)} {node_address(region, j)} "
                      f"api {proc.data_dir / 'api.sock'} peer {proc.peer_id}")  # fmt: skip
            print(f"router control: {bed.control}; logs in {base}", flush=True)
            print(f"running for at most {args.minutes:g} min; Ctrl-C stops it", flush=True)
            signal.signal(signal.SIGTERM, _interrupt)
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.minutes * 60)
        return 0
    except (netns.NetnsError, GeographyError) as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
