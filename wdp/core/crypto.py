"""Key derivation, payload AEAD and sealing to the owner.

Normative description: protocols/coding-and-crypto.md.

Sans-IO and deterministic: this module never draws randomness. Every secret
(owner seed) and every single-use value (AEAD nonce, ephemeral sealing seed)
is a ``bytes`` argument that the driver takes from ``os.urandom``, so every
output here can be pinned as a test vector.

Libraries: bulk AEAD uses ``cryptography`` (ChaCha20-Poly1305, ~5x faster
than PyNaCl here); Ed25519, X25519 and crypto_box come from PyNaCl/libsodium.
"""

from __future__ import annotations

import hashlib
import struct

import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import WdpError
from .limits import TAG_SIZE

BytesLike = bytes | bytearray | memoryview

SEED_SIZE = 32  # owner seed, ephemeral sealing seed, derived locator seed
KEY_SIZE = 32  # ChaCha20-Poly1305 key
NONCE_SIZE = 12  # ChaCha20-Poly1305 nonce (RFC 8439)
PUBLIC_KEY_SIZE = 32  # Ed25519 and X25519 public keys
WANDERER_ID_SIZE = 32  # SHA-256
SEAL_NONCE_SIZE = 24  # crypto_box (XSalsa20-Poly1305) nonce
SEAL_OVERHEAD = PUBLIC_KEY_SIZE + TAG_SIZE  # 48: ephemeral public key + Poly1305 tag

# ``cryptography`` (OpenSSL underneath) refuses more than 2**31 - 1 bytes of
# data or of associated data in one AEAD call (it raises OverflowError). RFC
# 8439 itself allows up to 2**38 - 64 bytes, but WDP v1 adopts the smaller
# bound so every implementation can encrypt and decrypt a payload in one call.
# The ciphertext may be 16 bytes longer (the tag); decryption accepts that.
AEAD_MAX_PLAINTEXT = 2**31 - 1
AEAD_MAX_AAD = 2**31 - 1

INFO_DATA_KEY = b"wdp/v1/data-key"
INFO_LOCATOR_KEY = b"wdp/v1/locator-key"
INFO_REPAIR_SEED = b"wdp/v2/repair-seed"
INFO_LOCATOR_KEY_V2 = b"wdp/v2/locator-key"
INFO_SEGMENT_SEED = b"wdp/v2/segment-seed"
INFO_FILE_INDEX_SEED = b"wdp/v2/file-index-seed"
DOMAIN_WANDERER_ID = b"wdp/v1/wanderer-id"

_U32_MAX = 2**32 - 1


class CryptoError(WdpError, ValueError):
    """A key, nonce or ciphertext was rejected (bad size, failed authentication, ...).

    Still a ValueError: the owner turns any ValueError from making a wanderer
    into an OwnerError.
    """


def _nbytes(value: BytesLike) -> int:
    """Length in bytes of a bytes-like value (a memoryview's len counts items)."""
    if isinstance(value, memoryview):
        return value.nbytes
    return len(value)


