"""Prometheus metrics of a node, read from its state at scrape time.

Opt-in (``--metrics HOST:PORT``); serve it on loopback: the RTT map and the
number of shards held are exactly what an observer would like to know.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .hostport import parse_hostport

if TYPE_CHECKING:
    from .node import Node

METRICS_EXAMPLE = "127.0.0.1:9464"


@dataclass
class NodeStats:
    """Counters a node keeps for metrics and status."""

    hops_in: int = 0
    hops_out: int = 0
    rejects_sent: dict[str, int] = field(default_factory=dict)  # we refused an offer
    rejects_received: dict[str, int] = field(default_factory=dict)  # our offer was refused

    def count_reject(self, code: str, *, sent: bool) -> None:
        table = self.rejects_sent if sent else self.rejects_received
        table[code] = table.get(code, 0) + 1


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
