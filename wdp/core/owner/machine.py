"""The owner's core: put, get, check and repair decisions of one node, sans-IO.

:class:`OwnerCore` decides which peers take a wanderer's shards (and how many
attempts each gets, and whether enough were placed), which generations of
which locators to look up, how many shards to fetch at once and when to try
again, when a shard counts as lost, and what a repair relaunches. It never
opens a stream: launches and fetches go to the node's
:class:`~wdp.core.node.NodeCore` (``Launch`` -> ``NodeCore.launch``,
``Fetch`` -> ``NodeCore.fetch``), lookups and probes to the driver's DHT and
dialer. Every request has a tag; the answer names it.

It sees the node through an :class:`OwnerView` (its key and address, the
peers placement may choose, the shards it carries itself), which
``NodeCore`` is; the simulator gives its owners a view of their own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ..capability import RepairCapability
from ..carrier import HeldShard
from ..effects import ShardKey
from ..node.effects import AuditEnded, FetchEnded, LaunchEnded
from ..objects import CustodyLink
from ..placement import Candidate, PlacementParams
from ..rng import Rng
from ..ticket import Ticket
from ..wanderer import Wanderer
from .effects import CheckDone, OpFailed, OwnerEffect, SaveOwned
from .evidence import Evidence
from .keep import KeepOp
from .ops import CheckOp, GetOp, PutOp
from .pointers import Pointers
from .records import OwnedWanderer
from .repair import LAUNCH_ATTEMPTS

__all__ = ["OwnerCore", "OwnerParams", "OwnerView"]

Effects = list[OwnerEffect]
Answer = Callable[[object, float], Effects]
Timer = Callable[[float], Effects]


class OwnerView(Protocol):
    """What the owner's side sees of its node (``NodeCore`` provides all of it)."""

    @property
    def peer(self) -> bytes:
        """This node's key: never a carrier of its own launches."""
        ...

    @property
    def self_ipv4(self) -> str | None:
        """This node's IPv4 address, for placement's diversity rules."""
        ...

    def candidates(self, now: float) -> list[Candidate]:
        """The peers a shard may be handed to, as placement sees them: never one
        this node itself found out (its spot audits) for what it lost."""
        ...

    def carried(self, key: ShardKey) -> HeldShard | None:
        """This node's own custody of ``key`` (a shard that fled here), if any."""
        ...

    def handed_on(self, key: ShardKey) -> CustodyLink | None:
        """The hop by which this node recently handed ``key`` on, if it remembers one."""
        ...


