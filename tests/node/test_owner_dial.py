"""The owner dials a carrier named by a fresh locator even after an earlier dial failed."""

from __future__ import annotations

import pytest
import trio

from .helpers import DEADLINE, MovableClock, nodes


@pytest.mark.trio
async def test_a_fresh_locator_overrides_the_dial_backoff() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (owner_node, carrier):
        await owner_node.host.disconnect(carrier.host.get_id())
        # What py-libp2p records after a dial that failed on every address:
        # for 60 s it refuses to dial that peer again.
        owner_node.host.get_network()._negative_peer_cache.mark_failed(str(carrier.host.get_id()))
        addrs = tuple(a.to_bytes() for a in carrier.addrs)  # as a verified locator gives them
        with trio.fail_after(DEADLINE):
            assert await owner_node.probe(carrier.peer_key, addrs)
        assert owner_node.host.get_network().connections.get(carrier.host.get_id())
