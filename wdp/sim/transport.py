"""How streams between in-process endpoints fare: a perfect link, or the modelled network."""

from __future__ import annotations

from .network import Network
from .runtime import Link

__all__ = ["NetworkTransport", "PerfectLink"]


class PerfectLink:
    """Every dial works and every frame arrives at once, in order (the test grid's network)."""

    def reachable(self, src: int, dst: int) -> bool:
        return True

    def dial_failure_delay(self, src: int, dst: int) -> float:
        return 0.0

    def arrival(self, link: Link, side: int, size: int, now: float) -> float | None:
        at = max(now, link.arrive[side])
        link.arrive[side] = at
        return at

    def close_arrival(self, link: Link, side: int, now: float) -> float:
        return self.arrival(link, side, 0, now) or now


class NetworkTransport:
    """Frames over :class:`~wdp.sim.network.Network`: bandwidth, delay, loss, broken streams.

    A link's bandwidth serializes the frames each side sends; each frame then
    takes the network's one-way delay (retransmissions included) and frames
    stay in order. A dial to an endpoint that is down fails after
    ``dial_timeout`` seconds.
    """

    def __init__(self, net: Network, dial_timeout: float) -> None:
        self.net = net
        self.dial_timeout = dial_timeout

    def reachable(self, src: int, dst: int) -> bool:
        return True

    def dial_failure_delay(self, src: int, dst: int) -> float:
        return self.dial_timeout

    def arrival(self, link: Link, side: int, size: int, now: float) -> float | None:
        a, b = link.ends[side][0], link.ends[1 - side][0]
        start = max(now, link.wire_free[side])
        link.wire_free[side] = start + size / self.net.bandwidth
        delay = self.net.frame_delay(a, b)
        if delay is None:
            return None
        at = max(link.wire_free[side] + delay, link.arrive[side])
        link.arrive[side] = at
        return at

    def close_arrival(self, link: Link, side: int, now: float) -> float:
        at = max(now, link.arrive[side]) + 0.0005
        link.arrive[side] = at
        return at
