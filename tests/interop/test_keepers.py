"""A keeper (spec 16.1) on the Rust carrier: its REPAIR hop 0 is taken, its granted
fetch served, and a fetch without the owner's grant for that wanderer refused."""

from __future__ import annotations

import os
import time

import pytest
import trio

from wdp.core.audit import make_grant
from wdp.core.capability import RepairCapability
from wdp.core.errors import RejectCode
from wdp.core.fetch import make_fetch_request
from wdp.core.owner.authority import fetch_request
from wdp.core.ticket import Ticket
from wdp.core.wanderer import launch_offer

from .pyside import OWNER_SEED, key_of_peer, make_wanderer, py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]


async def test_a_keeper_relaunches_and_fetches_on_rust(rust_peer, transport):
    rust = rust_peer(transport, epoch=600)
    carrier = key_of_peer(rust.peer_id)
    w = make_wanderer()
    cap = RepairCapability.of_ticket(Ticket(OWNER_SEED, w.manifest.hash, 2, 3))
    async with py_node(dht=False) as keeper:
        await keeper.connect(rust.addr(transport))
        offer = launch_offer(
            w.manifest, 1, keeper_seed=cap.repair_seed, to_peer=carrier, now=time.time(),
            generation=1,
        )  # fmt: skip
        with trio.fail_after(30):
            launched = await keeper.launch(offer, w.shards[1])
        assert launched.ok, launched

        request = fetch_request(cap, 1, time.time(), os.urandom(16), carrier)
        assert request.value.requester_key == cap.repair_key
        with trio.fail_after(30):
            got = await keeper.fetch_result(request, expected_manifest=w.manifest.hash)
        assert got.shard == w.shards[1]
        assert (got.record.value.hop, got.record.value.from_peer) == (0, cap.repair_key)
        served = await rust.event("fetch_served", shard_index=1)
        assert served["from"] == str(keeper.peer_id)

        # The owner's grant for another wanderer does not open this one (F3).
        other = make_grant(os.urandom(32), cap.wanderer_id, cap.repair_key)
        forged = make_fetch_request(
            cap.repair_seed, cap.wanderer_id, 1, time.time(), os.urandom(16),
            carrier=carrier, owner_key=cap.owner_key, grant=other,
        )  # fmt: skip
        with trio.fail_after(30):
            refused = await keeper.fetch(forged)
        assert refused.result is None and refused.by_peer
        assert refused.code == RejectCode.UNAUTHORIZED
        assert (await rust.event("fetch_refused"))["code"] == "UNAUTHORIZED"
