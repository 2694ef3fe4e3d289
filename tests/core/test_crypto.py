"""Tests for wdp.core.crypto: HKDF, AEAD, owner keys and sealing to the owner."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

import nacl.bindings
import nacl.public
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core import crypto
from wdp.core.crypto import (
    CryptoError,
    decrypt_payload,
    derive_data_key,
    derive_locator_seed,
    derive_locator_seed_v2,
    derive_repair_seed,
    encrypt_payload,
    open_as_owner,
    owner_x25519_private_key,
    owner_x25519_public_key,
    public_key,
    seal_to_owner,
    wanderer_id,
)
from wdp.core.merkle import merkle_root

SEED = bytes(range(32))
EPHEMERAL = bytes(range(32, 64))


def hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 written out with the standard library, salt absent (= 32 zero bytes)."""
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
    out, block = b"", b""
    counter = 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


# --- key derivation -----------------------------------------------------------


def test_hkdf_matches_rfc5869_written_out() -> None:
    assert derive_data_key(SEED) == hkdf_sha256(SEED, b"wdp/v1/data-key")
    for index, generation in [(0, 0), (1, 0), (0, 1), (255, 7), (2**32 - 1, 2**32 - 1)]:
        info = b"wdp/v1/locator-key" + struct.pack(">II", index, generation)
        assert len(info) == 26
        assert derive_locator_seed(SEED, index, generation) == hkdf_sha256(SEED, info)


def test_locator_seeds_differ_by_index_and_generation() -> None:
    seeds = {derive_locator_seed(SEED, i, g) for i in range(10) for g in range(5)}
    assert len(seeds) == 50
    assert derive_data_key(SEED) not in seeds
    assert derive_locator_seed(SEED, 1, 0) != derive_locator_seed(SEED, 0, 1)
    assert derive_locator_seed(SEED, 0, 0) != derive_locator_seed(bytes(32), 0, 0)
    assert all(len(s) == 32 for s in seeds)


def test_spec_key_vectors() -> None:
    pk = public_key(SEED)
    assert pk.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    assert wanderer_id(pk).hex() == (
        "dbab351a2beb30e2d9233f7d0a0d0e8205fddb2f21533834a526245c5eb0689f"
    )
    assert derive_data_key(SEED).hex() == (
        "769f6c9b266c8942b1f2ac739249218cffe5cfcbeb280f1a955ef0d946281fdf"
    )
    expected = {
        (0, 0): "9431dfb8d972be63f2c560b30e7037de46cc3eab1097debe07894f751a1853a8",
        (1, 0): "30971a8767f71551fcb6498b26e6ed169f70c09814dd1fb06679980749d4f614",
        (0, 1): "c59f7a12f764441b25720f868c82c3fb01e470659a27f3db586b5c182b8c03d8",
        (7, 3): "c7cf4457beb5bb2e29ca119224487467dc09320b35ca4707a38339e294fbd54b",
    }
    for (index, generation), value in expected.items():
        assert derive_locator_seed(SEED, index, generation).hex() == value
    assert owner_x25519_private_key(SEED).hex() == (
        "3894eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f"
    )
    assert owner_x25519_public_key(pk).hex() == (
        "4701d08488451f545a409fb58ae3e58581ca40ac3f7f114698cd71deac73ca01"
    )


def test_spec_version_2_key_vectors() -> None:
    """coding-and-crypto.md section 7, the version 2 block and the Merkle root."""
    rs = derive_repair_seed(SEED)
    assert rs.hex() == "0b41f3e6c07a07992056320da702a92f47f3ef1a7d59daef2333c31a458b7739"
    rk = public_key(rs)
    assert rk.hex() == "cc513cef275a676e50493ab5911872c074ecfe24da4b41e2f15447cb5e9c9c94"
    expected = {
        (0, 0): "88be8a1090431e91f372e40b7730ea7e74097cb5fe7c9b289e011dce20d36e9a",
        (1, 0): "071f07ca8cf02d4bd0a7dd82892600aae30c85e586fc96ffa41cc5f24a7b3c6c",
        (0, 1): "8fbb684b7dcce1f07afd2b739fdec30952b1d4ed39b4b13141e7d88e76909036",
        (7, 3): "83a6f4b85b0e7f0a7eee307a1fd9975454f7627b62ec80e1fffdb1602432d5fc",
    }
    for (index, generation), value in expected.items():
        assert derive_locator_seed_v2(rs, index, generation).hex() == value
    assert owner_x25519_private_key(rs).hex() == (
        "c0a14a9bc3d4ef611b9bc9e8ee2106c2738e414c4fff5dab6610772e4c935642"
    )
    assert owner_x25519_public_key(rk).hex() == (
        "a4106711d95409a4662f8f16e49c86d2c682ab35ef7f11c566ad7a7cc8376659"
    )
    shard = bytes(range(256)) * 11 + bytes(184)
    assert merkle_root(shard).hex() == (
        "828bd1dd17447a861eccc6c6b4f3d0c4d36c4fa2e6aebccd626957c62367de67"
    )


