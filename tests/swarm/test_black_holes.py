"""Black holes among real processes: audits find them, repair restores n before a file is lost.

Ten ``wdp-node`` processes, two of which are black holes (``blackhole_node.py``:
the real daemon with a core that signs receipts and discards every shard).
Node 0 puts files on the eight honest nodes, which wander for three epochs
(the carriers learn who hands shards on); then the black holes join. Every
file must survive the next 12 epochs, and every shard a black hole dropped
must be repaired within 2 audit intervals of the drop, as the owner's own
records (``wdp ls``'s repair log) say.

Why the black holes join an established swarm: in a swarm of ten where
nobody has handed anything on yet, the first TTL hops have no evidence to go
by, and with six shards per file on ten nodes the few peers free of a sibling
include both black holes: half of the first hops would fall in. At scale
(the study's 200 nodes) black holes present from the start cost well under
1 % of wanderers; here the test checks the mechanism, not the first-epoch
lottery of a ten-node swarm.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from wdp.client.api import ApiClient
from wdp.node.host import peer_key_of
from wdp.ops.localswarm import LocalSwarm

pytestmark = [pytest.mark.slow, pytest.mark.trio]

EPOCH = 10  # seconds
AUDIT_INTERVAL = 5.0  # the owner's check round, at most this long apart (audits every shard)
EPOCHS = 12
BLACK_HOLES = (8, 9)
DROP = re.compile(r"black hole: dropped ([0-9a-f]+) (\d+) (\d+) at ([0-9.]+)")
BLACKHOLE = [sys.executable, str(Path(__file__).with_name("blackhole_node.py"))]


async def call(node_dir: Path, request: dict, payload: bytes | None = None):
    client = ApiClient(node_dir / "api.sock")
    return await trio.to_thread.run_sync(lambda: client.call(request, payload))


def drops(swarm: LocalSwarm) -> list[tuple[str, int, int, float]]:
    """(wanderer id hex, shard, generation, when) for every shard a black hole dropped."""
    out = []
    for i in BLACK_HOLES:
        for m in DROP.finditer(swarm.nodes[i].log()):
            out.append((m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4))))
    return sorted(out, key=lambda d: d[3])


async def test_audits_find_black_holes_and_repair_restores_n_before_any_file_is_lost(
    swarm_factory,
):
    swarm: LocalSwarm = swarm_factory(
        8,
        env={"WDP_EPOCH": str(EPOCH), "WDP_REPAIR_INTERVAL": str(AUDIT_INTERVAL)},
        commands={i: BLACKHOLE for i in BLACK_HOLES},
    )
    owner = swarm.nodes[0].data_dir
    files = {f"file-{i}": bytes([i]) * 20_000 + bytes(range(256)) * i for i in range(3)}
    tickets = {}
    for name, data in files.items():
        answer, _ = await call(owner, {"op": "put", "name": name, "size": len(data),
                                       "k": 3, "n": 6}, data)  # fmt: skip
        tickets[name] = answer["ticket"]
    await trio.sleep(3 * EPOCH)  # the honest carriers hand shards on and learn it of each other
    for i in BLACK_HOLES:
        swarm.nodes.append(swarm.spawn(i, swarm.nodes[0].addrs[:1]))
    started = time.time()
    await trio.sleep(EPOCHS * EPOCH)
    for name, data in files.items():  # every file survived 12 epochs
        _, got = await call(owner, {"op": "get", "ticket": tickets[name]})
        assert got == data, name
    await trio.sleep(2 * AUDIT_INTERVAL)  # the latest drops get their two intervals too

    dropped = [d for d in drops(swarm) if d[3] <= started + EPOCHS * EPOCH]
    assert dropped, "the black holes were never given a shard: the test proves nothing"
    answer, _ = await call(owner, {"op": "ls", "repairs": True})
    log = {w["id"]: w["repair_log"] for w in answer["wanderers"]}
    holes = {peer_key_of(ID.from_base58(swarm.nodes[i].peer_id)).hex() for i in BLACK_HOLES}
    late, blamed = [], set()
    for wid, shard, generation, when in dropped:
        repairs = [
            r for r in log[wid[:16]]
            if r["shard"] == shard and r["generation"] > generation and r["repaired_at"] >= when
        ]  # fmt: skip
        if not repairs or repairs[0]["repaired_at"] - when > 2 * AUDIT_INTERVAL:
            late.append((wid[:8], shard, generation, when, repairs[:1]))
        else:
            blamed.add(repairs[0]["blamed"])
    assert not late, f"drops not repaired within 2 audit intervals: {late}"
    assert blamed <= holes, "an honest node was blamed for a black hole's drop"
