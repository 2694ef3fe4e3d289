"""The simulator and a real multi-process swarm agree at small scale.

Same parameters on both sides (wdp.sim.agreement.seizure_outcome is the
simulator's side): 10 nodes, one wanderer of 3-of-6 shards, SIGKILL of the 3
nodes carrying the most shards (never node 0, the owner's node, nor node 1),
then repair. Observables: shards the victims took, whether the wanderer can
still be rebuilt, and how many shards are carried once repair has run.
"""

from __future__ import annotations

import os
import signal

import pytest
import trio

from wdp.sim.agreement import seizure_outcome

from .conftest import wait_for
from .test_put_get import carriers, get, put, wait_for_peers

pytestmark = [pytest.mark.slow, pytest.mark.trio]


async def test_real_swarm_agrees_with_the_simulator(swarm_factory):
    sim = seizure_outcome(nodes=10, k=3, n=6, kill=3)

    swarm = swarm_factory(10, env={"WDP_REPAIR_INTERVAL": "2"})
    await wait_for_peers(swarm, 0, 8)
    data = os.urandom(200_000)
    ticket = await put(swarm, 0, data, "agreement", k=3, n=6, epoch=3600)
    await wait_for("6 shards carried", lambda: len(carriers(swarm, ticket)) == 6, 30)
    load: dict[int, int] = {}
    for node in carriers(swarm, ticket).values():
        load[node] = load.get(node, 0) + 1
    victims = sorted((v for v in load if v not in (0, 1)), key=lambda v: (-load[v], v))[:3]
    killed = sum(load[v] for v in victims)
    for v in victims:
        swarm.nodes[v].proc.send_signal(signal.SIGKILL)
    for v in victims:
        await trio.to_thread.run_sync(swarm.nodes[v].proc.wait)
    try:
        recoverable = await get(swarm, 1, ticket) == data
    except Exception:
        recoverable = False
    await wait_for("repair back to 6", lambda: len(carriers(swarm, ticket)) == 6, 90)
    carried = len(carriers(swarm, ticket))

    assert (killed, recoverable, carried) == (sim.shards_killed, sim.recoverable, sim.carried_after)
