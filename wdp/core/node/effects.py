"""What a node's core asks its driver to do, and what it reports.

Every effect a driver must perform names the stream (``sid``) or the shard it
is about; the ones that need an answer say which input takes it. A driver
performs effects in the order given and decides nothing: the daemon
(``wdp.node``), the simulator (``wdp.sim``) and the in-process grid
(``wdp.testing``) all dispatch exactly these types, with ``match`` and
``assert_never``, so a new effect that a driver forgets fails type checking.

The session-level effects of :mod:`wdp.core.effects` (one stream, no id) stay
inside the core: :class:`~wdp.core.node.machine.NodeCore` binds them to their
stream and turns the carrier's and the sessions' outcomes into the reports
below.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..audit import AuditMessage, AuditResult
from ..effects import ShardKey, ThreatChanged, WipeShard
from ..errors import RejectCode
from ..fetch import FetchMessage, FetchResult
from ..messages import Message
from ..objects import CustodyLink, Reason
from ..stored import ShardMeta

__all__ = [
    "AuditEnded",
    "AuditServed",
    "CloseStream",
    "CustodyDropped",
    "CustodyRestored",
    "FetchEnded",
    "FetchServed",
    "HandoffEnded",
    "LaunchEnded",
    "LoadShard",
    "NodeEffect",
    "OpenStream",
    "PersistReceipt",
    "PublishLocator",
    "ResetStream",
    "SendData",
    "SpotAudited",
    "StoreShard",
    "ThreatChanged",
    "WipeShard",
]


# ---- streams -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenStream:
    """Dial ``peer`` (at ``addrs`` if given) and open ``protocol`` on a new stream.

    Answer with ``stream_opened(sid, now)`` or ``stream_failed(sid, now)``
    (any dial or negotiation failure; the core counts it as a TIMEOUT).
    """

    sid: int
    peer: bytes
    protocol: str
    addrs: tuple[bytes, ...] = ()
    timeout: float | None = None  # seconds to dial and negotiate; None: the driver's own


@dataclass(frozen=True, slots=True)
class SendData:
    """Write ``data`` (one framed ``message``) to stream ``sid``, after what came before."""

    sid: int
    data: bytes
    message: Message | FetchMessage | AuditMessage


@dataclass(frozen=True, slots=True)
class CloseStream:
    """Close stream ``sid`` once everything sent on it has been written."""

    sid: int


@dataclass(frozen=True, slots=True)
class ResetStream:
    """Abort stream ``sid`` at once (drop what is unsent): this side gave up on it."""

    sid: int


# ---- the store -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreShard:
    """Store a verified shard with its metadata, not yet acknowledged.

    Answer with ``shard_stored(sid, ok, now)``.
    """

    sid: int
    key: ShardKey
    shard: bytes
    meta: ShardMeta


@dataclass(frozen=True, slots=True)
class PersistReceipt:
    """Make this node's receipt (encoded ``Signed`` bytes) for the stored shard durable.

    Answer with ``receipt_persisted(sid, ok, now)``; the receipt goes to the
    sender only after that, since the sender wipes when it reads it.
    """

    sid: int
    key: ShardKey
    receipt: bytes


@dataclass(frozen=True, slots=True)
class LoadShard:
    """Read the stored bytes of shard ``key``.

    Answer with ``shard_loaded(sid, bytes or None, now)`` (None: the store has
    no such shard), or ``load_failed(sid, now, detail)`` if reading failed.
    """

    sid: int
    key: ShardKey


# ---- the DHT -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishLocator:
    """Put this locator record into the DHT; answer with ``locator_published``.

    ``value`` is the signed record (it names this node and its addresses,
    sealed to the owner) and ``expires_at`` (seconds) its expiry; the other
    fields say which hop of which shard it announces.
    """

    key: ShardKey
    dht_key: str
    value: bytes
    record_hash: bytes
    generation: int
    hop: int
    expires_at: float


# ---- reports (nothing to do but log, count, or wake a waiter) ----------------------


@dataclass(frozen=True, slots=True)
class HandoffEnded:
    """A carrier's handoff of ``key`` with ``peer`` ended (``inbound``: this node received).

    ``ok`` means custody passed; otherwise ``code``/``detail`` say why not and
    ``by_peer`` whether the peer refused. ``reason`` and ``hop`` are those of
    the offered record (None if no offer arrived).
    """

    key: ShardKey | None
    peer: bytes
    inbound: bool
    ok: bool
    reason: Reason | None = None
    hop: int | None = None
    code: RejectCode | None = None
    detail: str = ""
    by_peer: bool = False
    link: CustodyLink | None = None


@dataclass(frozen=True, slots=True)
class LaunchEnded:
    """An owner's hop 0 started with ``NodeCore.launch(..., tag)`` ended."""

    tag: int
    key: ShardKey
    peer: bytes
    ok: bool
    code: RejectCode | None = None
    detail: str = ""
    link: CustodyLink | None = None  # the record and the carrier's receipt, when ok


@dataclass(frozen=True, slots=True)
class FetchEnded:
    """A fetch started with ``NodeCore.fetch(..., tag)`` ended: a verified shard, or why not."""

    tag: int
    result: FetchResult | None
    code: RejectCode | None = None
    detail: str = ""
    by_peer: bool = False


@dataclass(frozen=True, slots=True)
class FetchServed:
    """This node answered a fetch of ``key`` (``ok``: the whole shard was sent)."""

    key: ShardKey | None
    ok: bool
    code: RejectCode | None = None
    detail: str = ""
    by_peer: bool = False


@dataclass(frozen=True, slots=True)
class CustodyDropped:
    """This node no longer carries ``key`` without a handoff (its store lost the bytes)."""

    key: ShardKey
    why: str


@dataclass(frozen=True, slots=True)
class CustodyRestored:
    """After a restart: ``key`` was taken back from the store (``ok``), or left there (why)."""

    key: ShardKey
    ok: bool
    hop: int | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class AuditEnded:
    """An audit started with ``NodeCore.audit(..., tag)`` ended.

    ``result`` is set when ``carrier`` proved it holds shard ``key``;
    otherwise ``code`` says why not (``by_peer``: the carrier's own Reject,
    such as NOT_HELD; else this side's finding, such as BAD_PROOF or TIMEOUT).
    """

    tag: int
    key: ShardKey
    carrier: bytes
    result: AuditResult | None
    code: RejectCode | None = None
    detail: str = ""
    by_peer: bool = False


@dataclass(frozen=True, slots=True)
class AuditServed:
    """This node answered an audit of ``key`` (``ok``: it sent a proof)."""

    key: ShardKey | None
    ok: bool
    code: RejectCode | None = None
    detail: str = ""
    by_peer: bool = False


@dataclass(frozen=True, slots=True)
class SpotAudited:
    """This node's spot audit of ``peer`` (it handed ``peer`` shard ``key``) ended.

    ``passed``: True (a proof, or the hop that moved it on), False (the peer
    is now distrusted), None (no answer or BUSY: it is asked once more).
    """

    key: ShardKey
    peer: bytes
    passed: bool | None
    code: RejectCode | None = None
    detail: str = ""


NodeEffect = (
    OpenStream
    | SendData
    | CloseStream
    | ResetStream
    | StoreShard
    | PersistReceipt
    | LoadShard
    | WipeShard
    | PublishLocator
    | ThreatChanged
    | HandoffEnded
    | LaunchEnded
    | FetchEnded
    | FetchServed
    | AuditEnded
    | AuditServed
    | CustodyDropped
    | CustodyRestored
    | SpotAudited
)
"""Every effect of :class:`~wdp.core.node.machine.NodeCore`."""
