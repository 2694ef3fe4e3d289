"""Shared pieces of the libp2p node tests: a movable clock and in-process nodes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from wdp.core.wanderer import Wanderer, create_wanderer
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node
from wdp.testing.clock import MovableClock

__all__ = ["DEADLINE", "OWNER_SEED", "MovableClock", "make_wanderer", "nodes", "seed"]

OWNER_SEED = bytes(range(32))
DEADLINE = 20.0  # seconds any single wait in these tests may take before failing


def seed(n: int) -> bytes:
    return bytes([n]) * 32


def make_wanderer(clock: MovableClock, *, k: int = 2, n: int = 3, epoch: int = 60) -> Wanderer:
    return create_wanderer(
        b"wandering payload " * 200,
        owner_seed=OWNER_SEED,
        nonce=b"\x07" * 12,
        k=k,
        n=n,
        epoch_seconds=epoch,
        now=clock(),
    )


@asynccontextmanager
async def nodes(
    clock: MovableClock, *ids: int, ws: bool = False, **overrides: object
) -> AsyncIterator[list[Node]]:
    """Start one node per id on 127.0.0.1; each later node bootstraps to the first."""
    listen = (
        (lambda: listen_addrs_for(tcp_port=None))
        if ws
        else (lambda: listen_addrs_for(ws_port=None))
    )
    async with AsyncExitStack() as stack:
        started: list[Node] = []
        for n in ids:
            cfg = NodeConfig(
                seed=seed(n),
                listen_addrs=listen(),
                bootstrap=[started[0].addrs[0]] if started else [],
                clock=clock,
                rng=random.Random(n),
                ping_interval=float("inf"),
            )
            for k, v in overrides.items():
                setattr(cfg, k, v)
            node = await stack.enter_async_context(open_node(cfg))
            clock.on_move(node.wake)
            started.append(node)
        yield started