@pytest.mark.parametrize(
    ("index", "generation"), [(-1, 0), (0, -1), (2**32, 0), (0, 2**32), (True, 0)]
)
def test_locator_seed_rejects_out_of_range(index: int, generation: int) -> None:
    with pytest.raises(CryptoError):
        derive_locator_seed(SEED, index, generation)


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_seed_size_checked(bad: bytes) -> None:
    for fn in (derive_data_key, public_key, owner_x25519_private_key):
        with pytest.raises(CryptoError, match="32 bytes"):
            fn(bad)
    with pytest.raises(CryptoError, match="32 bytes"):
        derive_locator_seed(bad, 0, 0)


def test_owner_key_is_rfc8032() -> None:
    # RFC 8032 section 7.1, test 1
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert public_key(secret).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert crypto.signing_key(secret).encode() == secret


def test_wanderer_id() -> None:
    pk = public_key(SEED)
    assert wanderer_id(pk) == hashlib.sha256(b"wdp/v1/wanderer-id" + pk).digest()
    assert wanderer_id(memoryview(pk)) == wanderer_id(pk)
    with pytest.raises(CryptoError):
        wanderer_id(pk[:31])


# --- AEAD -------------------------------------------------------------------


def test_aead_rfc8439_vector() -> None:
    # RFC 8439 section 2.8.2
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
        b"for the future, sunscreen would be it."
    )
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    out = encrypt_payload(key, nonce, plaintext, aad)
    assert out[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2"
    assert out[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert len(out) == len(plaintext) + 16
    assert decrypt_payload(key, nonce, out, aad) == plaintext


def test_aead_spec_vector() -> None:
    key = derive_data_key(SEED)
    aad = wanderer_id(public_key(SEED))
    out = encrypt_payload(key, bytes(range(12)), b"wanderer payload", aad)
    assert out.hex() == "7dcb876558492a0b235ace346ffdf13bb23986e380cd6462f1181ceb12f71d92"


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=64))
def test_aead_round_trip(plaintext: bytes, aad: bytes) -> None:
    key, nonce = os.urandom(32), os.urandom(12)
    out = encrypt_payload(key, nonce, plaintext, aad)
    assert decrypt_payload(key, nonce, out, aad) == plaintext
    assert decrypt_payload(bytearray(key), memoryview(nonce), memoryview(out), aad) == plaintext


