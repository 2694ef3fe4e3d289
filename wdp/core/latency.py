"""Latency map: smoothed RTT, recent loss and health per peer.

THREAT hops go to the *furthest* healthy peer, so the node needs a measured,
noise-tolerant view of every peer's round-trip time. RTTs are smoothed the way
TCP does it (RFC 6298 SRTT/RTTVAR), with a configurable gain because pings are
far sparser than TCP segments. Health is deliberately simple and explainable:
a peer is unhealthy when it was marked lost, when it failed several pings in a
row, or when most of its recent pings failed.

Distance for a THREAT hop is the **windowed minimum** RTT (``min_rtt``, over
``min_rtt_window``, as Linux's ``tcp_min_rtt_wlen``), not the smoothed one:
delay can be added to a path (congestion, a peer that holds back its pongs to
look far) but never removed below the physical floor, so the minimum is what
an inflating peer cannot fake upward for long and what congestion does not
move. A peer is **steady** (fit to receive a fleeing shard) when it is
healthy, has failed no ping for ``calm_window`` seconds, and its smoothed RTT
has not risen above ``rise_factor`` x its own minimum (plus ``rise_floor``).

Pure state: the driver reports ping outcomes and discovery events with the
time as an argument; nothing here reads a clock. Memory is bounded by
``LatencyParams.max_peers`` (least recently updated peers are dropped first).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

__all__ = ["LatencyMap", "LatencyParams", "PeerStats"]


@dataclass(frozen=True, slots=True)
class LatencyParams:
    """Tuning of the latency map; every threshold lives here.

    Attributes:
        alpha: EWMA gain for SRTT (TCP uses 1/8; pings are sparse, so react
            faster).
        beta: EWMA gain for RTTVAR (RFC 6298 value).
        loss_window: Number of most recent ping outcomes kept per peer.
        max_loss: A peer whose loss over the window exceeds this is unhealthy.
        min_loss_samples: The loss rule applies only once the window holds at
            least this many outcomes, so one early failure is not judged as
            100% loss (py-libp2p closes idle ping streams: single failures
            are soft).
        max_consecutive_failures: This many failures in a row make a peer
            unhealthy regardless of its loss ratio.
        max_peers: Bound on tracked peers; the least recently updated peer is
            forgotten when a new one arrives at the bound.
        min_rtt_window: Seconds over which the minimum RTT is kept.
        calm_window: A peer that failed a ping this recently is not steady.
        rise_factor: A peer whose SRTT exceeds ``rise_factor * min_rtt +
            rise_floor`` is not steady (its path got slower than its own best).
        rise_floor: Seconds of slack in that test (sub-millisecond LAN RTTs
            jitter by large factors).
    """

    alpha: float = 0.3
    beta: float = 0.25
    loss_window: int = 20
    max_loss: float = 0.5
    min_loss_samples: int = 5
    max_consecutive_failures: int = 3
    max_peers: int = 10_000
    min_rtt_window: float = 300.0
    calm_window: float = 60.0
    rise_factor: float = 2.0
    rise_floor: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if not 0.0 < self.beta <= 1.0:
            raise ValueError("beta must be in (0, 1]")
        if self.loss_window < 1:
            raise ValueError("loss_window must be >= 1")
        if not 0.0 <= self.max_loss < 1.0:
            raise ValueError("max_loss must be in [0, 1)")
        if not 1 <= self.min_loss_samples <= self.loss_window:
            raise ValueError("min_loss_samples must be in [1, loss_window]")
        if self.max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")
        if self.max_peers < 1:
            raise ValueError("max_peers must be >= 1")
        for name in ("min_rtt_window", "calm_window", "rise_floor"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0.0):
                raise ValueError(f"{name} must be a non-negative number of seconds")
        if not (math.isfinite(self.rise_factor) and self.rise_factor >= 1.0):
            raise ValueError("rise_factor must be >= 1")


@dataclass(frozen=True, slots=True)
class PeerStats:
    """Read-only snapshot of one peer's entry in the map.

    ``srtt``/``rtt_var`` are seconds (``None`` until the first successful
    ping); ``loss`` is the failure fraction over the outcome window (0.0 when
    empty); ``last_seen`` is the time of the last positive evidence of life
    (successful ping or discovery), ``None`` if never.
    """

    peer: bytes
    ipv4: str | None
    srtt: float | None
    rtt_var: float | None
    loss: float
    consecutive_failures: int
    healthy: bool
    last_seen: float | None
    samples: int
    lost: bool
    min_rtt: float | None = None
    steady: bool = False


@dataclass(slots=True)
class _Entry:
    ipv4: str | None = None
    srtt: float | None = None
    rtt_var: float | None = None
    outcomes: deque[bool] = field(default_factory=deque)  # True = failure
    failures: int = 0
    consecutive_failures: int = 0
    last_seen: float | None = None
    lost: bool = False
    last_failure: float | None = None
    low: deque[tuple[float, float]] = field(default_factory=deque)  # (t, rtt), rtt rising
    now: float = -math.inf  # the latest time this entry heard of


def _check_time(now: float) -> None:
    if not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds")


class LatencyMap:
    """Per-peer RTT and health, fed by the driver's ping and discovery events."""

    def __init__(self, params: LatencyParams | None = None) -> None:
        self.params = params if params is not None else LatencyParams()
        # Ordered by last update (oldest first) so eviction is O(1).
        self._peers: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    # -- events -------------------------------------------------------------

    def ping_ok(self, peer: bytes, rtt: float, now: float) -> None:
        """Record a successful ping that took ``rtt`` seconds."""
        if not (math.isfinite(rtt) and rtt >= 0.0):
            raise ValueError("rtt must be a finite, non-negative number of seconds")
        _check_time(now)
        e = self._touch(peer)
        p = self.params
        if e.srtt is None or e.rtt_var is None:
            e.srtt = rtt
            e.rtt_var = rtt / 2.0
        else:
            e.rtt_var = (1.0 - p.beta) * e.rtt_var + p.beta * abs(e.srtt - rtt)
            e.srtt = (1.0 - p.alpha) * e.srtt + p.alpha * rtt
        self._record(e, failed=False)
        e.consecutive_failures = 0
        e.lost = False
        e.last_seen = now
        e.now = max(e.now, now)
        # Windowed minimum: keep samples in rising order, drop the ones a lower,
        # later sample makes irrelevant, and the ones that left the window.
        while e.low and e.low[-1][1] >= rtt:
            e.low.pop()
        e.low.append((now, rtt))
        while e.low[0][0] < now - p.min_rtt_window:
            e.low.popleft()

    def ping_failed(self, peer: bytes, now: float) -> None:
        """Record a ping that timed out or errored."""
        _check_time(now)
        e = self._touch(peer)
        self._record(e, failed=True)
        e.consecutive_failures += 1
        e.last_failure = now
        e.now = max(e.now, now)

    def peer_seen(self, peer: bytes, ipv4: str | None, now: float) -> None:
        """Record that the peer was discovered or (re)connected.

        A ``None`` address keeps the previously known one: discovery sources
        often report a peer before its address is known. Clears ``lost``.
        """
        _check_time(now)
        e = self._touch(peer)
        if ipv4 is not None:
            e.ipv4 = ipv4
        e.lost = False
        e.last_seen = now

    def peer_lost(self, peer: bytes, now: float) -> None:
        """Mark the peer unhealthy until it is seen or answers a ping again."""
        _check_time(now)
        self._touch(peer).lost = True

    def forget(self, peer: bytes) -> None:
        """Drop everything known about the peer (no-op if unknown)."""
        self._peers.pop(peer, None)

    # -- queries ------------------------------------------------------------

    def stats(self, peer: bytes) -> PeerStats | None:
        """Snapshot of one peer, or ``None`` if it is not tracked."""
        e = self._peers.get(peer)
        return None if e is None else self._snapshot(peer, e)

    def peers(self) -> list[PeerStats]:
        """All tracked peers, sorted by peer bytes (deterministic order)."""
        return [self._snapshot(k, self._peers[k]) for k in sorted(self._peers)]

    def healthy_peers(self) -> list[PeerStats]:
        """Healthy peers, sorted by peer bytes."""
        return [s for s in self.peers() if s.healthy]

    # -- internals ----------------------------------------------------------

    def _touch(self, peer: bytes) -> _Entry:
        e = self._peers.get(peer)
        if e is None:
            if len(self._peers) >= self.params.max_peers:
                self._peers.popitem(last=False)
            e = _Entry(outcomes=deque(maxlen=self.params.loss_window))
            self._peers[peer] = e
        else:
            self._peers.move_to_end(peer)
        return e

    @staticmethod
    def _record(e: _Entry, *, failed: bool) -> None:
        if e.outcomes.maxlen is not None and len(e.outcomes) == e.outcomes.maxlen:
            e.failures -= e.outcomes[0]
        e.outcomes.append(failed)
        e.failures += failed

    def _snapshot(self, peer: bytes, e: _Entry) -> PeerStats:
        p = self.params
        n = len(e.outcomes)
        loss = e.failures / n if n else 0.0
        healthy = not (
            e.lost
            or e.consecutive_failures >= p.max_consecutive_failures
            or (n >= p.min_loss_samples and loss > p.max_loss)
        )
        min_rtt = e.low[0][1] if e.low else None
        calm = e.last_failure is None or e.now - e.last_failure >= p.calm_window
        risen = (
            e.srtt is not None
            and min_rtt is not None
            and e.srtt > p.rise_factor * min_rtt + p.rise_floor
        )
        return PeerStats(
            peer=peer,
            ipv4=e.ipv4,
            srtt=e.srtt,
            rtt_var=e.rtt_var,
            loss=loss,
            consecutive_failures=e.consecutive_failures,
            healthy=healthy,
            last_seen=e.last_seen,
            samples=n,
            lost=e.lost,
            min_rtt=min_rtt,
            steady=healthy and calm and min_rtt is not None and not risen,
        )
