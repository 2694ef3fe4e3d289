"""A swarm of real ``wdp-node`` processes on 127.0.0.1, for tests and demos.

Each node gets its own data directory (identity, and shards with the disk
store, which tests read to check custody), its own log file, and listens on
an ephemeral port; the first node is the bootstrap of all others. Everything
is bounded: every wait has a deadline and :meth:`LocalSwarm.stop` kills what
does not exit.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from wdp.core.effects import ShardKey
from wdp.node.store import DiskStore, ShardMeta

READY_TIMEOUT = 30.0


def wdp_node_command() -> list[str]:
    exe = shutil.which("wdp-node", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "wdp.node.cli"]


@dataclass
class NodeProcess:
    """One running ``wdp-node``."""

    index: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    peer_id: str = ""
    addrs: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, signum: int) -> None:
        if self.alive:
            os.kill(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def store(self) -> DiskStore:
        """Read-only view of the node's disk store (valid with ``store="disk"``)."""
        return DiskStore(self.data_dir / "shards")

    def held(self) -> dict[ShardKey, ShardMeta]:
        """Shards this node has committed (taken custody of), read from its disk."""
        store = self.store()
        out: dict[ShardKey, ShardMeta] = {}
        for key in store.keys():  # noqa: SIM118 (a Store, not a dict)
            try:
                got = store.get(key)
            except Exception:  # the node may be rewriting or wiping it right now
                continue
            if got is not None and got[1].committed:
                out[key] = got[1]
        return out

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class LocalSwarm:
    """Start ``n`` nodes; use as a context manager so they are always stopped."""

    def __init__(
        self,
        n: int,
        base_dir: Path,
        *,
        store: str = "disk",
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        commands: dict[int, list[str]] | None = None,
        wrap: dict[int, list[str]] | None = None,
        listen: dict[int, str] | None = None,
    ) -> None:
        """``commands``: the program some nodes run instead of ``wdp-node`` (by index);
        it takes ``wdp-node``'s arguments (tests run attacker nodes this way).
        ``wrap``: what a node's command runs under (the WAN testbed's ``ip netns
        exec``); ``listen``: a node's listen address instead of 127.0.0.1."""
        self.n = n
        self.base_dir = Path(base_dir)
        self.store = store
        self.env = {**os.environ, **(env or {})}
        self.extra_args = extra_args or []
        self.commands = commands or {}
        self.wrap = wrap or {}
        self.listen = listen or {}
        self.nodes: list[NodeProcess] = []

    def __enter__(self) -> LocalSwarm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spawn(self, index: int, bootstrap: list[str]) -> NodeProcess:
        data_dir = self.base_dir / f"node{index}"
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.base_dir / f"node{index}.log"
        args = [
            *self.wrap.get(index, []),
            *self.commands.get(index, wdp_node_command()),
            "--listen", self.listen.get(index, "/ip4/127.0.0.1/tcp/0"),
            "--data-dir", str(data_dir),
            "--store", self.store,
            *[a for b in bootstrap for a in ("--bootstrap", b)],
            *self.extra_args,
        ]  # fmt: skip
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=self.env
            )
        node = NodeProcess(index, data_dir, proc, log_path)
        self._await_ready(node)
        return node

    def _await_ready(self, node: NodeProcess) -> None:
        assert node.proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(node.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError(
                        f"node {node.index} not ready in time:\n{node.log()[-2000:]}"
                    )
                chunk = os.read(node.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"node {node.index} exited:\n{node.log()[-2000:]}")
                buf += chunk
        words = buf.split(b"\n", 1)[0].decode().split()
        if not words or words[0] != "ready":
            raise RuntimeError(f"node {node.index} said {words!r}")
        node.peer_id, node.addrs = words[1], words[2:]

    def start(self) -> None:
        first = self.spawn(0, [])
        self.nodes.append(first)
        for i in range(1, self.n):
            self.nodes.append(self.spawn(i, first.addrs[:1]))

    def stop(self, timeout: float = 5.0) -> None:
        for node in self.nodes:
            if node.alive:
                node.send(signal.SIGCONT)
                node.proc.kill()
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=timeout)
            if node.proc.stdout is not None:
                node.proc.stdout.close()

    def by_peer(self, peer_id: str) -> NodeProcess:
        return next(n for n in self.nodes if n.peer_id == peer_id)

    def holders(self, key: ShardKey) -> list[NodeProcess]:
        return [n for n in self.nodes if key in n.held()]
