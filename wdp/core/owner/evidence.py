"""What an owner learned about peers from audits it ran itself.

A receipt is a promise; an audit is proof. A peer that signed a receipt for a
shard (it is named as carrier by a locator, or as the next carrier by a hop a
previous carrier showed) and then cannot prove it holds the shard has lost it:
the owner records that and keeps such peers out of its own placements. Only
what the owner verified counts: a carrier's claim about another peer is
never taken on trust (the challenger audits the peer a Moved names itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RejectCode

__all__ = ["Evidence", "PeerEvidence"]


@dataclass(slots=True)
class PeerEvidence:
    """One peer's audit record, as this owner saw it."""

    proved: int = 0  # audits answered with a valid proof
    moved: int = 0  # audits answered with a valid hop to the next carrier
    failed: int = 0  # audits it failed: not held after its receipt, or a bad proof
    unanswered: int = 0  # audits that got no answer, twice in a row
    last_failure: str = ""
    last_at: float = 0.0


@dataclass
class Evidence:
    """Audit outcomes per peer; peers that lost a shard after promising it are excluded.

    Attributes:
        peers: The record of each peer audited (by peer key).
        exclude_after: Failed audits after which a peer is no longer given shards.
    """

    peers: dict[bytes, PeerEvidence] = field(default_factory=dict)
    exclude_after: int = 1

    def _of(self, peer: bytes, now: float) -> PeerEvidence:
        ev = self.peers.setdefault(peer, PeerEvidence())
        ev.last_at = now
        return ev

    def proved(self, peer: bytes, now: float) -> None:
        self._of(peer, now).proved += 1

    def moved(self, peer: bytes, now: float) -> None:
        self._of(peer, now).moved += 1

    def failed(self, peer: bytes, code: RejectCode, detail: str, now: float) -> None:
        ev = self._of(peer, now)
        ev.failed += 1
        ev.last_failure = f"{code.name}: {detail}" if detail else code.name

    def unanswered(self, peer: bytes, now: float) -> None:
        self._of(peer, now).unanswered += 1

    def excluded(self) -> frozenset[bytes]:
        """Peers this owner no longer places shards on."""
        return frozenset(p for p, ev in self.peers.items() if ev.failed >= self.exclude_after)
