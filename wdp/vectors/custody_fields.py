"""Custody cases for every field rule of the manifest (4.1), the record (4.2) and a chain
receipt (4.3), and the rules that tie a record to its chain (B12a) or bound the chain (A2).

Unless a case says otherwise, it is the valid hop-1 offer with one field changed (and
re-signed by whoever signs that body), delivered to node 2 on a stream from node 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.messages import Offer, encode_message
from wdp.core.objects import CustodyLink, Reason, Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import DOMAIN_MANIFEST, DOMAIN_RECEIPT, DOMAIN_RECORD, Signer, sha256
from wdp.vectors.common import OWNER_SEED, seed
from wdp.vectors.custody_cases import CustodyCase, hop1_case
from wdp.vectors.frames import frame_of_payload
from wdp.vectors.mutate import resign, retyped
from wdp.vectors.scenario import Scenario

SHORT = sha256(b"short")[:31]  # a 32-byte field one byte short
OTHER = sha256(b"another value")  # a well-formed 32-byte value that is not the right one


def _raw_signed(body: bytes, signer: Signer, domain: bytes, kind: Any) -> Signed[Any]:
    # A Signed whose value is never re-encoded: only its bytes travel.
    return Signed(body, signer.sign(domain, body), kind)


def _with_manifest(offer: Offer, name: str, note: str, **changes: Any) -> CustodyCase:
    manifest = resign(offer.manifest, Signer(OWNER_SEED), **changes)
    return hop1_case(name, dataclasses.replace(offer, manifest=manifest), note)


def _with_record(offer: Offer, name: str, note: str, **changes: Any) -> CustodyCase:
    record = resign(offer.record, Signer(seed(1)), **changes)
    return hop1_case(name, dataclasses.replace(offer, record=record), note)


def manifest_rule_cases(scenario: Scenario) -> list[CustodyCase]:
    """Every field rule of the manifest (4.1), the manifest re-signed by the owner."""
    offer1 = scenario.offers[1]
    man = offer1.manifest
    m = man.value
    cases = [
        _with_manifest(offer1, name, note, **changes)
        for name, note, changes in (
            ("manifest_owner_key_31_bytes", "owner_key is 31 bytes", {"owner_key": SHORT}),
            ("manifest_wanderer_id_31_bytes", "wanderer_id is 31 bytes", {"wanderer_id": SHORT}),
            (
                "manifest_wanderer_id_not_derived",
                "wanderer_id is not H('wdp/v1/wanderer-id' || owner_key)",
                {"wanderer_id": OTHER},
            ),
            ("manifest_cipher_unspecified", "cipher is 0 (CIPHER_UNSPECIFIED)", {"cipher": 0}),
            ("manifest_nonce_11_bytes", "nonce is 11 bytes", {"nonce": m.nonce[:11]}),
            ("manifest_k_0", "k = 0", {"k": 0}),
            ("manifest_k_above_n", "k = n + 1", {"k": m.n + 1}),
            ("manifest_n_257", "n = 257 (k = 2)", {"n": 257}),
            (
                "manifest_payload_size_2_pow_31",
                "payload_size = 2^31",
                {"payload_size": 2**31},
            ),
            (
                "manifest_shard_size_wrong",
                "shard_size is one more than the rule",
                {"shard_size": m.shard_size + 1},
            ),
            (
                "manifest_shard_size_over_128_mib",
                "payload_size = 2^31 - 1, k = 1: shard_size 2^31 + 15 follows the rule, "
                "exceeds 128 MiB",
                {"payload_size": 2**31 - 1, "k": 1, "shard_size": 2**31 + 15},
            ),
            (
                "manifest_shard_hashes_count_wrong",
                "n = 3 but two shard hashes",
                {"shard_hashes": m.shard_hashes[:2]},
            ),
            (
                "manifest_shard_hash_31_bytes",
                "the last shard hash is 31 bytes",
                {"shard_hashes": (*m.shard_hashes[:2], m.shard_hashes[2][:31])},
            ),
            ("manifest_epoch_0", "epoch_seconds = 0", {"epoch_seconds": 0}),
            ("manifest_epoch_604801", "epoch_seconds = 604801", {"epoch_seconds": 604801}),
        )
    ]
    created_bytes = retyped(man.body, 12, m.created_at_ms.to_bytes(8, "big"))
    owner_signed = _raw_signed(created_bytes, Signer(OWNER_SEED), DOMAIN_MANIFEST, m)
    cases.append(
        hop1_case(
            "manifest_created_at_as_bytes",
            dataclasses.replace(offer1, manifest=owner_signed),
            "created_at_ms (field 12, a varint) sent length-delimited, signed by the owner",
        )
    )
    return cases


def record_rule_cases(scenario: Scenario) -> list[CustodyCase]:
    """Every field rule of the hop-1 record (4.2), the record re-signed by node 1."""
    offer1 = scenario.offers[1]
    rec = offer1.record
    n1 = Signer(seed(1))
    cases = [
        _with_record(offer1, f"record_{field}_31_bytes", f"{field} is 31 bytes", **{field: SHORT})
        for field in (
            "wanderer_id",
            "from_peer",
            "to_peer",
            "shard_hash",
            "manifest_hash",
            "locator_key",
        )
    ]
    cases += [
        _with_record(offer1, name, note, **changes)
        for name, note, changes in (
            ("record_reason_unspecified", "reason 0 (REASON_UNSPECIFIED)", {"reason": 0}),
            ("record_reason_6", "reason 6, not in wdp.proto", {"reason": 6}),
            ("record_genesis_at_hop_1", "GENESIS at hop 1", {"reason": Reason.GENESIS}),
            ("record_repair_at_hop_1", "REPAIR at hop 1", {"reason": Reason.REPAIR}),
            (
                "record_prev_hash_31_bytes",
                "prev_record_hash is 31 bytes",
                {"prev_record_hash": SHORT},
            ),
            (
                "record_prev_hash_missing",
                "hop 1 without prev_record_hash",
                {"prev_record_hash": b""},
            ),
            (
                "record_from_peer_is_to_peer",
                "node 1 hands the shard to itself",
                {"to_peer": n1.public_key},
            ),
        )
    ]
    version_bytes = _raw_signed(retyped(rec.body, 1, b"\x01"), n1, DOMAIN_RECORD, rec.value)
    cases.append(
        hop1_case(
            "record_version_as_bytes",
            dataclasses.replace(offer1, record=version_bytes),
            "the record's version (field 1, a varint) sent length-delimited",
        )
    )
    return cases


def hop0_rule_cases(scenario: Scenario) -> list[CustodyCase]:
    """The rules of a hop-0 record, on the owner's launch to node 1 (re-signed by the owner)."""
    owner = Signer(OWNER_SEED)
    offer0 = scenario.offers[0]
    return [
        (
            name,
            dataclasses.replace(offer0, record=resign(offer0.record, owner, **changes)),
            1,
            owner.public_key,
            note,
            None,
        )
        for name, note, changes in (
            ("hop0_ttl", "hop 0 with reason TTL", {"reason": Reason.TTL}),
            ("hop0_genesis_generation_1", "GENESIS in generation 1", {"generation": 1}),
            ("hop0_with_prev_hash", "hop 0 with a prev_record_hash", {"prev_record_hash": OTHER}),
        )
    ]


