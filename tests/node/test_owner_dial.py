"""The owner dials a carrier named by a fresh locator even after an earlier dial failed."""

from __future__ import annotations

import pytest
import trio

from wdp.core.objects import HolderInfo
from wdp.node.owner import Owner, OwnerRegistry

from .helpers import DEADLINE, MovableClock, nodes


@pytest.mark.trio
async def test_a_fresh_locator_overrides_the_dial_backoff() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (owner_node, carrier):
        await owner_node.host.disconnect(carrier.host.get_id())
        # What py-libp2p records after a dial that failed on every address:
        # for 60 s it refuses to dial that peer again.
        owner_node.host.get_network()._negative_peer_cache.mark_failed(str(carrier.host.get_id()))
        holder = HolderInfo(carrier.peer_key, tuple(a.to_bytes() for a in carrier.addrs), bytes(32))
        owner = Owner(owner_node, OwnerRegistry(None))
        with trio.fail_after(DEADLINE):
            peer_id = await owner._connect(holder)
        assert peer_id == carrier.host.get_id()
        assert owner_node.host.get_network().connections.get(peer_id)
