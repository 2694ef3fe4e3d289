"""Start keeping a wanderer for its owner, from the repair capability alone (spec 16.1).

A keeper knows the wanderer's id, manifest hash, k and n, but not where its
shards are, in which generation, or the manifest itself. It looks up every
shard's locator in generations 0 to ``generations_probed`` - 1 (a shard may
have been repaired any number of times), fetches one shard for the manifest
(the fetch checks it against the capability's hash), and from then on checks
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

__all__ = ["KeepOp"]

Effects = list[OwnerEffect]


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
    ) -> None:
        self.owner = owner
        self.op = op
        self.cap = capability
        self.name = name
        self.repair_delay = repair_delay
        self.located: dict[int, Located] = {}
        self.left = capability.n

    def start(self, now: float) -> Effects:
        cap = self.cap
        if cap.is_file:
            return self.owner.fail(self.op, "a file is kept segment by segment: keep its index")
        if cap.wanderer_id in self.owner.owned:
            return self.owner.fail(self.op, "this node already owns or keeps that wanderer")
        out: Effects = [Progress(self.op, "finding shards", 0, cap.n)]
        probed = range(self.owner.params.generations_probed)
        for index in range(cap.n):
            out += Locate(self.owner, cap, index, probed, partial(self._located, index)).start(now)
        return out

    def _located(self, index: int, located: Located | None, now: float) -> Effects:
        if located is not None:
            self.located[index] = located
        self.left -= 1
        if self.left:
            return []
        if not self.located:
            return self.owner.fail(
                self.op, "no shard of that wanderer can be found: is the capability right?"
            )
        generations = [self._generation(i) for i in range(self.cap.n)]
        missing = [i for i in range(self.cap.n) if i not in self.located]
        return Gather(
            self.owner, self.cap, 1, self._gathered, skip=missing, generations=generations
        ).start(now)

    def _generation(self, index: int) -> int:
        found = self.located.get(index)
        return found.generation if found is not None else 0

    def _gathered(self, result: GatherResult, now: float) -> Effects:
        manifest = result.manifest
        if manifest is None:
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
        )
        for index, found in self.located.items():
            record.set_carrier(index, found.holder.holder, now)
        self.owner.finish(self.op)
        return [*self.owner.own(record, now), KeepDone(self.op, cap.wanderer_id)]
