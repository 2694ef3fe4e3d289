"""Epoch scheduling: when a carrier hands a shard on (TTL hop).

A fixed epoch would let an observer predict every hop, so each hop time is
jittered uniformly around the epoch. The bounds are hard: a hop never comes
sooner than ``epoch * (1 - jitter)`` (so shards are not churned faster than
the operator budgeted) nor later than ``epoch * (1 + jitter)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .rng import Rng

__all__ = ["ScheduleParams", "next_hop_at"]


@dataclass(frozen=True, slots=True)
class ScheduleParams:
    """Tuning of hop scheduling.

    Attributes:
        jitter: Relative half-width of the uniform jitter around the epoch,
            in [0, 1); 0.25 means a hop lands in [0.75, 1.25) epochs.
    """

    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.jitter) and 0.0 <= self.jitter < 1.0):
            raise ValueError("jitter must be in [0, 1)")


def next_hop_at(
    acquired_at: float,
    epoch: float,
    rng: Rng,
    params: ScheduleParams | None = None,
) -> float:
    """Return when a shard acquired at ``acquired_at`` should hop next.

    ``acquired_at + epoch * (1 + U(-jitter, +jitter))``, clamped to the
    bounds so float rounding (or an odd rng) cannot break them.
    """
    p = params if params is not None else ScheduleParams()
    if not math.isfinite(acquired_at):
        raise ValueError("acquired_at must be finite")
    if not (math.isfinite(epoch) and epoch > 0.0):
        raise ValueError("epoch must be a positive number of seconds")
    u = rng.random()
    at = acquired_at + epoch * (1.0 + p.jitter * (2.0 * u - 1.0))
    lo = acquired_at + epoch * (1.0 - p.jitter)
    hi = acquired_at + epoch * (1.0 + p.jitter)
    return min(max(at, lo), hi)
