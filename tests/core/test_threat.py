"""Tests for wdp.core.threat (threat levels from swarm observations)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core.threat import (
    Observation,
    OperatorPanic,
    PeerLost,
    PeerSeen,
    PingFailed,
    PingOk,
    ThreatDetector,
    ThreatLevel,
    ThreatParams,
)

CALM, ELEVATED, CRITICAL, PANIC = (
    ThreatLevel.CALM,
    ThreatLevel.ELEVATED,
    ThreatLevel.CRITICAL,
    ThreatLevel.PANIC,
)


def peer(i: int) -> bytes:
    return i.to_bytes(2, "big") * 16


def swarm(det: ThreatDetector, n: int, now: float = 0.0) -> list[bytes]:
    """``n`` established peers: seen, each answered a ping, known since ``now - min_age``."""
    peers = [peer(i) for i in range(n)]
    since = now - det.params.min_age
    for p in peers:
        assert det.observe(PeerSeen(p, since)) is None
        assert det.observe(PingOk(p, 0.02, since)) is None
    return peers


def run_timers(det: ThreatDetector, until: float) -> list[tuple[float, ThreatLevel]]:
    """Drive the detector's timer like a driver would, up to ``until``."""
    changes: list[tuple[float, ThreatLevel]] = []
    for _ in range(100_000):
        t = det.get_timer()
        if t is None or t > until:
            return changes
        new = det.handle_timer(t)
        if new is not None:
            changes.append((t, new))
    raise AssertionError("timer does not converge")


def feed(det: ThreatDetector, observations: list[Observation]) -> list[ThreatLevel]:
    changes = []
    for obs in observations:
        new = det.observe(obs)
        if new is not None:
            changes.append(new)
    return changes


def test_defaults() -> None:
    p = ThreatParams()
    assert p.window == 30.0
    assert (p.loss_elevated, p.loss_critical, p.min_samples) == (0.2, 0.5, 6)
    assert (p.rtt_factor, p.rtt_floor, p.rtt_anomaly_share, p.min_peers) == (4.0, 0.05, 0.5, 3)
    assert p.seizure_share == 0.3
    assert p.cooldown == 60.0
    assert p.max_peers == 10_000


def test_fresh_detector_is_calm_without_timer() -> None:
    det = ThreatDetector()
    assert det.level is CALM
    assert det.reasons == ()
    assert det.get_timer() is None


def test_healthy_swarm_stays_calm() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    for r in range(100):
        for i, p in enumerate(peers):
            assert det.observe(PingOk(p, 0.02 + 0.001 * i, now=1.0 + r * 5)) is None
    assert det.level is CALM
    assert run_timers(det, until=10_000.0) == []


# -- seizure pattern -----------------------------------------------------------


def test_forty_percent_vanishing_within_ten_seconds_is_critical() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    changes = feed(det, [PeerLost(p, now=100.0 + 2.5 * i) for i, p in enumerate(peers[:4])])
    assert changes == [CRITICAL]
    assert det.level is CRITICAL
    assert any(r.startswith("seizure: 4/10") for r in det.reasons)


def test_twenty_percent_vanishing_is_not_critical() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    assert feed(det, [PeerLost(p, now=100.0 + 5.0 * i) for i, p in enumerate(peers[:2])]) == []
    assert det.level is CALM


def test_losses_spread_beyond_the_window_are_churn() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    for i, p in enumerate(peers[:5]):
        det.observe(PeerLost(p, now=100.0 + 31.0 * i))
        run_timers(det, until=100.0 + 31.0 * i + 30.9)
    assert det.level is CALM


def test_peers_that_come_back_do_not_count_as_seized() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    det.observe(PeerLost(peers[0], now=10.0))
    det.observe(PeerLost(peers[1], now=11.0))
    det.observe(PeerSeen(peers[0], now=12.0))
    det.observe(PingOk(peers[1], 0.01, now=13.0))
    assert det.observe(PeerLost(peers[2], now=14.0)) is None
    assert det.level is CALM


def test_tiny_swarm_single_departure_is_not_a_seizure() -> None:
    det = ThreatDetector()
    peers = swarm(det, 3)
    assert det.observe(PeerLost(peers[0], now=1.0)) is None
    assert det.observe(PeerLost(peers[1], now=2.0)) is CRITICAL


# -- packet loss ---------------------------------------------------------------


def ping_round(peers: list[bytes], now: float, failing: int) -> list[Observation]:
    """One ping per peer; the failures come last in the round."""
    cut = len(peers) - failing
    return [PingOk(p, 0.02, now) if i < cut else PingFailed(p, now) for i, p in enumerate(peers)]