def chain_rule_cases(scenario: Scenario) -> list[CustodyCase]:
    """A chain receipt's field rules (4.3), a record unlike its chain (B12a), 65 links (A2)."""
    offer1 = scenario.offers[1]
    rec = offer1.record
    (link0,) = offer1.chain
    r = link0.receipt
    n1 = Signer(seed(1))

    def with_receipt(receipt: Signed[Any]) -> Offer:
        return dataclasses.replace(offer1, chain=(CustodyLink(link0.record, receipt),))

    no_receipt = pb.MigrateMessage.FromString(encode_message(offer1))
    no_receipt.offer.chain[0].ClearField("receipt")
    new_secret = seed(42)
    many = pb.MigrateMessage.FromString(encode_message(offer1))
    del many.offer.chain[:]
    for _ in range(65):
        many.offer.chain.add()
    return [
        hop1_case(
            "chain_receipt_version_as_bytes",
            with_receipt(_raw_signed(retyped(r.body, 1, b"\x01"), n1, DOMAIN_RECEIPT, r.value)),
            "the chain receipt's version sent length-delimited (signed by node 1)",
        ),
        hop1_case(
            "chain_receipt_receiver_31_bytes",
            with_receipt(resign(r, n1, receiver=SHORT)),
            "the chain receipt's receiver is 31 bytes",
        ),
        hop1_case(
            "chain_link_without_receipt",
            frame_of_payload(no_receipt.SerializeToString(deterministic=True)),
            "chain link 0 has a record and no receipt",
        ),
        hop1_case(
            "chain_receipt_shard_hash_wrong",
            with_receipt(resign(r, n1, shard_hash=OTHER)),
            "node 1's receipt for hop 0 names another shard hash (B11c), validly signed",
        ),
        hop1_case(
            "record_locator_key_differs_from_chain",
            dataclasses.replace(
                offer1,
                record=resign(rec, n1, locator_key=Signer(new_secret).public_key),
                locator_secret=new_secret,
            ),
            "hop 1 names another locator key than hop 0 (B12a), with its matching secret",
        ),
        _with_record(
            offer1,
            "record_generation_differs_from_chain",
            "hop 1 says generation 1 after a generation-0 hop 0 (B12a)",
            generation=1,
        ),
        hop1_case(
            "chain_65_links",
            frame_of_payload(many.SerializeToString(deterministic=True)),
            "the hop-1 offer with 65 empty chain links (A2 comes before any link check)",
        ),
    ]
