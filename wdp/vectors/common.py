"""The fixed clock and the fixed seeds every vector starts from."""

from __future__ import annotations

import hashlib

T0_MS = 1_700_000_000_000  # the fixed clock: 2023-11-14T22:13:20Z
OWNER_SEED = bytes(range(32))  # the seed of protocols/coding-and-crypto.md section 7
EPOCH_SECONDS = 600


def seed(i: int) -> bytes:
    """Node seed i: the byte i repeated 32 times."""
    return bytes([i]) * 32


def label_seed(label: str) -> bytes:
    """A fixed 32-byte value named by a label: SHA-256 of the label."""
    return hashlib.sha256(label.encode()).digest()


def now_s(ms: int) -> float:
    """The core's clock is float seconds; every vector time is a whole millisecond."""
    return ms / 1000
