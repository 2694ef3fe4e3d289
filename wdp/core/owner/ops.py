"""The owner's operations: put a payload, get it back, check and repair a wanderer.

Each runs as a small machine over the steps of :mod:`wdp.core.owner.steps`
and ends with one outcome effect (``PutDone``, ``GetDone`` or ``OpFailed``
for the user's operations; ``CheckDone`` for a check round).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .. import erasure
from ..effects import ShardKey
from ..errors import ProtocolError
from ..limits import FILE_TICKET_VERSION, TAG_SIZE
from ..objects import HolderInfo
from ..signing import public_key_of
from ..ticket import Ticket
from ..wanderer import Wanderer, create_wanderer, rebuild
from .audits import Audited, AuditShard, Verdict
from .effects import (
    GetDone,
    NotPlaced,
    OwnerEffect,
    Probe,
    Progress,
    PutDone,
    Repaired,
    RepairImpossible,
)
from .records import OwnedWanderer
from .repair import RepairTracker, pick_carriers
from .steps import Gather, GatherResult, LaunchJob, Locate, Located

if TYPE_CHECKING:
    from .machine import OwnerCore

__all__ = ["CheckOp", "GetOp", "PutOp"]

Effects = list[OwnerEffect]


class PutOp:
    """Encrypt and erasure-code a payload, hand each shard to a different peer, keep the ticket.

    The wanderer is stored if no more than ``n - k`` shards found no carrier
    (repair places those later); otherwise nothing usable was stored.
    """

    def __init__(
        self,
        owner: OwnerCore,
        op: int,
        payload: bytes | Wanderer,
        *,
        name: str,
        k: int,
        n: int,
        epoch: int,
        owner_seed: bytes,
        nonce: bytes,
        part_of: bytes = b"",
        file_seed: bytes | None = None,
        settle: bool = False,
    ) -> None:
        self.owner = owner
        self.settle = settle
        self.unsettled: set[int] = set()
        self.settled = False
        self.part_of = part_of
        self.file_seed = file_seed
        self.op = op
        self.payload = payload
        self.name = name
        self.k, self.n, self.epoch = k, n, epoch
        self.owner_seed = owner_seed
        self.nonce = nonce
        self.taken: set[bytes] = set()
        self.done = 0
        self.failed: list[int] = []
        self.placed: dict[int, bytes] = {}

    def start(self, now: float) -> Effects:
        owner, view, n = self.owner, self.owner.view, self.n
        healthy = len(
            pick_carriers(
                view.candidates(now),
                n + owner.params.launch_attempts,
                rng=owner.rng,
                exclude={view.peer},
                self_ipv4=view.self_ipv4,
                params=owner.params.placement,
            )
        )
        if healthy < n:
            return owner.fail(
                self.op,
                f"this node knows {healthy} healthy peer(s) but needs {n} (one per shard): "
                "wait for more peers to join, or put with a smaller n",
            )
        try:
            w = self._wanderer(now)
        except ValueError as exc:
            return owner.fail(self.op, str(exc))
        self.payload = b""
        self.wanderer = w
        self.ticket = Ticket(self.owner_seed, w.manifest.hash, self.k, n, w.manifest.value.version)
        out: Effects = [Progress(self.op, "launching shards", 0, n)]
        for index in range(n):
            job = LaunchJob(
                owner, w, self.ticket, index, 0, self.taken, partial(self._placed, index)
            )
            out += job.start(now)
        return out

    def _wanderer(self, now: float) -> Wanderer:
        """The wanderer to launch: made here, or made already (off the driver's event
        loop, by the same :func:`create_wanderer`) and checked against the request."""
        if isinstance(self.payload, Wanderer):
            m = self.payload.manifest.value
            if (m.k, m.n, m.epoch_seconds) != (self.k, self.n, self.epoch) or (
                m.owner_key != public_key_of(self.owner_seed)
            ):
                raise ValueError("the wanderer given does not match the put")
            return self.payload
        return create_wanderer(
            self.payload, owner_seed=self.owner_seed, nonce=self.nonce, k=self.k, n=self.n,
            epoch_seconds=self.epoch, now=now,
        )  # fmt: skip

    def _placed(self, index: int, peer: bytes | None, now: float) -> Effects:
        self.done += 1
        if peer is None:
            self.failed.append(index)
        else:
            self.placed[index] = peer
        out: Effects = [Progress(self.op, "launching shards", self.done, self.n)]
        if self.done < self.n:
            return out
        if len(self.failed) > self.n - self.k:
            return out + self.owner.fail(
                self.op,
                f"only {self.n - len(self.failed)} of {self.n} shards found a carrier "
                f"(at least {self.k} needed); nothing usable was stored",
            )
        manifest = self.wanderer.manifest
        record = OwnedWanderer(
            name=self.name,
            ticket=self.ticket.encode(),
            manifest=manifest.to_bytes().hex(),
            size=manifest.value.payload_size,
            created_at=now,
            generations=[0] * self.n,
            stale=[0] * self.n,
            carriers=[self.placed[i].hex() if i in self.placed else "" for i in range(self.n)],
            carriers_at=[now] * self.n,
            part_of=self.part_of.hex(),
            file_ticket=self._file_ticket().encode() if self.file_seed else "",
        )
        out += self.owner.own(record, now)
        wid = manifest.value.wanderer_id
        out += [NotPlaced(wid, i, 0) for i in sorted(self.failed)]
        if not self.settle or not self.owner.params.put_settle:
            return out + self._done(now)
        # Settle: done once every placed shard's locator is found, or at the deadline.
        self.unsettled = set(self.placed)
        self.owner.after(now + self.owner.params.put_settle, self._done)
        for index in sorted(self.placed):
            out += self._look(index, now)
        return out

    def _look(self, index: int, now: float) -> Effects:
        if self.settled:
            return []
        located = partial(self._looked, index)
        return Locate(self.owner, self.ticket, index, range(1), located).start(now)

    def _looked(self, index: int, located: Located | None, now: float) -> Effects:
        if self.settled:
            return []
        if located is None:
            self.owner.after(now + self.owner.params.settle_retry, partial(self._look, index))
            return []
        self.unsettled.discard(index)
        return [] if self.unsettled else self._done(now)

    def _done(self, now: float) -> Effects:
        if self.settled:
            return []
        self.settled = True
        self.owner.finish(self.op)
        return [PutDone(self.op, self._file_ticket() if self.file_seed else self.ticket)]

    def _file_ticket(self) -> Ticket:
        """The ticket of the file this wanderer is the index of."""
        assert self.file_seed is not None
        t = self.ticket
        return Ticket(self.file_seed, t.manifest_hash, t.k, t.n, FILE_TICKET_VERSION)


class GetOp:
    """Find and fetch any k shards of a ticket's wanderer, verify them, rebuild the payload.

    Right after a seizure the swarm is still moving shards and the DHT still
    names dead carriers, so a get that falls short tries again a few rounds,
    keeping what it found.
    """

    def __init__(self, owner: OwnerCore, op: int, ticket: Ticket) -> None:
        self.owner = owner
        self.op = op
        self.ticket = ticket
        self.rounds = 0
        self.found = GatherResult()
        record = owner.owned.get(ticket.wanderer_id)
        self.generations = None if record is None else list(record.generations)

    def start(self, now: float) -> Effects:
        return [Progress(self.op, "fetching shards", 0, self.ticket.k), *self._round(now)]

    def _round(self, now: float) -> Effects:
        k = self.ticket.k
        return Gather(
            self.owner, self.ticket, k, self._gathered,
            generations=self.generations, found=self.found,
            on_shard=lambda count: [Progress(self.op, "fetching shards", count, k)],
        ).start(now)  # fmt: skip

    def _gathered(self, result: GatherResult, now: float) -> Effects:
        t = self.ticket
        if result.manifest is not None and len(result.shards) >= t.k:
            try:
                payload = rebuild(result.manifest.value, result.shards, t.owner_seed)
            except ProtocolError as exc:
                return self.owner.fail(self.op, exc.detail)
            self.owner.finish(self.op)
            return [GetDone(self.op, payload)]
        self.rounds += 1
        if self.rounds < self.owner.params.get_rounds:
            self.owner.after(now + self.owner.params.get_retry_delay, self._round)
            return []
        have = len(result.shards)
        reasons = "; ".join(why for _, why in sorted(result.errors.items())[:3])
        return self.owner.fail(
            self.op,
            f"cannot rebuild: found {have} of the {t.k} shards needed ({t.n} were made; "
            f"{t.n - have} unreachable or lost). First problems: {reasons}",
        )


class CheckOp:
    """One check round of a wanderer: find and audit each shard's carrier; rebuild the lost.

    A shard whose carrier fails its audit is lost at once (and the peer goes on
    the owner's evidence record). A shard whose locator is missing, or whose
    (version 1) carrier cannot be reached, is stale for the round;
    ``STALE_CHECKS`` stale rounds in a row make it lost
    (:class:`~wdp.core.owner.repair.RepairTracker`). A carrier that leaves an
    audit unanswered twice counts as lost too, but only in a round where at
    least k carriers answered: if fewer did, this node may be the one cut off,
    and the silence only makes the shard stale. Lost shards are rebuilt from
    any k others and launched as the next generation to peers that carry none
    of the wanderer's shards and lost none of the owner's.
    """

    def __init__(self, owner: OwnerCore, record: OwnedWanderer) -> None:
        self.owner = owner
        self.record = record
        self.ticket = record.decoded_authority()
        self.manifest = record.signed_manifest()
        t = self.ticket
        self.tracker = RepairTracker(t.k, t.n, list(record.generations), list(record.stale))
        self.holders: dict[int, bytes] = {}
        self.found: dict[int, tuple[int, HolderInfo]] = {}  # a locator's generation and holder
        self.unanswered: dict[int, bytes] = {}
        self.findings: dict[int, tuple[float, str, bytes]] = {}  # lost: when, why, who
        self.answered = 0
        self.left = t.n
        self.relaunching = 0
        self.rechecks = 0
        self.still_lost: list[int] = []
        self.gathered: GatherResult | None = None

    @property
    def wanderer_id(self) -> bytes:
        return self.ticket.wanderer_id

    def start(self, now: float) -> Effects:
        out: Effects = []
        for index in range(self.ticket.n):
            out += self._check(index, now)
        return out

    def _check(self, index: int, now: float) -> Effects:
        view = self.owner.view
        if view.carried(ShardKey(self.wanderer_id, index)) is not None:
            return self._alive(index, view.peer, now)  # a shard that fled here
        g = self.tracker.generations[index]
        return Locate(
            self.owner, self.ticket, index, range(g, g + 1),
            lambda located, t: self._located(index, located, t),
        ).start(now)  # fmt: skip

    def _located(self, index: int, located: Located | None, now: float) -> Effects:
        if located is not None:
            self.tracker.adopt(index, located.generation)
            self.found[index] = (located.generation, located.holder)
        audits = self.manifest.value.auditable and self.owner.params.audit
        epoch = float(self.manifest.value.epoch_seconds)
        known = self.record.carrier(index, now, within=epoch)
        if located is None and audits and known is not None:
            # No locator (the carrier never published one, or it expired): ask the
            # carrier last known; it proves, shows where the shard went, or fails.
            g = self.tracker.generations[index]
            located = Located(g, HolderInfo(known, (), b""))
        if located is None:
            return self._alive(index, None, now)
        holder = located.holder
        if holder.holder == self.owner.view.peer and not audits:
            return self._alive(index, holder.holder, now)
        if audits:  # (a locator naming this node: the audit asks this node's own custody)
            return AuditShard(
                self.owner, self.ticket, self.manifest, index, located,
                lambda audited, t: self._audited(index, audited, t),
            ).start(now)  # fmt: skip
        return [
            self.owner.request(
                lambda tag: Probe(tag, holder.holder, holder.addrs),
                lambda ok, t: self._alive(index, holder.holder if ok is True else None, t),
            )
        ]

    def _audited(self, index: int, audited: Audited, now: float) -> Effects:
        if audited.verdict is Verdict.ALIVE:
            return self._alive(index, audited.carrier, now)
        if audited.verdict is Verdict.LOST:
            self.answered += 1
            self.tracker.fail(index)
            self.findings[index] = (now, "failed its audit", audited.carrier)
        else:
            self.unanswered[index] = audited.carrier
        return self._one_done(now)

    def _alive(self, index: int, holder: bytes | None, now: float) -> Effects:
        self.tracker.observe(index, holder is not None)
        if holder is not None:
            self.holders[index] = holder
            self.record.set_carrier(index, holder, now)
            self.answered += 1
        return self._one_done(now)

    def _one_done(self, now: float) -> Effects:
        self.left -= 1
        if self.left:
            return []
        for index in self.unanswered:
            if self.answered >= self.ticket.k:
                self.tracker.fail(index)
                self.findings[index] = (now, "left its audit unanswered", b"")
            else:
                self.tracker.observe(index, False)
        lost = self.tracker.lost()
        for index in lost:
            self.findings.setdefault(index, (now, "no carrier found", b""))
        if not lost:
            return self._finish(now)
        if self.record.kept:  # a keeper: let the owner, or a keeper before it, act first
            self.owner.after(now + self.record.repair_delay, partial(self._recheck, lost))
            return []
        return Gather(  # the owner repairs at once
            self.owner, self.ticket, self.ticket.k,
            lambda result, t: self._gathered(lost, result, t),
            skip=lost, generations=self.tracker.generations, known=self.holders,
        ).start(now)  # fmt: skip

    def _recheck(self, lost: list[int], now: float) -> Effects:
        """A keeper rebuilds, and meanwhile looks each lost shard's next generation up:
        one that can be found was repaired by someone else (another keeper, or the
        owner) and is not relaunched. The lookups run beside the gather."""
        self.rechecks = len(lost)
        self.still_lost = []
        self.gathered = None
        out: Effects = []
        for index in lost:
            g = self.tracker.generations[index]
            out += Locate(
                self.owner, self.ticket, index, range(g + 1, g + 2),
                partial(self._rechecked, index),
            ).start(now)  # fmt: skip
        out += Gather(
            self.owner, self.ticket, self.ticket.k, self._rebuilt,
            skip=lost, generations=self.tracker.generations, known=self.holders,
        ).start(now)  # fmt: skip
        return out

    def _rechecked(self, index: int, located: Located | None, now: float) -> Effects:
        if located is None:
            self.still_lost.append(index)
        else:
            self.tracker.adopt(index, located.generation)
            self.tracker.observe(index, True)
            self.holders[index] = located.holder.holder
            self.record.set_carrier(index, located.holder.holder, now)
        self.rechecks -= 1
        return self._relaunch(now)

    def _rebuilt(self, result: GatherResult, now: float) -> Effects:
        self.gathered = result
        return self._relaunch(now)

    def _relaunch(self, now: float) -> Effects:
        """Once the gather and every lookup are done: relaunch what is still lost."""
        if self.rechecks or self.gathered is None:
            return []
        result, self.gathered = self.gathered, None
        lost = sorted(self.still_lost)
        if not lost:
            return self._finish(now)
        return self._gathered(lost, result, now)

    def _gathered(self, lost: list[int], result: GatherResult, now: float) -> Effects:
        t = self.ticket
        if len(result.shards) < t.k:
            return [RepairImpossible(self.wanderer_id, len(result.shards), t.k), *self._finish(now)]
        manifest = self.record.signed_manifest()
        m = manifest.value
        ciphertext = erasure.decode(result.shards, m.k, m.n, m.payload_size + TAG_SIZE)
        wanderer = Wanderer(manifest, tuple(erasure.encode(ciphertext, m.k, m.n)))
        taken = set(self.holders.values())
        self.relaunching = len(lost)
        out: Effects = []
        for index in lost:
            generation = self.tracker.next_generation(index)
            job = LaunchJob(
                self.owner, wanderer, t, index, generation, taken,
                partial(self._relaunched, index, generation),
            )  # fmt: skip
            out += job.start(now)
        return out

    def _relaunched(self, index: int, generation: int, peer: bytes | None, now: float) -> Effects:
        out: Effects
        if peer is None:
            out = [NotPlaced(self.wanderer_id, index, generation)]
        else:
            self.tracker.repaired(index)
            self.record.set_carrier(index, peer, now)
            found_at, why, blamed = self.findings[index]
            self.record.log_repair(index, generation, found_at, now, why, blamed)
            out = [Repaired(self.wanderer_id, index, generation)]
        self.relaunching -= 1
        return out + (self._finish(now) if self.relaunching == 0 else [])

    def _finish(self, now: float) -> Effects:
        self.record.generations = list(self.tracker.generations)
        self.record.stale = list(self.tracker.stale)
        current = {
            i: found for i, found in self.found.items()
            if found[0] == self.tracker.generations[i]
        }  # fmt: skip
        pointers = self.owner.pointers.due(
            self.ticket, self.manifest.value.sealing_key, self.owner.view.peer, current, now
        )
        return [*pointers, *self.owner.checked(self, now)]
