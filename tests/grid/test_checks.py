"""Check rounds take turns: a node with many wanderers checks one at a time."""

from __future__ import annotations

from wdp.core.owner import CheckDone, OwnerParams
from wdp.testing.grid import Grid

EPOCH = 600


def most_rounds_at_once(params: OwnerParams | None) -> tuple[int, set[bytes], set[bytes]]:
    """Put 4 wanderers through node 0, run 3 epochs; (max rounds at once, checked, put)."""
    grid = Grid(12, seed=9, owner_params=params)
    tickets = [grid.put(0, f"file {i}".encode() * 50, epoch=EPOCH) for i in range(4)]
    owner, seen = grid.owner(0), [0]
    perform = grid.runtime.perform_owner

    def watched(ep, effects):  # type: ignore[no-untyped-def]
        perform(ep, effects)
        seen[0] = max(seen[0], len(owner._checking))

    grid.runtime.perform_owner = watched  # type: ignore[method-assign]
    grid.run(3 * EPOCH)
    checked = {e.wanderer_id for _, e in grid.record.owner if isinstance(e, CheckDone)}
    return seen[0], checked, {t.wanderer_id for t in tickets}


def test_one_check_round_at_a_time_and_every_wanderer_has_its_turn() -> None:
    most, checked, put = most_rounds_at_once(None)
    assert most == 1
    assert checked == put


def test_more_rounds_at_once_when_asked() -> None:
    most, checked, put = most_rounds_at_once(OwnerParams(parallel_checks=4))
    assert most == 4
    assert checked == put