@dataclass(frozen=True, slots=True)
class OwnerParams:
    """Tuning of the owner's side; every default is in the README.

    Attributes:
        repair: Run check rounds (and repairs) for the owned wanderers.
        repair_interval: Seconds between check rounds at most (a wanderer with
            a shorter epoch is checked every epoch).
        launch_attempts: Peers tried per shard at put and at repair.
        get_parallel: Shards looked up and fetched at once.
        get_hedge: Seconds after which a shard not yet in hand lets one more
            shard be looked up and fetched beside it (a paused or far carrier
            then delays a get by this, not by its timeouts).
        get_rounds: Rounds of lookups before a get reports what is missing.
        get_retry_delay: Seconds between those rounds.
        not_held_retries: Fetches of one shard that may answer NOT_HELD (the
            carrier just passed it on) before the shard is given up.
        not_held_delay: Seconds before its locator is looked up again.
        generations_probed: Generations looked up per shard by a get that
            has no record of the wanderer (a ticket from elsewhere).
        placement: The placement tuning launches follow (the node's own, so
            hop 0 obeys the same diversity rules as every later hop); None:
            the defaults.
        first_check: Share of the check interval before a wanderer's first
            check round after its put (or after a keeper takes it on). Its
            shards have just gone to peers no audit has proven yet, and a
            black hole among them shows itself at its first audit; the
            sooner that comes, the sooner the shard is rebuilt elsewhere. 0.4:
            the interval is at most an epoch and a shard's first TTL hop comes
            no sooner than 0.75 of one, so the first check finds the launch's
            black holes while the honest shards that rebuild their shards are
            still with the carriers the owner chose; a whole interval let
            them hop first, a third of the time onto another black hole when
            black holes have a /16 each (README, "Audits and repair").
        parallel_checks: Check rounds running at once; the rest wait their turn
            (a node with many wanderers checks them one after another, so its
            lookups and probes do not crowd out the user's gets).
        audit: Check a version 2 wanderer's carriers with possession audits.
            False is the old rule, kept to measure the defence: a carrier that
            can be dialed counts as holding its shard.
        audit_retry_delay: Seconds before an unanswered audit is asked again
            (once) before it counts.
        audit_follow: Hops an audit follows per round when carriers answer
            that they handed the shard on.
        put_settle: Seconds a settling put (``put(..., settle=True)``) waits, at
            most, for every placed shard's locator to be found in the DHT.
        settle_retry: Seconds between lookups of a locator not found yet.
    """

    repair: bool = True
    repair_interval: float = 300.0
    launch_attempts: int = LAUNCH_ATTEMPTS
    get_parallel: int = 4
    get_hedge: float = 1.0
    get_rounds: int = 3
    get_retry_delay: float = 2.0
    not_held_retries: int = 3
    not_held_delay: float = 1.0
    generations_probed: int = 8
    placement: PlacementParams | None = None
    first_check: float = 0.4
    parallel_checks: int = 1
    audit: bool = True
    audit_retry_delay: float = 10.0
    audit_follow: int = 3
    put_settle: float = 5.0
    settle_retry: float = 0.2

    def __post_init__(self) -> None:
        if not self.repair_interval > 0:
            raise ValueError("repair_interval must be positive")
        if not 0 < self.first_check <= 1:
            raise ValueError("first_check must be in (0, 1]")
        for name in (
            "launch_attempts",
            "get_parallel",
            "get_rounds",
            "not_held_retries",
            "parallel_checks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.generations_probed < 1:
            raise ValueError("generations_probed must be >= 1")
        if not self.get_hedge > 0:
            raise ValueError("get_hedge must be positive")
        if not self.audit_retry_delay > 0 or self.audit_follow < 0:
            raise ValueError("audit_retry_delay must be positive and audit_follow >= 0")
        if self.put_settle < 0 or not self.settle_retry > 0:
            raise ValueError("put_settle must be >= 0 and settle_retry positive")


class OwnerCore:
    """The owner's side of one node (see module docstring)."""

    def __init__(self, view: OwnerView, rng: Rng, params: OwnerParams | None = None) -> None:
        self.view = view
        self.rng = rng
        self.params = params if params is not None else OwnerParams()
        self.owned: dict[bytes, OwnedWanderer] = {}  # by wanderer id
        self._pending: dict[int, Answer] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._next_tag = 1
        self._next_op = 1
        self._ops: set[int] = set()
        self._next_check: dict[bytes, float] = {}
        self._checking: dict[bytes, CheckOp] = {}
        self.evidence = Evidence()
        self.pointers = Pointers()

    # ---- what the steps use ----------------------------------------------------------

    def request(self, make: Callable[[int], OwnerEffect], then: Answer) -> OwnerEffect:
        """A request effect with a fresh tag; ``then`` gets its answer."""
        tag = self._next_tag
        self._next_tag += 1
        self._pending[tag] = then
        return make(tag)

    def drop(self, tag: int) -> None:
        """Forget a request: its answer, if it comes, is ignored."""
        self._pending.pop(tag, None)

    def after(self, at: float, fn: Timer) -> None:
        """Call ``fn(now)`` at ``at``."""
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, fn))

    def fail(self, op: int, message: str) -> Effects:
        self.finish(op)
        return [OpFailed(op, message)]

    def finish(self, op: int) -> None:
        self._ops.discard(op)

    def own(self, record: OwnedWanderer, now: float) -> Effects:
        """Remember a wanderer this node put or keeps; its first check comes
        ``first_check`` of an interval later."""
        wid = record.wanderer_id
        self.owned[wid] = record
        self._next_check[wid] = now + self._interval(record) * self.params.first_check
        return [self._save()]

    def checked(self, check: CheckOp, now: float) -> Effects:
        """A check round ended: persist what it learned; the next one comes an interval later."""
        wid = check.wanderer_id
        self._checking.pop(wid, None)
        out: Effects = [CheckDone(wid, tuple(check.record.stale))]
        if wid in self.owned:
            out.append(self._save())
        return out

    def _save(self) -> SaveOwned:
        return SaveOwned(tuple(self.owned.values()))

    def _interval(self, record: OwnedWanderer) -> float:
        epoch = record.signed_manifest().value.epoch_seconds
        return min(float(epoch), self.params.repair_interval)

    def _op(self) -> int:
        op = self._next_op
        self._next_op += 1
        self._ops.add(op)
        return op

    # ---- the user's operations ---------------------------------------------------------

    def put(
        self,
        payload: bytes | Wanderer,
        *,
        name: str,
        k: int,
        n: int,
        epoch: int,
        now: float,
        owner_seed: bytes | None = None,
        nonce: bytes | None = None,
        part_of: bytes = b"",
        file_seed: bytes | None = None,
        settle: bool = False,
    ) -> tuple[int, Effects]:
        """Store ``payload`` as a new wanderer; ends in ``PutDone`` or ``OpFailed`` for the op.

        With ``settle``, ``PutDone`` waits (``put_settle`` at most) until every
        placed shard's locator can be looked up: a carrier publishes it only
        after its receipt, so a get from another node right after the put
        could otherwise find nothing yet.

        ``owner_seed`` (32 bytes) and ``nonce`` (12) are drawn from the rng if not given.
        ``payload`` may be the wanderer already made of it (by :func:`create_wanderer`
        with that owner seed, off the driver's event loop).
        A segment of a file (:mod:`wdp.core.segments`) names its index wanderer's id in
        ``part_of``; the index itself is put with the ``file_seed``, and its ``PutDone``
        carries the file's ticket.
        """
        op = self._op()
        seed = owner_seed if owner_seed is not None else self.rng.randbytes(32)
        iv = nonce if nonce is not None else self.rng.randbytes(12)
        put = PutOp(
            self, op, payload, name=name, k=k, n=n, epoch=epoch, owner_seed=seed, nonce=iv,
            part_of=part_of, file_seed=file_seed, settle=settle,
        )  # fmt: skip
        return op, put.start(now)

    def get(self, ticket: Ticket, now: float) -> tuple[int, Effects]:
        """Rebuild a ticket's payload; ends in ``GetDone`` or ``OpFailed`` for the op."""
        op = self._op()
        return op, GetOp(self, op, ticket).start(now)

    def keep(
        self,
        capability: RepairCapability,
        now: float,
        *,
        name: str = "",
        repair_delay: float = 0.0,
        part_of: bytes = b"",
    ) -> tuple[int, Effects]:
        """Keep a wanderer for its owner (spec 16.1): find it, then check and repair it
        as its owner would, waiting ``repair_delay`` seconds before each repair so that
        keepers with different delays do not repair at once; ends in ``KeepDone`` or
        ``OpFailed``. A segment of a kept file names the index wanderer in ``part_of``."""
        op = self._op()
        keep = KeepOp(self, op, capability, name=name, repair_delay=repair_delay, part_of=part_of)
        return op, keep.start(now)

    def restore(self, records: Iterable[OwnedWanderer], now: float) -> Effects:
        """The wanderers this node put in an earlier run (from its ``owned.json``)."""
        for record in records:
            wid = record.wanderer_id
            self.owned[wid] = record
            self._next_check[wid] = now + self._interval(record)
        return []

    def next_check(self, wanderer_id: bytes) -> float | None:
        """When the wanderer's next check round is due (None: it is not checked here)."""
        return self._next_check.get(wanderer_id)

    def forget(self, wanderer_id: bytes) -> None:
        """Stop checking and repairing a wanderer (and forget its ticket here)."""
        self.owned.pop(wanderer_id, None)
        self._next_check.pop(wanderer_id, None)
        self.pointers.forget(wanderer_id)

    # ---- answers ---------------------------------------------------------------------------

    def _answer(self, tag: int, value: object, now: float) -> Effects:
        then = self._pending.pop(tag, None)
        return [] if then is None else then(value, now)

    def launch_ended(self, report: LaunchEnded, now: float) -> Effects:
        """``NodeCore``'s report of a ``Launch``."""
        return self._answer(report.tag, report, now)

    def fetch_ended(self, report: FetchEnded, now: float) -> Effects:
        """``NodeCore``'s report of a ``Fetch``."""
        return self._answer(report.tag, report, now)

    def audit_ended(self, report: AuditEnded, now: float) -> Effects:
        """``NodeCore``'s report of an ``Audit``."""
        return self._answer(report.tag, report, now)

    def locator_found(self, tag: int, value: bytes | None, now: float) -> Effects:
        """The answer to ``Lookup``: the best value the DHT had, or None."""
        return self._answer(tag, value, now)

    def probe_ended(self, tag: int, ok: bool, now: float) -> Effects:
        """The answer to ``Probe``: the peer could be reached."""
        return self._answer(tag, ok, now)

    def local_read(self, tag: int, shard: bytes | None, now: float) -> Effects:
        """The answer to ``ReadLocal``: the bytes this node's store has, or None."""
        return self._answer(tag, shard, now)

    # ---- time --------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        times = [self._timers[0][0]] if self._timers else []
        if self.params.repair and len(self._checking) < self.params.parallel_checks:
            times += [t for wid, t in self._next_check.items() if wid not in self._checking]
        return min(times, default=None)

    def handle_timer(self, now: float) -> Effects:
        """Run what is due: retries of gets and fetches, and check rounds."""
        out: Effects = []
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            out += fn(now)
        if not self.params.repair:
            return out
        for wid, at in sorted(self._next_check.items(), key=lambda item: (item[1], item[0])):
            record = self.owned.get(wid)
            if len(self._checking) >= self.params.parallel_checks:
                break
            if at > now or wid in self._checking or record is None:
                continue
            self._next_check[wid] = now + self._interval(record) * (0.5 + 0.5 * self.rng.random())
            check = CheckOp(self, record)
            self._checking[wid] = check
            out += check.start(now)
        return out
