"""A node listening on 0.0.0.0 advertises dialable addresses: in locators, identify, placement."""

from __future__ import annotations

import math
import random
from contextlib import AsyncExitStack

import pytest
import trio
from libp2p.identity.identify.identify import _mk_identify_protobuf
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from wdp.core.effects import ShardKey
from wdp.core.locator import open_locator
from wdp.core.objects import Locator, Signed
from wdp.core.wanderer import sealing_seed
from wdp.node.addrs import local_ips
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig, open_node

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, seed

ANNOUNCED = Multiaddr("/ip4/203.0.113.5/tcp/4001")


def config(clock: MovableClock, n: int, listen: list[Multiaddr], **kw: object) -> NodeConfig:
    cfg = NodeConfig(
        seed=seed(n), listen_addrs=listen, clock=clock, rng=random.Random(n), ping_interval=math.inf
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def has_wildcard(addrs: list[Multiaddr]) -> bool:
    return any("/0.0.0.0/" in str(a) or str(a).startswith("/ip6/::/") for a in addrs)


@pytest.mark.trio
async def test_wildcard_listener_publishes_dialable_holder_addresses() -> None:
    clock = MovableClock()
    loopback = listen_addrs_for(ws_port=None)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_node(config(clock, 40, loopback)))
        b = await stack.enter_async_context(
            open_node(config(clock, 41, [Multiaddr("/ip4/0.0.0.0/tcp/0")], bootstrap=[a.addrs[0]]))
        )
        clock.on_move(a.wake)
        clock.on_move(b.wake)
        port = b.host.get_transport_addrs()[0].value_for_protocol("tcp")
        ips = [ip for ip in local_ips() if ":" not in ip]
        expected = [f"/ip4/{ip}/tcp/{port}/p2p/{b.peer_id}" for ip in ips]
        assert [str(x) for x in b.addrs] == expected  # one per interface, loopback last
        assert b.carrier.self_ipv4 == ips[0]

        w = make_wanderer(clock, epoch=3600)
        key = ShardKey(w.manifest.value.wanderer_id, 0)
        assert (await a.launch_shard(w, 0, b.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: key in b.locators)
        _, value = b.locators[key]
        holder = open_locator(sealing_seed(OWNER_SEED), Signed.from_bytes(value, Locator).value)
        published = [Multiaddr(raw) for raw in holder.addrs]
        assert [str(x) for x in published] == expected and not has_wildcard(published)

        # Identify tells peers the same addresses (py-libp2p builds it from get_addrs()).
        sent = _mk_identify_protobuf(b.host, None).listen_addrs
        assert [str(Multiaddr(raw)) for raw in sent] == [e.rsplit("/p2p/", 1)[0] for e in expected]

        # A newcomer that knows only the published first address reaches the holder.
        c = await stack.enter_async_context(open_node(config(clock, 42, loopback)))
        with trio.fail_after(DEADLINE):
            await c.host.connect(PeerInfo(b.peer_id, published[:1]))
        assert b.peer_id in c.host.get_connected_peers()


@pytest.mark.trio
async def test_announce_is_what_peers_and_locators_get() -> None:
    clock = MovableClock()
    node = Node(
        config(
            clock,
            43,
            [Multiaddr("/ip4/0.0.0.0/tcp/0")],
            announce_addrs=[ANNOUNCED],
            local_ips=lambda: ["192.0.2.7", "127.0.0.1"],
        )
    )
    assert [str(a) for a in node.addrs] == [f"{ANNOUNCED}/p2p/{node.peer_id}"]
    assert node.core.addrs == (node.addrs[0].to_bytes(),)  # what its locators give
    assert node.carrier.self_ipv4 == "203.0.113.5"


def test_placement_knows_its_own_prefix_when_listening_on_0_0_0_0() -> None:
    node = Node(
        config(
            MovableClock(),
            44,
            [Multiaddr("/ip4/0.0.0.0/tcp/4001")],
            local_ips=lambda: ["127.0.0.1", "198.51.100.9"],
        )
    )
    assert node.carrier.self_ipv4 == "198.51.100.9"
