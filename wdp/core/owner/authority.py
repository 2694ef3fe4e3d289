"""Who acts for a wanderer: its owner (a :class:`Ticket`) or a keeper (a
:class:`RepairCapability`, spec section 16.1).

Both find a shard the same way (the same locator and sealing seeds); they
differ in what they sign with. The owner signs fetches, challenges and
relaunches with the owner seed; a keeper signs them with the repair seed and
shows the owner's grant (fetch and audit) or relies on the version 2 rule that
the repair key may start a REPAIR generation (relaunch).
"""

from __future__ import annotations

from ..audit import AuditChallenge, make_challenge
from ..capability import RepairCapability
from ..fetch import FetchRequest, make_fetch_request
from ..messages import Offer
from ..objects import Manifest, Signed
from ..ticket import Ticket
from ..wanderer import launch_offer

__all__ = ["Authority", "challenge", "fetch_request", "launch"]

Authority = Ticket | RepairCapability


def fetch_request(
    a: Authority, index: int, now: float, nonce: bytes, carrier: bytes
) -> Signed[FetchRequest]:
    """A signed request for shard ``index`` to ``carrier`` (the owner's, or a keeper's)."""
    if isinstance(a, Ticket):
        return make_fetch_request(a.owner_seed, a.wanderer_id, index, now, nonce, carrier=carrier)
    return make_fetch_request(
        a.repair_seed, a.wanderer_id, index, now, nonce,
        carrier=carrier, owner_key=a.owner_key, grant=a.grant,
    )  # fmt: skip


def challenge(
    a: Authority,
    *,
    owner_key: bytes,
    shard_index: int,
    carrier: bytes,
    leaf_index: int,
    now: float,
    nonce: bytes,
) -> Signed[AuditChallenge]:
    """A signed possession challenge (the owner's, or a keeper's with the owner's grant)."""
    seed, grant = (a.owner_seed, b"") if isinstance(a, Ticket) else (a.repair_seed, a.grant)
    return make_challenge(
        seed, owner_key=owner_key, shard_index=shard_index, carrier=carrier,
        leaf_index=leaf_index, now=now, nonce=nonce, grant=grant,
    )  # fmt: skip


def launch(
    a: Authority,
    manifest: Signed[Manifest],
    index: int,
    *,
    to_peer: bytes,
    now: float,
    generation: int,
) -> Offer:
    """Hop 0 of shard ``index``: the owner's GENESIS or REPAIR, or a keeper's REPAIR."""
    if isinstance(a, Ticket):
        return launch_offer(
            manifest, index, owner_seed=a.owner_seed, to_peer=to_peer, now=now,
            generation=generation,
        )  # fmt: skip
    return launch_offer(
        manifest, index, keeper_seed=a.repair_seed, to_peer=to_peer, now=now,
        generation=generation,
    )  # fmt: skip
