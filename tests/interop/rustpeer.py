"""Build and drive ``wdp-rust-peer`` (interop/rust) from tests.

The peer prints ``ready <peer id> <addr>...`` and then one JSON object per
line on stdout (events, and replies to the JSON commands it reads on stdin).
A reader thread collects the lines; tests wait for them with bounded
deadlines through :meth:`RustPeer.wait_event` and :meth:`RustPeer.command`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CRATE = REPO / "interop" / "rust"
READY_TIMEOUT = 30.0
BUILD_TIMEOUT = 1800.0


def cargo_target_dir() -> Path:
    """Outside the clone, so a fresh clone reuses the compiled dependencies."""
    default = Path.home() / ".cache" / "wdp" / "cargo-target"
    return Path(os.environ.get("WDP_CARGO_TARGET_DIR") or default)


def cargo_env() -> dict[str, str]:
    return {**os.environ, "CARGO_TARGET_DIR": str(cargo_target_dir())}


def cargo() -> str | None:
    found = shutil.which("cargo")
    if found is None:
        candidate = Path.home() / ".cargo" / "bin" / "cargo"
        found = str(candidate) if candidate.exists() else None
    return found


def build_rust_peer(log_path: Path) -> Path:
    """``cargo build`` the peer (debug: far quicker to build than release here)."""
    exe = cargo()
    if exe is None:
        raise RuntimeError("cargo not found")
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [exe, "build", "--bin", "wdp-rust-peer"],
            cwd=CRATE,
            env=cargo_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"cargo build failed ({done.returncode}):\n{tail}")
    return cargo_target_dir() / "debug" / "wdp-rust-peer"


class RustPeer:
    """One running ``wdp-rust-peer``; use as a context manager so it is always stopped."""

    def __init__(
        self,
        binary: Path,
        work_dir: Path,
        *,
        listen: list[str],
        bootstrap: Sequence[str] = (),
        epoch: float | None = None,
        tamper: str = "none",
        name: str = "rust",
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = work_dir / f"{name}.log"
        self.key_file = work_dir / f"{name}.key"
        args = [str(binary), "--key-file", str(self.key_file), "--tamper", tamper]
        for addr in listen:
            args += ["--listen", addr]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        if epoch is not None:
            args += ["--epoch", str(epoch)]
        self.args = args
        self.lines: list[dict[str, Any]] = []
        self.peer_id = ""
        self.addrs: list[str] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._eof = False
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(READY_TIMEOUT) or not self.peer_id:
            self.stop()
            raise RuntimeError(f"wdp-rust-peer not ready:\n{self.log()[-3000:]}")

    def __enter__(self) -> RustPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not self.peer_id:
                words = line.split()
                if words and words[0] == "ready":
                    self.peer_id, self.addrs = words[1], words[2:]
                self._ready.set()
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "unparsed", "line": line}
            with self._cond:
                self.lines.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()
        self._ready.set()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def addr(self, transport: str) -> str:
        """The listen address for ``tcp`` or ``ws``."""
        for a in self.addrs:
            if ("/ws/" in a) == (transport == "ws"):
                return a
        raise LookupError(f"no {transport} address in {self.addrs}")

    def events(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.lines if e.get("event") == kind and _matches(e, match)]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """The first line (seen so far or to come) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for obj in self.lines[seen:]:
                    if predicate(obj):
                        return obj
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    state = "exited" if self._eof else "timed out"
                    raise AssertionError(
                        f"wdp-rust-peer {state} waiting for {what}; last lines:\n"
                        + "\n".join(json.dumps(x) for x in self.lines[-15:])
                        + f"\nstderr:\n{self.log()[-2000:]}"
                    )
                self._cond.wait(left)

    def wait_event(self, kind: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        return self.wait_for(
            lambda e: e.get("event") == kind and _matches(e, match), timeout, f"{kind} {match}"
        )

    def command(self, cmd: str, timeout: float = 40.0, **fields: Any) -> dict[str, Any]:
        """Send one control command and return its reply."""
        cid = next(self._ids)
        line = json.dumps({"cmd": cmd, "id": cid, **fields}) + "\n"
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()
        return self.wait_for(
            lambda e: "reply" in e and e.get("id") == cid, timeout, f"reply to {cmd}"
        )

    async def event(self, kind: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """:meth:`wait_event` from trio code (the wait runs in a worker thread)."""
        import trio

        return await trio.to_thread.run_sync(
            functools.partial(self.wait_event, kind, timeout, **match)
        )

    async def ask(self, cmd: str, timeout: float = 40.0, **fields: Any) -> dict[str, Any]:
        """:meth:`command` from trio code."""
        import trio

        return await trio.to_thread.run_sync(
            functools.partial(self.command, cmd, timeout, **fields)
        )

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._reader.join(timeout)
        self._log.close()


def _matches(obj: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(obj.get(k) == v for k, v in match.items())
