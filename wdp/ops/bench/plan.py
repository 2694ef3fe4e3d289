"""What one bench run measures: units, shared limits, the plan, and what it launches.

:class:`Plan` holds the sizes and counts (:data:`QUICK` is ``--quick``);
:func:`new_wanderer` and :func:`bench_node_config` make the wanderers and the
in-process node the bench launches from, in the pair run and the panic run alike.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from wdp.core.limits import TAG_SIZE
from wdp.core.wanderer import Wanderer, create_wanderer
from wdp.node.host import listen_addrs_for
from wdp.node.node import NodeConfig

KiB = 1 << 10
MiB = 1 << 20
MB = 1e6  # throughput is reported in MB/s (10^6 bytes per second)
EPOCH = 3600  # no TTL hop may happen during a measurement
OP_TIMEOUT = 180.0  # one handoff, transfer, put or get


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    sizes: tuple[int, ...] = (1 * MiB, 16 * MiB, 64 * MiB)
    repeats: int = 5
    latency_samples: int = 100
    latency_size: int = 4 * KiB
    swarm_nodes: int = 10
    put_size: int = 256 * MiB
    evac_nodes: int = 6
    evac_shards: int = 200
    evac_shard_size: int = 256 * KiB
    find_samples: int = 10
    big_size: int = 4 * 1024 * MiB
    dashboard_seconds: float = 60.0


QUICK = Plan(sizes=(1 * MiB,), repeats=3, latency_samples=10, put_size=16 * MiB, evac_shards=20,
             find_samples=3, big_size=48 * MiB, dashboard_seconds=5.0)  # fmt: skip


def new_wanderer(size: int, payload: bytes | None = None) -> tuple[Wanderer, bytes]:
    """A k=1, n=1 wanderer whose single shard is ``size`` bytes, and its owner seed."""
    seed = os.urandom(32)
    body = payload if payload is not None else os.urandom(size - TAG_SIZE)
    w = create_wanderer(
        body, owner_seed=seed, nonce=os.urandom(12), k=1, n=1, epoch_seconds=EPOCH,
        now=time.time(),
    )  # fmt: skip
    assert w.manifest.value.shard_size == size
    return w, seed


def bench_node_config() -> NodeConfig:
    """The bench process's own node: it only launches (no DHT, no ping loop)."""
    return NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for("127.0.0.1", tcp_port=0, ws_port=None),
        ping_interval=math.inf,
        enable_dht=False,
    )
