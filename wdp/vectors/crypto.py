"""crypto.json: key derivation, AEAD, sealing to the owner, refused owner keys."""

from __future__ import annotations

from typing import Any

from wdp.core import crypto
from wdp.core.signing import Signer
from wdp.vectors.common import OWNER_SEED, label_seed, seed
from wdp.vectors.render import render


def _data_key_and_wanderer_id_cases() -> list[dict[str, Any]]:
    """An owner's data key (from its seed) and wanderer id (from its public key)."""
    cases: list[dict[str, Any]] = []
    owners = [("owner_seed_00_to_1f", OWNER_SEED), ("seed_01", seed(1))]
    for name, s in owners:
        pk = Signer(s).public_key
        cases.append(
            {
                "name": f"data_key_{name}",
                "kind": "data_key",
                "seed": s.hex(),
                "data_key": crypto.derive_data_key(s).hex(),
            }
        )
        cases.append(
            {
                "name": f"wanderer_id_{name}",
                "kind": "wanderer_id",
                "owner_public_key": pk.hex(),
                "wanderer_id": crypto.wanderer_id(pk).hex(),
            }
        )
    return cases


def _locator_seed_cases() -> list[dict[str, Any]]:
    """The locator key of a shard index and generation, from the owner seed."""
    cases = []
    for index, generation in ((0, 0), (1, 0), (0, 1), (7, 3), (255, 4294967295)):
        loc = crypto.derive_locator_seed(OWNER_SEED, index, generation)
        cases.append(
            {
                "name": f"locator_seed_{index}_{generation}",
                "kind": "locator_seed",
                "seed": OWNER_SEED.hex(),
                "shard_index": index,
                "generation": generation,
                "locator_seed": loc.hex(),
                "locator_public_key": Signer(loc).public_key.hex(),
            }
        )
    return cases


def _aead_cases() -> list[dict[str, Any]]:
    key = crypto.derive_data_key(OWNER_SEED)
    wid = crypto.wanderer_id(Signer(OWNER_SEED).public_key)
    aeads = [
        ("aead_spec_example", key, bytes(range(12)), wid, b"wanderer payload"),
        ("aead_empty_plaintext", key, bytes(range(12)), wid, b""),
        ("aead_empty_aad", seed(9), seed(10)[:12], b"", b"x"),
        ("aead_65_bytes", seed(9), seed(11)[:12], b"aad", bytes(range(65))),
    ]
    return [
        {
            "name": name,
            "kind": "aead",
            "key": k.hex(),
            "nonce": nonce.hex(),
            "aad": aad.hex(),
            "plaintext": plain.hex(),
            "ciphertext": crypto.encrypt_payload(k, nonce, plain, aad).hex(),
        }
        for name, k, nonce, aad, plain in aeads
    ]


def _sealed_box_cases() -> list[dict[str, Any]]:
    """Sealed boxes to an owner, each checked to open with the owner seed."""
    seals = [
        ("sealed_box_spec_example", OWNER_SEED, bytes(range(32, 64)), b"holder info"),
        ("sealed_box_empty", OWNER_SEED, label_seed("wdp/vectors/ephemeral/1"), b""),
        ("sealed_box_seed_01", seed(1), label_seed("wdp/vectors/ephemeral/2"), bytes(100)),
    ]
    cases = []
    for name, owner_seed, eph, plain in seals:
        pk = Signer(owner_seed).public_key
        sealed = crypto.seal_to_owner(pk, plain, eph)
        if crypto.open_as_owner(owner_seed, sealed) != plain:
            raise AssertionError("a sealed box does not open")
        cases.append(
            {
                "name": name,
                "kind": "sealed_box",
                "owner_seed": owner_seed.hex(),
                "owner_public_key": pk.hex(),
                "owner_x25519_public_key": crypto.owner_x25519_public_key(pk).hex(),
                "ephemeral_seed": eph.hex(),
                "ephemeral_public_key": sealed[:32].hex(),
                "plaintext": plain.hex(),
                "sealed": sealed.hex(),
            }
        )
    return cases


def _invalid_owner_key_cases() -> list[dict[str, Any]]:
    """Owner keys no seal may use (coding-and-crypto.md 4.1)."""
    p = 2**255 - 19
    refused = [
        (
            "owner_key_non_canonical_y_p_plus_3",
            (p + 3).to_bytes(32, "little"),
            "y = p + 3 (non-canonical; on the curve, outside the prime-order subgroup)",
        ),
        (
            "owner_key_non_canonical_y_p",
            p.to_bytes(32, "little"),
            "y = p (non-canonical encoding of y = 0, a point of order 4)",
        ),
        ("owner_key_identity", (1).to_bytes(32, "little"), "the identity point (small order)"),
        ("owner_key_not_on_curve", (2).to_bytes(32, "little"), "y = 2 is not on the curve"),
    ]
    cases = []
    for name, key, note in refused:
        try:
            crypto.owner_x25519_public_key(key)
        except crypto.CryptoError:
            pass
        else:
            raise AssertionError(f"crypto case {name}: the owner key was accepted")
        cases.append(
            {"name": name, "kind": "owner_key_invalid", "note": note, "owner_public_key": key.hex()}
        )
    return cases


def crypto_file() -> str:
    cases = [
        *_data_key_and_wanderer_id_cases(),
        *_locator_seed_cases(),
        *_aead_cases(),
        *_sealed_box_cases(),
        *_invalid_owner_key_cases(),
    ]
    return render(
        "Keys, AEAD and sealing (protocols/coding-and-crypto.md). kind data_key: "
        "HKDF-SHA256(ikm=seed, no salt, info='wdp/v1/data-key', L=32). kind locator_seed: "
        "HKDF-SHA256(ikm=seed, info='wdp/v1/locator-key' || u32be(shard_index) || "
        "u32be(generation)); locator_public_key is its Ed25519 key. kind wanderer_id: "
        "SHA-256('wdp/v1/wanderer-id' || owner_public_key). kind aead: ChaCha20-Poly1305 "
        "(RFC 8439), ciphertext includes the 16-byte tag. kind sealed_box: libsodium sealed "
        "box to the owner's X25519 key with the ephemeral X25519 private key = "
        "ephemeral_seed; sealed = epk || crypto_box(...), and it opens with the owner seed. "
        "kind owner_key_invalid: an owner public key whose X25519 conversion (section 4.1) "
        "must fail, so nothing can be sealed to it.",
        cases,
    )
