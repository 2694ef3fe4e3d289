"""The owner reads a shard back from the Rust carrier over ``/wdp/fetch/1.0``."""

from __future__ import annotations

import os
import time

import pytest
import trio
from libp2p.peer.id import ID

from wdp.core.errors import RejectCode
from wdp.core.fetch import FetchRequest
from wdp.core.objects import Signed
from wdp.core.signing import Signer
from wdp.node.fetch import FETCH_PROTOCOL, FetchError, fetch_shard, run_fetch_client

from .pyside import OWNER_SEED, key_of_peer, make_wanderer, py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]


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

        got = await fetch_shard(
            owner.host, rust_id, owner_seed=OWNER_SEED, wanderer_id=wid, shard_index=0,
            clock=time.time, expected_manifest_hash=w.manifest.hash, timeout=30,
        )  # fmt: skip
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
            stream = await owner.host.new_stream(rust_id, [FETCH_PROTOCOL])
            session = await run_fetch_client(stream, forged, clock=time.time)
        assert session.result is None
        assert session.failure is not None and session.failed_by_peer
        assert session.failure.code == RejectCode.UNAUTHORIZED
        assert (await rust.event("fetch_refused"))["code"] == "UNAUTHORIZED"

        # A shard it does not carry: NOT_HELD.
        with pytest.raises(FetchError) as missing:
            await fetch_shard(
                owner.host, rust_id, owner_seed=OWNER_SEED, wanderer_id=wid, shard_index=1,
                clock=time.time, timeout=30,
            )  # fmt: skip
        assert missing.value.code == RejectCode.NOT_HELD
