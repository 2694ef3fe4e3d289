"""What the node logs and counts of the core's reports that need no answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from wdp.core.errors import RejectCode
from wdp.core.node import AuditServed, CustodyDropped, CustodyRestored, FetchServed, SpotAudited

from .stats import NodeStats

__all__ = ["Report", "log_report"]

log = logging.getLogger("wdp.node")

Report = FetchServed | AuditServed | CustodyDropped | CustodyRestored | SpotAudited

Refused = Callable[[str, RejectCode | None, str, str], None]


def log_report(eff: Report, stats: NodeStats, refused: Refused) -> None:
    """Count ``eff`` in ``stats`` and log it (refusals through ``refused``, rate-limited)."""
    match eff:
        case FetchServed():
            # A fetch tells the carrier that this peer holds the owner key: no peer logged.
            if eff.ok:
                log.info("fetch of %s served", eff.key)
            else:
                refused("fetch", eff.code, "-", f"{eff.key} {eff.detail}")
        case AuditServed():
            stats.count_audit_answered(eff.ok)
            if eff.ok:
                log.info("audit of %s answered", eff.key)
            else:
                refused("audit", eff.code, "-", f"{eff.key} {eff.detail}")
        case CustodyDropped():
            log.error("custody of %s dropped: %s", eff.key, eff.why)
        case CustodyRestored():
            if eff.ok:
                log.info("restored %s (hop %s)", eff.key, eff.hop)
            else:
                log.warning("store: left %s: %s", eff.key, eff.why)
        case SpotAudited():
            stats.count_spot_audit(eff.passed)
            if eff.passed is False:
                code = eff.code.name if eff.code is not None else "?"
                log.warning(
                    "spot audit of %s for %s failed (%s: %s): no more shards go there",
                    eff.peer.hex()[:16], eff.key, code, eff.detail,
                )  # fmt: skip
