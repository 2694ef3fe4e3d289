"""Part (g) of the bench: what the dashboard costs a node.

Six nodes; nodes 1 and 2 serve the dashboard, 3 and 4 do not (node 0 is the
bootstrap, whose DHT work differs, and 5 only makes up the swarm). A small file
is put so that shards are held and hop. For ``plan.dashboard_seconds`` nobody
watches: the CPU of nodes 1-2 against 3-4 in the same window. Then one viewer
streams node 1's dashboard for as long: node 1 against node 2 in that window,
and the bytes the viewer received.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from pathlib import Path

from wdp.ops.bench.plan import OP_TIMEOUT, Plan
from wdp.ops.bench.report import Report, Row, proc_cpu, say
from wdp.ops.bench.swarm import PEERS_TIMEOUT, api, call_with_deadline, healthy_peers, wait_until
from wdp.ops.localswarm import LocalSwarm, NodeProcess, wdp_node_command

NODES = 6
WITH, WITHOUT = (1, 2), (3, 4)
ENV = {"WDP_EPOCH": "60", "WDP_MIN_EPOCH": "60", "WDP_PING_INTERVAL": "5"}


def _ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline > 0 else None


def cpu_share(procs: list[NodeProcess], seconds: float) -> list[float]:
    """Each process's CPU over the next ``seconds``, in % of one core."""
    before = [proc_cpu(p.pid) for p in procs]
    started = time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - started
    return [100 * (proc_cpu(p.pid) - b) / took for p, b in zip(procs, before, strict=True)]


class Viewer(threading.Thread):
    """Reads a node's event stream, as the page does, until :meth:`close`.

    The read blocks with no timeout: a socket that timed out once cannot be
    read again, and a quiet node may send nothing for a while. ``close``
    shuts the socket down, which ends the read.
    """

    def __init__(self, link: str) -> None:
        super().__init__(daemon=True)
        url, _, self.token = link.partition("#token=")
        self.host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.port = int(port)
        self.received = 0
        self.error: str | None = None
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=OP_TIMEOUT)
        self.sock: socket.socket | None = None
        self.closing = False

    def run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # reported by the caller: the row would measure nobody
            if not self.closing:
                self.error = f"the viewer failed: {exc!r}"

    def _watch(self) -> None:
        self.conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {self.token}"})
        self.sock = self.conn.sock  # the response takes it over (no length: read to the end)
        answer = self.conn.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"the dashboard answered {answer.status}")
        if self.sock is not None:
            self.sock.settimeout(None)
        while True:
            chunk = answer.read1(65536)
            if not chunk:
                if not self.closing:
                    self.error = "the dashboard ended the event stream"
                return
            self.received += len(chunk)

    def close(self) -> None:
        self.closing = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.join(10)
        self.conn.close()


def run_dashboard(plan: Plan, base: Path, report: Report) -> None:
    seconds = plan.dashboard_seconds
    say(f"(g) starting {NODES} wdp-node processes, the dashboard on nodes 1 and 2")
    on = [*wdp_node_command(), "--dashboard", "127.0.0.1:0"]
    with LocalSwarm(NODES, base / "dashboard", env=ENV, commands=dict.fromkeys(WITH, on)) as swarm:
        wait_until(f"node 1 to see {NODES - 1} healthy peers",
                   lambda: healthy_peers(swarm.nodes[1]) >= NODES - 1, PEERS_TIMEOUT)  # fmt: skip
        request = {"op": "put", "name": "watched", "size": 1 << 20, "k": 2, "n": 4}
        call_with_deadline(lambda: api(swarm.nodes[0]).call(request, os.urandom(1 << 20)),
                           OP_TIMEOUT, "put")  # fmt: skip
        nodes = [swarm.nodes[i] for i in (*WITH, *WITHOUT)]
        say(f"(g) {seconds:.0f} s with nobody watching")
        idle = cpu_share(nodes, seconds)
        on_idle, off_idle = sum(idle[:2]) / 2, sum(idle[2:]) / 2
        link, _ = api(swarm.nodes[1]).call({"op": "dashboard"})
        viewer = Viewer(link["link"])
        viewer.start()
        say(f"(g) {seconds:.0f} s with one viewer on node 1")
        watched = cpu_share(nodes, seconds)
        viewer.close()
        if viewer.error is not None:  # it stopped watching: the row would measure nobody
            raise RuntimeError(viewer.error)
        rate = viewer.received / seconds
    say(f"(g) idle: on {on_idle:.2f} %, off {off_idle:.2f} %; viewer: {watched[0]:.2f} % "
        f"vs {watched[1]:.2f} %, {rate:.0f} B/s")  # fmt: skip
    report.rows.append(Row(
        key="dashboard_idle",
        what=f"CPU of an idle node serving the dashboard, nobody watching ({seconds:.0f} s, "
        "mean of 2 nodes)",
        value=on_idle, unit="% of a core", shown=f"{on_idle:.2f} %",
        baseline_what=f"2 nodes without it, same window: {off_idle:.2f} %",
        baseline=off_idle, ratio=_ratio(on_idle, off_idle),
        ratio_shown=f"{on_idle - off_idle:+.2f} points",
        extra={"cpu_percent": idle},
    ))  # fmt: skip
    report.rows.append(Row(
        key="dashboard_viewer",
        what=f"CPU of a node with one dashboard viewer ({seconds:.0f} s; the viewer got "
        f"{rate / 1000:.1f} kB/s)",
        value=watched[0], unit="% of a core", shown=f"{watched[0]:.2f} %",
        baseline_what=f"a node serving it to nobody, same window: {watched[1]:.2f} %",
        baseline=watched[1], ratio=_ratio(watched[0], watched[1]),
        ratio_shown=f"{watched[0] - watched[1]:+.2f} points",
        extra={"cpu_percent": watched, "bytes_per_second": rate},
    ))  # fmt: skip
