"""Fixtures for multi-process swarm tests (marked slow)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import multiaddr
import pytest
import trio

from wdp.core.custody import check_chain
from wdp.core.effects import ShardKey
from wdp.core.wanderer import Wanderer, create_wanderer
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node
from wdp.node.store import ShardMeta
from wdp.ops.localswarm import LocalSwarm

OWNER_SEED = bytes(range(32))
FAST_PINGS = {
    "WDP_PING_INTERVAL": "0.5",
    "WDP_PING_TIMEOUT": "1.0",
    "WDP_DISCOVERY_INTERVAL": "2",
    "WDP_MIN_EPOCH": "1",  # tests hop every few seconds; a node's default floor is 60 s
}


async def wait_for(
    what: str, predicate: Callable[[], bool], timeout: float, logs: Callable[[], str] = str
) -> None:
    """Poll a condition on other processes (there is no event to wait on across them)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}\n{logs()}")
        await trio.sleep(0.1)


@pytest.fixture
def swarm_factory(tmp_path):
    swarms: list[LocalSwarm] = []

    def make(n: int, **kw) -> LocalSwarm:
        env = {**FAST_PINGS, **kw.pop("env", {})}
        sw = LocalSwarm(n, tmp_path / f"swarm{len(swarms)}", env=env, **kw)
        swarms.append(sw)
        sw.start()
        return sw

    yield make
    for sw in swarms:
        sw.stop()


@asynccontextmanager
async def owner_node(swarm: LocalSwarm) -> AsyncIterator[Node]:
    """An in-process node for the owner's side: it launches shards and then stays out."""
    cfg = NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for(ws_port=None),
        rng=random.Random(0),
        ping_interval=float("inf"),
        enable_dht=False,
    )
    async with open_node(cfg) as node:
        for proc in swarm.nodes:
            await node.connect(multiaddr.Multiaddr(proc.addrs[0]))
        yield node


def make_wanderer(payload: bytes, *, k: int, n: int, epoch: int) -> Wanderer:
    return create_wanderer(
        payload, owner_seed=OWNER_SEED, nonce=os.urandom(12), k=k, n=n, epoch_seconds=epoch,
        now=time.time(),
    )  # fmt: skip


async def seed_shards(owner: Node, swarm: LocalSwarm, w: Wanderer, targets: list[int]) -> None:
    from libp2p.peer.id import ID

    for index, target in enumerate(targets):
        peer = ID.from_base58(swarm.nodes[target].peer_id)
        result = await owner.launch_shard(w, index, peer, owner_seed=OWNER_SEED)
        assert result.ok, result


def verify_chain(meta: ShardMeta) -> int:
    """Check the custody chain a carrier holds; returns its hop number."""
    links = meta.links()
    check_chain(meta.signed_manifest(), links[:-1], links[-1].record)
    return links[-1].record.value.hop


def where(swarm: LocalSwarm, w: Wanderer) -> dict[int, tuple[int, ShardMeta]]:
    """shard index -> (node index, meta) of its committed holder with the highest hop."""
    out: dict[int, tuple[int, ShardMeta]] = {}
    wid = w.manifest.value.wanderer_id
    for node in swarm.nodes:
        for key, meta in node.held().items():
            if key.wanderer_id != wid:
                continue
            hop = meta.signed_record().value.hop
            if (
                key.shard_index not in out
                or hop > out[key.shard_index][1].signed_record().value.hop
            ):
                out[key.shard_index] = (node.index, meta)
    return out


def key_of(w: Wanderer, index: int) -> ShardKey:
    return ShardKey(w.manifest.value.wanderer_id, index)
