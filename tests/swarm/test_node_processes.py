"""Real wdp-node processes on 127.0.0.1: hops, threat evacuation, drain, panic.

Slow: each test starts a swarm of processes. Skip locally with -m "not slow".
"""

from __future__ import annotations

import hashlib
import signal

import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.objects import Reason
from wdp.node.host import peer_key_of

from .conftest import (
    key_of,
    make_wanderer,
    owner_node,
    seed_shards,
    verify_chain,
    wait_for,
    where,
)

pytestmark = [pytest.mark.slow, pytest.mark.trio]


async def test_eight_nodes_shards_make_three_ttl_hops_with_verified_chains(swarm_factory):
    swarm = swarm_factory(8)
    w = make_wanderer(b"eight node swarm " * 5000, k=2, n=4, epoch=2)
    async with owner_node(swarm) as owner:
        await seed_shards(owner, swarm, w, targets=[1, 3, 5, 7])

    def all_hopped() -> bool:
        at = where(swarm, w)
        return len(at) == 4 and all(m.signed_record().value.hop >= 3 for _, m in at.values())

    def state() -> str:
        at = {i: (n, m.signed_record().value.hop) for i, (n, m) in where(swarm, w).items()}
        holders = sorted({n for n, _ in at.values()})
        tails = "\n".join(f"--- node {n}\n{swarm.nodes[n].log()[-3000:]}" for n in holders)
        return f"shard -> (node, hop): {at}\n{tails}"

    await wait_for("every shard at hop >= 3", all_hopped, timeout=180, logs=state)
    for index, (node_index, meta) in sorted(where(swarm, w).items()):
        assert verify_chain(meta) >= 3
        assert [link.record.value.reason for link in meta.links()[1:]] == [Reason.TTL] * (
            len(meta.links()) - 1
        )
        shard, _ = swarm.nodes[node_index].store().get(key_of(w, index))
        assert hashlib.sha256(shard).digest() == w.manifest.value.shard_hashes[index]
    # The nodes found each other through the one bootstrap node: hops went to
    # peers that were never given each other's address.
    carriers = {
        link.record.value.to_peer for _, m in where(swarm, w).values() for link in m.links()
    }
    assert len(carriers) >= 4


async def test_a_node_whose_peers_stop_answering_flees_to_healthy_peers(swarm_factory):
    # Peers are evidence once known for threat_min_age (5 min by default; 3 s here).
    swarm = swarm_factory(8, env={"WDP_THREAT_MIN_AGE": "3"})
    w = make_wanderer(b"threatened " * 1000, k=1, n=1, epoch=3600)  # no TTL hop in this test
    async with owner_node(swarm) as owner:
        await seed_shards(owner, swarm, w, targets=[2])
    key = key_of(w, 0)
    await wait_for("node 2 holds the shard", lambda: key in swarm.nodes[2].held(), 10)
    paused = [3, 4, 5, 6]
    for i in paused:
        swarm.nodes[i].send(signal.SIGSTOP)
    try:
        await wait_for(
            "the shard leaves node 2 for a healthy peer",
            lambda: any(key in swarm.nodes[i].held() for i in (0, 1, 7)),
            timeout=45,
            logs=lambda: swarm.nodes[2].log()[-6000:],
        )
        (holder,) = [i for i in (0, 1, 7) if key in swarm.nodes[i].held()]
        meta = swarm.nodes[holder].held()[key]
        assert meta.signed_record().value.reason is Reason.THREAT
        verify_chain(meta)
        await wait_for("node 2 wiped its copy", lambda: key not in swarm.nodes[2].held(), 10)
        assert "threat level 2" in swarm.nodes[2].log()
    finally:
        for i in paused:
            swarm.nodes[i].send(signal.SIGCONT)


async def test_sigterm_drains_every_shard_before_exit(swarm_factory):
    swarm = swarm_factory(5)
    w = make_wanderer(b"drain me " * 1000, k=1, n=2, epoch=3600)
    async with owner_node(swarm) as owner:
        await seed_shards(owner, swarm, w, targets=[1, 2])
    node = swarm.nodes[1]
    node.send(signal.SIGTERM)
    code = await trio.to_thread.run_sync(node.wait, 60)
    assert code == 0, node.log()[-3000:]
    assert node.held() == {}
    key = key_of(w, 0)
    holders = [n for n in swarm.nodes if n.alive and key in n.held()]
    assert holders, "the drained shard has no holder"
    meta = max((n.held()[key] for n in holders), key=lambda m: m.signed_record().value.hop)
    verify_chain(meta)
    # The hop out of the draining node is a DRAIN hop, and it never went onto the
    # sibling's carrier. (Later hops may be THREAT: in a swarm this small, the
    # owner and the drained node leaving look like a seizure to the others.)
    drained_key = peer_key_of(ID.from_base58(node.peer_id))
    (out,) = [link for link in meta.links() if link.record.value.from_peer == drained_key]
    assert out.record.value.reason is Reason.DRAIN
    assert out.record.value.to_peer != peer_key_of(ID.from_base58(swarm.nodes[2].peer_id))


async def test_panic_empties_the_store(swarm_factory):
    swarm = swarm_factory(4)
    w = make_wanderer(b"panic " * 1000, k=1, n=1, epoch=3600)
    async with owner_node(swarm) as owner:
        await seed_shards(owner, swarm, w, targets=[3])
    node = swarm.nodes[3]
    node.send(signal.SIGUSR1)
    code = await trio.to_thread.run_sync(node.wait, 60)
    assert code == 0, node.log()[-3000:]
    leftovers = [p.name for p in (node.data_dir / "shards").iterdir()]
    assert leftovers == [], leftovers


async def test_a_one_second_epoch_moves_no_faster_than_the_carriers_floor(swarm_factory):
    floor, window = 3.0, 12.0
    swarm = swarm_factory(3, env={"WDP_MIN_EPOCH": str(floor)})
    w = make_wanderer(b"in a hurry " * 1000, k=1, n=1, epoch=1)  # the spec's minimum
    async with owner_node(swarm) as owner:
        await seed_shards(owner, swarm, w, targets=[0])
    started = trio.current_time()
    hops = 0
    while trio.current_time() - started < window:  # a bounded observation window
        at = where(swarm, w)
        if at:
            hops = max(hops, at[0][1].signed_record().value.hop)
        await trio.sleep(0.2)
    # Without the floor it would make about 10 hops here (one every 0.75..1.25 s).
    assert 1 <= hops <= window / floor, hops
