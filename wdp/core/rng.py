"""Injected randomness for the sans-IO core.

The core never touches global randomness: every random choice (hop jitter,
carrier choice, tie breaks) goes through an ``Rng`` handed in by the caller, so
the same seed replays the same decisions in tests and simulations. Drivers pass
``random.Random(seed)`` (or ``random.SystemRandom()`` in production, whose
``randbytes`` comes from the OS: single-use secrets such as a sealed box's
ephemeral key and a fetch nonce are drawn from it).

Parameters are positional-only so that ``random.Random``, whose ``randrange``
names its first parameter ``start``, satisfies the protocol under mypy.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any, Protocol

__all__ = ["Rng"]


class Rng(Protocol):
    """The subset of ``random.Random`` the core relies on."""

    def random(self) -> float:
        """Return a float uniformly distributed in [0.0, 1.0)."""
        ...

    def randrange(self, stop: int, /) -> int:
        """Return an int uniformly distributed in [0, stop)."""
        ...

    def shuffle(self, x: MutableSequence[Any], /) -> None:
        """Shuffle ``x`` in place."""
        ...

    def randbytes(self, n: int, /) -> bytes:
        """Return ``n`` random bytes (``random.SystemRandom`` draws them from the OS)."""
        ...