def test_aead_rejects_tamper_wrong_key_nonce_aad() -> None:
    key, nonce = os.urandom(32), os.urandom(12)
    aad = wanderer_id(public_key(SEED))
    out = encrypt_payload(key, nonce, b"secret payload" * 10, aad)
    for position in (0, len(out) // 2, len(out) - 17, len(out) - 1):  # body and tag
        tampered = bytearray(out)
        tampered[position] ^= 0x01
        with pytest.raises(CryptoError, match="authentication failed"):
            decrypt_payload(key, nonce, bytes(tampered), aad)
    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_payload(os.urandom(32), nonce, out, aad)
    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_payload(key, os.urandom(12), out, aad)
    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_payload(key, nonce, out, aad[:-1] + bytes([aad[-1] ^ 1]))
    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_payload(key, nonce, out, b"")
    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_payload(key, nonce, out[:-1], aad)
    with pytest.raises(CryptoError, match="shorter than"):
        decrypt_payload(key, nonce, out[:15], aad)


def test_aead_parameter_sizes() -> None:
    with pytest.raises(CryptoError, match="AEAD key must be 32"):
        encrypt_payload(bytes(16), bytes(12), b"x", b"")
    with pytest.raises(CryptoError, match="AEAD nonce must be 12"):
        encrypt_payload(bytes(32), bytes(24), b"x", b"")
    with pytest.raises(CryptoError, match="must be bytes"):
        encrypt_payload(bytes(32), bytes(12), "text", b"")  # type: ignore[arg-type]


def test_aead_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert crypto.AEAD_MAX_PLAINTEXT == 2**31 - 1  # pyca/cryptography's per-call limit
    monkeypatch.setattr(crypto, "AEAD_MAX_PLAINTEXT", 8)
    monkeypatch.setattr(crypto, "AEAD_MAX_AAD", 4)
    key, nonce = bytes(32), bytes(12)
    out = encrypt_payload(key, nonce, bytes(8), b"abcd")
    assert decrypt_payload(key, nonce, out, b"abcd") == bytes(8)
    with pytest.raises(CryptoError, match="limit"):
        encrypt_payload(key, nonce, bytes(9), b"")
    with pytest.raises(CryptoError, match="limit"):
        encrypt_payload(key, nonce, b"", b"abcde")
    with pytest.raises(CryptoError, match="limit"):
        decrypt_payload(key, nonce, bytes(25), b"")


# --- sealing to the owner ----------------------------------------------------


def test_owner_x25519_keys_match_libsodium_and_spec() -> None:
    signing = nacl.signing.SigningKey(SEED)
    sk = owner_x25519_private_key(SEED)
    assert sk == signing.to_curve25519_private_key().encode()
    # spec: clamp(SHA-512(seed)[0:32])
    h = bytearray(hashlib.sha512(SEED).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    assert sk == bytes(h)
    pk = owner_x25519_public_key(public_key(SEED))
    assert pk == signing.verify_key.to_curve25519_public_key().encode()
    assert pk == nacl.bindings.crypto_scalarmult_base(sk)


def test_seal_spec_vector() -> None:
    sealed = seal_to_owner(public_key(SEED), b"holder info", EPHEMERAL)
    assert sealed.hex() == (
        "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"
        "f6a441ad59e63228c04b9e2b5ee53b254aab707ce6f36bb7dc1fe2"
    )
    assert sealed[:32] == nacl.bindings.crypto_scalarmult_base(EPHEMERAL)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=1024), st.binary(min_size=32, max_size=32))
def test_seal_round_trip_and_libsodium_opens_it(plaintext: bytes, seed: bytes) -> None:
    ephemeral = os.urandom(32)
    sealed = seal_to_owner(public_key(seed), plaintext, ephemeral)
    assert len(sealed) == len(plaintext) + crypto.SEAL_OVERHEAD
    assert open_as_owner(seed, sealed) == plaintext
    # a standard libsodium sealed box (crypto_box_seal_open)
    owner_sk = nacl.public.PrivateKey(owner_x25519_private_key(seed))
    assert nacl.public.SealedBox(owner_sk).decrypt(sealed) == plaintext


def test_open_as_owner_opens_libsodium_sealed_boxes() -> None:
    owner_pk = nacl.public.PublicKey(owner_x25519_public_key(public_key(SEED)))
    sealed = nacl.public.SealedBox(owner_pk).encrypt(b"from libsodium")
    assert open_as_owner(SEED, sealed) == b"from libsodium"


def test_seal_is_deterministic_in_the_ephemeral_seed() -> None:
    pk = public_key(SEED)
    assert seal_to_owner(pk, b"m", EPHEMERAL) == seal_to_owner(pk, b"m", bytearray(EPHEMERAL))
    assert seal_to_owner(pk, b"m", EPHEMERAL) != seal_to_owner(pk, b"m", bytes(32))


def test_open_rejects_wrong_owner_tamper_and_short() -> None:
    sealed = seal_to_owner(public_key(SEED), b"holder info", EPHEMERAL)
    with pytest.raises(CryptoError, match="did not open"):
        open_as_owner(bytes(32), sealed)
    for position in (0, 31, 32, 47, 48, len(sealed) - 1):  # epk, tag, body
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(CryptoError):
            open_as_owner(SEED, bytes(tampered))
    with pytest.raises(CryptoError, match="shorter than"):
        open_as_owner(SEED, sealed[:47])
    assert open_as_owner(SEED, seal_to_owner(public_key(SEED), b"", EPHEMERAL)) == b""


def test_seal_rejects_bad_keys() -> None:
    with pytest.raises(CryptoError, match="not a valid Ed25519 point"):
        seal_to_owner(b"\x01" + bytes(31), b"m", EPHEMERAL)  # identity: small order
    with pytest.raises(CryptoError, match="32 bytes"):
        seal_to_owner(public_key(SEED)[:31], b"m", EPHEMERAL)
    with pytest.raises(CryptoError, match="ephemeral seed must be 32"):
        seal_to_owner(public_key(SEED), b"m", bytes(16))


def test_error_type() -> None:
    assert issubclass(CryptoError, ValueError)
