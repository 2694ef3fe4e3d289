"""Refusals of peers' requests: counted always, logged in rate-limited summaries.

A hostile peer can make a node refuse thousands of streams a minute; one log
line per refusal would let it write the operator's log (and fill the disk) for
free. So the first few refusals of a window are logged as they happen, the
rest only counted, and the next refusal after the window closes logs one line
that sums up what was held back. Every refusal is counted by kind for the
metrics endpoint and ``wdp status``, logged or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["RefusalLog"]

log = logging.getLogger("wdp.node.refusals")

WINDOW = 60.0
"""Seconds of one logging window."""

BURST = 10
"""Refusals logged one by one in a window; the rest go into its summary."""


@dataclass
class RefusalLog:
    """Counts every refusal; logs at most ``burst`` of them per ``window`` plus a summary."""

    window: float = WINDOW
    burst: int = BURST
    counts: dict[str, int] = field(default_factory=dict)  # kind -> refusals since start
    _window_start: float = float("-inf")
    _logged: int = 0  # lines logged in this window
    _held: dict[str, int] = field(default_factory=dict)  # kind -> refusals not logged
    _held_peers: set[str] = field(default_factory=set)

    def refused(self, kind: str, peer: str, detail: str, now: float) -> None:
        """One refusal of ``kind`` (e.g. ``"migrate BUSY"``) to ``peer``, at ``now``."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if now >= self._window_start + self.window:
            self.flush()
            self._window_start, self._logged = now, 0
        if self._logged < self.burst:
            self._logged += 1
            log.info("refused %s from %s: %s", kind, peer, detail)
            return
        self._held[kind] = self._held.get(kind, 0) + 1
        self._held_peers.add(peer)

    def flush(self) -> None:
        """Log one line for what was held back in the window, if anything was."""
        if not self._held:
            return
        total = sum(self._held.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self._held.items()))
        log.warning(
            "refused %d more requests from %d peers in %.0f s, not logged one by one: %s",
            total,
            len(self._held_peers),
            self.window,
            kinds,
        )
        self._held.clear()
        self._held_peers.clear()
