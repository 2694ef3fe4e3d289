"""A keeper among real processes: the owner's node is SIGKILLed, the files live on.

Ten ``wdp-node`` processes (nine honest ones in the second test). Node 0 puts
three files (3-of-6) and node 1 is made their keeper with ``keep`` and each
file's repair capability (never its ticket; the first test makes it with
``wdp put --keeper``); its repairs wait 2 s. Node 0 is then SIGKILLed, and then:

* twice the three nodes that carry the most shards are SIGKILLed too (as
  many shards of one file as it can lose) and three fresh nodes join;
* or six rounds in which 2 of the 9 nodes left (chosen at random, never the
  keeper) are SIGKILLed and 2 fresh nodes join;
* or (marked ``trial``: not in ``make test`` until it passes every time; run
  it with ``make trial``) six rounds in which 2 of the 7 honest nodes left
  besides the keeper are SIGKILLed and 2 fresh nodes join, among 2 black holes
  (``blackhole_node.py``: they sign receipts and drop every shard): 2 of the
  10 nodes left after the owner's. Like ``test_black_holes.py``, the black
  holes join after the files have wandered for three epochs (just before the
  owner's seizure), so the carriers have seen each other hand shards on.

After each seizure the keeper must bring every file back to n shards, and at
the end every file must come back byte-identical through a node that joined
after the owner was gone. Time is scaled down for the test: 10 s epochs, a
check round every 5 s, an unanswered audit asked again after 1 s (defaults:
600 s, 300 s, 10 s).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter
from functools import partial

import pytest
import trio

from wdp.client.api import ApiClient
from wdp.core.capability import RepairCapability
from wdp.core.ticket import Ticket
from wdp.ops.localswarm import LocalSwarm, NodeProcess

from .test_black_holes import BLACKHOLE, DROP

pytestmark = [pytest.mark.slow, pytest.mark.trio]

EPOCH = 10  # seconds
CHECK_INTERVAL = 5.0
ENV = {
    "WDP_EPOCH": str(EPOCH),
    "WDP_REPAIR_INTERVAL": str(CHECK_INTERVAL),
    "WDP_AUDIT_RETRY_DELAY": "1",
}
KEEPER = 1
SEIZURES = 2
K, N = 3, 6
BLACK_HOLES = (9, 10)


async def call(node: NodeProcess, request: dict, payload: bytes | None = None):
    client = ApiClient(node.data_dir / "api.sock")
    return await trio.to_thread.run_sync(lambda: client.call(request, payload))


def carried(swarm: LocalSwarm, wids: set[bytes]) -> Counter[int]:
    """Live node index -> how many shards of these wanderers it carries (from its disk)."""
    return Counter(
        node.index
        for node in swarm.nodes
        if node.alive
        for key in node.held()
        if key.wanderer_id in wids
    )


def complete(swarm: LocalSwarm, wids: set[bytes]) -> bool:
    """Every shard index of every one of these wanderers is carried by a live node."""
    held = {(key.wanderer_id, key.shard_index) for n in swarm.nodes if n.alive for key in n.held()}
    return all((wid, i) in held for wid in wids for i in range(N))


async def whole(swarm: LocalSwarm, keeper: NodeProcess, wids: set[bytes]) -> dict:
    """Wait until every file has all n shards and the keeper finds none stale; its ls."""
    with trio.fail_after(40 * CHECK_INTERVAL):
        while True:
            listed, _ = await call(keeper, {"op": "ls", "repairs": True})
            if all(w["stale_shards"] == 0 for w in listed["wanderers"]) and complete(swarm, wids):
                return listed
            await trio.sleep(1)


async def put_and_keep(owner: NodeProcess, keeper: NodeProcess, files: dict[str, bytes]):
    tickets: dict[str, Ticket] = {}
    for name, data in files.items():
        answer, _ = await call(owner, {"op": "put", "name": name, "size": len(data),
                                       "k": K, "n": N}, data)  # fmt: skip
        tickets[name] = Ticket.decode(answer["ticket"])
        cap = RepairCapability.of_ticket(tickets[name]).encode()
        kept, _ = await call(keeper, {"op": "keep", "capability": cap, "name": name, "delay": 2})
        assert kept["kept"] == 1
    return tickets


async def read_back(reader: NodeProcess, files: dict[str, bytes], tickets: dict[str, Ticket]):
    """Every file comes back byte-identical through ``reader``."""
    for name, data in files.items():
        _, got = await call(reader, {"op": "get", "ticket": tickets[name].encode()})
        assert got == data, name


async def test_a_keeper_repairs_every_file_after_the_owners_node_is_seized(swarm_factory, tmp_path):
    swarm: LocalSwarm = swarm_factory(10, env=ENV)
    owner, keeper = swarm.nodes[0], swarm.nodes[KEEPER]
    files = {f"file-{i}": bytes([i]) * 30_000 + bytes(range(256)) * (i + 1) for i in range(3)}
    (name, data), *rest = files.items()
    path = tmp_path / name  # the first as a user would: wdp put --keeper
    path.write_bytes(data)
    command = [
        sys.executable, "-m", "wdp.client.cli", "--data-dir", str(owner.data_dir),
        "put", str(path), "--k", str(K), "--n", str(N), "--keeper", str(keeper.data_dir),
        "--keeper-delay", "2",
    ]  # fmt: skip
    run = partial(subprocess.run, command, capture_output=True, text=True, timeout=120)
    out = await trio.to_thread.run_sync(run)
    assert out.returncode == 0, out.stderr
    assert f"kept by {keeper.data_dir} (repairs wait 2 s)" in out.stderr
    tickets = {name: Ticket.decode(out.stdout.strip())}
    tickets.update(await put_and_keep(owner, keeper, dict(rest)))
    listed, _ = await call(keeper, {"op": "ls"})
    assert {w["name"]: w["role"] for w in listed["wanderers"]} == dict.fromkeys(files, "keeper")
    wids = {t.wanderer_id for t in tickets.values()}

    owner.send(signal.SIGKILL)  # the knock on the owner's door
    owner.wait(10)
    seed = keeper.addrs[:1]
    fresh = len(swarm.nodes)
    for _ in range(SEIZURES):
        await whole(swarm, keeper, wids)  # at most 3 shards of a file go: n - k
        counts = carried(swarm, wids)
        victims = [i for i, _ in counts.most_common() if i != KEEPER][:3]
        for i in victims:
            swarm.nodes[i].send(signal.SIGKILL)
            swarm.nodes[i].wait(10)
        for _ in range(3):
            swarm.nodes.append(swarm.spawn(fresh, seed))
            fresh += 1
        listed = await whole(swarm, keeper, wids)  # the keeper brings every file back to n

    repaired = sum(len(w["repair_log"]) for w in listed["wanderers"])
    assert repaired >= 3, "the seizures cost the files nothing: the test proves nothing"
    await read_back(swarm.nodes[-1], files, tickets)  # joined after the owner was gone


async def churn_rounds(
    swarm: LocalSwarm,
    keeper: NodeProcess,
    wids: set[bytes],
    rng: random.Random,
    spared: frozenset[int],
    others: int,
) -> tuple[int, dict]:
    """Six rounds: wait for every file at n, then SIGKILL 2 of the ``others`` nodes
    besides the keeper and ``spared`` and start 2 fresh ones. Shards carried by the
    victims, and the keeper's last ls."""
    fresh, lost = max(n.index for n in swarm.nodes) + 1, 0
    for _ in range(6):
        await whole(swarm, keeper, wids)
        counts = carried(swarm, wids)
        alive = sorted(n.index for n in swarm.nodes if n.alive and n.index not in {KEEPER, *spared})
        assert len(alive) == others
        for i in rng.sample(alive, 2):
            lost += counts[i]
            swarm.nodes[i].send(signal.SIGKILL)
            swarm.nodes[i].wait(10)
        for _ in range(2):
            swarm.nodes.append(swarm.spawn(fresh, keeper.addrs[:1]))
            fresh += 1
    return lost, await whole(swarm, keeper, wids)


