"""The owner's launches follow the placement tuning it is given (OwnerParams.placement)."""

from __future__ import annotations

import random

from wdp.core.carrier import HeldShard
from wdp.core.effects import ShardKey
from wdp.core.owner import Launch, OwnerCore, OwnerParams
from wdp.core.placement import Candidate, PlacementParams

NEAR = b"\x01" * 32  # 10.0.0.9: the owner's own /24
SAME16 = b"\x02" * 32  # 10.0.1.2: the owner's /16, another /24


class View:
    peer = b"\x00" * 32
    self_ipv4 = "10.0.0.1"

    def candidates(self, now: float) -> list[Candidate]:
        return [Candidate(NEAR, "10.0.0.9", None, True), Candidate(SAME16, "10.0.1.2", None, True)]

    def carried(self, key: ShardKey) -> HeldShard | None:
        return None


def _launched_to(seed: int, params: OwnerParams) -> bytes:
    owner = OwnerCore(View(), random.Random(seed), params)
    _, effects = owner.put(b"x" * 100, name="", k=1, n=1, epoch=600, now=1000.0)
    (launch,) = [e for e in effects if isinstance(e, Launch)]
    return launch.offer.record.value.to_peer


def test_launch_placement_uses_the_params_given() -> None:
    by_24 = OwnerParams(placement=PlacementParams(prefix_bits=24))
    # /24 neighbourhoods: only SAME16 is outside the owner's own, so it is always chosen
    assert {_launched_to(seed, by_24) for seed in range(20)} == {SAME16}
    # /16 (the default): both share the owner's neighbourhood, so either may be chosen
    assert {_launched_to(seed, OwnerParams()) for seed in range(20)} == {NEAR, SAME16}
