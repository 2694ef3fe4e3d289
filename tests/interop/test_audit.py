"""The owner audits the Rust carrier over ``/wdp/audit/1.0`` (spec section 18)."""

from __future__ import annotations

import os
import time

import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.audit import AuditChallenge, make_challenge, make_grant
from wdp.core.crypto import wanderer_id
from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.merkle import leaf_count
from wdp.core.objects import Signed
from wdp.core.signing import DOMAIN_REPAIR_GRANT, Signer
from wdp.core.wanderer import repair_seed
from wdp.node.node import Node

from .conftest import addr_for
from .pyside import OWNER_SEED, key_of_peer, make_wanderer, py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]

OWNER_KEY = Signer(OWNER_SEED).public_key
HOLD_TIMEOUT = 30.0


def challenge_for(carrier: str, leaf: int, *, seed: bytes = OWNER_SEED, grant: bytes = b""):
    """A fresh challenge for leaf ``leaf`` of shard 0, to the peer ``carrier``."""
    return make_challenge(
        seed, owner_key=OWNER_KEY, shard_index=0, carrier=key_of_peer(carrier),
        leaf_index=leaf, now=time.time(), nonce=os.urandom(16), grant=grant,
    )  # fmt: skip


async def audit(owner: Node, challenge, manifest: Signed):
    with trio.fail_after(30):
        return await owner.audit(challenge, manifest)


async def test_owner_audits_rust_carrier(rust_peer, transport):
    rust = rust_peer(transport, epoch=600)
    w = make_wanderer(size=5000)
    assert w.manifest.value.version == 2 and w.manifest.value.auditable
    leaves = leaf_count(w.manifest.value.shard_size)
    assert leaves == 3  # 5016 coded bytes in 2 shards of 2508
    async with py_node(dht=False) as owner:
        await owner.connect(rust.addr(transport))
        launched = await owner.launch_shard(
            w, 0, ID.from_base58(rust.peer_id), owner_seed=OWNER_SEED
        )
        assert launched.ok, launched
        assert launched.link is not None

        # An honest holder proves every leaf, the last (short) one included.
        for leaf in range(leaves):
            ended = await audit(owner, challenge_for(rust.peer_id, leaf), w.manifest)
            assert ended.result is not None, (ended.code, ended.detail)
            assert ended.result.proved
            assert ended.result.record.hash == launched.link.record.hash
            served = await rust.event("audit_served", leaf_index=leaf)
            assert served["answer"] == "proof" and served["ok"] is True
            assert served["from"] == str(owner.peer_id) and served["hop"] == 0

        # A replayed challenge (same nonce) is refused: STALE_HOP (A7).
        challenge = challenge_for(rust.peer_id, 1)
        first = await audit(owner, challenge, w.manifest)
        assert first.result is not None and first.result.proved
        replay = await audit(owner, challenge, w.manifest)
        assert replay.result is None and replay.by_peer
        assert replay.code == RejectCode.STALE_HOP
        refused = await rust.event("audit_served", code="STALE_HOP")
        assert refused["answer"] == "reject" and refused["ok"] is False

        # The repair key, with the owner's grant, may audit as well.
        rseed = repair_seed(OWNER_SEED)
        grant = make_grant(OWNER_SEED, w.manifest.value.wanderer_id, Signer(rseed).public_key)
        keeper = await audit(
            owner, challenge_for(rust.peer_id, 2, seed=rseed, grant=grant), w.manifest
        )
        assert keeper.result is not None and keeper.result.proved

        # A leaf outside the shard is MALFORMED (A10); a shard it does not carry NOT_HELD (A8).
        outside = await audit(owner, challenge_for(rust.peer_id, leaves), w.manifest)
        assert outside.by_peer and outside.code == RejectCode.MALFORMED
        other = make_challenge(
            OWNER_SEED, owner_key=OWNER_KEY, shard_index=1, carrier=key_of_peer(rust.peer_id),
            leaf_index=0, now=time.time(), nonce=os.urandom(16),
        )  # fmt: skip
        missing = await audit(owner, other, w.manifest)
        assert missing.by_peer and missing.code == RejectCode.NOT_HELD


async def test_stranger_is_refused_by_rust(rust_peer, transport):
    """A challenger without the owner key or a grant gets UNAUTHORIZED (A2-A4)."""
    rust = rust_peer(transport, epoch=600)
    w = make_wanderer()
    async with py_node(dht=False) as owner:
        await owner.connect(rust.addr(transport))
        launched = await owner.launch_shard(
            w, 0, ID.from_base58(rust.peer_id), owner_seed=OWNER_SEED
        )
        assert launched.ok, launched
        # Signed by a stranger's key with a grant the owner never signed
        # (make_challenge refuses to build one, so it is built by hand).
        stranger = Signer(os.urandom(32))
        wid = wanderer_id(OWNER_KEY)
        body = AuditChallenge(
            wanderer_id=wid, owner_key=OWNER_KEY, challenger_key=stranger.public_key,
            shard_index=0, carrier=key_of_peer(rust.peer_id), leaf_index=0,
            time_ms=int(time.time() * 1000), nonce=os.urandom(16),
            grant=stranger.sign(DOMAIN_REPAIR_GRANT, wid + stranger.public_key),
        )  # fmt: skip
        ended = await audit(owner, Signed.create(body, stranger), w.manifest)
        assert ended.by_peer and ended.code == RejectCode.UNAUTHORIZED
        served = await rust.event("audit_served", code="UNAUTHORIZED")
        assert served["answer"] == "reject"


async def test_rust_answers_moved_after_handing_on(py_swarm, rust_peer, transport):
    p = py_swarm(1).nodes[0]
    rust = rust_peer(transport, bootstrap=[addr_for(p.addrs, transport)], epoch=2)
    await rust.event("identified", peer=p.peer_id)
    w = make_wanderer(epoch=600)  # the Python carrier keeps it
    async with py_node(dht=False) as owner:
        await owner.connect(rust.addr(transport))
        launched = await owner.launch_shard(
            w, 0, ID.from_base58(rust.peer_id), owner_seed=OWNER_SEED
        )
        assert launched.ok, launched

        # At its epoch, Rust hands the shard to the Python carrier.
        handed = await rust.event("handed_off", timeout=60)
        assert handed["to"] == p.peer_id

        # Audited now, Rust shows the hop: a Moved naming the next carrier (A8).
        ended = await audit(owner, challenge_for(rust.peer_id, 0), w.manifest)
        assert ended.result is not None, (ended.code, ended.detail)
        assert not ended.result.proved
        moved = ended.result.moved
        assert moved is not None
        hop = moved.record.value
        assert (hop.hop, hop.from_peer) == (1, key_of_peer(rust.peer_id))
        assert hop.to_peer == key_of_peer(p.peer_id)
        assert moved.receipt.value.receiver == key_of_peer(p.peer_id)
        served = await rust.event("audit_served", answer="moved")
        assert served["to_key"] == key_of_peer(p.peer_id).hex()

        # The challenger then audits the carrier the Moved names: it proves.
        key = ShardKey(w.manifest.value.wanderer_id, 0)
        deadline = time.monotonic() + HOLD_TIMEOUT
        while key not in p.held():
            assert time.monotonic() < deadline, p.log()[-2000:]
            await trio.sleep(0.1)
        await owner.connect(addr_for(p.addrs, transport))
        proved = await audit(owner, challenge_for(p.peer_id, 1), w.manifest)
        assert proved.result is not None and proved.result.proved, (proved.code, proved.detail)
        assert proved.result.record.hash == moved.record.hash
