"""SIGKILL at the worst moments of a handoff: a shard never ends up with no holder.

One side of each handoff is a real ``wdp-node`` process that gets SIGKILLed;
the other is an in-process node of the test, through which the kill is timed
exactly (mid-transfer, or right after the receipt is written).
"""

from __future__ import annotations

import os
import random
import signal

import multiaddr
import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.effects import ShardKey
from wdp.core.framing import FrameDecoder
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.messages import Receipt, decode_message
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node
from wdp.node.store import DiskStore

from .conftest import OWNER_SEED, make_wanderer, verify_chain, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.trio]


def in_process_config(tmp_path, name: str) -> NodeConfig:
    return NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for(ws_port=None),
        store=DiskStore(tmp_path / name),
        rng=random.Random(0),
        ping_interval=float("inf"),
        enable_dht=False,
    )


async def test_receiver_killed_mid_transfer_leaves_the_shard_with_the_sender(
    swarm_factory, tmp_path, monkeypatch
):
    swarm = swarm_factory(1)
    receiver = swarm.nodes[0]
    w = make_wanderer(os.urandom(24 << 20), k=1, n=1, epoch=3600)  # one 24 MiB shard
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    async with (
        open_node(in_process_config(tmp_path, "owner")) as owner,
        open_node(in_process_config(tmp_path, "sender")) as sender,
    ):
        await owner.connect(sender.addrs[0])
        assert (await owner.launch_shard(w, 0, sender.peer_id, owner_seed=OWNER_SEED)).ok
        assert key in sender.carrier.held
        await owner.stop()  # leaves the receiver as the sender's only candidate

        written = 0
        original = Node._pump

        async def pump_and_watch(self: Node, sid, stream, first):
            write = stream.write

            async def counted(data: bytes) -> None:
                nonlocal written
                written += len(data)
                if written > (4 << 20) and receiver.alive:
                    receiver.proc.send_signal(signal.SIGKILL)  # mid-transfer
                    await trio.to_thread.run_sync(receiver.proc.wait)
                await write(data)

            if self is sender:
                stream.write = counted
            await original(self, sid, stream, first)

        monkeypatch.setattr(Node, "_pump", pump_and_watch)
        await sender.connect(multiaddr.Multiaddr(receiver.addrs[0]))
        sender.carrier.held[key].next_hop_at = 0.0  # the TTL hop is due now
        sender.wake()
        with trio.fail_after(60):
            await sender.wait_until(lambda: any(not h.inbound for h in sender.history.hops))
        result = [h for h in sender.history.hops if not h.inbound][-1]
        assert not result.ok
        assert 4 << 20 < written < w.manifest.value.shard_size
        # The sender may see the stream break before the killed process is reaped.
        await wait_for("the receiver is dead", lambda: not receiver.alive, 10)
        # The sender still carries the shard, intact, and will try again.
        assert key in sender.carrier.held
        shard, meta = sender.store.get(key)
        assert shard == w.shards[0] and meta.committed
        # The killed receiver's disk holds no committed copy.
        assert key not in receiver.held()


async def test_sender_killed_right_after_the_receipt_leaves_the_shard_with_the_receiver(
    swarm_factory, tmp_path, monkeypatch
):
    swarm = swarm_factory(1)
    sender = swarm.nodes[0]
    w = make_wanderer(b"kill the sender " * 4000, k=1, n=1, epoch=2)
    key = ShardKey(w.manifest.value.wanderer_id, 0)

    original = Node._pump

    async def pump_then_kill(self: Node, sid, stream, first):
        write, frames = stream.write, FrameDecoder(MAX_FRAME_SIZE)

        async def write_then_kill(data: bytes) -> None:
            await write(data)
            sent = [decode_message(f) for f in frames.feed(data)]
            if any(isinstance(m, Receipt) for m in sent) and sender.alive:
                sender.proc.send_signal(signal.SIGKILL)  # right after the receipt left

        stream.write = write_then_kill
        await original(self, sid, stream, first)

    monkeypatch.setattr(Node, "_pump", pump_then_kill)
    async with open_node(in_process_config(tmp_path, "receiver")) as receiver:
        await receiver.connect(multiaddr.Multiaddr(sender.addrs[0]))
        # Hop 0 to the daemon; its epoch (2 s) then sends the shard back to us,
        # the only other peer it knows.
        assert (
            await receiver.launch_shard(w, 0, ID.from_base58(sender.peer_id), owner_seed=OWNER_SEED)
        ).ok
        with trio.fail_after(60):
            await receiver.wait_until(lambda: key in receiver.carrier.held)
        await wait_for("the sender is dead", lambda: not sender.alive, 10)
        shard, meta = receiver.store.get(key)
        assert shard == w.shards[0] and meta.committed
        assert verify_chain(meta) == 1
        # Never zero holders: the receiver has it whether or not the dead sender wiped.
        holders = (key in receiver.carrier.held) + (key in sender.held())
        assert holders >= 1
