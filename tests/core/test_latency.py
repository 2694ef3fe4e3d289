"""Tests for wdp.core.latency (RTT smoothing, loss, health)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdp.core.latency import LatencyMap, LatencyParams, PeerStats

A = b"\x01" * 32
B = b"\x02" * 32
C = b"\x03" * 32


def stats(m: LatencyMap, peer: bytes) -> PeerStats:
    s = m.stats(peer)
    assert s is not None
    return s


def test_defaults() -> None:
    p = LatencyParams()
    assert (p.alpha, p.loss_window, p.max_loss, p.max_consecutive_failures) == (0.3, 20, 0.5, 3)
    assert p.max_peers == 10_000


def test_unknown_peer() -> None:
    m = LatencyMap()
    assert m.stats(A) is None
    assert m.peers() == []
    assert A not in m


def test_srtt_and_rttvar_follow_tcp_style_ewma() -> None:
    m = LatencyMap()
    m.ping_ok(A, 0.1, now=1.0)
    s = stats(m, A)
    assert s.srtt == pytest.approx(0.1)
    assert s.rtt_var == pytest.approx(0.05)
    m.ping_ok(A, 0.2, now=2.0)
    s = stats(m, A)
    assert s.rtt_var == pytest.approx(0.75 * 0.05 + 0.25 * 0.1)
    assert s.srtt == pytest.approx(0.7 * 0.1 + 0.3 * 0.2)
    assert s.last_seen == 2.0
    assert s.loss == 0.0 and s.samples == 2 and s.healthy


def test_sub_millisecond_rtts() -> None:
    m = LatencyMap()
    for i in range(10):
        m.ping_ok(A, 0.0004, now=float(i))
    s = stats(m, A)
    assert s.srtt == pytest.approx(0.0004)
    assert s.rtt_var is not None and s.rtt_var < 0.0001


@pytest.mark.parametrize("rtt", [-0.001, math.nan, math.inf])
def test_rejects_bad_rtt(rtt: float) -> None:
    with pytest.raises(ValueError):
        LatencyMap().ping_ok(A, rtt, now=0.0)


def test_rejects_bad_time() -> None:
    with pytest.raises(ValueError):
        LatencyMap().ping_failed(A, now=math.nan)


def test_single_failure_is_soft() -> None:
    m = LatencyMap()
    m.ping_failed(A, now=0.0)
    s = stats(m, A)
    assert s.loss == 1.0 and s.consecutive_failures == 1
    assert s.healthy
    assert s.last_seen is None


def test_three_consecutive_failures_make_unhealthy_and_success_heals() -> None:
    m = LatencyMap()
    for i in range(10):
        m.ping_ok(A, 0.01, now=float(i))
    m.ping_failed(A, now=10.0)
    m.ping_failed(A, now=11.0)
    assert stats(m, A).healthy
    m.ping_failed(A, now=12.0)
    assert not stats(m, A).healthy
    assert stats(m, A).consecutive_failures == 3
    m.ping_ok(A, 0.01, now=13.0)
    s = stats(m, A)
    assert s.healthy and s.consecutive_failures == 0


def test_loss_over_window() -> None:
    m = LatencyMap()
    # Alternate ok/fail: never 3 in a row; loss exactly 0.5 is still healthy.
    for i in range(20):
        if i % 2:
            m.ping_failed(A, now=float(i))
        else:
            m.ping_ok(A, 0.01, now=float(i))
    s = stats(m, A)
    assert s.samples == 20 and s.loss == pytest.approx(0.5) and s.healthy
    # One more failure replaces an ok: 11/20 = 0.55 > 0.5 -> unhealthy.
    m.ping_failed(A, now=20.0)
    s = stats(m, A)
    assert s.samples == 20
    assert s.loss == pytest.approx(0.55)
    assert not s.healthy
    # The window slides: 20 fresh successes erase the past.
    for i in range(20):
        m.ping_ok(A, 0.01, now=30.0 + i)
    s = stats(m, A)
    assert s.loss == 0.0 and s.healthy


def test_loss_rule_needs_min_samples() -> None:
    m = LatencyMap(LatencyParams(min_loss_samples=5))
    m.ping_ok(A, 0.01, now=0.0)
    m.ping_failed(A, now=1.0)
    m.ping_failed(A, now=2.0)  # 2/3 lost but only 3 samples, 2 consecutive
    assert stats(m, A).healthy
    m.ping_ok(A, 0.01, now=3.0)
    m.ping_failed(A, now=4.0)  # 3/5 lost with 5 samples
    assert not stats(m, A).healthy


def test_lost_and_seen() -> None:
    m = LatencyMap()
    m.peer_seen(A, "10.0.0.1", now=0.0)
    assert stats(m, A).healthy and stats(m, A).ipv4 == "10.0.0.1"
    m.peer_lost(A, now=1.0)
    s = stats(m, A)
    assert s.lost and not s.healthy
    m.peer_seen(A, None, now=2.0)  # None keeps the known address
    s = stats(m, A)
    assert s.healthy and s.ipv4 == "10.0.0.1" and s.last_seen == 2.0
    m.peer_lost(A, now=3.0)
    m.ping_ok(A, 0.02, now=4.0)
    assert stats(m, A).healthy
    m.peer_seen(A, "10.9.0.1", now=5.0)
    assert stats(m, A).ipv4 == "10.9.0.1"


def test_peers_sorted_and_healthy_filter_and_forget() -> None:
    m = LatencyMap()
    m.peer_seen(C, None, now=0.0)
    m.peer_seen(A, None, now=0.0)
    m.peer_seen(B, None, now=0.0)
    m.peer_lost(B, now=1.0)
    assert [s.peer for s in m.peers()] == [A, B, C]
    assert [s.peer for s in m.healthy_peers()] == [A, C]
    m.forget(B)
    m.forget(B)  # idempotent
    assert [s.peer for s in m.peers()] == [A, C]
    assert len(m) == 2


def test_bounded_peers_evicts_least_recently_updated() -> None:
    m = LatencyMap(LatencyParams(max_peers=2))
    m.peer_seen(A, None, now=0.0)
    m.peer_seen(B, None, now=1.0)
    m.ping_ok(A, 0.01, now=2.0)  # A is now the most recent
    m.peer_seen(C, None, now=3.0)
    assert [s.peer for s in m.peers()] == [A, C]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"loss_window": 0},
        {"max_loss": 1.0},
        {"min_loss_samples": 0},
        {"min_loss_samples": 21},
        {"max_consecutive_failures": 0},
        {"max_peers": 0},
    ],
)
def test_params_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LatencyParams(**kwargs)  # type: ignore[arg-type]


ops = st.lists(
    st.tuples(
        st.sampled_from(["ok", "fail", "seen", "lost", "forget"]),
        st.integers(min_value=0, max_value=7),
        st.floats(min_value=0.0, max_value=2.0),
    ),
    max_size=200,
)


@given(ops)
def test_invariants(seq: list[tuple[str, int, float]]) -> None:
    p = LatencyParams(max_peers=4, loss_window=6, min_loss_samples=3)
    m = LatencyMap(p)
    rtts: dict[bytes, list[float]] = {}
    for i, (op, n, rtt) in enumerate(seq):
        peer = bytes([n]) * 32
        now = float(i)
        if op == "ok":
            m.ping_ok(peer, rtt, now)
            rtts.setdefault(peer, []).append(rtt)
        elif op == "fail":
            m.ping_failed(peer, now)
        elif op == "seen":
            m.peer_seen(peer, f"10.{n}.0.1", now)
        elif op == "lost":
            m.peer_lost(peer, now)
        else:
            m.forget(peer)
        assert len(m) <= p.max_peers
    listed = m.peers()
    assert [s.peer for s in listed] == sorted(s.peer for s in listed)
    for s in listed:
        assert 0.0 <= s.loss <= 1.0
        assert 0 <= s.samples <= p.loss_window
        if s.srtt is not None:
            # EWMA is a convex combination of observed samples.
            seen = rtts[s.peer]
            assert min(seen) - 1e-12 <= s.srtt <= max(seen) + 1e-12
        expected_unhealthy = (
            s.lost
            or s.consecutive_failures >= p.max_consecutive_failures
            or (s.samples >= p.min_loss_samples and s.loss > p.max_loss)
        )
        assert s.healthy is not expected_unhealthy
