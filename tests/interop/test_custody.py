"""Shards cross between Python and Rust with verified custody; tampered hops are refused."""

from __future__ import annotations

import os
import time

import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.objects import Reason
from wdp.core.signing import Signer

from .conftest import addr_for
from .pyside import (
    OWNER_SEED,
    key_of_peer,
    make_wanderer,
    py_node,
    send_offer,
    tampered_offer,
    verify_held_chain,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]

HOLD_TIMEOUT = 30.0


async def launch_to_rust(rust, transport: str, w) -> None:
    """The owner's node (in process, Python) hands shard 0 to the Rust peer, then leaves."""
    async with py_node(dht=False) as owner:
        await owner.connect(rust.addr(transport))
        result = await owner.launch_shard(w, 0, ID.from_base58(rust.peer_id), owner_seed=OWNER_SEED)
        assert result.ok, result
    accepted = await rust.event("accepted", hop=0)
    assert accepted["to_key"] == key_of_peer(rust.peer_id).hex()


async def test_shard_moves_python_rust_python(py_swarm, rust_peer, transport):
    p = py_swarm(1).nodes[0]
    rust = rust_peer(transport, bootstrap=[addr_for(p.addrs, transport)], epoch=2)
    await rust.event("identified", peer=p.peer_id)
    w = make_wanderer(epoch=600)  # the last Python holder keeps it
    await launch_to_rust(rust, transport, w)

    # At its epoch, Rust passes the shard to the only Python carrier it knows.
    handed = await rust.event("handed_off", timeout=60)
    assert handed["to"] == p.peer_id
    assert handed["receipt_verified"] is True
    assert handed["receipt_receiver"] == key_of_peer(p.peer_id).hex()
    assert (await rust.ask("status"))["held"] == []  # wiped after the verified receipt

    key = ShardKey(w.manifest.value.wanderer_id, 0)
    deadline = time.monotonic() + HOLD_TIMEOUT
    while key not in p.held():
        assert time.monotonic() < deadline, (
            f"the Python node did not commit the shard\n{p.log()[-2000:]}"
        )
        await trio.sleep(0.1)
    meta = p.held()[key]
    got = p.store().get(key)
    assert got is not None and got[0] == w.shards[0]

    # The whole chain verifies with the Python core and names the Rust peer.
    links = verify_held_chain(meta)
    owner, rust_key, p_key = (
        Signer(OWNER_SEED).public_key,
        key_of_peer(rust.peer_id),
        key_of_peer(p.peer_id),
    )
    assert [link.record.value.hop for link in links] == [0, 1]
    hop0, hop1 = (link.record.value for link in links)
    assert (hop0.from_peer, hop0.to_peer, hop0.reason) == (owner, rust_key, Reason.GENESIS)
    assert (hop1.from_peer, hop1.to_peer, hop1.reason) == (rust_key, p_key, Reason.TTL)
    assert links[0].receipt.value.receiver == rust_key and links[0].receipt.verify(rust_key)
    assert links[1].receipt.value.receiver == p_key and links[1].receipt.verify(p_key)
    assert hop1.prev_record_hash == links[0].record.hash
    assert handed["record_hash"] == links[1].record.hash.hex()


PY_TAMPER = {
    "data": RejectCode.SHARD_HASH_MISMATCH,
    "signature": RejectCode.BAD_SIGNATURE,
    "chain": RejectCode.BAD_CHAIN,
}


@pytest.mark.parametrize("kind", sorted(PY_TAMPER))
async def test_rust_refuses_tampered_handoff(rust_peer, transport, kind):
    rust = rust_peer(transport)
    sender_seed = os.urandom(32)
    w = make_wanderer()
    async with py_node(seed=sender_seed, dht=False) as node:
        await node.connect(rust.addr(transport))
        offer, shard = tampered_offer(
            kind, w, sender=Signer(sender_seed), to_peer=key_of_peer(rust.peer_id)
        )
        result = await send_offer(node, rust.peer_id, offer, shard)
    expected = PY_TAMPER[kind]
    assert not result.ok
    assert result.code == expected, result
    rejected = await rust.event("rejected", code=expected.name)
    assert rejected["sent"] is True and rejected["code_num"] == int(expected)
    assert (await rust.ask("status"))["held"] == []
    assert not rust.events("accepted")


RUST_TAMPER = {
    "hash": RejectCode.SHARD_HASH_MISMATCH,
    "signature": RejectCode.BAD_SIGNATURE,
    "chain": RejectCode.BAD_CHAIN,
}


@pytest.mark.parametrize("tamper", sorted(RUST_TAMPER))
async def test_python_refuses_tampered_handoff(py_swarm, rust_peer, transport, tamper):
    p = py_swarm(1).nodes[0]
    rust = rust_peer(transport, bootstrap=[addr_for(p.addrs, transport)], epoch=1, tamper=tamper)
    await rust.event("identified", peer=p.peer_id)
    w = make_wanderer(epoch=600)
    await launch_to_rust(rust, transport, w)

    refused = await rust.event("refused", timeout=60)
    expected = RUST_TAMPER[tamper]
    assert refused["to"] == p.peer_id
    assert refused["tamper"] == tamper
    assert refused["code"] == expected.name, refused
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    assert key not in p.held()
    assert p.store().get(key) is None
    held = (await rust.ask("status"))["held"]  # Rust keeps custody after a refusal
    assert [(h["shard_index"], h["hop"]) for h in held] == [(0, 0)]
    assert not rust.events("handed_off")


async def test_python_carrier_picks_rust_as_next_hop(py_swarm, rust_peer, transport):
    """A Python carrier whose only other peer is the Rust peer hands it the shard at its epoch."""
    p = py_swarm(1).nodes[0]
    rust = rust_peer(transport, bootstrap=[addr_for(p.addrs, transport)], epoch=600)
    await rust.event("identified", peer=p.peer_id)
    w = make_wanderer(epoch=2)  # P passes the shard on after about 2 s
    async with py_node(dht=False) as owner:
        await owner.connect(addr_for(p.addrs, transport))
        result = await owner.launch_shard(w, 0, ID.from_base58(p.peer_id), owner_seed=OWNER_SEED)
        assert result.ok, result

    accepted = await rust.event("accepted", timeout=60)
    assert accepted["from"] == p.peer_id
    assert accepted["hop"] == 1 and accepted["chain_len"] == 2
    assert accepted["from_key"] == key_of_peer(p.peer_id).hex()
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    deadline = time.monotonic() + HOLD_TIMEOUT
    while key in p.held():  # P wipes only after Rust's receipt
        assert time.monotonic() < deadline, "the Python node kept the shard"
        await trio.sleep(0.1)
    held = (await rust.ask("status"))["held"]
    assert [(h["shard_index"], h["hop"]) for h in held] == [(0, 1)]