def _exact(value: BytesLike, size: int, what: str) -> bytes:
    """``value`` as bytes, or CryptoError if it is not exactly ``size`` bytes."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{what} must be bytes, got {type(value).__name__}")
    got = _nbytes(value)
    if got != size:
        raise CryptoError(f"{what} must be {size} bytes, got {got}")
    return bytes(value)


# --- key derivation ---------------------------------------------------------


def _hkdf(seed: BytesLike, info: bytes) -> bytes:
    ikm = _exact(seed, SEED_SIZE, "owner seed")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def derive_data_key(seed: BytesLike) -> bytes:
    """The 32-byte ChaCha20-Poly1305 key that encrypts the wanderer's payload.

    HKDF-SHA256(ikm=seed, salt=none, info=b"wdp/v1/data-key", L=32).
    """
    return _hkdf(seed, INFO_DATA_KEY)


def _u32(name: str, value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CryptoError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= _U32_MAX:
        raise CryptoError(f"{name} must fit in an unsigned 32-bit integer, got {value}")
    return struct.pack(">I", value)


def _shard_generation(shard_index: int, generation: int) -> bytes:
    return _u32("shard_index", shard_index) + _u32("generation", generation)


def derive_locator_seed(seed: BytesLike, shard_index: int, generation: int) -> bytes:
    """The 32-byte Ed25519 seed of a v1 wanderer's locator key of one shard in one generation.

    HKDF-SHA256(ikm=owner seed, salt=none,
    info=b"wdp/v1/locator-key" || u32be(shard_index) || u32be(generation), L=32).
    """
    return _hkdf(seed, INFO_LOCATOR_KEY + _shard_generation(shard_index, generation))


def derive_repair_seed(seed: BytesLike) -> bytes:
    """The repair seed of a v2 wanderer: HKDF-SHA256(owner seed, info=b"wdp/v2/repair-seed").

    Its Ed25519 public key is the manifest's ``repair_key``; locator seeds
    derive from it and locators are sealed to it, so whoever holds it can
    find, audit and relaunch shards, but not decrypt the payload.
    """
    return _hkdf(seed, INFO_REPAIR_SEED)


def derive_locator_seed_v2(repair_seed: BytesLike, shard_index: int, generation: int) -> bytes:
    """A v2 wanderer's locator seed: HKDF-SHA256(ikm=repair seed, salt=none,
    info=b"wdp/v2/locator-key" || u32be(shard_index) || u32be(generation), L=32)."""
    return _hkdf(repair_seed, INFO_LOCATOR_KEY_V2 + _shard_generation(shard_index, generation))


def derive_segment_seed(file_seed: BytesLike, index: int) -> bytes:
    """The owner seed of segment ``index`` of a file: HKDF-SHA256(ikm=file seed, salt=none,
    info=b"wdp/v2/segment-seed" || u32be(index), L=32)."""
    return _hkdf(file_seed, INFO_SEGMENT_SEED + _u32("segment index", index))


def derive_file_index_seed(file_repair_seed: BytesLike) -> bytes:
    """The owner seed of a file's index wanderer: HKDF-SHA256(ikm=the file seed's repair
    seed, salt=none, info=b"wdp/v2/file-index-seed", L=32). From the repair seed, so that
    whoever may repair the file can read the index (it holds no key that decrypts data)."""
    return _hkdf(file_repair_seed, INFO_FILE_INDEX_SEED)


def signing_key(seed: BytesLike) -> nacl.signing.SigningKey:
    """The owner's Ed25519 signing key: the seed is the RFC 8032 private key."""
    return nacl.signing.SigningKey(_exact(seed, SEED_SIZE, "owner seed"))


def public_key(seed: BytesLike) -> bytes:
    """The 32-byte Ed25519 public key of a seed."""
    return bytes(signing_key(seed).verify_key)


def wanderer_id(owner_public_key: BytesLike) -> bytes:
    """SHA-256(b"wdp/v1/wanderer-id" || owner_public_key): 32 bytes."""
    pk = _exact(owner_public_key, PUBLIC_KEY_SIZE, "owner public key")
    return hashlib.sha256(DOMAIN_WANDERER_ID + pk).digest()


# --- payload AEAD -----------------------------------------------------------


def _aead_args(key: BytesLike, nonce: BytesLike, aad: BytesLike) -> ChaCha20Poly1305:
    k = _exact(key, KEY_SIZE, "AEAD key")
    _exact(nonce, NONCE_SIZE, "AEAD nonce")
    if not isinstance(aad, bytes | bytearray | memoryview):
        raise CryptoError(f"associated data must be bytes, got {type(aad).__name__}")
    if _nbytes(aad) > AEAD_MAX_AAD:
        raise CryptoError(
            f"associated data is {_nbytes(aad)} bytes; the limit is {AEAD_MAX_AAD} (2**31 - 1)"
        )
    return ChaCha20Poly1305(k)


