"""The streams a node's core owns: one session each, with what it waits for.

A stream is inbound (the peer opened it: a migrate receiver, a fetch or audit
server) or outbound (this node opens it: a carrier's next hop, an owner's
launch, fetch or audit). Outbound streams start without a session: the core first asks the
driver to open them (and, for a hop, to load the shard) and makes the session
once it can start it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..effects import ShardKey, StoreShard
from ..messages import Offer
from ..migrate import ReceiverSession, SenderSession
from .exchanges import ClientSession, ServerSession

__all__ = ["Phase", "Role", "Stream"]


class Role(Enum):
    """What a stream is for."""

    RECEIVE = "receive"  # inbound /wdp/migrate/1.0: a shard comes to this node
    HOP = "hop"  # outbound /wdp/migrate/1.0: this carrier hands a shard on
    LAUNCH = "launch"  # outbound /wdp/migrate/1.0: an owner's hop 0
    SERVE = "serve"  # inbound /wdp/fetch/1.0 or /wdp/audit/1.0: an owner asks this carrier
    ASK = "ask"  # outbound /wdp/fetch/1.0 or /wdp/audit/1.0: this node asks for an owner


class Phase(Enum):
    """Where an outbound stream is before its session runs."""

    OPENING = "opening"  # OpenStream sent, waiting for stream_opened / stream_failed
    LOADING = "loading"  # a hop's shard is being read from the store
    RUNNING = "running"  # the session has the stream


Session = ReceiverSession | SenderSession | ServerSession | ClientSession


@dataclass(slots=True)
class Stream:
    """One stream of the node and everything the core knows about it."""

    sid: int
    role: Role
    peer: bytes
    phase: Phase = Phase.RUNNING
    session: Session | None = None
    key: ShardKey | None = None
    tag: int | None = None  # the owner's name for a launch or a fetch
    offer: Offer | None = None  # HOP and LAUNCH: what will be offered
    shard: bytes | None = None  # LAUNCH: the owner's copy of the shard
    protocol: str = ""  # ASK: fetch or audit
    client: Callable[[], ClientSession] | None = None  # ASK: makes the session once open
    addrs: tuple[bytes, ...] = ()
    stored: StoreShard | None = None  # RECEIVE: what was stored, for custody
    waiting: set[str] = field(default_factory=set)  # answers the driver still owes
    reported: bool = False  # the outcome went out as a report
    closed: bool = False  # CloseStream or ResetStream went out, or the stream was lost

    @property
    def done(self) -> bool:
        """Nothing more will happen on this stream: the core can forget it.

        Its outcome is reported, the driver owes no answer, and its session (if
        it ever had one) is over.
        """
        over = self.session is None or self.session.finished
        return over and self.reported and not self.waiting
