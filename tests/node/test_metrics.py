"""The opt-in Prometheus endpoint reports what the node is doing."""

from __future__ import annotations

import urllib.request

import pytest
import trio

from wdp.node.metrics import serve_metrics

from .helpers import OWNER_SEED, MovableClock, make_wanderer, nodes


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@pytest.mark.trio
async def test_metrics_report_shards_hops_rejects_and_peers() -> None:
    clock = MovableClock()
    async with nodes(clock, 31, 32) as (a, b):
        port = serve_metrics(a, "127.0.0.1:0")
        w = make_wanderer(clock, epoch=3600)
        assert (await b.launch_shard(w, 0, a.peer_id, owner_seed=OWNER_SEED)).ok
        # A second shard of the same wanderer is refused (SIBLING_HELD).
        assert not (await b.launch_shard(w, 1, a.peer_id, owner_seed=OWNER_SEED)).ok
        with trio.fail_after(10):
            await a.wait_until(lambda: a.stats.hops_in == 1 and a.stats.rejects_sent)
        m = await trio.to_thread.run_sync(scrape, port)
        assert m["wdp_shards_held"] == 1
        assert m["wdp_shard_bytes_held"] == w.manifest.value.shard_size
        assert m['wdp_hops_total{direction="in"}'] == 1
        assert m['wdp_rejects_total{by="this_node",code="SIBLING_HELD"}'] == 1
        assert m['wdp_refusals_total{kind="handoff SIBLING_HELD"}'] == 1
        assert m["wdp_threat_level"] == 0
        assert m["wdp_peers"] >= 1
