"""What a node remembers of its recent past for people to look at: threat
changes and hops, each with its time, in bounded rings (``wdp status`` and the
dashboard read them; nothing in the protocol does)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wdp.core.effects import ThreatChanged
from wdp.core.node import HandoffEnded

THREAT_MEMORY = 200  # threat changes kept
HOP_MEMORY = 200  # hops (in and out, ended well or not) kept


@dataclass(frozen=True, slots=True)
class ThreatEntry:
    at: float
    level: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HopEntry:
    """One handoff this node took part in; ``peer`` is the other side."""

    at: float
    inbound: bool
    ok: bool
    key: str
    peer: str
    hop: int | None
    reason: str
    code: str
    detail: str


class NodeHistory:
    def __init__(self) -> None:
        self.threats: deque[ThreatEntry] = deque(maxlen=THREAT_MEMORY)
        self.hops: deque[HopEntry] = deque(maxlen=HOP_MEMORY)

    def threat(self, at: float, eff: ThreatChanged) -> None:
        self.threats.append(ThreatEntry(at, eff.level, eff.reasons))

    def hop(self, at: float, eff: HandoffEnded) -> None:
        self.hops.append(HopEntry(
            at, eff.inbound, eff.ok, "" if eff.key is None else str(eff.key), eff.peer.hex(),
            eff.hop, "" if eff.reason is None else eff.reason.name,
            "" if eff.code is None else eff.code.name, eff.detail,
        ))  # fmt: skip
