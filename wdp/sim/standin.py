"""A cheap stand-in for Ed25519, for scale runs of the simulator only.

Keys and signatures have the real sizes (32 and 64 bytes), so every encoded
message, chain and offer is byte-for-byte the size it has on the wire, and
every check of the core runs unchanged; only the arithmetic is replaced by one
BLAKE2b call. It is **not a signature**: anyone who knows a public key can
forge. It exists so that a simulated swarm of honest nodes spends its time on
the protocol's decisions rather than on elliptic curves. Fidelity runs keep
real Ed25519 (:data:`wdp.core.signing.ED25519`).
"""

from __future__ import annotations

import hashlib

from wdp.core.signing import SigningKey

__all__ = ["STANDIN", "StandInScheme"]


class _Key:
    __slots__ = ("public_key",)

    def __init__(self, seed: bytes) -> None:
        self.public_key: bytes = hashlib.blake2b(seed, digest_size=32, person=b"wdpsim-pk").digest()

    def sign(self, message: bytes) -> bytes:
        return hashlib.blake2b(message, digest_size=64, key=self.public_key).digest()


class StandInScheme:
    """Keyed BLAKE2b in place of Ed25519 (same sizes, no security)."""

    name = "stand-in"

    def key(self, seed: bytes) -> SigningKey:
        return _Key(seed)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return hashlib.blake2b(message, digest_size=64, key=public_key).digest() == signature


STANDIN = StandInScheme()
