"""One real ``wdp-node`` under attack, an honest peer beside it, and what to measure.

The target is a separate process (its memory and CPU are its own, read from
/proc); the attacker and the honest peer are in-process nodes that open raw
streams to it with the project's own encoders. Every attack is bounded in
count and time.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import multiaddr
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from wdp.client.api import ApiClient
from wdp.core import crypto
from wdp.core.framing import FrameDecoder, encode_frame
from wdp.core.limits import MAX_FRAME_SIZE, MIGRATE_PROTOCOL_ID, TAG_SIZE
from wdp.core.messages import Message, Offer, decode_message, encode_message
from wdp.core.objects import Manifest, Signed, time_ms
from wdp.core.signing import Signer, public_key_of
from wdp.core.wanderer import create_wanderer, launch_offer, repair_seed
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node
from wdp.ops.localswarm import LocalSwarm, NodeProcess

MIGRATE = TProtocol(MIGRATE_PROTOCOL_ID)
HONEST_DEADLINE = 5.0  # an honest 4 KiB handoff completes this fast during any attack
SLACK = 64 << 20  # RSS allowed above the budget the attack aims at

# The target runs with the default budgets.
TARGET_ENV = {
    "WDP_PING_INTERVAL": "1",
    "WDP_DISCOVERY_INTERVAL": "5",
    "WDP_MIN_EPOCH": "3600",  # no hop moves a seeded shard away during a test
    "WDP_EPOCH": "3600",
}


def rss(pid: int) -> tuple[int, int]:
    """(current, peak) resident bytes of a process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kib = lambda name: int(fields[name].split()[0]) * 1024  # noqa: E731
    return kib("VmRSS"), kib("VmHWM")


def reset_peak(pid: int) -> None:
    """Start a new peak-RSS measurement (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used."""
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def forged_launch(owner_seed: bytes, to_peer: bytes, shard_size: int) -> Offer:
    """A valid launch of a ``shard_size``-byte shard whose bytes nobody has (hashes random).

    The attacker signs a manifest for data it never made: every check a
    receiver runs before the data passes, and only the last byte shows it.
    """
    owner = Signer(owner_seed)
    payload = shard_size - TAG_SIZE
    manifest = Manifest(
        wanderer_id=crypto.wanderer_id(owner.public_key),
        owner_key=owner.public_key,
        nonce=os.urandom(12),
        payload_size=payload,
        k=1,
        n=1,
        shard_size=shard_size,
        shard_hashes=(os.urandom(32),),
        epoch_seconds=3600,
        created_at_ms=time_ms(time.time()),
        version=2,
        repair_key=public_key_of(repair_seed(owner_seed)),
        shard_roots=(os.urandom(32),),
    )
    signed = Signed.create(manifest, owner)
    return launch_offer(signed, 0, owner_seed=owner_seed, to_peer=to_peer, now=time.time())


def frame(msg: Message) -> bytes:
    return encode_frame(encode_message(msg), MAX_FRAME_SIZE)


async def read_message(stream: INetStream, timeout: float = 10.0) -> Message | None:
    """The next message the target sends on ``stream`` (None if it ended or was slow)."""
    decoder = FrameDecoder(MAX_FRAME_SIZE)
    with trio.move_on_after(timeout):
        while True:
            got = decoder.next_frame()
            if got is not None:
                return decode_message(got)
            try:
                data = await stream.read(65536)
            except Exception:
                return None
            if not data:
                return None
            decoder.push(data)
    return None


@dataclass
class Arena:
    """The target process, an attacker and an honest peer (in-process nodes)."""

    swarm: LocalSwarm
    attacker: Node
    honest: Node
    seeded: int = 0

    @property
    def target(self) -> NodeProcess:
        return self.swarm.nodes[0]

    @property
    def target_id(self) -> ID:
        return ID.from_base58(self.target.peer_id)

    @property
    def target_key(self) -> bytes:
        from wdp.node.host import peer_key_of

        return peer_key_of(self.target_id)

    async def open(self, node: Node, protocol: TProtocol = MIGRATE) -> INetStream:
        return await node.host.new_stream(self.target_id, [protocol])

    async def api_answers(self) -> None:
        """The target's local API answers ``status`` within the deadline."""
        client = ApiClient(self.target.data_dir / "api.sock")
        with trio.fail_after(HONEST_DEADLINE):
            answer, _ = await trio.to_thread.run_sync(client.call, {"op": "status"})
        assert answer["ok"]

    def status(self) -> dict:
        answer, _ = ApiClient(self.target.data_dir / "api.sock").call({"op": "status"})
        return answer

    def shards_verify(self) -> int:
        """Every shard the target holds hashes to its record's hash; returns how many."""
        store = self.target.store()
        held = self.target.held()
        for key, meta in held.items():
            got = store.get(key)
            assert got is not None, key
            shard, _ = got
            assert hashlib.sha256(shard).digest() == meta.signed_record().value.shard_hash, key
        return len(held)


async def honest_launch(arena: Arena) -> float:
    """An honest 4 KiB launch to the target; seconds it took (fails past the deadline)."""
    seed = os.urandom(32)
    w = create_wanderer(os.urandom(4096), owner_seed=seed, nonce=os.urandom(12),
                        k=1, n=1, epoch_seconds=3600, now=time.time())  # fmt: skip
    started = trio.current_time()
    with trio.fail_after(HONEST_DEADLINE):
        result = await arena.honest.launch_shard(w, 0, arena.target_id, owner_seed=seed)
    assert result.ok, result
    return trio.current_time() - started


def in_process_config(**overrides: object) -> NodeConfig:
    cfg = NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for(ws_port=None),
        rng=random.Random(0),
        ping_interval=float("inf"),
        discovery_interval=3600.0,
    )
    for name, value in overrides.items():
        setattr(cfg, name, value)
    return cfg


@asynccontextmanager
async def arena(base: Path, env: dict[str, str] | None = None) -> AsyncIterator[Arena]:
    """Start the target, connect an attacker and an honest peer, seed 3 shards on the target."""
    with LocalSwarm(1, base, store="disk", env={**TARGET_ENV, **(env or {})}) as swarm:
        target_addr = multiaddr.Multiaddr(swarm.nodes[0].addrs[0])
        async with (
            open_node(in_process_config()) as attacker,
            open_node(in_process_config()) as honest,
        ):
            for node in (attacker, honest):
                await node.connect(target_addr)
            a = Arena(swarm, attacker, honest)
            for _ in range(3):
                await honest_launch(a)
            a.seeded = len(a.target.held())
            assert a.seeded == 3
            yield a
