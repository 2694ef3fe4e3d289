"""What a carrier knows of its peers from evidence it checked itself (spec 12, 18).

A receipt is a promise. A carrier learns who keeps promises from three things
it verifies on its own, never from what peers say of each other:

* **forwarding**: the verified custody chains it receives show who handed
  shards on (a peer that hands on is not a black hole for those shards);
* **spot audits**: after a TTL hop it challenges the peer it handed the shard
  to, at a random time within that shard's epoch (spec 18, the previous
  carrier's audit). A proof, or the hop by which the peer handed the shard
  on, is evidence of custody. A refusal, a bad proof or no answer twice
  means the peer signed a receipt for a shard it no longer has: this node
  sends it nothing more for ``distrust_time``;
* **probation** (optional): an unproven peer has at most one TTL hop from this node
  that this node has not checked: the next waits until that hop's spot audit
  passes (or the evidence above proves the peer). A black hole gets one shard
  from each carrier, and then none for ``distrust_time``; an honest peer
  keeps getting hops in a swarm too small to prove anyone.

Everything here is bounded by ``memory`` entries and driven by the carrier's
``now``; the audit itself is run by the node core (a ``SpotAudit`` effect,
answered with :meth:`PeerEvidence.audited`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from .effects import ShardKey, SpotAudit
from .errors import RejectCode
from .limits import AUDIT_NONCE_SIZE
from .merkle import leaf_count
from .objects import CustodyLink, Manifest, Signed
from .rng import Rng

__all__ = ["RETRIED_CODES", "PeerEvidence"]

RETRIED_CODES = frozenset({RejectCode.TIMEOUT, RejectCode.BUSY})
"""Audit failures that may be the network's or the moment's: asked once more before they count."""


@dataclass(slots=True)
class _Pending:
    peer: bytes
    manifest: Signed[Manifest]
    due: float
    tries: int = 0
    running: bool = False


class PeerEvidence:
    """A carrier's own record of which peers kept their promises (see module docstring)."""

    def __init__(
        self,
        rng: Rng,
        *,
        memory: int,
        proof_wanderers: int,
        retry_delay: float,
        distrust_time: float,
    ) -> None:
        self.rng = rng
        self.memory = memory
        self.proof_wanderers = proof_wanderers
        self.retry_delay = retry_delay
        self.distrust_time = distrust_time
        self._vouched: OrderedDict[bytes, set[bytes]] = OrderedDict()  # peer -> wanderers
        self._distrusted: OrderedDict[bytes, float] = OrderedDict()  # peer -> until
        self._on_probation: OrderedDict[bytes, None] = OrderedDict()
        self._pending: OrderedDict[ShardKey, _Pending] = OrderedDict()

    # ---- evidence ---------------------------------------------------------------------

    def note_chain(self, chain: Iterable[CustodyLink]) -> None:
        """A verified chain: the sender of every carrier hop handed a shard on."""
        for link in chain:
            rec = link.record.value
            if rec.hop > 0:  # the owner's launch proves nothing about a carrier
                self._vouch(rec.from_peer, rec.wanderer_id)

    def _vouch(self, peer: bytes, wanderer_id: bytes) -> None:
        seen = self._vouched.setdefault(peer, set())
        if len(seen) < self.proof_wanderers:
            seen.add(wanderer_id)
        self._vouched.move_to_end(peer)
        while len(self._vouched) > self.memory:
            self._vouched.popitem(last=False)

    def proven(self, peer: bytes) -> bool:
        """``peer`` kept shards of enough distinct wanderers, by this node's own checks."""
        return len(self._vouched.get(peer, ())) >= self.proof_wanderers

    def distrusted(self, now: float) -> set[bytes]:
        """Peers that failed this node's spot audit within ``distrust_time``."""
        for peer in [p for p, until in self._distrusted.items() if until <= now]:
            del self._distrusted[peer]
        return set(self._distrusted)

    # ---- probation --------------------------------------------------------------------

    def on_probation(self, running: Iterable[bytes]) -> set[bytes]:
        """Unproven peers given a TTL hop already, or being given one now (``running``)."""
        for peer in [p for p in self._on_probation if self.proven(p)]:
            del self._on_probation[peer]
        return set(self._on_probation) | {p for p in running if not self.proven(p)}

    def put_on_probation(self, peer: bytes) -> None:
        if self.proven(peer):
            return
        self._on_probation[peer] = None
        self._on_probation.move_to_end(peer)
        while len(self._on_probation) > self.memory:
            self._on_probation.popitem(last=False)

    # ---- spot audits ------------------------------------------------------------------

    def schedule(self, key: ShardKey, peer: bytes, manifest: Signed[Manifest], within: float,
                 now: float) -> None:  # fmt: skip
        """Audit ``peer`` for ``key`` at a random time in the next ``within`` seconds.

        Uniform over the shard's stay, so a peer that keeps a shard for part of
        its epoch and then drops it is caught with the probability of the part
        it dropped. A shard handed on again replaces its older audit.
        """
        if not manifest.value.auditable:
            return
        self._pending.pop(key, None)
        self._pending[key] = _Pending(
            peer, manifest, now + within * (0.05 + 0.95 * self.rng.random())
        )
        while len(self._pending) > self.memory:
            self._pending.popitem(last=False)

    def get_timer(self) -> float | None:
        return min((p.due for p in self._pending.values() if not p.running), default=None)

    def due(self, now: float) -> list[SpotAudit]:
        """The spot audits to run now, each with its random leaf and nonce."""
        out = []
        for key, p in self._pending.items():
            if p.running or p.due > now:
                continue
            p.running = True
            leaves = leaf_count(p.manifest.value.shard_size)
            out.append(SpotAudit(
                key, p.peer, p.manifest, self.rng.randrange(leaves),
                self.rng.randbytes(AUDIT_NONCE_SIZE),
            ))  # fmt: skip
        return out

    def audited(self, key: ShardKey, peer: bytes, passed: bool, code: RejectCode | None,
                now: float) -> bool | None:  # fmt: skip
        """The spot audit of ``peer`` for ``key`` ended; True/False once it counts, else None.

        A pass vouches for the peer. A TIMEOUT or BUSY is asked once more
        after ``retry_delay``; any other failure, or a second one, distrusts
        the peer for ``distrust_time``.
        """
        p = self._pending.get(key)
        if p is None or p.peer != peer or not p.running:
            return None
        p.running = False
        p.tries += 1
        if passed:
            del self._pending[key]
            self._vouch(peer, key.wanderer_id)
            self._on_probation.pop(peer, None)  # its one unchecked hop checked out
            return True
        if code in RETRIED_CODES and p.tries < 2:
            p.due = now + self.retry_delay
            return None
        del self._pending[key]
        self._distrusted[peer] = now + self.distrust_time
        self._distrusted.move_to_end(peer)
        self._vouched.pop(peer, None)
        self._on_probation.pop(peer, None)
        while len(self._distrusted) > self.memory:
            self._distrusted.popitem(last=False)
        return False
