"""The main job, for real: put files through one node, seize 30 % of the swarm
(carriers included), get every file back from another node. Plus tickets that
are wrong, and repair.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pytest
import trio

from wdp.client.api import ApiClient, ClientError
from wdp.core.ticket import Ticket
from wdp.ops.localswarm import LocalSwarm

from .conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.trio]

SWARM = 10


def api(swarm: LocalSwarm, i: int) -> ApiClient:
    return ApiClient(swarm.nodes[i].data_dir / "api.sock")


async def call(client: ApiClient, request: dict, payload: bytes | None = None):
    return await trio.to_thread.run_sync(lambda: client.call(request, payload))


async def put(swarm: LocalSwarm, i: int, data: bytes, name: str, **kw) -> str:
    answer, _ = await call(
        api(swarm, i), {"op": "put", "name": name, "size": len(data), **kw}, data
    )
    return answer["ticket"]


async def get(swarm: LocalSwarm, i: int, ticket: str) -> bytes:
    _, data = await call(api(swarm, i), {"op": "get", "ticket": ticket})
    return data


def carriers(swarm: LocalSwarm, ticket: str) -> dict[int, int]:
    """shard index -> index of the live node that has committed it (highest hop)."""
    wid = Ticket.decode(ticket).wanderer_id
    best: dict[int, tuple[int, int]] = {}
    for node in swarm.nodes:
        if not node.alive:
            continue
        for key, meta in node.held().items():
            if key.wanderer_id == wid:
                rec = meta.signed_record().value
                rank = (rec.generation, rec.hop)
                if key.shard_index not in best or rank > best[key.shard_index][0]:
                    best[key.shard_index] = (rank, node.index)
    return {i: n for i, (_, n) in best.items()}


async def wait_for_peers(swarm: LocalSwarm, i: int, want: int) -> None:
    async def healthy() -> int:
        s, _ = await call(api(swarm, i), {"op": "status"})
        return sum(1 for p in s["peers"] if p["healthy"])

    deadline = trio.current_time() + 60
    while await healthy() < want:
        assert trio.current_time() < deadline, "peers not discovered in time"
        await trio.sleep(0.5)


async def test_files_survive_the_seizure_of_30_percent_including_carriers(swarm_factory):
    # Epoch 15 s: every shard hops a few times during the test without the
    # 17 MiB shards of the 50 MiB file saturating two cores. Segments of 64 MiB keep
    # that file one wanderer (files of several are tests/swarm/test_large_file.py).
    swarm = swarm_factory(SWARM, env={"WDP_EPOCH": "15", "WDP_REPAIR_INTERVAL": "3",
                                      "WDP_SEGMENT_SIZE": "64MiB"})  # fmt: skip
    await wait_for_peers(swarm, 0, 8)
    files = {
        "empty": b"",
        "one-byte": b"\x01",
        "one-mib": os.urandom(1 << 20),
        "fifty-mib": os.urandom(50 << 20),
    }
    tickets = {name: await put(swarm, 0, data, name) for name, data in files.items()}
    for name, t in tickets.items():
        await wait_for(
            f"{name}: all 8 shards carried", lambda t=t: len(carriers(swarm, t)) == 8, 60
        )

    # Seize 3 of 10 nodes: those carrying the most shards (never the putter, node 0,
    # nor node 1, which will get the files back).
    load: dict[int, int] = {}
    for t in tickets.values():
        for node_index in carriers(swarm, t).values():
            load[node_index] = load.get(node_index, 0) + 1
    victims = sorted((n for n in load if n not in (0, 1)), key=lambda n: -load[n])[:3]
    assert sum(load[v] for v in victims) >= 3  # carriers really are among the seized
    for v in victims:
        swarm.nodes[v].proc.send_signal(signal.SIGKILL)
    for v in victims:
        await trio.to_thread.run_sync(swarm.nodes[v].proc.wait)

    await wait_for_peers(swarm, 1, 5)
    for name, data in files.items():
        got = await get(swarm, 1, tickets[name])
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), name


async def test_bad_tickets_fail_clearly_and_harm_nothing(swarm_factory):
    swarm = swarm_factory(4)
    client = api(swarm, 0)
    with pytest.raises(ClientError, match="should start with"):
        await call(client, {"op": "get", "ticket": "hello"})
    good = Ticket(os.urandom(32), os.urandom(32), 3, 8).encode()
    with pytest.raises(ClientError, match="truncated"):
        await call(client, {"op": "get", "ticket": good[:-6]})
    # A well-formed ticket for data nobody stored: found 0 of 3.
    with pytest.raises(ClientError, match="found 0 of the 3 shards needed"):
        await call(client, {"op": "get", "ticket": good})
    # Nothing was harmed: the node still stores and returns data.
    await wait_for_peers(swarm, 0, 3)
    ticket = await put(swarm, 0, b"still fine", "after-bad-tickets", k=2, n=3)
    assert await get(swarm, 0, ticket) == b"still fine"
    # The command-line client says it in one line, before touching the node.
    out = subprocess.run(
        [sys.executable, "-m", "wdp.client.cli", "get", good[:-6], "-o", "/dev/null",
         "--data-dir", str(swarm.nodes[0].data_dir)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "bad ticket" in out.stderr


async def test_repair_restores_n_and_get_counts_what_is_missing(swarm_factory):
    swarm = swarm_factory(SWARM, env={"WDP_REPAIR_INTERVAL": "2"})
    await wait_for_peers(swarm, 0, 8)
    data = os.urandom(200_000)
    ticket = await put(swarm, 0, data, "repair-me", k=3, n=6, epoch=3600)
    await wait_for("all 6 shards carried", lambda: len(carriers(swarm, ticket)) == 6, 30)
    # Lose n - k = 3 carriers: repair brings the count back to 6.
    victims = [n for n in sorted(set(carriers(swarm, ticket).values())) if n not in (0, 1)][:3]
    for v in victims:
        swarm.nodes[v].proc.send_signal(signal.SIGKILL)
    for v in victims:  # reaped: from now on they do not count as carriers
        await trio.to_thread.run_sync(swarm.nodes[v].proc.wait)
    assert len(carriers(swarm, ticket)) == 3
    await wait_for("repair back to 6 shards", lambda: len(carriers(swarm, ticket)) == 6, 90,
                   logs=lambda: swarm.nodes[0].log()[-4000:])  # fmt: skip
    assert await get(swarm, 1, ticket) == data
    # Now lose all but 2 carriers at once, more than n - k: get says exactly that.
    # (The owner's repair cannot race the get: it needs k = 3 shards too. A
    # THREAT hop may have brought a shard to node 0: then node 0 goes too.)
    held_by = set(carriers(swarm, ticket).values())
    keep = ({1} & held_by) | set(sorted(held_by - {1})[: 2 - len({1} & held_by)])
    for v in held_by - keep:
        swarm.nodes[v].proc.send_signal(signal.SIGKILL)
    for v in held_by - keep:
        await trio.to_thread.run_sync(swarm.nodes[v].proc.wait)
    with pytest.raises(ClientError, match="found 2 of the 3 shards needed"):
        await call(api(swarm, 1), {"op": "get", "ticket": ticket})
