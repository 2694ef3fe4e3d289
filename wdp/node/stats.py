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
    audits_answered: int = 0  # audits of shards here that this node answered
    audits_refused: int = 0  # ... and refused (not held, bad challenge, ...)
    audits_passed: int = 0  # audits this node ran for its owner side that the carrier passed
    audits_failed: dict[str, int] = field(default_factory=dict)  # ... that did not pass, by code
    spot_audits_passed: int = 0  # peers this node handed a shard to that proved they kept it
    spot_audits_failed: int = 0  # ... that did not (each distrusted)

    def count_reject(self, code: str, *, sent: bool) -> None:
        table = self.rejects_sent if sent else self.rejects_received
        table[code] = table.get(code, 0) + 1

    def count_audit_answered(self, ok: bool) -> None:
        if ok:
            self.audits_answered += 1
        else:
            self.audits_refused += 1

    def count_audit_run(self, passed: bool, code: object) -> None:
        if passed:
            self.audits_passed += 1
        else:
            name = getattr(code, "name", "TIMEOUT")
            self.audits_failed[name] = self.audits_failed.get(name, 0) + 1

    def count_spot_audit(self, passed: bool | None) -> None:
        if passed is True:
            self.spot_audits_passed += 1
        elif passed is False:
            self.spot_audits_failed += 1
