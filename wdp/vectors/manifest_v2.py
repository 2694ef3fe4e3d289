"""manifest-v2.json: version 2 manifests: the repair key and what derives from it, Merkle
roots and paths, the wanderer pipeline, decoding, tickets, and a receiver's root check."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core import crypto, erasure, merkle
from wdp.core.audit import make_grant
from wdp.core.errors import ProtocolError
from wdp.core.objects import Manifest, Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import DOMAIN_MANIFEST, Signer, public_key_of
from wdp.core.ticket import Ticket
from wdp.core.wanderer import create_wanderer, launch_offer, locator_seed, repair_seed
from wdp.vectors.carriers import new_carrier
from wdp.vectors.common import EPOCH_SECONDS, OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.render import render
from wdp.vectors.runs import run_handoff

LOCATOR_POINTS = ((0, 0), (1, 0), (0, 1), (7, 3), (255, 2**32 - 1))
MERKLE_SIZES = (1, 1023, 1024, 1025, 2048, 3000, 5 * 1024, 7 * 1024 + 5)
PIPELINES = (
    ("v2_k1_n1_empty", b"", 1, 1),
    ("v2_k2_n3_text", b"A wanderer with Merkle roots.", 2, 3),
    ("v2_k3_n5_4000_bytes", bytes(i * 13 % 256 for i in range(4000)), 3, 5),
)


def _bytes(label: str, size: int) -> bytes:
    out = b""
    i = 0
    while len(out) < size:
        out += label_seed(f"{label}/{i}")
        i += 1
    return out[:size]


def _key_cases() -> list[dict[str, Any]]:
    cases = []
    for name, s in (("owner_seed_00_to_1f", OWNER_SEED), ("seed_01", seed(1))):
        rs = repair_seed(s)
        rk = public_key_of(rs)
        wid = crypto.wanderer_id(public_key_of(s))
        cases.append(
            {
                "name": f"repair_{name}",
                "kind": "keys",
                "owner_seed": s.hex(),
                "repair_seed": rs.hex(),
                "repair_key": rk.hex(),
                "repair_x25519_public_key": crypto.owner_x25519_public_key(rk).hex(),
                "repair_x25519_private_key": crypto.owner_x25519_private_key(rs).hex(),
                "repair_grant": make_grant(s, wid, rk).hex(),
                "locators": [
                    {
                        "shard_index": i,
                        "generation": g,
                        "locator_seed": locator_seed(s, i, g, 2).hex(),
                        "locator_key": public_key_of(locator_seed(s, i, g, 2)).hex(),
                        "v1_locator_seed": locator_seed(s, i, g, 1).hex(),
                    }
                    for i, g in LOCATOR_POINTS
                ],
            }
        )
    return cases


def _merkle_cases() -> list[dict[str, Any]]:
    cases = []
    for size in MERKLE_SIZES:
        shard = _bytes(f"wdp/vectors/merkle/{size}", size)
        leaves = merkle.leaf_count(size)
        cases.append(
            {
                "name": f"merkle_{size}_bytes",
                "kind": "merkle",
                "shard": shard.hex(),
                "leaves": leaves,
                "root": merkle.merkle_root(shard).hex(),
                "paths": [[h.hex() for h in merkle.audit_path(shard, i)] for i in range(leaves)],
            }
        )
    return cases


def _pipeline_cases() -> list[dict[str, Any]]:
    cases = []
    for i, (name, payload, k, n) in enumerate(PIPELINES):
        owner_seed = seed(0x50 + i)
        nonce = label_seed(f"wdp/vectors/v2-nonce/{name}")[:12]
        created = T0_MS + i
        w = create_wanderer(
            payload, owner_seed=owner_seed, nonce=nonce, k=k, n=n,
            epoch_seconds=EPOCH_SECONDS, now=now_s(created),
        )  # fmt: skip
        m = w.manifest
        cases.append(
            {
                "name": name,
                "kind": "pipeline",
                "payload": payload.hex(),
                "owner_seed": owner_seed.hex(),
                "nonce": nonce.hex(),
                "k": k,
                "n": n,
                "epoch_seconds": EPOCH_SECONDS,
                "created_at_ms": created,
                "repair_key": m.value.repair_key.hex(),
                "shard_size": m.value.shard_size,
                "shards": [s.hex() for s in w.shards],
                "shard_hashes": [erasure.shard_hash(s).hex() for s in w.shards],
                "shard_roots": [r.hex() for r in m.value.shard_roots],
                "manifest": {
                    "body": m.body.hex(),
                    "signature": m.signature.hex(),
                    "hash": m.hash.hex(),
                },
                "ticket": Ticket(owner_seed, m.hash, k, n, 2).encode(),
            }
        )
    return cases


def _decode_cases() -> list[dict[str, Any]]:
    """Manifest bodies and what a decoder says: 'ok' or the code."""
    w = create_wanderer(
        b"decode me", owner_seed=OWNER_SEED, nonce=bytes(12), k=2, n=3,
        epoch_seconds=EPOCH_SECONDS, now=now_s(T0_MS),
    )  # fmt: skip
    good = pb.ManifestBody.FromString(w.manifest.body)

    def body(**changes: Any) -> bytes:
        msg = pb.ManifestBody()
        msg.CopyFrom(good)
        for field, value in changes.items():
            if isinstance(value, list):
                del getattr(msg, field)[:]
                getattr(msg, field).extend(value)
            else:
                setattr(msg, field, value)
        return msg.SerializeToString(deterministic=True)

    roots = list(good.shard_roots)
    rows = [
        ("valid_v2", body(), "ok"),
        ("v2_without_repair_key", body(repair_key=b""), "BAD_MANIFEST"),
        ("v2_repair_key_31_bytes", body(repair_key=bytes(31)), "BAD_MANIFEST"),
        ("v2_two_roots_for_n3", body(shard_roots=roots[:2]), "BAD_MANIFEST"),
        ("v2_four_roots_for_n3", body(shard_roots=[*roots, roots[0]]), "BAD_MANIFEST"),
        ("v2_root_33_bytes", body(shard_roots=[*roots[:2], roots[2] + b"\x00"]), "BAD_MANIFEST"),
        ("v1_with_roots_ignored", body(version=1), "ok"),
        ("version_3", body(version=3), "UNSUPPORTED_VERSION"),
    ]
    cases = []
    for name, raw, intended in rows:
        try:
            m = Manifest.decode(raw)
            got = "ok"
        except ProtocolError as exc:
            m, got = None, exc.code.name
        if got != intended:
            raise AssertionError(f"manifest case {name}: decoder says {got}, intended {intended}")
        cases.append(
            {
                "name": f"manifest_{name}",
                "kind": "manifest",
                "body": raw.hex(),
                "signature": Signer(OWNER_SEED).sign(DOMAIN_MANIFEST, raw).hex(),
                "expect": got,
                "auditable": None if m is None else m.auditable,
            }
        )
    return cases


def _ticket_cases() -> list[dict[str, Any]]:
    mh = label_seed("wdp/vectors/ticket-manifest-hash")
    cases = []
    for version in (1, 2):
        t = Ticket(OWNER_SEED, mh, 3, 8, version)
        text = t.encode()
        cases.append(
            {
                "name": f"ticket_v{version}",
                "kind": "ticket",
                "text": text,
                "version": version,
                "owner_seed": OWNER_SEED.hex(),
                "manifest_hash": mh.hex(),
                "k": 3,
                "n": 8,
                "locator_seed_shard2_gen0": t.locator_seed(2, 0).hex(),
                "sealing_seed": t.sealing_seed.hex(),
            }
        )
    return cases


def _receive_cases() -> list[dict[str, Any]]:
    """A version 2 hop 0 whose signed root does not match the shard: the receiver refuses."""
    w = create_wanderer(
        _bytes("wdp/vectors/root-mismatch", 3000), owner_seed=OWNER_SEED,
        nonce=label_seed("wdp/vectors/root-mismatch-nonce")[:12], k=2, n=3,
        epoch_seconds=EPOCH_SECONDS, now=now_s(T0_MS),
    )  # fmt: skip
    cases = []
    m = w.manifest.value
    wrong = dataclasses.replace(m, shard_roots=(bytes(32), *m.shard_roots[1:]))
    for name, manifest, intended in (
        ("v2_hop0_root_matches", w.manifest, None),
        ("v2_hop0_root_mismatch", Signed.create(wrong, Signer(OWNER_SEED)), "SHARD_HASH_MISMATCH"),
    ):
        carrier = new_carrier(1, T0_MS)
        offer = launch_offer(
            manifest, 0, owner_seed=OWNER_SEED, to_peer=carrier.peer, now=now_s(T0_MS)
        )
        t = run_handoff(
            offer, w.shards[0], Signer(seed(1)), carrier, T0_MS, remote_peer=m.owner_key
        )
        failure = t.receiver.failure
        got = None if failure is None else failure.code.name
        if got != intended:
            raise AssertionError(f"receive case {name}: receiver says {got}, intended {intended}")
        cases.append(
            {
                "name": name,
                "kind": "receive",
                "local_seed": seed(1).hex(),
                "remote_peer": m.owner_key.hex(),
                "now_ms": T0_MS,
                "frames": [{"dir": d, "frame": f.hex()} for d, f in t.frames],
                "expect": "receipt" if got is None else got,
            }
        )
    return cases


def manifest_v2_file() -> str:
    cases = [
        *_key_cases(),
        *_merkle_cases(),
        *_pipeline_cases(),
        *_decode_cases(),
        *_ticket_cases(),
        *_receive_cases(),
    ]
    return render(
        "Manifest version 2 (README section 4.1, coding-and-crypto.md sections 2, 4 and 8). "
        "kind keys: repair_seed = HKDF(owner seed, 'wdp/v2/repair-seed'), repair_key its "
        "Ed25519 key, the X25519 keys locators are sealed to, the owner's repair grant "
        "(domain 'wdp/v2/repair-grant' over wanderer_id || repair_key), and locator seeds "
        "HKDF(repair seed, 'wdp/v2/locator-key' || u32be(shard) || u32be(generation)) beside "
        "the version 1 ones. kind merkle: RFC 6962 tree over 1024-byte leaves: root and the "
        "audit path of every leaf (sibling hashes, leaf level first). kind pipeline: a version "
        "2 wanderer made from fixed inputs (as erasure.json's, plus repair_key and "
        "shard_roots) and its version 2 ticket. kind manifest: a body (signed by the owner "
        "seed 00..1f) and what a decoder says: 'ok' or the code; auditable says whether the "
        "decoded manifest has roots. kind ticket: version 1 and 2 tickets and the seeds they "
        "give. kind receive: a whole hop 0 (dir s2r sender to receiver, r2s back) between the "
        "reference sessions; expect is 'receipt' or the receiver's Reject code.",
        cases,
    )
