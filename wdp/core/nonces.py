"""Freshness of signed requests: a time window and the nonces already used.

A fetch request (spec 15.5, F5-F6) and an audit challenge (spec 18.4, A6-A7)
are fresh if their ``time_ms`` is within ``MAX_CLOCK_SKEW_MS`` of this node's
clock and their nonce was not accepted before. A request that passes uses up
its nonce.
"""

from __future__ import annotations

import heapq

from .errors import RejectCode, RemoteProtocolError
from .limits import FETCH_NONCE_MEMORY
from .locator import MAX_CLOCK_SKEW_MS
from .objects import time_ms

__all__ = ["NonceCache", "check_fresh"]


class NonceCache:
    """Nonces of accepted requests, each kept until its request could no longer be fresh.

    A request with ``time_ms`` t passes the freshness check (F5) only while the
    carrier's clock is at most t + ``window_ms``, so its nonce is remembered
    until then. At most ``capacity`` nonces are kept; when full, the ones
    closest to expiry are forgotten first. (A request names its carrier, F4,
    so a forgotten nonce could only be replayed to the same carrier by someone
    who read the request off its Noise channel.)
    """

    def __init__(
        self, capacity: int = FETCH_NONCE_MEMORY, window_ms: int = MAX_CLOCK_SKEW_MS
    ) -> None:
        if capacity < 1:
            raise ValueError("a nonce cache needs room for at least one nonce")
        self.capacity = capacity
        self.window_ms = window_ms
        self._expiry: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now_ms: int) -> None:
        while self._heap and self._heap[0][0] < now_ms:
            expiry, nonce = heapq.heappop(self._heap)
            if self._expiry.get(nonce) == expiry:
                del self._expiry[nonce]

    def seen(self, nonce: bytes, now_ms: int) -> bool:
        """True if ``nonce`` was accepted before and is still remembered."""
        self._purge(now_ms)
        return nonce in self._expiry

    def add(self, nonce: bytes, time_ms: int, now_ms: int) -> None:
        """Remember the nonce of an accepted request with ``time_ms``."""
        self._purge(now_ms)
        expiry = time_ms + self.window_ms
        old = self._expiry.get(nonce)
        if old is not None and old >= expiry:
            return
        while len(self._expiry) >= self.capacity and old is None:
            gone_expiry, gone = heapq.heappop(self._heap)
            if self._expiry.get(gone) == gone_expiry:
                del self._expiry[gone]
        self._expiry[nonce] = expiry
        heapq.heappush(self._heap, (expiry, nonce))


def check_fresh(sent_ms: int, nonce: bytes, now: float, nonces: NonceCache, what: str) -> None:
    """STALE_HOP unless ``sent_ms`` is within the skew window and ``nonce`` is new; then use it."""
    now_ms = time_ms(now)
    skew = sent_ms - now_ms
    if abs(skew) > MAX_CLOCK_SKEW_MS:
        raise RemoteProtocolError(
            RejectCode.STALE_HOP,
            f"{what} time is {skew / 1000:+.0f} s from this node's clock "
            f"(limit +-{MAX_CLOCK_SKEW_MS // 1000} s)",
        )
    if nonces.seen(nonce, now_ms):
        raise RemoteProtocolError(RejectCode.STALE_HOP, f"the {what}'s nonce was used before")
    nonces.add(nonce, sent_ms, now_ms)
