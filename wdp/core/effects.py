"""Effects: what a core state machine asks its driver to do.

The driver performs them in the order given. A driver never decides protocol
questions; it only moves bytes, stores, wipes and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import RejectCode
from .messages import Message, Offer
from .objects import CustodyLink, CustodyRecord, Manifest, Signed
from .objects import Receipt as ReceiptBody

if TYPE_CHECKING:
    from .audit import AuditMessage
    from .fetch import FetchMessage


@dataclass(frozen=True, slots=True)
class ShardKey:
    """A shard is named by its wanderer and its index."""

    wanderer_id: bytes
    shard_index: int

    def __str__(self) -> str:
        return f"{self.wanderer_id.hex()[:12]}/{self.shard_index}"


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` (one framed message) to the stream."""

    message: Message | FetchMessage | AuditMessage
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The session is over: close the stream after everything sent so far."""


@dataclass(frozen=True, slots=True)
class StoreShard:
    """Persist a verified shard; answer with ``store_done(ok, now)``.

    ``chain`` ends with the hop that brings the shard here; its receipt is
    made only after the store succeeded, so the last link's receipt is absent.
    """

    key: ShardKey
    shard: bytes
    manifest: Signed[Manifest]
    chain: tuple[CustodyLink, ...]
    record: Signed[CustodyRecord]
    locator_secret: bytes


@dataclass(frozen=True, slots=True)
class PersistReceipt:
    """Make this node's receipt for the stored shard durable; answer ``receipt_persisted``.

    Only then does the receiver send it: once the sender reads it, the sender
    wipes, so a crash must not leave a receiver that forgets the shard.
    """

    key: ShardKey
    receipt: Signed[ReceiptBody]


@dataclass(frozen=True, slots=True)
class WipeShard:
    """Destroy this node's copy of the shard."""

    key: ShardKey
    reason: str


@dataclass(frozen=True, slots=True)
class HandoffSucceeded:
    """Custody passed: on the sender after a valid receipt, on the receiver after storing."""

    key: ShardKey
    link: CustodyLink


@dataclass(frozen=True, slots=True)
class HandoffFailed:
    """The handoff ended without passing custody; the sender still holds the shard.

    ``by_peer`` is True when the remote side refused (a Reject it sent), False
    when this side refused or gave up. ``in_doubt`` (sender only): all data was
    sent and no answer came, so the receiver may hold the shard with a receipt
    that was lost; the carrier then retries the same offer with the same peer.
    """

    key: ShardKey | None
    code: RejectCode
    detail: str
    by_peer: bool
    in_doubt: bool = False


Effect = Send | Close | StoreShard | PersistReceipt | WipeShard | HandoffSucceeded | HandoffFailed


# ---- effects of the carrier (node-level) core -------------------------------


@dataclass(frozen=True, slots=True)
class StartHandoff:
    """Open ``/wdp/migrate/1.0`` to ``to_peer`` and run a SenderSession with ``offer``."""

    key: ShardKey
    to_peer: bytes
    offer: Offer


@dataclass(frozen=True, slots=True)
class PublishLocator:
    """Put this node's locator record for a shard it now carries into the DHT."""

    key: ShardKey
    locator_secret: bytes
    owner_key: bytes
    generation: int
    hop: int
    record_hash: bytes


@dataclass(frozen=True, slots=True)
class ThreatChanged:
    """The threat level moved; ``reasons`` explain it for logs and status."""

    level: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SpotAudit:
    """Challenge ``peer``, to which this node handed shard ``key`` on, for one random leaf.

    The node core signs the challenge with this node's peer key (spec 18.2,
    no grant) and answers the carrier with ``Carrier.spot_audited``.
    """

    key: ShardKey
    peer: bytes
    manifest: Signed[Manifest]
    leaf_index: int
    nonce: bytes


CarrierEffect = StartHandoff | PublishLocator | WipeShard | ThreatChanged | SpotAudit
