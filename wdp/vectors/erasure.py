"""erasure.json: the erasure code alone, and the whole wanderer creation pipeline."""

from __future__ import annotations

from typing import Any

from wdp.core import crypto, erasure
from wdp.core.wanderer import create_wanderer
from wdp.vectors.common import EPOCH_SECONDS, T0_MS, label_seed, now_s, seed
from wdp.vectors.render import render

# (name, payload, k, n, rebuild_from): rebuild_from is a k-subset that includes parity.
ERASURE_PIPELINES: tuple[tuple[str, bytes, int, int, tuple[int, ...]], ...] = (
    ("k1_n1_empty", b"", 1, 1, (0,)),
    ("k1_n3_one_byte", b"\x2a", 1, 3, (2,)),
    ("k2_n3_empty", b"", 2, 3, (1, 2)),
    ("k2_n4_one_byte", b"\x01", 2, 4, (0, 3)),
    ("k3_n5_text", b"The wanderer moves on.", 3, 5, (1, 3, 4)),
    ("k3_n10_60_bytes", bytes(i * 7 % 256 for i in range(60)), 3, 10, (4, 7, 9)),
    ("k4_n6_padding", bytes(range(45)), 4, 6, (0, 2, 4, 5)),
    ("k5_n5_no_parity", b"five of five, no parity shards", 5, 5, (0, 1, 2, 3, 4)),
)

ERASURE_RAW: tuple[tuple[str, bytes, int, int], ...] = (
    ("raw_k3_n5_spec", b"The wanderer moves on.", 3, 5),
    ("raw_k2_n4_one_byte", b"\x01", 2, 4),
    ("raw_k2_n3_empty", b"", 2, 3),
    ("raw_k1_n4", b"abc", 1, 4),
    ("raw_k4_n8", bytes(range(100, 132)), 4, 8),
)


def _raw_cases() -> list[dict[str, Any]]:
    """The erasure code alone: data -> n shards."""
    cases = []
    for name, data, k, n in ERASURE_RAW:
        shards = erasure.encode(data, k, n)
        cases.append(
            {
                "name": name,
                "kind": "raw",
                "data": data.hex(),
                "k": k,
                "n": n,
                "shard_size": len(shards[0]),
                "shards": [s.hex() for s in shards],
            }
        )
    return cases


def _pipeline_case(
    i: int, name: str, payload: bytes, k: int, n: int, subset: tuple[int, ...]
) -> dict[str, Any]:
    """Wanderer creation i: payload -> ciphertext -> shards -> manifest, from fixed inputs."""
    owner_seed = seed(0x40 + i)
    nonce = label_seed(f"wdp/vectors/erasure-nonce/{name}")[:12]
    created = T0_MS + i
    w = create_wanderer(
        payload,
        owner_seed=owner_seed,
        nonce=nonce,
        k=k,
        n=n,
        epoch_seconds=EPOCH_SECONDS,
        now=now_s(created),
        version=1,
    )
    m = w.manifest
    ciphertext = crypto.encrypt_payload(
        crypto.derive_data_key(owner_seed), nonce, payload, m.value.wanderer_id
    )
    return {
        "name": name,
        "kind": "pipeline",
        "payload": payload.hex(),
        "owner_seed": owner_seed.hex(),
        "owner_public_key": m.value.owner_key.hex(),
        "nonce": nonce.hex(),
        "k": k,
        "n": n,
        "epoch_seconds": EPOCH_SECONDS,
        "created_at_ms": created,
        "data_key": crypto.derive_data_key(owner_seed).hex(),
        "wanderer_id": m.value.wanderer_id.hex(),
        "ciphertext": ciphertext.hex(),
        "shard_size": m.value.shard_size,
        "shards": [s.hex() for s in w.shards],
        "shard_hashes": [erasure.shard_hash(s).hex() for s in w.shards],
        "manifest": {
            "body": m.body.hex(),
            "signature": m.signature.hex(),
            "hash": m.hash.hex(),
        },
        "rebuild_from": list(subset),
    }


def erasure_file() -> str:
    cases = _raw_cases()
    cases += [_pipeline_case(i, *pipeline) for i, pipeline in enumerate(ERASURE_PIPELINES)]
    return render(
        "Erasure code (zfec systematic Reed-Solomon over GF(2^8), coding-and-crypto.md "
        "section 5). kind raw: data -> n shards of shard_size = max(1, ceil(len/k)) bytes. "
        "kind pipeline: wanderer creation: ciphertext = ChaCha20-Poly1305(data_key, nonce, "
        "payload, aad=wanderer_id); shards = erasure(ciphertext, k, n); shard_hashes = "
        "SHA-256 of each shard; manifest = the owner-signed ManifestBody (body, signature, "
        "hash = SHA-256(body)). rebuild_from: a k-subset of shard indices from which "
        "the payload must be rebuilt and decrypted.",
        cases,
    )
