"""Prometheus metrics of a node, read from its state at scrape time.

Opt-in (``--metrics HOST:PORT``); serve it on loopback: the RTT map and the
number of shards held are exactly what an observer would like to know. The
only module of the project that imports ``prometheus_client``; the daemon
imports it only when ``--metrics`` is given. The counters themselves are
:class:`wdp.node.stats.NodeStats`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .hostport import parse_hostport

if TYPE_CHECKING:
    from .node import Node

METRICS_EXAMPLE = "127.0.0.1:9464"


class NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        node, carrier = self.node, self.node.carrier
        stats = node.stats
        yield GaugeMetricFamily("wdp_shards_held", "Shards this node carries", len(carrier.held))
        yield GaugeMetricFamily(
            "wdp_shard_bytes_held", "Bytes of shards this node carries", carrier.used
        )
        yield GaugeMetricFamily("wdp_threat_level", "0 calm, 1 elevated, 2 critical, 3 panic",
                                int(carrier.level))  # fmt: skip
        hops = CounterMetricFamily("wdp_hops", "Completed handoffs", labels=["direction"])
        hops.add_metric(["in"], stats.hops_in)
        hops.add_metric(["out"], stats.hops_out)
        yield hops
        rejects = CounterMetricFamily(
            "wdp_rejects", "Refused handoffs by reject code", labels=["code", "by"]
        )
        for code, n in sorted(stats.rejects_sent.items()):
            rejects.add_metric([code, "this_node"], n)
        for code, n in sorted(stats.rejects_received.items()):
            rejects.add_metric([code, "peer"], n)
        yield rejects
        refusals = CounterMetricFamily(
            "wdp_refusals", "Refused peer and API requests, by kind", labels=["kind"]
        )
        for kind, n in sorted(node.refusals.counts.items()):
            refusals.add_metric([kind], n)
        yield refusals
        peers = carrier.latency.peers()
        yield GaugeMetricFamily("wdp_peers", "Peers in the latency map", len(peers))
        yield GaugeMetricFamily(
            "wdp_healthy_peers", "Healthy peers", sum(1 for p in peers if p.healthy)
        )
        rtt = GaugeMetricFamily("wdp_peer_rtt_seconds", "Smoothed ping RTT", labels=["peer"])
        loss = GaugeMetricFamily(
            "wdp_peer_loss_ratio", "Ping loss over the window", labels=["peer"]
        )
        for p in peers:
            label = p.peer.hex()[:16]
            if p.srtt is not None:
                rtt.add_metric([label], p.srtt)
            loss.add_metric([label], p.loss)
        yield rtt
        yield loss


def serve_metrics(node: Node, hostport: str) -> int:
    """Start the HTTP endpoint in a background thread; returns the bound port."""
    host, port = parse_hostport(hostport, example=METRICS_EXAMPLE)
    registry = CollectorRegistry()
    registry.register(NodeCollector(node))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)
