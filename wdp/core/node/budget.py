"""What other peers' streams may take of a node: how many, and bytes of partial frames.

Every inbound stream (a handoff to this node, a fetch or an audit of it) costs
a task, a session and a frame buffer that holds up to one frame (1.06 MiB)
until it is whole. Without a bound, 200 streams each holding a partial frame
took 282 MiB of the node's memory, linear in what the attacker chose to send.
So streams are counted per peer and in all, and so are the bytes they hold
in partial frames; a stream that would go over is refused (BUSY, the code a
peer already retries later) and the others go on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from .streams import Role, Stream

__all__ = [
    "INBOUND",
    "STREAM_OVERHEAD",
    "OpenRate",
    "StreamBudget",
    "over_buffer_budget",
    "over_stream_budget",
]

INBOUND = (Role.RECEIVE, Role.SERVE)


@dataclass(frozen=True, slots=True)
class StreamBudget:
    """Limits on inbound streams (defaults: README; all settings of the node core).

    Attributes:
        streams: Inbound migrate, fetch and audit streams open at once, all peers.
        streams_per_peer: ... from one peer.
        buffered: Bytes held in partial frames by inbound streams, all peers.
        buffered_per_peer: ... by one peer's streams (a panic sends up to 8
            handoffs at once, each holding up to 1.3 MiB between reads).
        opens_per_second: Inbound streams one peer may open per second, on
            average (each brings an offer or request whose signatures cost
            CPU: a fresh 64-link offer is 129 checks, 10 ms);
        open_burst: ... and at once, after a quiet spell.
    """

    streams: int = 256
    streams_per_peer: int = 16
    buffered: int = 64 << 20
    buffered_per_peer: int = 16 << 20
    opens_per_second: float = 20.0
    open_burst: int = 40


def _inbound(streams: Iterable[Stream]) -> list[Stream]:
    return [
        s
        for s in streams
        if s.role in INBOUND and not s.closed and s.session is not None and not s.session.finished
    ]


def over_stream_budget(budget: StreamBudget, streams: Iterable[Stream], peer: bytes) -> str | None:
    """Why one more inbound stream of ``peer`` is refused, or None (``streams``: the open ones)."""
    inbound = _inbound(streams)
    if len(inbound) >= budget.streams:
        return f"{len(inbound)} streams open; the limit is {budget.streams}"
    mine = sum(1 for s in inbound if s.peer == peer)
    if mine >= budget.streams_per_peer:
        return f"this peer has {mine} streams open; the limit is {budget.streams_per_peer}"
    return None


STREAM_OVERHEAD = 64 * 1024
"""Memory one open inbound stream costs besides its frame buffer (the muxer's window,
the read in hand, the session), counted with the partial frames so that what the
node actually holds stays within the budget."""


def _held(stream: Stream) -> int:
    assert stream.session is not None
    return stream.session.buffered + STREAM_OVERHEAD


def over_buffer_budget(
    budget: StreamBudget, streams: Iterable[Stream], stream: Stream
) -> str | None:
    """Why ``stream`` must end for the memory its peers hold in partial frames, or None."""
    inbound = _inbound(streams)
    total = sum(_held(s) for s in inbound)
    if total > budget.buffered:
        return f"{total} bytes of partial frames held; the limit is {budget.buffered}"
    mine = sum(_held(s) for s in inbound if s.peer == stream.peer)
    if mine > budget.buffered_per_peer:
        return (
            f"this peer's partial frames hold {mine} bytes; the limit is {budget.buffered_per_peer}"
        )
    return None


class OpenRate:
    """How fast each peer opens streams: a token bucket per peer (the last 10,000 peers)."""

    MEMORY = 10_000

    def __init__(self, budget: StreamBudget) -> None:
        self.budget = budget
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def allow(self, peer: bytes, now: float) -> str | None:
        """Take one token for ``peer``; the refusal's reason when it has none left."""
        rate, burst = self.budget.opens_per_second, float(self.budget.open_burst)
        tokens, then = self._buckets.pop(peer, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - then) * rate)
        allowed = tokens >= 1.0
        self._buckets[peer] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.MEMORY:
            self._buckets.popitem(last=False)
        if allowed:
            return None
        return f"this peer opens streams faster than {rate:g} a second"