def test_packet_loss_ramp_raises_elevated_then_critical() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    changes: list[tuple[float, ThreatLevel]] = []
    t = 0.0
    for failing in (0, 1, 3, 5, 7, 9):  # 0% -> 90% loss, 10 s per step
        for _ in range(10):
            t += 1.0
            for obs in ping_round(peers, t, failing):
                new = det.observe(obs)
                if new is not None:
                    changes.append((t, new))
    assert [lv for _, lv in changes] == [ELEVATED, CRITICAL]
    assert det.level is CRITICAL
    assert any(r.startswith("loss ") and ">= 0.50" in r for r in det.reasons)


def test_loss_needs_min_samples() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    for i in range(5):
        assert det.observe(PingFailed(peers[i], now=1.0)) is None
    assert det.observe(PingFailed(peers[5], now=1.0)) is CRITICAL


def test_loss_reason_format() -> None:
    det = ThreatDetector()
    peers = swarm(det, 13)
    for i, p in enumerate(peers):
        det.observe(PingFailed(p, 1.0) if i < 8 else PingOk(p, 0.01, 1.0))
    assert det.level is CRITICAL
    assert det.reasons == ("loss 0.62 >= 0.50 over 13 pings",)


# -- hysteresis ---------------------------------------------------------------


def test_level_decays_one_step_per_cooldown() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    feed(det, [PeerLost(p, now=10.0) for p in peers[:4]])
    assert det.level is CRITICAL
    # The lost entries leave the window at t=40; the signal is gone from then.
    assert det.get_timer() == 40.0
    assert run_timers(det, until=99.999) == []
    assert det.level is CRITICAL
    assert det.reasons[0].startswith("holding CRITICAL until 100.0")
    assert any(r.startswith("seizure") for r in det.reasons)
    assert run_timers(det, until=10_000.0) == [(100.0, ELEVATED), (160.0, CALM)]
    assert det.reasons == ()
    assert det.get_timer() is None


def test_late_timer_catches_up_on_several_steps() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    feed(det, [PeerLost(p, now=10.0) for p in peers[:4]])
    det.handle_timer(40.0)  # signal gone
    assert det.handle_timer(500.0) is CALM


def flapping(
    det: ThreatDetector, peers: list[bytes]
) -> tuple[float, float, list[tuple[float, ThreatLevel]]]:
    """Clean for 40 s, then 50% loss for 5 s (25% over a 10 s window), x4."""
    changes: list[tuple[float, ThreatLevel]] = []
    t = 0.0
    last_burst = 0.0
    for _cycle in range(4):
        for _ in range(50):
            t += 1.0
            failing = 5 if 41 <= (t % 50) <= 45 else 0
            if failing:
                last_burst = t
            for obs in ping_round(peers, t, failing):
                if (new := det.observe(obs)) is not None:
                    changes.append((t, new))
            changes += run_timers(det, until=t + 0.999)
    return t, last_burst, changes


def test_short_cooldown_flaps() -> None:
    """Control for the test below: without enough hysteresis the level flaps."""
    det = ThreatDetector(ThreatParams(window=10.0, cooldown=10.0))
    _, _, changes = flapping(det, swarm(det, 10))
    assert [lv for _, lv in changes] == [ELEVATED, CALM] * 3 + [ELEVATED]


def test_flapping_loss_does_not_thrash() -> None:
    det = ThreatDetector(ThreatParams(window=10.0, cooldown=60.0))
    t, last_burst, changes = flapping(det, swarm(det, 10))
    # Each burst re-triggers ELEVATED before the cooldown runs out.
    assert [lv for _, lv in changes] == [ELEVATED]
    assert det.level is ELEVATED
    # Quiet from now on: the level falls only a cooldown after the burst left
    # the window.
    changes = run_timers(det, until=t + 1000.0)
    assert len(changes) == 1 and changes[0][1] is CALM
    assert last_burst + 60.0 <= changes[0][0] <= last_burst + 10.0 + 60.0


def test_rising_is_immediate_during_cooldown() -> None:
    det = ThreatDetector()
    peers = swarm(det, 20)
    for i in range(4):
        det.observe(PingOk(peers[i], 0.01, now=1.0))
    feed(det, [PingFailed(peers[i], now=1.0) for i in range(2)])  # 2/6 -> ELEVATED
    assert det.level is ELEVATED
    assert det.observe(PeerLost(peers[10], now=2.0)) is None
    assert det.observe(PeerLost(peers[11], now=2.0)) is None
    assert det.observe(PeerLost(peers[12], now=2.0)) is None
    assert det.observe(PeerLost(peers[13], now=2.0)) is None
    assert det.observe(PeerLost(peers[14], now=2.0)) is None
    assert det.observe(PeerLost(peers[15], now=2.0)) is CRITICAL  # 6/20 = 0.3


# -- RTT anomaly ---------------------------------------------------------------


