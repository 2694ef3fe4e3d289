"""The simulated network: where endpoints sit, how long messages take, what gets lost.

Every endpoint (a carrier node or an owner) belongs to an IPv4 /16 network
placed at a point of the unit square; round-trip times grow with distance
(``min_rtt`` next door, ``max_rtt`` across the map) plus a small access delay
per endpoint, and each sample gets multiplicative jitter. A testbed's
geography can instead give the RTT between networks outright (``region_rtt``). Faults add packet
loss and latency to chosen endpoints for a while.

Streams behave like TCP: frames arrive in order, a link's bandwidth
serializes them, and a lost packet costs a retransmission timeout (1 s,
doubling) rather than the frame; six losses in a row break the stream.
(Frames are treated as single packets: large frames on very lossy links do
better here than they would.)
"""

from __future__ import annotations

import math
import random

__all__ = ["RETRANSMIT_LIMIT", "RTO", "Network"]

RTO = 1.0  # first retransmission timeout, seconds (RFC 6298)
RETRANSMIT_LIMIT = 6  # losses in a row that break a stream


class Network:
    """Positions, RTTs, loss and extra delay of every endpoint."""

    __slots__ = (
        "access",
        "bandwidth",
        "base_loss",
        "extra_rtt",
        "jitter",
        "loss",
        "max_rtt",
        "min_rtt",
        "prefix_of",
        "prefix_pos",
        "region_rtt",
        "rng",
    )

    def __init__(
        self,
        rng: random.Random,
        *,
        prefix_pos: list[tuple[float, float]],
        prefix_of: list[int],
        min_rtt: float,
        max_rtt: float,
        jitter: float,
        base_loss: float,
        bandwidth: float,
        region_rtt: tuple[tuple[float, ...], ...] = (),
    ) -> None:
        self.rng = rng
        self.prefix_pos = prefix_pos
        self.prefix_of = prefix_of
        self.min_rtt = min_rtt
        self.max_rtt = max_rtt
        self.jitter = jitter
        self.base_loss = base_loss
        self.bandwidth = bandwidth
        self.region_rtt = region_rtt
        n = len(prefix_of)
        self.access = [rng.uniform(0.0, min_rtt) for _ in range(n)]
        self.loss = [0.0] * n
        self.extra_rtt = [0.0] * n

    def add_endpoint(self, prefix: int, rng: random.Random | None = None) -> int:
        """A new endpoint in ``prefix``; its access delay is drawn from ``rng`` if given
        (so that endpoints only some runs have leave the others' draws alone)."""
        self.prefix_of.append(prefix)
        self.access.append((rng or self.rng).uniform(0.0, self.min_rtt))
        self.loss.append(0.0)
        self.extra_rtt.append(0.0)
        return len(self.prefix_of) - 1

    def rtt(self, a: int, b: int) -> float:
        """Round-trip time between two endpoints without jitter."""
        if self.region_rtt:  # given outright, a testbed's geography: no access delay
            pa, pb = self.prefix_of[a], self.prefix_of[b]
            return self.region_rtt[pa][pb] + self.extra_rtt[a] + self.extra_rtt[b]
        (xa, ya), (xb, yb) = self.prefix_pos[self.prefix_of[a]], self.prefix_pos[self.prefix_of[b]]
        d = math.hypot(xa - xb, ya - yb) / math.sqrt(2.0)
        return (
            self.min_rtt
            + d * (self.max_rtt - self.min_rtt)
            + self.access[a]
            + self.access[b]
            + self.extra_rtt[a]
            + self.extra_rtt[b]
        )

    def sample_rtt(self, a: int, b: int) -> float:
        return self.rtt(a, b) * (1.0 + self.jitter * self.rng.random())

    def link_loss(self, a: int, b: int) -> float:
        return 1.0 - (1.0 - self.base_loss) * (1.0 - self.loss[a]) * (1.0 - self.loss[b])

    def ping_fails(self, a: int, b: int) -> bool:
        """A ping is two packets; it fails if either is lost."""
        p = self.link_loss(a, b)
        return self.rng.random() < 1.0 - (1.0 - p) * (1.0 - p)

    def retransmissions(self, a: int, b: int, packets: int = 2) -> float | None:
        """Seconds ``packets`` packets on a stream from a to b (and back) spend waiting
        for retransmission; None: one was lost too often and the stream breaks."""
        p = self.link_loss(a, b)
        extra = 0.0
        for _ in range(packets):
            rto, losses = RTO, 0
            while p > 0.0 and self.rng.random() < p:
                losses += 1
                if losses >= RETRANSMIT_LIMIT:
                    return None
                extra += rto
                rto *= 2.0
        return extra

    def frame_delay(self, a: int, b: int) -> float | None:
        """One-way delay of a frame from a to b (beyond serialization); None: stream breaks."""
        p = self.link_loss(a, b)
        delay = self.rtt(a, b) * (0.5 + 0.5 * self.jitter * self.rng.random())
        rto = RTO
        losses = 0
        while p > 0.0 and self.rng.random() < p:
            losses += 1
            if losses >= RETRANSMIT_LIMIT:
                return None
            delay += rto
            rto *= 2.0
        return delay
