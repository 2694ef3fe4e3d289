"""What an owner's core asks its driver to do, and what it reports.

The owner's side never touches a stream itself: a launch, a fetch or an audit
goes to the node's core (``NodeCore.launch`` / ``fetch`` / ``audit``), whose
``LaunchEnded`` / ``FetchEnded`` / ``AuditEnded`` reports come back here. Lookups and probes
go to the driver's DHT and dialer. Every request carries a ``tag``; its
answer names the same tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..audit import AuditChallenge
from ..effects import ShardKey
from ..fetch import FetchRequest
from ..messages import Offer
from ..objects import Manifest, Signed
from ..ticket import Ticket
from .records import OwnedWanderer

__all__ = [
    "Audit",
    "Cancel",
    "CheckDone",
    "Fetch",
    "GetDone",
    "Launch",
    "Lookup",
    "NotPlaced",
    "OpFailed",
    "OwnerEffect",
    "Probe",
    "Progress",
    "PublishPointer",
    "PutDone",
    "ReadLocal",
    "RepairImpossible",
    "Repaired",
    "SaveOwned",
]


# ---- requests (each answered by an input of OwnerCore) ---------------------------------


@dataclass(frozen=True, slots=True)
class Launch:
    """Hand the shard to ``offer``'s recipient: ``NodeCore.launch``; answer ``launch_ended``."""

    tag: int
    offer: Offer
    shard: bytes


@dataclass(frozen=True, slots=True)
class Fetch:
    """Fetch a shard from its carrier: ``NodeCore.fetch``; answer ``fetch_ended``.

    ``addrs`` come from the carrier's locator (dial them: they are fresh news).
    """

    tag: int
    request: Signed[FetchRequest]
    expected_manifest: bytes
    addrs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Audit:
    """Challenge a carrier to prove it holds a shard: ``NodeCore.audit``; answer ``audit_ended``.

    ``addrs`` come from the carrier's locator, if any (empty: dial by its key).
    """

    tag: int
    challenge: Signed[AuditChallenge]
    manifest: Signed[Manifest]
    addrs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Cancel:
    """The launch or fetch ``tag`` is no longer wanted: ``NodeCore.cancel``; no answer."""

    tag: int


@dataclass(frozen=True, slots=True)
class Lookup:
    """Get the best locator value under ``dht_key``; answer ``locator_found`` (None if none)."""

    tag: int
    dht_key: str


@dataclass(frozen=True, slots=True)
class PublishPointer:
    """Put a forward pointer (spec 9) into the DHT; no answer.

    ``value`` is a locator record under ``dht_key``, a shard's generation-0
    key, whose ``generation`` is the shard's current one (a reader without
    records finds it with its first lookup); it expires at ``expires_at``
    (seconds). A put that fails is not retried: the next check round that
    finds the pointer due publishes it again.
    """

    dht_key: str
    value: bytes
    generation: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Probe:
    """Can ``peer`` (at ``addrs``) be reached? Dial it; answer ``probe_ended``."""

    tag: int
    peer: bytes
    addrs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ReadLocal:
    """Read shard ``key`` from this node's own store (it carries it); answer ``local_read``."""

    tag: int
    key: ShardKey


# ---- outcomes of the user's operations ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """Operation ``op`` has done ``done`` of ``total`` steps of ``what``."""

    op: int
    what: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class PutDone:
    """Operation ``op`` (a put) stored the wanderer: here is its ticket."""

    op: int
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class GetDone:
    """Operation ``op`` (a get) rebuilt the payload."""

    op: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class KeepDone:
    """Operation ``op`` (a keep) found the wanderer; this node checks and repairs it now."""

    op: int
    wanderer_id: bytes


@dataclass(frozen=True, slots=True)
class OpFailed:
    """Operation ``op`` cannot be done; ``message`` is one plain line for the user."""

    op: int
    message: str


@dataclass(frozen=True, slots=True)
class SaveOwned:
    """The owned wanderers changed: persist ``records`` (with ``--store disk``)."""

    records: tuple[OwnedWanderer, ...]


# ---- reports of repair ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckDone:
    """A check round of one wanderer ended; ``stale`` per shard (rounds without a carrier)."""

    wanderer_id: bytes
    stale: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Repaired:
    """A lost shard was rebuilt and launched again as ``generation``."""

    wanderer_id: bytes
    index: int
    generation: int


@dataclass(frozen=True, slots=True)
class RepairImpossible:
    """Too few shards could be fetched to rebuild lost ones."""

    wanderer_id: bytes
    found: int
    needed: int


@dataclass(frozen=True, slots=True)
class NotPlaced:
    """No peer took shard ``index`` (generation ``generation``) after every attempt."""

    wanderer_id: bytes
    index: int
    generation: int


OwnerEffect = (
    Launch
    | Fetch
    | Audit
    | Cancel
    | Lookup
    | PublishPointer
    | Probe
    | ReadLocal
    | Progress
    | PutDone
    | GetDone
    | KeepDone
    | OpFailed
    | SaveOwned
    | CheckDone
    | Repaired
    | RepairImpossible
    | NotPlaced
)
"""Every effect of :class:`~wdp.core.owner.OwnerCore`."""
