"""Domain-separated Ed25519 signatures over exact bytes.

The signing input is ``u8(len(domain)) || domain || u64be(len(body)) || body``.
The domain keeps a signature made for one kind of object from being valid for
another; the length prefixes make the split unambiguous. Signatures always
cover the bytes that travel: a verifier checks the received ``body`` and only
then parses it (protobuf encoding is not canonical, so re-encoding could
change the bytes).
"""

from __future__ import annotations

import hashlib
import struct

import nacl.exceptions
import nacl.signing

from .limits import KEY_SIZE, SIGNATURE_SIZE

DOMAIN_MANIFEST = b"wdp/v1/manifest"
DOMAIN_RECORD = b"wdp/v1/custody-record"
DOMAIN_RECEIPT = b"wdp/v1/receipt"
DOMAIN_LOCATOR = b"wdp/v1/locator"
DOMAIN_FETCH = b"wdp/v1/fetch-request"


def signing_input(domain: bytes, body: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers."""
    if not 0 < len(domain) < 256:
        raise ValueError("domain must be 1..255 bytes")
    return bytes([len(domain)]) + domain + struct.pack(">Q", len(body)) + body


def sha256(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256 digest: shard hashes, record hashes, manifest hashes."""
    return hashlib.sha256(data).digest()


class Signer:
    """An Ed25519 key pair made from a 32-byte seed."""

    __slots__ = ("_key", "public_key", "seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_SIZE:
            raise ValueError(f"Ed25519 seed must be {KEY_SIZE} bytes, got {len(seed)}")
        self.seed = bytes(seed)
        self._key = nacl.signing.SigningKey(self.seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    def sign(self, domain: bytes, body: bytes) -> bytes:
        """Sign ``body`` under ``domain``; returns the 64-byte signature."""
        return bytes(self._key.sign(signing_input(domain, body)).signature)

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key.hex()[:16]}...)"


def public_key_of(seed: bytes) -> bytes:
    """The Ed25519 public key for a seed."""
    return Signer(seed).public_key


def verify(public_key: bytes, domain: bytes, body: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s signature of ``body`` under ``domain``."""
    if len(public_key) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(signing_input(domain, body), signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True
