"""The real ``wdp-node`` process: its ready line never advertises 0.0.0.0."""

from __future__ import annotations

import ipaddress
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest

from wdp.node.addrs import local_ips
from wdp.ops.localswarm import wdp_node_command

READY_TIMEOUT = 30.0
EXIT_TIMEOUT = 15.0


def ready_line(tmp_path: Path, *args: str) -> list[str]:
    """Start wdp-node with ``args``, return its ready line's words, then stop it."""
    log = tmp_path / "node.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDP_")}
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*wdp_node_command(), "--data-dir", str(tmp_path / "data"), *args],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        buf = b""
        deadline = time.monotonic() + READY_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    pytest.fail(f"no ready line in {READY_TIMEOUT} s:\n{log.read_text()}")
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    pytest.fail(f"wdp-node exited:\n{log.read_text()}")
                buf += chunk
    finally:
        proc.send_signal(signal.SIGTERM)  # nothing held: drains at once
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
    words = buf.split(b"\n", 1)[0].decode().split()
    assert words[0] == "ready", words
    return words


def test_wildcard_listen_advertises_each_interface_address(tmp_path: Path) -> None:
    words = ready_line(
        tmp_path, "--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip4/0.0.0.0/tcp/0/ws"
    )
    peer_id, addrs = words[1], words[2:]
    port = addrs[0].split("/")[4]  # TCP and WebSocket share one OS-chosen port
    ips = [ipaddress.ip_address(ip) for ip in local_ips() if ":" not in ip]
    outer = [ip for ip in ips if not ip.is_loopback]
    inner = [ip for ip in ips if ip.is_loopback]

    def each(group: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> set[str]:
        return {f"/ip4/{ip}/tcp/{port}{ws}/p2p/{peer_id}" for ws in ("", "/ws") for ip in group}

    # Every interface address for both transports (in listener order), loopback last.
    split = 2 * len(outer)
    assert len(addrs) == 2 * len(ips)
    assert set(addrs[:split]) == each(outer) and set(addrs[split:]) == each(inner)
    assert f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}" in addrs
    assert "0.0.0.0" not in " ".join(words)


def test_announce_is_all_that_is_advertised(tmp_path: Path) -> None:
    words = ready_line(
        tmp_path,
        "--listen", "/ip4/0.0.0.0/tcp/0",
        "--announce", "/ip4/203.0.113.5/tcp/4001",
        "--announce", "/dns4/node.example.org/tcp/443/ws",
    )  # fmt: skip
    peer_id = words[1]
    assert words[2:] == [
        f"/ip4/203.0.113.5/tcp/4001/p2p/{peer_id}",
        f"/dns4/node.example.org/tcp/443/ws/p2p/{peer_id}",
    ]
