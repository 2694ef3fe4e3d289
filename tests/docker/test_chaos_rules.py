"""The chaos run's choices, without Docker: never more than n - k shards of a file out of reach."""

from __future__ import annotations

import random

from wdp.ops.chaos import Container, StoredFile, pick, reachable


def files(*prefixes: str) -> list[StoredFile]:
    return [StoredFile(p, b"", "", p) for p in prefixes]


def test_reachable_counts_distinct_shards_on_containers_not_down() -> None:
    stored = files("aa", "bb")
    counts = {"n1": {("aa", 0), ("bb", 0)}, "n2": {("aa", 1)}, "n3": {("aa", 1), ("bb", 2)}}
    assert reachable(stored, counts, set()) == {"aa": 2, "bb": 2}
    assert reachable(stored, counts, {"n3"}) == {"aa": 2, "bb": 1}
    assert reachable(stored, counts, {"n1", "n2", "n3"}) == {"aa": 0, "bb": 0}


def test_pick_stops_at_the_loss_budget() -> None:
    # One shard of each file per node (as the sibling rule makes it): k=2 of n=4.
    stored = files("aa", "bb")
    counts = {f"n{i}": {("aa", i), ("bb", i)} for i in range(4)}
    nodes = [Container(f"id{i}", f"n{i}", "node") for i in range(4)]

    def keeps(down: set[str]) -> bool:
        return all(r >= 2 for r in reachable(stored, counts, down).values())

    for seed in range(20):
        chosen = pick(random.Random(seed), nodes, 3, keeps, set())
        assert len(chosen) == 2  # a third would leave one shard: below k
        assert keeps({c.name for c in chosen})
    # Already-down containers count against the budget.
    assert len(pick(random.Random(1), nodes, 3, keeps, {"n0"})) == 1
    assert pick(random.Random(1), nodes[2:], 1, keeps, {"n0", "n1"}) == []
