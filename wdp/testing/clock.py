"""A clock tests move by hand, for code that takes a ``time.time``-style clock."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MovableClock"]


class MovableClock:
    """Wall time plus an offset the test moves forward.

    Everything registered with :meth:`on_move` (a node's ``wake``, say) is
    called after each move, so timer loops look at the clock again.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        return time.time() + self.offset

    def on_move(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        for listener in self._listeners:
            listener()
