"""Attacker node models: the real node core with one rule bent.

* A **dropper** (black-hole Sybil) admits every offer, siblings included,
  stores the shard, makes its receipt durable and sends it, and then discards
  the shard: it never takes custody, so it publishes no locator and never
  hands the shard on. The sender saw a valid receipt and wiped its copy.
* A **hoarder** is an honest carrier in every respect but one: it also takes
  shards of wanderers it already carries a shard of (it ignores the
  receiver-side SIBLING_HELD rule). The run counts the shards it captured.

Both are :class:`~wdp.core.node.NodeCore` subclasses through the core's two
override points: ``policy`` (who admits offers) and ``_take_custody`` (what a
receiver does once its receipt is durable and sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wdp.core.effects import StoreShard as SessionStoreShard
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.messages import Offer
from wdp.core.migrate import ReceiverPolicy
from wdp.core.node import NodeCore, NodeEffect, NodeParams, WipeShard
from wdp.core.objects import CustodyLink, Signed
from wdp.core.objects import Receipt as ReceiptBody
from wdp.core.rng import Rng
from wdp.core.signing import Signer

__all__ = ["DROPPED", "KINDS", "AdmitAll", "Dropper", "Hoarder", "TakeSiblings", "node_core"]

DROPPED = "dropped: a black hole keeps nothing"
"""The reason a dropper gives for discarding a shard it signed for."""


class AdmitAll:
    """A dropper's admission: every offer, and no memory of receipts given."""

    def admit(self, offer: Offer, remote_peer: bytes = b"") -> ProtocolError | None:
        return None

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        return None

    def verified_offer(self, digest: bytes) -> Offer | None:
        return None  # verifies every offer afresh

    def offer_verified(self, digest: bytes, offer: Offer) -> None:
        pass


class Dropper(NodeCore):
    """Signs for every shard it is offered, then deletes it (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = AdmitAll()

    def _take_custody(
        self, stored: SessionStoreShard, link: CustodyLink, now: float
    ) -> list[NodeEffect]:
        return [WipeShard(stored.key, DROPPED)]


class TakeSiblings:
    """A hoarder's admission: the carrier's, except that it takes sibling shards too."""

    def __init__(self, carrier: ReceiverPolicy) -> None:
        self.carrier = carrier

    def admit(self, offer: Offer, remote_peer: bytes = b"") -> ProtocolError | None:
        refusal = self.carrier.admit(offer, remote_peer)
        if refusal is not None and refusal.code is RejectCode.SIBLING_HELD:
            return None
        return refusal

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        return self.carrier.receipt_for(offer)

    def verified_offer(self, digest: bytes) -> Offer | None:
        return self.carrier.verified_offer(digest)

    def offer_verified(self, digest: bytes, offer: Offer) -> None:
        self.carrier.offer_verified(digest, offer)


class Hoarder(NodeCore):
    """An honest carrier that also takes sibling shards (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = TakeSiblings(self.carrier)


KINDS: dict[str, type[NodeCore]] = {
    "honest": NodeCore,
    "sleeper": NodeCore,  # a Sybil behaving honestly until it turns
    "drop": Dropper,
    "hoard": Hoarder,
    "churn": Hoarder,  # identities that come and go to provoke flight
}
"""The node core each kind of simulated node runs."""


def node_core(
    kind: str,
    signer: Signer,
    rng: Rng,
    now: float,
    params: NodeParams,
    *,
    self_ipv4: str,
    addrs: Sequence[bytes],
) -> NodeCore:
    """A fresh core for a node of ``kind`` ("honest", "drop" or "hoard")."""
    return KINDS[kind](signer, rng, now, params, self_ipv4=self_ipv4, addrs=addrs)