async def test_a_keeper_carries_every_file_through_six_rounds_of_churn(swarm_factory):
    """Issue 15's churn without the owner: 6 rounds of replacing 2 of the 9 nodes left."""
    swarm: LocalSwarm = swarm_factory(10, env=ENV)
    owner, keeper = swarm.nodes[0], swarm.nodes[KEEPER]
    files = {f"file-{i}": bytes([i]) * 30_000 + bytes(range(256)) * (i + 1) for i in range(3)}
    tickets = await put_and_keep(owner, keeper, files)
    wids = {t.wanderer_id for t in tickets.values()}
    owner.send(signal.SIGKILL)
    owner.wait(10)
    lost, listed = await churn_rounds(
        swarm, keeper, wids, random.Random(15), spared=frozenset(), others=8
    )

    repaired = sum(len(w["repair_log"]) for w in listed["wanderers"])
    assert lost >= 6 and repaired >= 6, f"the churn cost little: {lost} shards, {repaired} repairs"
    await read_back(swarm.nodes[-1], files, tickets)  # joined in the last round


@pytest.mark.trial
async def test_a_keeper_carries_every_file_through_churn_among_black_holes(swarm_factory):
    """Issue 15's whole trial: no owner, six rounds of churn, and 20 % black holes.

    Nine honest nodes (the owner, the keeper, seven others) and, once the files
    have wandered three epochs, two black holes. After the owner's seizure the
    ten left are the keeper, seven honest nodes (each carries at most one shard
    of a file: n = 6) and the two black holes; every round 2 of the seven are
    replaced by fresh nodes that know nobody.
    """
    swarm: LocalSwarm = swarm_factory(9, env=ENV, commands=dict.fromkeys(BLACK_HOLES, BLACKHOLE))
    owner, keeper = swarm.nodes[0], swarm.nodes[KEEPER]
    files = {f"file-{i}": bytes([i]) * 30_000 + bytes(range(256)) * (i + 1) for i in range(3)}
    tickets = await put_and_keep(owner, keeper, files)
    wids = {t.wanderer_id for t in tickets.values()}
    await trio.sleep(3 * EPOCH)  # the carriers hand shards on and learn it of each other
    for i in BLACK_HOLES:
        swarm.nodes.append(swarm.spawn(i, keeper.addrs[:1]))
    owner.send(signal.SIGKILL)
    owner.wait(10)
    lost, listed = await churn_rounds(
        swarm, keeper, wids, random.Random(15), spared=frozenset(BLACK_HOLES), others=7
    )

    dropped = [m for i in BLACK_HOLES for m in DROP.finditer(swarm.nodes[i].log())]
    assert dropped, "the black holes were never given a shard: the test proves nothing"
    repaired = sum(len(w["repair_log"]) for w in listed["wanderers"])
    assert lost >= 6 and repaired >= 6, f"the churn cost little: {lost} shards, {repaired} repairs"
    await read_back(swarm.nodes[-1], files, tickets)  # joined in the last round
