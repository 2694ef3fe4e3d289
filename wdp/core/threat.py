"""Threat detection: turn swarm observations into a threat level.

A carrier that senses danger moves its shards at once (THREAT hop). The
signals are the ones the seed names, made measurable:

=====================  =============================================  =========
signal                 condition (within ``window`` seconds)          level
=====================  =============================================  =========
packet loss            failed / all pings >= ``loss_elevated``         ELEVATED
                       (only with >= ``min_samples`` pings)
packet loss            failed / all pings >= ``loss_critical``         CRITICAL
RTT anomaly            >= ``rtt_anomaly_share`` of peers with judged    ELEVATED
                       samples had an anomalous RTT, and at least
                       ``min_peers`` peers did
seizure pattern        >= ``seizure_share`` of known peers lost, with   CRITICAL
                       >= ``min_peers`` known and >= ``min_lost`` lost
operator panic         ``OperatorPanic`` observed (sticky until          PANIC
                       ``reset()``)
=====================  =============================================  =========

An RTT sample is anomalous when it exceeds
``max(rtt_factor * baseline, baseline + rtt_floor)``; the floor keeps
sub-millisecond LAN baselines from turning ordinary jitter into alarms. A
peer's baseline is an EWMA of its RTTs and is judged only after
``baseline_samples`` samples. Anomalous samples feed the baseline with the
small gain ``anomalous_alpha``, so a sudden slowdown stands out while a
permanent route change is eventually absorbed.

Only **established** peers count as evidence: a peer that has answered at
least one ping and has been known for ``min_age`` seconds. Only their pings
enter the loss ratio (both ways: young identities can neither raise it nor
dilute it), only their RTTs are judged, and only their departures are
losses. A silent identity is not a lossy network, and identities known for
minutes that vanish together are not a raid; both are what an attacker
would do to provoke flight. "Known peers" of
the seizure rule are established peers that are present or were lost within
the window; a lost peer is forgotten once its loss leaves the window, and a
lost peer that is seen or answers a ping again no longer counts as lost
(churn that comes back is not a seizure).

Hysteresis: the level rises at once, but steps down one level at a time, each
step only after ``cooldown`` seconds with no signal at or above the current
level, so a flapping network does not thrash hops.

Sans-IO, aioquic style: time arrives in observations, ``get_timer()`` says
when the detector next needs ``handle_timer(now)`` (a window entry expires or
the level may decay). Observation times are clamped to be non-decreasing.
Memory is bounded: windows are pruned by time and capped by
``max_window_events``; at most ``max_peers`` peers are tracked (least recently
observed evicted first).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "Observation",
    "OperatorPanic",
    "PeerLost",
    "PeerSeen",
    "PingFailed",
    "PingOk",
    "ThreatDetector",
    "ThreatLevel",
    "ThreatParams",
]


class ThreatLevel(IntEnum):
    """How much danger the carrier senses; higher is worse."""

    CALM = 0
    ELEVATED = 1
    CRITICAL = 2
    PANIC = 3


@dataclass(frozen=True, slots=True)
class PingOk:
    """A ping to ``peer`` succeeded in ``rtt`` seconds at time ``now``."""

    peer: bytes
    rtt: float
    now: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rtt) and self.rtt >= 0.0):
            raise ValueError("rtt must be a finite, non-negative number of seconds")


@dataclass(frozen=True, slots=True)
class PingFailed:
    """A ping to ``peer`` timed out or errored at time ``now``."""

    peer: bytes
    now: float


@dataclass(frozen=True, slots=True)
class PeerLost:
    """The connection to ``peer`` dropped / the peer vanished at ``now``."""

    peer: bytes
    now: float


@dataclass(frozen=True, slots=True)
class PeerSeen:
    """``peer`` was discovered or (re)connected at ``now`` (``ipv4``: its address, if known)."""

    peer: bytes
    now: float
    ipv4: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorPanic:
    """The operator pressed the red button at ``now``."""

    now: float


Observation = PingOk | PingFailed | PeerLost | PeerSeen | OperatorPanic


@dataclass(frozen=True, slots=True)
class ThreatParams:
    """Thresholds of the threat detector (see module docstring for the table).

    Attributes:
        window: Sliding window, seconds, over which signals are evaluated.
        loss_elevated: Swarm ping-failure ratio that raises ELEVATED.
        loss_critical: Swarm ping-failure ratio that raises CRITICAL.
        min_samples: Pings needed in the window before loss is judged.
        rtt_factor: An RTT above ``rtt_factor * baseline`` may be anomalous...
        rtt_floor: ...but only if it also exceeds ``baseline + rtt_floor``
            seconds (sub-millisecond baselines jitter by large factors).
        rtt_anomaly_share: Share of peers with judged samples in the window
            that must show an anomaly to raise ELEVATED.
        min_peers: Minimum anomalous peers for the RTT rule, and minimum known
            peers for the seizure rule (tiny swarms are too noisy).
        seizure_share: Share of known peers lost within the window that
            raises CRITICAL.
        min_lost: Minimum peers lost within the window for the seizure rule;
            one departure is churn, not a raid.
        cooldown: Seconds without a signal at the current level before the
            level steps down one notch.
        alpha: EWMA gain of a peer's RTT baseline for normal samples.
        anomalous_alpha: EWMA gain for anomalous samples, small so an attack
            does not quickly become the new normal.
        baseline_samples: Samples a peer needs before its RTTs are judged.
        max_peers: Bound on tracked peers (least recently observed evicted).
        max_window_events: Bound on ping outcomes kept in the window (oldest
            dropped first) so a ping flood cannot grow memory.
        min_age: Seconds a peer must have been known (and have answered a
            ping) before its loss or its departure counts as evidence.
        established_only: Only established peers are evidence (the rule
            above). False is the old rule, kept to measure the defence: every
            ping failure and every departure counts.
    """

    window: float = 30.0
    loss_elevated: float = 0.2
    loss_critical: float = 0.5
    min_samples: int = 6
    rtt_factor: float = 4.0
    rtt_floor: float = 0.05
    rtt_anomaly_share: float = 0.5
    min_peers: int = 3
    seizure_share: float = 0.3
    min_lost: int = 2
    cooldown: float = 60.0
    alpha: float = 0.3
    anomalous_alpha: float = 0.05
    baseline_samples: int = 3
    max_peers: int = 10_000
    max_window_events: int = 100_000
    min_age: float = 300.0
    established_only: bool = True

    def __post_init__(self) -> None:
        for name in ("window", "cooldown"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if not 0.0 < self.loss_elevated <= self.loss_critical <= 1.0:
            raise ValueError("need 0 < loss_elevated <= loss_critical <= 1")
        for name in ("rtt_anomaly_share", "seizure_share", "alpha"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if not 0.0 <= self.anomalous_alpha <= 1.0:
            raise ValueError("anomalous_alpha must be in [0, 1]")
        if not (math.isfinite(self.rtt_factor) and self.rtt_factor >= 1.0):
            raise ValueError("rtt_factor must be >= 1")
        if not (math.isfinite(self.rtt_floor) and self.rtt_floor >= 0.0):
            raise ValueError("rtt_floor must be >= 0")
        for name in ("min_samples", "min_peers", "min_lost", "baseline_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_peers < 1 or self.max_window_events < 1:
            raise ValueError("max_peers and max_window_events must be >= 1")
        if not (math.isfinite(self.min_age) and self.min_age >= 0.0):
            raise ValueError("min_age must be a non-negative number of seconds")


_DECAYING = (ThreatLevel.ELEVATED, ThreatLevel.CRITICAL)


class _Peer:
    __slots__ = ("answered", "baseline", "first_seen", "lost", "samples")

    def __init__(self, now: float) -> None:
        self.baseline: float | None = None
        self.samples = 0
        self.lost = False
        self.first_seen = now
        self.answered = False  # a ping came back at least once

    def established(self, now: float, min_age: float) -> bool:
        return self.answered and now - self.first_seen >= min_age


class ThreatDetector:
    """Sliding-window threat detector with hysteresis (see module docstring)."""

    def __init__(self, params: ThreatParams | None = None) -> None:
        self.params = params if params is not None else ThreatParams()
        self._now = -math.inf
        self._peers: OrderedDict[bytes, _Peer] = OrderedDict()  # LRU order
        self._pings: deque[tuple[float, bool]] = deque()  # (t, failed)
        self._failed = 0
        self._judged: OrderedDict[bytes, float] = OrderedDict()  # last judged sample
        self._anomalous: OrderedDict[bytes, float] = OrderedDict()  # last anomaly
        self._lost: OrderedDict[bytes, float] = OrderedDict()  # lost within window
        self._panic = False
        self._level = ThreatLevel.CALM
        self._signal = ThreatLevel.CALM
        self._signal_reasons: tuple[str, ...] = ()
        self._trigger_reasons: tuple[str, ...] = ()
        self._changed_at = -math.inf
        self._last_trigger: dict[ThreatLevel, float] = {}
        self._dirty = False

    # -- public API ---------------------------------------------------------

    @property
    def level(self) -> ThreatLevel:
        """Current (hysteresis-smoothed) threat level."""
        return self._level

    @property
    def reasons(self) -> tuple[str, ...]:
        """Short human-readable explanations of the current level."""
        if self._level == ThreatLevel.CALM:
            return ()
        if self._signal >= self._level:
            return self._signal_reasons
        until = self._decay_at()
        hold = f"holding {self._level.name} until {until:.1f} (cooldown)"
        return (hold, *self._trigger_reasons)

    @property
    def tracked_peers(self) -> int:
        """Number of peers currently tracked (bounded by ``max_peers``)."""
        return len(self._peers)

    @property
    def window_events(self) -> int:
        """Entries currently held in the sliding windows (for memory checks)."""
        return len(self._pings) + len(self._judged) + len(self._anomalous) + len(self._lost)

    def observe(self, obs: Observation) -> ThreatLevel | None:
        """Feed one observation; return the new level if it changed."""
        now = self._advance(obs.now)
        if isinstance(obs, OperatorPanic):
            self._panic = True
        elif isinstance(obs, PingOk):
            peer = self._touch(obs.peer, now)
            self._back(obs.peer, peer)
            peer.answered = True
            evidence = self._evidence(peer, now)
            if evidence:  # young identities neither raise nor dilute the loss ratio
                self._ping(now, failed=False)
            self._judge(obs.peer, peer, obs.rtt, now, judged=evidence)
        elif isinstance(obs, PingFailed):
            peer = self._touch(obs.peer, now)
            if self._evidence(peer, now):  # else: silent or fleeting, no evidence
                self._ping(now, failed=True)
        elif isinstance(obs, PeerSeen):
            self._back(obs.peer, self._touch(obs.peer, now))
        elif isinstance(obs, PeerLost):
            peer = self._touch(obs.peer, now)
            if self._evidence(peer, now):
                peer.lost = True
                self._lost[obs.peer] = now
                self._lost.move_to_end(obs.peer)
            else:  # a fleeting identity: its departure is no evidence of anything
                self._drop(obs.peer)
            self._judged.pop(obs.peer, None)
            self._anomalous.pop(obs.peer, None)
        else:  # pragma: no cover - exhaustive over Observation
            raise TypeError(f"unknown observation {obs!r}")
        return self._evaluate(now)

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next run, or ``None`` if nothing pends."""
        if self._dirty:
            return self._now
        w = self.params.window
        times = [d[next(iter(d))] + w for d in (self._judged, self._anomalous, self._lost) if d]
        if self._pings:
            times.append(self._pings[0][0] + w)
        if self._level in _DECAYING and self._signal < self._level:
            times.append(self._decay_at())
        return min(times) if times else None

    def handle_timer(self, now: float) -> ThreatLevel | None:
        """Expire window entries and decay the level; return it if it changed."""
        return self._evaluate(self._advance(now))

    def reset(self) -> None:
        """Clear operator panic and hysteresis (back to CALM).

        Windows and baselines are kept: ``get_timer()`` then returns the
        current time so the driver re-evaluates at once, and a live threat
        re-raises the level.
        """
        self._panic = False
        self._level = ThreatLevel.CALM
        self._signal = ThreatLevel.CALM
        self._signal_reasons = ()
        self._trigger_reasons = ()
        self._changed_at = -math.inf
        self._last_trigger.clear()
        self._dirty = math.isfinite(self._now)

    # -- internals ----------------------------------------------------------

    def _advance(self, now: float) -> float:
        if not math.isfinite(now):
            raise ValueError("now must be a finite number of seconds")
        self._now = max(self._now, now)
        return self._now

    def _touch(self, key: bytes, now: float) -> _Peer:
        peer = self._peers.get(key)
        if peer is None:
            if len(self._peers) >= self.params.max_peers:
                old, _ = self._peers.popitem(last=False)
                self._drop(old)
            peer = _Peer(now)
            self._peers[key] = peer
        else:
            self._peers.move_to_end(key)
        return peer

    def _drop(self, key: bytes) -> None:
        self._peers.pop(key, None)
        self._judged.pop(key, None)
        self._anomalous.pop(key, None)
        self._lost.pop(key, None)

    def _back(self, key: bytes, peer: _Peer) -> None:
        """A peer showed life: it no longer counts as lost."""
        if peer.lost:
            peer.lost = False
            self._lost.pop(key, None)

    def _ping(self, now: float, *, failed: bool) -> None:
        if len(self._pings) >= self.params.max_window_events:
            _, old_failed = self._pings.popleft()
            self._failed -= old_failed
        self._pings.append((now, failed))
        self._failed += failed

    def _evidence(self, peer: _Peer, now: float) -> bool:
        """Whether what happens to ``peer`` counts (see "established" in the module docstring)."""
        p = self.params
        return peer.established(now, p.min_age) or not p.established_only

    def _judge(self, key: bytes, peer: _Peer, rtt: float, now: float, *, judged: bool) -> None:
        """Feed ``rtt`` to the peer's baseline; only a ``judged`` peer's sample can be anomalous."""
        p = self.params
        anomalous = False
        if judged and peer.baseline is not None and peer.samples >= p.baseline_samples:
            limit = max(p.rtt_factor * peer.baseline, peer.baseline + p.rtt_floor)
            anomalous = rtt > limit
            self._judged[key] = now
            self._judged.move_to_end(key)
            if anomalous:
                self._anomalous[key] = now
                self._anomalous.move_to_end(key)
        if peer.baseline is None:
            peer.baseline = rtt
        else:
            gain = p.anomalous_alpha if anomalous else p.alpha
            peer.baseline += gain * (rtt - peer.baseline)
        peer.samples = min(peer.samples + 1, p.baseline_samples)

    def _prune(self, now: float) -> None:
        w = self.params.window
        while self._pings and self._pings[0][0] + w <= now:
            _, failed = self._pings.popleft()
            self._failed -= failed
        for d in (self._judged, self._anomalous):
            while d and d[next(iter(d))] + w <= now:
                d.popitem(last=False)
        while self._lost and self._lost[next(iter(self._lost))] + w <= now:
            key, _ = self._lost.popitem(last=False)
            self._peers.pop(key, None)  # gone for a whole window: forget it

    def _compute_signal(self) -> tuple[ThreatLevel, tuple[str, ...]]:
        p = self.params
        level = ThreatLevel.CALM
        reasons: list[str] = []

        def raise_to(lv: ThreatLevel, why: str) -> None:
            nonlocal level
            level = max(level, lv)
            reasons.append(why)

        if self._panic:
            raise_to(ThreatLevel.PANIC, "operator panic")
        n = len(self._pings)
        if n >= p.min_samples:
            loss = self._failed / n
            if loss >= p.loss_critical:
                raise_to(
                    ThreatLevel.CRITICAL,
                    f"loss {loss:.2f} >= {p.loss_critical:.2f} over {n} pings",
                )
            elif loss >= p.loss_elevated:
                raise_to(
                    ThreatLevel.ELEVATED,
                    f"loss {loss:.2f} >= {p.loss_elevated:.2f} over {n} pings",
                )
        judged, anomalous = len(self._judged), len(self._anomalous)
        if anomalous >= p.min_peers and anomalous >= p.rtt_anomaly_share * judged:
            raise_to(
                ThreatLevel.ELEVATED,
                f"rtt anomaly on {anomalous}/{judged} peers >= {p.rtt_anomaly_share:.2f}",
            )
        now = self._now
        known = sum(1 for peer in self._peers.values() if self._evidence(peer, now))
        lost = len(self._lost)
        if known >= p.min_peers and lost >= p.min_lost and lost >= p.seizure_share * known:
            raise_to(
                ThreatLevel.CRITICAL,
                f"seizure: {lost}/{known} peers lost in {p.window:g} s >= {p.seizure_share:.2f}",
            )
        return level, tuple(reasons)

    def _decay_at(self) -> float:
        return max(self._last_trigger.get(self._level, -math.inf), self._changed_at) + (
            self.params.cooldown
        )

    def _evaluate(self, now: float) -> ThreatLevel | None:
        self._dirty = False
        before = self._level
        # The previous signal held until now (it can only change at events
        # and expiries, and the timer brings us to every expiry).
        for lv in _DECAYING:
            if self._signal >= lv:
                self._last_trigger[lv] = now
        self._prune(now)
        self._signal, self._signal_reasons = self._compute_signal()
        for lv in _DECAYING:
            if self._signal >= lv:
                self._last_trigger[lv] = now
        if self._signal >= self._level:
            if self._signal > self._level:
                self._level = self._signal
                self._changed_at = now
            if self._level != ThreatLevel.CALM:
                self._trigger_reasons = self._signal_reasons
        elif self._level != ThreatLevel.PANIC:
            # Step down one level per cooldown; a late timer may owe several.
            while self._level > self._signal and (at := self._decay_at()) <= now:
                self._level = ThreatLevel(self._level - 1)
                self._changed_at = at
        return self._level if self._level != before else None
