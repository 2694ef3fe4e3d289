"""Virtual time: a heap of timed callbacks, and the event trace.

Events at the same time run in the order they were scheduled (a sequence
number breaks ties), so a run depends only on its inputs and seeds.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["EventQueue", "Trace"]


class EventQueue:
    """Callbacks ordered by (time, scheduling order)."""

    __slots__ = ("_heap", "_seq", "now", "processed")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.now = 0.0
        self.processed = 0

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` at virtual time ``t`` (never earlier than now)."""
        self._seq += 1
        heapq.heappush(self._heap, (t if t > self.now else self.now, self._seq, fn, args))

    def after(self, dt: float, fn: Callable[..., None], *args: Any) -> None:
        self.at(self.now + dt, fn, *args)

    def run(self, until: float) -> None:
        """Run every event up to and including time ``until``; then now = until."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            t, _, fn, args = pop(heap)
            self.now = t
            self.processed += 1
            fn(*args)
        self.now = until

    def run_until(self, done: Callable[[], bool], until: float) -> bool:
        """Run events in order until ``done()`` holds (True) or time ``until`` passes (False)."""
        heap = self._heap
        while not done():
            if not heap or heap[0][0] > until:
                self.now = max(self.now, until)
                return done()
            t, _, fn, args = heapq.heappop(heap)
            self.now = t
            self.processed += 1
            fn(*args)
        return True

    def __len__(self) -> int:
        return len(self._heap)


class Trace:
    """The run's event log: one text line per event, hashed as it goes.

    ``keep`` keeps the lines (tests, ``wdp sim run --trace``); the SHA-256
    digest is always computed, so big runs can be compared without storing
    their trace.
    """

    __slots__ = ("_hash", "count", "keep", "lines")

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.lines: list[str] = []
        self._hash = hashlib.sha256()
        self.count = 0

    def __call__(self, now: float, kind: str, *fields: object) -> None:
        line = f"{now:.6f} {kind} {' '.join(str(f) for f in fields)}\n"
        self._hash.update(line.encode())
        self.count += 1
        if self.keep:
            self.lines.append(line)

    def digest(self) -> str:
        return self._hash.hexdigest()

    def text(self) -> str:
        return "".join(self.lines)