def encrypt_payload(
    key: BytesLike, nonce: BytesLike, plaintext: BytesLike, aad: BytesLike
) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439): returns ciphertext || 16-byte tag.

    ``nonce`` must never repeat under one key: the driver passes 12 fresh
    bytes from ``os.urandom`` for every encryption. ``plaintext`` may be at
    most AEAD_MAX_PLAINTEXT (2**31 - 1) bytes.
    """
    aead = _aead_args(key, nonce, aad)
    if not isinstance(plaintext, bytes | bytearray | memoryview):
        raise CryptoError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    size = _nbytes(plaintext)
    if size > AEAD_MAX_PLAINTEXT:
        raise CryptoError(
            f"plaintext is {size} bytes; the AEAD limit is {AEAD_MAX_PLAINTEXT} (2**31 - 1)"
        )
    return aead.encrypt(nonce, plaintext, aad)


def decrypt_payload(
    key: BytesLike, nonce: BytesLike, ciphertext: BytesLike, aad: BytesLike
) -> bytes:
    """Open ciphertext || tag made by :func:`encrypt_payload`; CryptoError if it does not verify."""
    aead = _aead_args(key, nonce, aad)
    if not isinstance(ciphertext, bytes | bytearray | memoryview):
        raise CryptoError(f"ciphertext must be bytes, got {type(ciphertext).__name__}")
    size = _nbytes(ciphertext)
    if size < TAG_SIZE:
        raise CryptoError(f"ciphertext is {size} bytes, shorter than the {TAG_SIZE}-byte tag")
    if size > AEAD_MAX_PLAINTEXT + TAG_SIZE:
        raise CryptoError(
            f"ciphertext is {size} bytes; the limit is {AEAD_MAX_PLAINTEXT + TAG_SIZE}"
        )
    try:
        return aead.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError(
            "payload authentication failed: wrong key, wrong nonce, "
            "wrong associated data (wanderer id), or tampered ciphertext"
        ) from None


# --- sealing to the owner (libsodium sealed box, deterministic ephemeral) ----


def owner_x25519_public_key(owner_public_key: BytesLike) -> bytes:
    """The X25519 public key birationally equivalent to an Ed25519 public key.

    libsodium ``crypto_sign_ed25519_pk_to_curve25519``; rejects points that are
    not valid, of small order or outside the prime-order subgroup.
    """
    pk = _exact(owner_public_key, PUBLIC_KEY_SIZE, "owner public key")
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(pk))
    except nacl.exceptions.CryptoError:
        raise CryptoError("owner public key is not a valid Ed25519 point") from None


def owner_x25519_private_key(owner_seed: BytesLike) -> bytes:
    """The owner's X25519 private key: clamp(SHA-512(seed)[0:32]).

    libsodium ``crypto_sign_ed25519_sk_to_curve25519`` applied to the 64-byte
    Ed25519 secret key (seed || public key); only the seed half is used.
    """
    key = signing_key(owner_seed)
    sk64 = bytes(key) + bytes(key.verify_key)
    return bytes(nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(sk64))


def _seal_nonce(ephemeral_pk: bytes, recipient_pk: bytes) -> bytes:
    """BLAKE2b-192(epk || recipient_pk), unkeyed: libsodium's sealed-box nonce."""
    return hashlib.blake2b(ephemeral_pk + recipient_pk, digest_size=SEAL_NONCE_SIZE).digest()


def seal_to_owner(
    owner_public_key: BytesLike, plaintext: BytesLike, ephemeral_seed: BytesLike
) -> bytes:
    """Seal ``plaintext`` so that only the owner can read it; returns epk || tag || ciphertext.

    The output is a standard libsodium sealed box (``crypto_box_seal``) to the
    owner's X25519 key, but deterministic: the ephemeral X25519 private key is
    ``ephemeral_seed`` (32 fresh random bytes per call, from the driver; never
    reuse one). Overhead is SEAL_OVERHEAD (48) bytes.
    """
    recipient_pk = owner_x25519_public_key(owner_public_key)
    esk = _exact(ephemeral_seed, SEED_SIZE, "ephemeral seed")
    if not isinstance(plaintext, bytes | bytearray | memoryview):
        raise CryptoError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    epk = bytes(nacl.bindings.crypto_scalarmult_base(esk))
    nonce = _seal_nonce(epk, recipient_pk)
    try:
        boxed = bytes(nacl.bindings.crypto_box(bytes(plaintext), nonce, recipient_pk, esk))
    except nacl.exceptions.CryptoError as exc:
        # libsodium refuses an all-zero shared secret; a recipient key that passed
        # the Ed25519 -> X25519 conversion checks cannot produce one.
        raise CryptoError(f"sealing failed: {exc}") from None
    return epk + boxed


def open_as_owner(owner_seed: BytesLike, sealed: BytesLike) -> bytes:
    """Open a sealed box made by :func:`seal_to_owner` (or by libsodium's ``crypto_box_seal``)."""
    recipient_sk = owner_x25519_private_key(owner_seed)
    recipient_pk = bytes(nacl.bindings.crypto_scalarmult_base(recipient_sk))
    if not isinstance(sealed, bytes | bytearray | memoryview):
        raise CryptoError(f"sealed box must be bytes, got {type(sealed).__name__}")
    data = bytes(sealed)
    if len(data) < SEAL_OVERHEAD:
        raise CryptoError(
            f"sealed box is {len(data)} bytes, shorter than the {SEAL_OVERHEAD}-byte overhead"
        )
    epk = data[:PUBLIC_KEY_SIZE]
    nonce = _seal_nonce(epk, recipient_pk)
    try:
        return bytes(
            nacl.bindings.crypto_box_open(data[PUBLIC_KEY_SIZE:], nonce, epk, recipient_sk)
        )
    except nacl.exceptions.CryptoError:
        raise CryptoError(
            "sealed box did not open: not sealed to this owner, or tampered"
        ) from None
