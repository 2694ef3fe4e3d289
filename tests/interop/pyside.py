"""The Python side of the interop tests, in process: a real ``wdp.node`` node
(py-libp2p host, DHT, migrate driver) and offers built with ``wdp.core``."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
from libp2p.peer.id import ID

from wdp.core.carrier import CarrierParams
from wdp.core.custody import check_chain, check_link
from wdp.core.messages import Offer
from wdp.core.node import LaunchEnded
from wdp.core.objects import CustodyLink, CustodyRecord, Reason, Receipt, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, launch_offer
from wdp.node.host import listen_addrs_for, peer_key_of
from wdp.node.node import Node, NodeConfig, open_node
from wdp.node.store import ShardMeta

OWNER_SEED = bytes(range(32))


@asynccontextmanager
async def py_node(
    *, seed: bytes | None = None, bootstrap: Sequence[str] = (), dht: bool = True
) -> AsyncIterator[Node]:
    """An in-process WDP node (TCP and WebSocket), quiet: no ping or discovery loop."""
    cfg = NodeConfig(
        seed=seed if seed is not None else os.urandom(32),
        listen_addrs=listen_addrs_for(),
        bootstrap=list(bootstrap),
        rng=random.Random(0),
        ping_interval=math.inf,
        discovery_interval=3600.0,
        enable_dht=dht,
        carrier_params=CarrierParams(min_epoch=1.0),  # tests hop after a few seconds
    )
    async with open_node(cfg) as node:
        yield node


def make_wanderer(epoch: int = 600, size: int = 3000) -> Wanderer:
    return create_wanderer(
        os.urandom(size), owner_seed=OWNER_SEED, nonce=os.urandom(12), k=2, n=3,
        epoch_seconds=epoch, now=time.time(),
    )  # fmt: skip


def key_of_peer(peer_id: str) -> bytes:
    return peer_key_of(ID.from_base58(peer_id))


async def send_offer(node: Node, peer_id: str, offer: Offer, shard: bytes) -> LaunchEnded:
    """One handoff of ``offer`` from ``node`` over a fresh ``/wdp/migrate/1.0`` stream (bounded).

    The node's core runs it as it runs an owner's hop 0: the offer goes to the
    peer it names, and this node keeps no custody either way.
    """
    assert offer.record.value.to_peer == key_of_peer(peer_id)
    with trio.fail_after(60):
        return await node.launch(offer, shard)


def tampered_offer(
    kind: str, w: Wanderer, *, sender: Signer, to_peer: bytes
) -> tuple[Offer, bytes]:
    """A hop that a receiver must refuse: ``data`` (bytes that do not hash to the
    record's shard_hash), ``signature`` (a bad record signature) or ``chain`` (a
    hop 1 whose prev_record_hash is wrong). ``sender`` is the stream's peer key."""
    shard = w.shards[0]
    if kind == "data":
        offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=to_peer, now=time.time())
        return offer, bytes([shard[0] ^ 1]) + shard[1:]
    if kind == "signature":
        offer = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=to_peer, now=time.time())
        rec = offer.record
        bad = Signed(rec.body, bytes([rec.signature[0] ^ 1]) + rec.signature[1:], rec.value)
        return dataclasses.replace(offer, record=bad), shard
    if kind == "chain":
        # Hop 0 to ``sender`` with its receipt, then hop 1 from ``sender`` that
        # does not link to hop 0.
        hop0 = launch_offer(
            w.manifest, 0, owner_seed=OWNER_SEED, to_peer=sender.public_key, now=time.time()
        )
        r0 = hop0.record
        receipt = Signed.create(
            Receipt(r0.hash, sender.public_key, r0.value.shard_hash, int(time.time() * 1000)),
            sender,
        )
        hop1 = dataclasses.replace(
            r0.value, hop=1, from_peer=sender.public_key, to_peer=to_peer, reason=Reason.TTL,
            prev_record_hash=bytes(32),
        )  # fmt: skip
        record: Signed[CustodyRecord] = Signed.create(hop1, sender)
        offer = Offer(w.manifest, (CustodyLink(r0, receipt),), record, hop0.locator_secret)
        return offer, shard
    raise ValueError(kind)


def verify_held_chain(meta: ShardMeta) -> list[CustodyLink]:
    """Check a committed shard's whole chain with the Python core; returns its links."""
    links = list(meta.links())
    check_chain(meta.signed_manifest(), links[:-1], links[-1].record)
    for link in links:
        check_link(link)
    return links