def warm(det: ThreatDetector, peers: list[bytes], rtt: float, t0: float = 0.0) -> float:
    t = t0
    for _ in range(5):
        t += 1.0
        for p in peers:
            assert det.observe(PingOk(p, rtt, t)) is None
    return t


def test_rtt_anomaly_on_half_the_peers_is_elevated() -> None:
    det = ThreatDetector()
    peers = swarm(det, 6)
    t = warm(det, peers, 0.02)
    assert det.observe(PingOk(peers[0], 0.2, t + 1)) is None
    assert det.observe(PingOk(peers[1], 0.2, t + 1)) is None
    assert det.observe(PingOk(peers[2], 0.2, t + 1)) is ELEVATED
    assert any(r.startswith("rtt anomaly on 3/6") for r in det.reasons)


def test_rtt_anomaly_on_a_minority_is_calm() -> None:
    det = ThreatDetector()
    peers = swarm(det, 8)
    t = warm(det, peers, 0.02)
    for p in peers[:3]:  # 3/8 < 50%
        assert det.observe(PingOk(p, 0.3, t + 1)) is None
    assert det.level is CALM


def test_rtt_anomaly_needs_min_peers() -> None:
    det = ThreatDetector()
    peers = swarm(det, 4)
    t = warm(det, peers, 0.02)
    for p in peers[:2]:  # 50% but only 2 peers
        assert det.observe(PingOk(p, 0.3, t + 1)) is None
    assert det.level is CALM


def test_sub_millisecond_jitter_is_not_an_anomaly() -> None:
    det = ThreatDetector()
    peers = swarm(det, 6)
    t = warm(det, peers, 0.0003)
    for p in peers:  # 13x the baseline but far below baseline + 50 ms
        assert det.observe(PingOk(p, 0.004, t + 1)) is None
    assert det.level is CALM


def test_rtt_not_judged_before_baseline_is_warm() -> None:
    det = ThreatDetector()
    peers = swarm(det, 6)
    for p in peers:
        det.observe(PingOk(p, 0.01, 1.0))
    for p in peers:
        assert det.observe(PingOk(p, 0.5, 2.0)) is None
    assert det.level is CALM


def test_anomaly_expires_with_the_window() -> None:
    det = ThreatDetector(ThreatParams(cooldown=5.0))
    peers = swarm(det, 6)
    t = warm(det, peers, 0.02)
    feed(det, [PingOk(p, 0.3, t + 1) for p in peers[:3]])
    assert det.level is ELEVATED
    changes = run_timers(det, until=1000.0)
    assert changes == [(t + 1 + 30.0 + 5.0, CALM)]


# -- panic, reset, timers ----------------------------------------------------


def test_operator_panic_is_sticky_until_reset() -> None:
    det = ThreatDetector()
    swarm(det, 5)
    assert det.observe(OperatorPanic(now=5.0)) is PANIC
    assert det.reasons == ("operator panic",)
    assert run_timers(det, until=1e6) == []
    assert det.handle_timer(1e7) is None
    assert det.level is PANIC
    det.reset()
    assert det.level is CALM
    assert det.get_timer() == 1e7  # re-evaluate now
    assert det.handle_timer(1e7) is None
    assert det.get_timer() is None


def test_reset_re_evaluates_a_live_threat() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10)
    feed(det, [PeerLost(p, now=10.0) for p in peers[:4]])
    det.observe(OperatorPanic(now=11.0))
    assert det.level is PANIC
    det.reset()
    assert det.level is CALM
    assert det.get_timer() == 11.0
    assert det.handle_timer(11.0) is CRITICAL


def test_time_never_runs_backwards() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10, now=100.0)
    det.observe(PingOk(peers[9], 0.02, now=100.0))
    feed(det, [PeerLost(p, now=50.0) for p in peers[:4]])  # clamped to t=100
    assert det.level is CRITICAL
    assert det.get_timer() == 130.0


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        PingOk(peer(1), -1.0, 0.0)
    with pytest.raises(ValueError):
        PingOk(peer(1), math.nan, 0.0)
    with pytest.raises(ValueError):
        ThreatDetector().observe(PeerSeen(peer(1), math.inf))
    with pytest.raises(ValueError):
        ThreatParams(loss_elevated=0.6, loss_critical=0.5)
    with pytest.raises(ValueError):
        ThreatParams(window=0.0)
    with pytest.raises(ValueError):
        ThreatParams(max_peers=0)


def test_bounded_peers() -> None:
    det = ThreatDetector(ThreatParams(max_peers=3))
    swarm(det, 10)
    assert det.tracked_peers == 3


# -- properties ----------------------------------------------------------------

observation = st.tuples(
    st.sampled_from(["ok", "fail", "lost", "seen", "panic"]),
    st.integers(min_value=0, max_value=30),
    st.floats(min_value=0.0, max_value=1.0),  # rtt
    st.floats(min_value=0.0, max_value=20.0),  # time step
)


