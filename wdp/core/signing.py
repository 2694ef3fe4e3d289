"""Domain-separated Ed25519 signatures over exact bytes.

The signing input is ``u8(len(domain)) || domain || u64be(len(body)) || body``.
The domain keeps a signature made for one kind of object from being valid for
another; the length prefixes make the split unambiguous. Signatures always
cover the bytes that travel: a verifier checks the received ``body`` and only
then parses it (protobuf encoding is not canonical, so re-encoding could
change the bytes).

The Ed25519 implementation (and the sealed box to an owner's Ed25519 key,
which rides on the same key pairs) sits behind a :class:`SignatureScheme` so
that the swarm simulator can swap in a cheap stand-in for scale runs
(:func:`use_scheme`, scoped to a context). Nodes never switch: Ed25519 is the
default and the only scheme on the wire.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

import nacl.exceptions
import nacl.signing

from . import crypto
from .limits import KEY_SIZE, SIGNATURE_SIZE

DOMAIN_MANIFEST = b"wdp/v1/manifest"
DOMAIN_RECORD = b"wdp/v1/custody-record"
DOMAIN_RECEIPT = b"wdp/v1/receipt"
DOMAIN_LOCATOR = b"wdp/v1/locator"
DOMAIN_FETCH = b"wdp/v1/fetch-request"
DOMAIN_AUDIT = b"wdp/v1/audit-challenge"
DOMAIN_REPAIR_GRANT = b"wdp/v2/repair-grant"


def signing_input(domain: bytes, body: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers."""
    if not 0 < len(domain) < 256:
        raise ValueError("domain must be 1..255 bytes")
    return bytes([len(domain)]) + domain + struct.pack(">Q", len(body)) + body


def sha256(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256 digest: shard hashes, record hashes, manifest hashes."""
    return hashlib.sha256(data).digest()


class SigningKey(Protocol):
    """A private key of some :class:`SignatureScheme`, made from a 32-byte seed."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message`` (the whole signing input)."""
        ...


class SignatureScheme(Protocol):
    """How signatures are made and checked: Ed25519, or a simulator's stand-in."""

    @property
    def name(self) -> str: ...

    def key(self, seed: bytes) -> SigningKey:
        """The key pair of a 32-byte seed."""
        ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is ``public_key``'s over ``message``; never raises."""
        ...

    def seal(self, owner_public_key: bytes, plaintext: bytes, ephemeral_seed: bytes) -> bytes:
        """Seal ``plaintext`` to the owner of ``owner_public_key`` (48 bytes of overhead)."""
        ...

    def open_sealed(self, owner_seed: bytes, sealed: bytes) -> bytes:
        """Open what :meth:`seal` made for this owner; raise ``crypto.CryptoError`` if not."""
        ...


class _Ed25519Key:
    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message).signature)


class Ed25519:
    """RFC 8032 Ed25519 through libsodium (strict verification): the WDP v1 scheme."""

    name = "ed25519"

    def key(self, seed: bytes) -> SigningKey:
        return _Ed25519Key(seed)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            nacl.signing.VerifyKey(public_key).verify(message, signature)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return False
        return True

    def seal(self, owner_public_key: bytes, plaintext: bytes, ephemeral_seed: bytes) -> bytes:
        return crypto.seal_to_owner(owner_public_key, plaintext, ephemeral_seed)

    def open_sealed(self, owner_seed: bytes, sealed: bytes) -> bytes:
        return crypto.open_as_owner(owner_seed, sealed)


ED25519: SignatureScheme = Ed25519()
_scheme: ContextVar[SignatureScheme] = ContextVar("wdp_signature_scheme", default=ED25519)


def current_scheme() -> SignatureScheme:
    """The scheme signers and :func:`verify` use in this context (Ed25519 unless switched)."""
    return _scheme.get()


@contextmanager
def use_scheme(scheme: SignatureScheme) -> Iterator[SignatureScheme]:
    """Sign and verify with ``scheme`` inside the block (the simulator's cheap-crypto switch).

    A :class:`Signer` keeps the scheme it was made under; :func:`verify` uses the
    scheme of the calling context.
    """
    token = _scheme.set(scheme)
    try:
        yield scheme
    finally:
        _scheme.reset(token)


class Signer:
    """A key pair made from a 32-byte seed (Ed25519 unless a stand-in scheme is in use)."""

    __slots__ = ("_key", "public_key", "seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_SIZE:
            raise ValueError(f"Ed25519 seed must be {KEY_SIZE} bytes, got {len(seed)}")
        self.seed = bytes(seed)
        self._key = _scheme.get().key(self.seed)
        self.public_key: bytes = self._key.public_key

    def sign(self, domain: bytes, body: bytes) -> bytes:
        """Sign ``body`` under ``domain``; returns the 64-byte signature."""
        return self._key.sign(signing_input(domain, body))

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key.hex()[:16]}...)"


def public_key_of(seed: bytes) -> bytes:
    """The public key for a seed."""
    return Signer(seed).public_key


def verify(public_key: bytes, domain: bytes, body: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s signature of ``body`` under ``domain``."""
    if len(public_key) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    return _scheme.get().verify(public_key, signing_input(domain, body), signature)
