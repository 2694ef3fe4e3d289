"""The owner's repair rules, sans-IO: when a shard counts as lost, and where it goes again.

Every check round (at least once per epoch) the owner looks up each shard's
locator for the shard's current generation and audits the carrier it names
(:mod:`wdp.core.owner.audits`; a version 1 wanderer's carrier is only dialed).
A failed audit makes the shard lost at once. A shard whose locator is missing
or expired, or whose carrier cannot be reached, is *stale* for that round;
``STALE_CHECKS`` stale rounds in a row make it lost. A lost shard is rebuilt
from any k others and launched again as hop 0 of the next generation
(REPAIR), to a peer that carries none of the wanderer's shards, trying up to
``LAUNCH_ATTEMPTS`` peers.

:class:`~wdp.core.owner.OwnerCore` runs them (its check rounds); the owner's
node (``wdp.node.owner``) and the swarm simulator (``wdp.sim``) drive it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from ..placement import Candidate, PlacementParams, choose_carrier
from ..rng import Rng

__all__ = ["LAUNCH_ATTEMPTS", "STALE_CHECKS", "RepairTracker", "pick_carriers"]

STALE_CHECKS = 2
"""Consecutive stale check rounds after which a shard is rebuilt."""

LAUNCH_ATTEMPTS = 3
"""Peers tried per shard at put and at repair."""


@dataclass(slots=True)
class RepairTracker:
    """What the owner remembers per wanderer: each shard's generation and stale count."""

    k: int
    n: int
    generations: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError("need 1 <= k <= n")
        if not self.generations:
            self.generations = [0] * self.n
        if not self.stale:
            self.stale = [0] * self.n
        if len(self.generations) != self.n or len(self.stale) != self.n:
            raise ValueError("generations and stale need one entry per shard")

    def observe(self, index: int, alive: bool) -> None:
        """The result of one check of shard ``index``: its carrier answered, or not."""
        self.stale[index] = 0 if alive else self.stale[index] + 1

    def fail(self, index: int) -> None:
        """Shard ``index`` is known lost (a failed audit): rebuild it this round."""
        self.stale[index] = max(self.stale[index] + 1, STALE_CHECKS)

    def lost(self) -> list[int]:
        """Shards stale for ``STALE_CHECKS`` rounds in a row: to be rebuilt."""
        return [i for i in range(self.n) if self.stale[i] >= STALE_CHECKS]

    def adopt(self, index: int, generation: int) -> None:
        """Shard ``index`` was found at ``generation``: someone repaired it since."""
        if generation > self.generations[index]:
            self.generations[index] = generation
            self.stale[index] = 0

    def next_generation(self, index: int) -> int:
        """The generation a REPAIR launch of shard ``index`` uses."""
        return self.generations[index] + 1

    def repaired(self, index: int) -> None:
        """A REPAIR launch of shard ``index`` succeeded."""
        self.generations[index] += 1
        self.stale[index] = 0


def pick_carriers(
    candidates: Sequence[Candidate],
    count: int,
    *,
    rng: Rng,
    exclude: Collection[bytes] = (),
    self_ipv4: str | None = None,
    params: PlacementParams | None = None,
) -> list[bytes]:
    """Up to ``count`` distinct healthy peers not in ``exclude``, by the placement rules.

    Each pick treats the earlier picks as recent carriers, so a wanderer's
    shards spread over different network prefixes when it can.
    """
    chosen: list[bytes] = []
    while len(chosen) < count:
        pick = choose_carrier(
            candidates,
            urgent=False,
            rng=rng,
            exclude={*chosen, *exclude},
            recent=chosen,
            self_ipv4=self_ipv4,
            params=params,
        )
        if pick is None:
            break
        chosen.append(pick.peer)
    return chosen
