"""Python and Rust peers connect, ping each other and find each other in the DHT."""

from __future__ import annotations

import time

import pytest
import trio
from libp2p.peer.id import ID

from wdp.node.ping import Pinger

from .conftest import addr_for
from .pyside import py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]


async def test_connect_and_ping(py_swarm, rust_peer, transport):
    a = py_swarm(1).nodes[0]
    rust = rust_peer(transport, bootstrap=[addr_for(a.addrs, transport)])

    conn = await rust.event("connected", peer=a.peer_id)
    assert conn["transport"] == transport
    assert conn["dialer"] is True
    ident = await rust.event("identified", peer=a.peer_id)
    assert "/wdp/migrate/1.0" in ident["protocols"]
    assert "/ipfs/kad/1.0.0" in ident["protocols"]
    ping = await rust.event("ping", peer=a.peer_id)
    assert 0 < ping["rtt_ms"] < 5000

    # Python pings Rust: the node's own pinger over a connection it dials.
    async with py_node(dht=False) as node:
        await node.connect(rust.addr(transport))
        rtt = await Pinger(node.host, lambda peer, rtt: None, timeout=5.0).rtt(
            ID.from_base58(rust.peer_id)
        )
        assert 0 < rtt < 5
        inbound = await rust.event("connected", peer=str(node.peer_id))
        assert inbound["transport"] == transport
        assert inbound["dialer"] is False


async def test_find_each_other_in_dht(py_swarm, rust_peer, transport):
    swarm = py_swarm(2)  # node 1 bootstraps to node 0
    a, b = swarm.nodes
    rust = rust_peer(transport, bootstrap=[addr_for(a.addrs, transport)])
    await rust.event("identified", peer=a.peer_id)

    # Rust finds B, which it was never told about, through A (Kademlia FIND_NODE).
    found = await rust.ask("find_peer", peer=b.peer_id)
    assert found["found"], found
    ports = {addr.split("/")[4] for addr in found["addrs"]}
    assert b.addrs[0].split("/")[4] in ports, found

    # A Python node that knows only A finds the Rust peer.
    async with py_node(bootstrap=[addr_for(a.addrs, transport)]) as node:
        assert node.dht is not None
        target = ID.from_base58(rust.peer_id)
        assert not _known(node, target), "the Python node knew the Rust peer before the lookup"
        info = None
        deadline = time.monotonic() + 30
        while info is None or not info.addrs:
            assert time.monotonic() < deadline, "the Python node did not find the Rust peer"
            with trio.move_on_after(10):
                info = await node.dht.peer_routing.find_peer(target)
            if info is None or not info.addrs:
                await trio.sleep(0.2)
        wanted = rust.addr(transport).rsplit("/p2p/", 1)[0]
        assert wanted in {str(x) for x in info.addrs}, info.addrs


def _known(node, target: ID) -> bool:
    try:
        return bool(node.host.get_peerstore().addrs(target))
    except Exception:
        return False