@settings(max_examples=200, deadline=None)
@given(st.lists(observation, max_size=300))
def test_memory_bounded_and_level_eventually_decays(
    seq: list[tuple[str, int, float, float]],
) -> None:
    params = ThreatParams(max_peers=5, max_window_events=20, min_peers=2)
    det = ThreatDetector(params)
    t = 0.0
    panicked = False
    for kind, n, rtt, step in seq:
        t += step
        p = peer(n)
        obs: Observation
        if kind == "ok":
            obs = PingOk(p, rtt, t)
        elif kind == "fail":
            obs = PingFailed(p, t)
        elif kind == "lost":
            obs = PeerLost(p, t)
        elif kind == "seen":
            obs = PeerSeen(p, t)
        else:
            if n % 10:  # keep panics rare
                continue
            obs = OperatorPanic(t)
            panicked = True
        before = det.level
        new = det.observe(obs)
        assert (new is None) == (det.level == before)
        run_timers(det, until=t)
        assert det.tracked_peers <= params.max_peers
        assert det.window_events <= params.max_window_events + 3 * params.max_peers
        timer = det.get_timer()
        assert timer is None or timer > t
    if panicked:
        assert det.level is PANIC
        det.reset()
    # Once the swarm goes quiet, every window empties and the level decays.
    run_timers(det, until=math.inf)
    assert det.level is CALM
    assert det.get_timer() is None
    assert det.window_events == 0


# -- provoked flight: evidence comes only from established peers -----------------------


def test_fresh_identities_that_leave_together_are_not_a_raid() -> None:
    det = ThreatDetector()
    old = swarm(det, 3, now=1000.0)
    sybils = [peer(100 + i) for i in range(40)]
    for i, s in enumerate(sybils):  # connect, answer pings for a while ...
        det.observe(PeerSeen(s, 1000.0 + i * 0.1))
        det.observe(PingOk(s, 0.02, 1010.0))
    changes = feed(det, [PeerLost(s, now=1020.0) for s in sybils])  # ... and leave at once
    assert changes == [] and det.level is CALM
    assert all(det.observe(PingOk(p, 0.02, 1021.0)) is None for p in old)


def test_identities_that_never_answer_a_ping_are_not_packet_loss() -> None:
    det = ThreatDetector()
    old = swarm(det, 5, now=1000.0)
    silent = [peer(200 + i) for i in range(10)]
    for s in silent:
        det.observe(PeerSeen(s, 1000.0))
    for r in range(20):  # 100 s of ping rounds: the silent ten fail every time
        t = 1000.0 + 5 * r
        for p in old:
            det.observe(PingOk(p, 0.02, t))
        for s in silent:
            det.observe(PingFailed(s, t))
    assert det.level is CALM


def test_fresh_identities_that_answered_and_then_fall_silent_are_not_packet_loss() -> None:
    # Found by the simulator (sybil-churn-ids): identities that answer pings for two
    # minutes and then vanish fail their next pings together, before they count as lost.
    det = ThreatDetector()
    old = swarm(det, 10, now=1000.0)
    sybils = [peer(300 + i) for i in range(10)]
    for r in range(4):
        t = 1000.0 + 30 * r
        for p in [*old, *sybils]:
            det.observe(PingOk(p, 0.02, t))
    changes = feed(det, [PingFailed(s, 1130.0) for s in sybils])
    changes += feed(det, [PingOk(p, 0.02, 1130.0) for p in old])
    assert changes == [] and det.level is CALM
    params = ThreatParams(established_only=False)  # the old rule: a provoked CRITICAL
    det = ThreatDetector(params)
    old = swarm(det, 10, now=1000.0)
    for p in [*old, *sybils]:
        det.observe(PingOk(p, 0.02, 1100.0))
    assert CRITICAL in feed(det, [PingFailed(s, 1130.0) for s in sybils])


def test_a_raid_on_long_known_peers_is_still_critical_within_the_window() -> None:
    det = ThreatDetector()
    peers = swarm(det, 10, now=1000.0)
    for s in [peer(100 + i) for i in range(40)]:  # fresh identities do not dilute it either
        det.observe(PeerSeen(s, 1000.0))
        det.observe(PingOk(s, 0.02, 1000.0))
    changes = feed(det, [PeerLost(p, now=1005.0 + i) for i, p in enumerate(peers[:3])])
    assert changes == [CRITICAL]
    assert any(r.startswith("seizure: 3/10") for r in det.reasons)


def test_an_established_peer_that_starts_failing_is_loss() -> None:
    det = ThreatDetector()
    peers = swarm(det, 6, now=1000.0)
    changes = feed(det, [PingFailed(p, 1001.0) for p in peers] + [PingOk(peers[0], 0.02, 1001.0)])
    assert CRITICAL in changes
