"""Provoked flight: what an attacker stages to make a node's shards run, against real nodes.

Tried as an attacker would: 40 fresh identities connect to a node and then
all leave at once, and 10 identities stay connected but never answer a ping.
Neither may raise the node to CRITICAL (once both did, within seconds, and
every shard it held fled: a free draw for whoever waits among the far peers).
A real seizure among long-known peers still must, within its window.

The node under attack runs with a short ``WDP_THREAT_MIN_AGE`` (10 s, for the
test's sake instead of 5 min) so that its real peers are long known before
the attack starts, and the attacker's identities live a few seconds.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import multiaddr
import pytest
import trio
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.peer.peerinfo import info_from_p2p_addr

from wdp.client.api import ApiClient
from wdp.node.host import listen_addrs_for, new_wdp_host
from wdp.ops.localswarm import LocalSwarm, NodeProcess

from .conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.trio]

ENV = {"WDP_THREAT_MIN_AGE": "10"}
SETTLE = 12.0  # seconds: the real peers become established (> min age, pings answered)


def threat_level(node: NodeProcess) -> int:
    answer, _ = ApiClient(node.data_dir / "api.sock").call({"op": "status"})
    return int(answer["threat_level"])


@asynccontextmanager
async def identities(target: NodeProcess, count: int, *, answer_pings: bool) -> AsyncIterator[None]:
    """``count`` fresh libp2p identities connected to ``target`` for the duration of the block."""
    hosts = [new_wdp_host(os.urandom(32), listen_addrs_for(ws_port=None)) for _ in range(count)]
    target_info = info_from_p2p_addr(multiaddr.Multiaddr(target.addrs[0]))
    async with AsyncExitStack() as stack:
        for host in hosts:
            await stack.enter_async_context(host.run(listen_addrs_for(ws_port=None)))
            if not answer_pings:
                host.remove_stream_handler(PING_PROTOCOL)
        async with trio.open_nursery() as nursery:  # all connect at once
            for host in hosts:
                nursery.start_soon(host.connect, target_info)
        yield
        async with trio.open_nursery() as nursery:  # all leave at once, connections closed
            for host in hosts:
                nursery.start_soon(host.close)


async def watch_level(node: NodeProcess, seconds: float) -> int:
    """The highest threat level the node reports over ``seconds``."""
    highest = 0
    with trio.move_on_after(seconds):
        while True:
            highest = max(highest, await trio.to_thread.run_sync(threat_level, node))
            await trio.sleep(0.25)
    return highest


async def test_fresh_identities_that_leave_together_do_not_raise_critical(swarm_factory):
    swarm: LocalSwarm = swarm_factory(4, env=ENV)
    target = swarm.nodes[0]
    await trio.sleep(SETTLE)
    assert threat_level(target) < 2
    async with identities(target, 40, answer_pings=True):
        await trio.sleep(1.5)  # they answer a ping round or two, then all go
    assert await watch_level(target, 6.0) < 2, target.log()[-3000:]
    assert "seizure" not in target.log()


async def test_identities_that_never_answer_pings_do_not_raise_critical(swarm_factory):
    swarm: LocalSwarm = swarm_factory(4, env=ENV)
    target = swarm.nodes[0]
    await trio.sleep(SETTLE)
    async with identities(target, 10, answer_pings=False):
        highest = await watch_level(target, 20.0)  # about 40 ping rounds
    assert highest < 2, target.log()[-3000:]


async def test_a_raid_on_long_known_peers_still_raises_critical(swarm_factory):
    swarm: LocalSwarm = swarm_factory(6, env=ENV)
    target = swarm.nodes[0]
    await trio.sleep(SETTLE)
    for victim in swarm.nodes[1:4]:  # three of five long-known peers, at once
        victim.send(signal.SIGKILL)
    await wait_for(
        "the node goes CRITICAL", lambda: threat_level(target) >= 2, 15,
        logs=lambda: target.log()[-3000:],
    )  # fmt: skip
    assert "seizure" in target.log()
