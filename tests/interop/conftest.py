"""Fixtures of the Rust interop suite: the built peer, Python nodes, the transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wdp.ops.localswarm import LocalSwarm

from .rustpeer import RustPeer, build_rust_peer, cargo

FAST_PINGS = {
    "WDP_PING_INTERVAL": "0.5",
    "WDP_PING_TIMEOUT": "2.0",
    "WDP_DISCOVERY_INTERVAL": "2",
    "WDP_MIN_EPOCH": "1",  # tests hop every few seconds; a node's default floor is 60 s
}
LISTEN = {"tcp": "/ip4/127.0.0.1/tcp/0", "ws": "/ip4/127.0.0.1/tcp/0/ws"}


@pytest.fixture(scope="session")
def rust_peer_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build ``wdp-rust-peer`` once per session (skipped only if cargo is absent)."""
    if cargo() is None:
        pytest.skip("cargo not found: install Rust (https://rustup.rs) to run the interop suite")
    log = tmp_path_factory.mktemp("cargo") / "build.log"
    return build_rust_peer(log)


@pytest.fixture(params=["tcp", "ws"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def addr_for(addrs: list[str], transport: str) -> str:
    """The address of ``addrs`` (each ending in /p2p/<id>) for ``tcp`` or ``ws``."""
    for a in addrs:
        if ("/ws/" in a) == (transport == "ws"):
            return a
    raise LookupError(f"no {transport} address in {addrs}")


@pytest.fixture
def py_swarm(tmp_path: Path) -> Iterator[Callable[..., LocalSwarm]]:
    """Start ``wdp-node`` processes listening on TCP and WebSocket (disk store)."""
    swarms: list[LocalSwarm] = []

    def make(n: int, **env: str) -> LocalSwarm:
        sw = LocalSwarm(
            n,
            tmp_path / f"py{len(swarms)}",
            env={**FAST_PINGS, **env},
            extra_args=["--listen", LISTEN["ws"]],
        )
        swarms.append(sw)
        sw.start()
        return sw

    yield make
    for sw in swarms:
        sw.stop()


@pytest.fixture
def rust_peer(rust_peer_bin: Path, tmp_path: Path) -> Iterator[Callable[..., RustPeer]]:
    """Start ``wdp-rust-peer`` processes listening on one transport."""
    peers: list[RustPeer] = []

    def make(transport: str, **kw: Any) -> RustPeer:
        peer = RustPeer(
            rust_peer_bin, tmp_path / "rust", listen=[LISTEN[transport]],
            name=f"rust{len(peers)}", **kw,
        )  # fmt: skip
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.stop()
