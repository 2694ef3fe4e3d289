"""Start keeping a wanderer for its owner, from the repair capability alone (spec 16.1).

A keeper knows the wanderer's id, manifest hash, k and n, but not where its
shards are, in which generation, or the manifest itself. It looks up every
shard's locator in generations 0 to ``generations_probed`` - 1 (a shard may
have been repaired any number of times), fetches one shard for the manifest
(the fetch checks it against the capability's hash; on failure the lookups
and the fetch are tried again, ``get_rounds`` in all), and from then on checks
and repairs the wanderer like its owner, with the capability instead of the
ticket.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..capability import RepairCapability
from .effects import KeepDone, OwnerEffect, Progress
from .records import OwnedWanderer
from .steps import Gather, GatherResult, Locate, Located

if TYPE_CHECKING:
    from .machine import OwnerCore

__all__ = ["KeepOp", "default_repair_delay"]

Effects = list[OwnerEffect]


KEEPER_SLOTS = 8
KEEPER_SLOT_SECONDS = 30.0


def default_repair_delay(peer: bytes) -> float:
    """A keeper's wait before it repairs, unless told otherwise: 60 s plus one of
    ``KEEPER_SLOTS`` slots of 30 s picked by its peer key, so keepers on different
    nodes usually act at different times (give each keeper its own delay to be sure)."""
    return 60.0 + KEEPER_SLOT_SECONDS * (peer[0] % KEEPER_SLOTS)


class KeepOp:
    """Find a wanderer's shards and manifest; then remember it as kept (see module docstring)."""

    def __init__(
        self,
        owner: OwnerCore,
        op: int,
        capability: RepairCapability,
        *,
        name: str,
        repair_delay: float,
        part_of: bytes = b"",
    ) -> None:
        self.owner = owner
        self.op = op
        self.cap = capability
        self.name = name
        self.repair_delay = repair_delay
        self.part_of = part_of
        self.located: dict[int, Located] = {}
        self.left = 0
        self.rounds = 0

    def start(self, now: float) -> Effects:
        cap = self.cap
        if cap.is_file:
            return self.owner.fail(self.op, "a file is kept segment by segment: keep its index")
        if cap.wanderer_id in self.owner.owned:
            return self.owner.fail(self.op, "this node already owns or keeps that wanderer")
        return [Progress(self.op, "finding shards", 0, cap.n), *self._round(now)]

    def _round(self, now: float) -> Effects:
        """Look up every shard's locators; a few rounds, a pause apart, as a get does."""
        self.rounds += 1
        self.left = self.cap.n
        probed = range(self.owner.params.generations_probed)
        out: Effects = []
        for index in range(self.cap.n):
            then = partial(self._located, index)
            out += Locate(self.owner, self.cap, index, probed, then).start(now)
        return out

    def _located(self, index: int, located: Located | None, now: float) -> Effects:
        if located is not None:
            self.located[index] = located
        self.left -= 1
        if self.left:
            return []
        if not self.located:
            if self._again(now):
                return []
            return self.owner.fail(
                self.op, "no shard of that wanderer can be found: is the capability right?"
            )
        generations = [self._generation(i) for i in range(self.cap.n)]
        missing = [i for i in range(self.cap.n) if i not in self.located]
        return Gather(
            self.owner, self.cap, 1, self._gathered, skip=missing, generations=generations
        ).start(now)

    def _again(self, now: float) -> bool:
        """Start another round of lookups (and fetch) after a pause, if one is left."""
        if self.rounds >= self.owner.params.get_rounds:
            return False
        self.located.clear()
        self.owner.after(now + self.owner.params.get_retry_delay, self._round)
        return True

    def _generation(self, index: int) -> int:
        found = self.located.get(index)
        return found.generation if found is not None else 0

    def _gathered(self, result: GatherResult, now: float) -> Effects:
        manifest = result.manifest
        if manifest is None:
            if self._again(now):  # carriers busy, paused or moving
                return []
            why = "; ".join(sorted(set(result.errors.values()))) or "no carrier answered"
            return self.owner.fail(self.op, f"could not fetch the wanderer's manifest: {why}")
        cap = self.cap
        record = OwnedWanderer(
            name=self.name,
            ticket="",
            manifest=manifest.to_bytes().hex(),
            size=manifest.value.payload_size,
            created_at=now,
            generations=[self._generation(i) for i in range(cap.n)],
            capability=cap.encode(),
            repair_delay=self.repair_delay,
            part_of=self.part_of.hex(),
        )
        for index, found in self.located.items():
            record.set_carrier(index, found.holder.holder, now)
        self.owner.finish(self.op)
        return [*self.owner.own(record, now), KeepDone(self.op, cap.wanderer_id)]
