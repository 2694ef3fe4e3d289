"""Tests for wdp.core.schedule (jittered TTL hop times)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdp.core.rng import Rng
from wdp.core.schedule import ScheduleParams, next_hop_at


class FixedRng:
    """Rng stub whose random() returns a fixed value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value

    def randrange(self, stop: int, /) -> int:
        return 0

    def shuffle(self, x: list[object], /) -> None:
        return None


def test_random_random_is_an_rng() -> None:
    rng: Rng = random.Random(1)
    assert 0.0 <= rng.random() < 1.0


def test_defaults() -> None:
    assert ScheduleParams().jitter == 0.25


def test_extremes_of_the_uniform_draw() -> None:
    p = ScheduleParams(jitter=0.25)
    assert next_hop_at(100.0, 600.0, FixedRng(0.0), p) == pytest.approx(100.0 + 450.0)
    assert next_hop_at(100.0, 600.0, FixedRng(0.5), p) == pytest.approx(100.0 + 600.0)
    assert next_hop_at(100.0, 600.0, FixedRng(0.999999), p) == pytest.approx(
        100.0 + 750.0, abs=1e-3
    )


def test_misbehaving_rng_is_clamped() -> None:
    p = ScheduleParams(jitter=0.25)
    assert next_hop_at(0.0, 100.0, FixedRng(-3.0), p) == 75.0
    assert next_hop_at(0.0, 100.0, FixedRng(7.0), p) == 125.0


def test_zero_jitter_is_exact() -> None:
    assert next_hop_at(10.0, 60.0, random.Random(3), ScheduleParams(jitter=0.0)) == 70.0


def test_same_seed_same_time_and_spread_over_seeds() -> None:
    a = next_hop_at(0.0, 600.0, random.Random(42))
    b = next_hop_at(0.0, 600.0, random.Random(42))
    assert a == b
    rng = random.Random(7)
    times = [next_hop_at(0.0, 600.0, rng) for _ in range(2000)]
    assert min(times) >= 450.0 and max(times) <= 750.0
    # Hops are not predictable: the draws cover most of the allowed range.
    assert min(times) < 460.0 and max(times) > 740.0
    assert len(set(times)) > 1900


@pytest.mark.parametrize("epoch", [0.0, -1.0, math.nan, math.inf])
def test_rejects_bad_epoch(epoch: float) -> None:
    with pytest.raises(ValueError):
        next_hop_at(0.0, epoch, random.Random(0))


@pytest.mark.parametrize("jitter", [-0.01, 1.0, 1.5, math.nan])
def test_rejects_bad_jitter(jitter: float) -> None:
    with pytest.raises(ValueError):
        ScheduleParams(jitter=jitter)


def test_rejects_non_finite_acquired_at() -> None:
    with pytest.raises(ValueError):
        next_hop_at(math.nan, 10.0, random.Random(0))


@given(
    acquired_at=st.floats(min_value=-1e9, max_value=1e9),
    epoch=st.floats(min_value=1e-3, max_value=1e7),
    jitter=st.floats(min_value=0.0, max_value=0.99),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_within_bounds(acquired_at: float, epoch: float, jitter: float, seed: int) -> None:
    p = ScheduleParams(jitter=jitter)
    t = next_hop_at(acquired_at, epoch, random.Random(seed), p)
    assert t >= acquired_at + epoch * (1.0 - jitter)
    assert t <= acquired_at + epoch * (1.0 + jitter)
    assert t > acquired_at
