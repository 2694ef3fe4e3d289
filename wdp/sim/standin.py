"""A cheap stand-in for Ed25519, for scale runs of the simulator only.

Keys and signatures have the real sizes (32 and 64 bytes), so every encoded
message, chain and offer is byte-for-byte the size it has on the wire, and
every check of the core runs unchanged; only the arithmetic is replaced by one
BLAKE2b call. It is **not a signature**: anyone who knows a public key can
forge. It exists so that a simulated swarm of honest nodes spends its time on
the protocol's decisions rather than on elliptic curves. Fidelity runs keep
real Ed25519 (:data:`wdp.core.signing.ED25519`).

The sealed box to an owner (a locator's ``sealed_holder``) is stood in for the
same way: 32 bytes standing for the ephemeral key, a 16-byte tag and the
plaintext masked with a SHAKE-256 keystream of the owner's public key, so a
sealed holder has its real size and only the owner's seed opens it (nobody
else is meant to try).
"""

from __future__ import annotations

import hashlib

from wdp.core.crypto import SEAL_OVERHEAD, CryptoError
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

    def seal(self, owner_public_key: bytes, plaintext: bytes, ephemeral_seed: bytes) -> bytes:
        epk = hashlib.blake2b(ephemeral_seed, digest_size=32, person=b"wdpsim-epk").digest()
        body = _mask(owner_public_key, epk, bytes(plaintext))
        return epk + _tag(owner_public_key, epk, body) + body

    def open_sealed(self, owner_seed: bytes, sealed: bytes) -> bytes:
        data = bytes(sealed)
        if len(data) < SEAL_OVERHEAD:
            raise CryptoError("sealed box is shorter than its overhead")
        pk = _Key(owner_seed).public_key
        epk, tag, body = data[:32], data[32:SEAL_OVERHEAD], data[SEAL_OVERHEAD:]
        if _tag(pk, epk, body) != tag:
            raise CryptoError("sealed box did not open: not sealed to this owner, or tampered")
        return _mask(pk, epk, body)


def _mask(pk: bytes, epk: bytes, data: bytes) -> bytes:
    stream = hashlib.shake_256(b"wdpsim-seal" + pk + epk).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _tag(pk: bytes, epk: bytes, body: bytes) -> bytes:
    return hashlib.blake2b(epk + body, digest_size=16, key=pk).digest()


STANDIN = StandInScheme()
