"""The owner audits a shard: challenge its carrier, follow the hops it shows, judge.

One :class:`AuditShard` per shard per check round. The carrier named by the
shard's locator gets a challenge for a leaf drawn at random; what it answers
decides:

* a valid proof: the shard is alive with that carrier;
* a valid Moved (it handed the shard on): the owner looks the locator up
  again, for the next carrier's addresses, and audits the next carrier, up to
  ``audit_follow`` hops per round;
* NOT_HELD from a peer that signed a receipt for the shard, or a proof or hop
  that fails the owner's checks: the shard is lost there, at once, and the
  peer goes on the owner's evidence record;
* no answer (a dial that fails, a timeout, a refusal such as BUSY): asked once
  more after ``audit_retry_delay``; a second silence counts as unanswered
  (:class:`~wdp.core.owner.ops.CheckOp` decides what that means for the round).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..effects import ShardKey
from ..errors import RejectCode
from ..limits import AUDIT_NONCE_SIZE
from ..merkle import leaf_count
from ..node.effects import AuditEnded
from ..objects import Manifest, Signed
from .authority import Authority, challenge
from .effects import Audit, OwnerEffect
from .steps import Locate, Located

if TYPE_CHECKING:
    from .machine import OwnerCore

__all__ = ["AuditShard", "Audited", "Verdict"]

Effects = list[OwnerEffect]


class Verdict(Enum):
    ALIVE = "alive"  # a carrier proved it holds the shard
    LOST = "lost"  # a carrier that promised the shard cannot prove it: rebuild now
    UNANSWERED = "unanswered"  # no answer, twice


@dataclass(frozen=True, slots=True)
class Audited:
    """What one shard's audit found, and about whom."""

    verdict: Verdict
    carrier: bytes


class AuditShard:
    """Audit shard ``index`` at the carrier ``located`` names (see module docstring)."""

    def __init__(
        self,
        owner: OwnerCore,
        ticket: Authority,
        manifest: Signed[Manifest],
        index: int,
        located: Located,
        then: Callable[[Audited, float], Effects],
    ) -> None:
        self.owner = owner
        self.ticket = ticket
        self.manifest = manifest
        self.index = index
        self.generation = located.generation
        self.first = located.holder
        self.then = then
        self.follows = owner.params.audit_follow
        self.retried = False

    def start(self, now: float) -> Effects:
        return self._ask(self.first.holder, self.first.addrs, now)

    def _ask(self, peer: bytes, addrs: tuple[bytes, ...], now: float) -> Effects:
        if peer == self.owner.view.peer:  # the shard fled to this very node: no question needed
            return self._own(now)
        m = self.manifest.value
        rng = self.owner.rng
        signed = challenge(
            self.ticket,
            owner_key=m.owner_key,
            shard_index=self.index,
            carrier=peer,
            leaf_index=rng.randrange(leaf_count(m.shard_size)),
            now=now,
            nonce=rng.randbytes(AUDIT_NONCE_SIZE),
        )
        return [
            self.owner.request(
                lambda tag: Audit(tag, signed, self.manifest, addrs),
                lambda report, t: self._ended(peer, addrs, report, t),
            )
        ]

    def _ended(self, peer: bytes, addrs: tuple[bytes, ...], report: object, now: float) -> Effects:
        assert isinstance(report, AuditEnded)
        evidence = self.owner.evidence
        result = report.result
        if result is not None and result.moved is None:
            evidence.proved(peer, now)
            return self.then(Audited(Verdict.ALIVE, peer), now)
        if result is not None and result.moved is not None:
            evidence.moved(peer, now)
            nxt = result.moved.record.value.to_peer
            if self.follows <= 0:
                return self.then(Audited(Verdict.UNANSWERED, nxt), now)
            self.follows -= 1
            self.retried = False
            return self._follow(nxt, now)
        code = report.code if report.code is not None else RejectCode.TIMEOUT
        if (report.by_peer and code is RejectCode.NOT_HELD) or (
            not report.by_peer and code is not RejectCode.TIMEOUT
        ):
            evidence.failed(peer, code, report.detail, now)
            return self.then(Audited(Verdict.LOST, peer), now)
        if not self.retried:
            self.retried = True
            self.owner.after(
                now + self.owner.params.audit_retry_delay, lambda t: self._ask(peer, addrs, t)
            )
            return []
        evidence.unanswered(peer, now)
        return self.then(Audited(Verdict.UNANSWERED, peer), now)

    def _own(self, now: float) -> Effects:
        """This node carries the shard, or handed it on (follow that hop), or knows nothing."""
        view = self.owner.view
        key = ShardKey(self.ticket.wanderer_id, self.index)
        if view.carried(key) is not None:
            return self.then(Audited(Verdict.ALIVE, view.peer), now)
        link = view.handed_on(key)
        if link is None or self.follows <= 0:
            return self.then(Audited(Verdict.UNANSWERED, view.peer), now)
        self.follows -= 1
        self.retried = False
        return self._follow(link.record.value.to_peer, now)

    def _follow(self, nxt: bytes, now: float) -> Effects:
        """Audit the next carrier, at the addresses its own locator gives if it published one."""

        def located(found: Located | None, t: float) -> Effects:
            addrs = found.holder.addrs if found is not None and found.holder.holder == nxt else ()
            return self._ask(nxt, addrs, t)

        generations = range(self.generation, self.generation + 1)
        return Locate(self.owner, self.ticket, self.index, generations, located).start(now)
