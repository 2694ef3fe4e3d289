"""The owner reads a shard back from the Rust carrier over ``/wdp/fetch/1.0``."""

from __future__ import annotations

import os
import time

import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.errors import RejectCode
from wdp.core.fetch import FetchRequest, FetchResult, make_fetch_request
from wdp.core.objects import Signed
from wdp.core.signing import Signer
from wdp.node.node import FetchError, Node

from .pyside import OWNER_SEED, key_of_peer, make_wanderer, py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]


async def fetch_shard(
    owner: Node, carrier: ID, wid: bytes, index: int, expected: bytes | None = None
) -> FetchResult:
    """Fetch shard ``index`` of wanderer ``wid`` from ``carrier``, as its owner (bounded)."""
    request = make_fetch_request(
        OWNER_SEED, wid, index, time.time(), os.urandom(16),
        carrier=key_of_peer(carrier.to_base58()),
    )  # fmt: skip
    with trio.fail_after(30):
        return await owner.fetch_result(request, expected_manifest=expected)


async def test_owner_fetches_shard_from_rust(rust_peer, transport):
    rust = rust_peer(transport, epoch=600)
    rust_id = ID.from_base58(rust.peer_id)
    w = make_wanderer()
    wid = w.manifest.value.wanderer_id
    async with py_node(dht=False) as owner:
        await owner.connect(rust.addr(transport))
        launched = await owner.launch_shard(w, 0, rust_id, owner_seed=OWNER_SEED)
        assert launched.ok, launched
        assert launched.link is not None

        got = await fetch_shard(owner, rust_id, wid, 0, expected=w.manifest.hash)
        assert got.shard == w.shards[0]
        assert got.record.hash == launched.link.record.hash
        assert got.record.value.to_peer == key_of_peer(rust.peer_id)
        served = await rust.event("fetch_served", shard_index=0)
        assert served["from"] == str(owner.peer_id)

        # A request for this wanderer not signed by its owner key is refused
        # (F3) before the carrier says what it holds.
        body = FetchRequest(
            wanderer_id=wid, owner_key=Signer(OWNER_SEED).public_key, shard_index=0,
            carrier=key_of_peer(rust.peer_id), time_ms=int(time.time() * 1000),
            nonce=os.urandom(16),
        )  # fmt: skip
        encoded = body.encode()
        forged = Signed(encoded, Signer(os.urandom(32)).sign(FetchRequest.DOMAIN, encoded), body)
        with trio.fail_after(30):
            refused = await owner.fetch(forged)
        assert refused.result is None and refused.by_peer
        assert refused.code == RejectCode.UNAUTHORIZED
        assert (await rust.event("fetch_refused"))["code"] == "UNAUTHORIZED"

        # A shard it does not carry: NOT_HELD.
        with pytest.raises(FetchError) as missing:
            await fetch_shard(owner, rust_id, wid, 1)
        assert missing.value.code == RejectCode.NOT_HELD
