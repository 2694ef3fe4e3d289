"""The owner's repair rules (wdp.core.owner.repair)."""

from __future__ import annotations

import random

import pytest

from wdp.core.owner.repair import STALE_CHECKS, RepairTracker, pick_carriers
from wdp.core.placement import Candidate


def test_a_shard_is_lost_after_stale_checks_in_a_row() -> None:
    t = RepairTracker(k=3, n=8)
    for _ in range(STALE_CHECKS - 1):
        t.observe(2, alive=False)
    t.observe(2, alive=True)  # one good answer resets the count
    assert t.lost() == []
    for _ in range(STALE_CHECKS):
        t.observe(2, alive=False)
    assert t.lost() == [2] and t.next_generation(2) == 1
    t.repaired(2)
    assert t.lost() == [] and t.generations[2] == 1
    with pytest.raises(ValueError):
        RepairTracker(k=4, n=3)


def test_pick_carriers_are_distinct_healthy_and_not_excluded() -> None:
    cands = [Candidate(bytes([i]) * 32, f"10.{i}.0.1", None, i != 3) for i in range(8)]
    got = pick_carriers(cands, 5, rng=random.Random(1), exclude={bytes([0]) * 32})
    assert len(got) == len(set(got)) == 5
    assert bytes([0]) * 32 not in got and bytes([3]) * 32 not in got
    assert len(pick_carriers(cands, 20, rng=random.Random(1))) == 7
