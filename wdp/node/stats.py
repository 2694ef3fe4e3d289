"""Counters a node keeps while it runs, read by ``wdp status`` and the metrics endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NodeStats"]


@dataclass
class NodeStats:
    """Counters a node keeps for metrics and status."""

    hops_in: int = 0
    hops_out: int = 0
    rejects_sent: dict[str, int] = field(default_factory=dict)  # we refused an offer
    rejects_received: dict[str, int] = field(default_factory=dict)  # our offer was refused

    def count_reject(self, code: str, *, sent: bool) -> None:
        table = self.rejects_sent if sent else self.rejects_received
        table[code] = table.get(code, 0) + 1
