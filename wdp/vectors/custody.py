"""custody.json: offers and the answer a receiver must give to each."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.custody import check_offer
from wdp.core.effects import ShardKey
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.messages import Offer
from wdp.core.objects import CustodyLink, Reason, Signed
from wdp.core.signing import DOMAIN_RECEIPT, DOMAIN_RECORD, Signer, sha256
from wdp.vectors.carriers import carrier_from_state
from wdp.vectors.common import OWNER_SEED, T0_MS, seed
from wdp.vectors.custody_cases import local_state_cases, long_chain_cases
from wdp.vectors.custody_fields import field_rule_cases
from wdp.vectors.frames import decode_frame, frame_of
from wdp.vectors.mutate import flip_bit, resign
from wdp.vectors.render import render
from wdp.vectors.scenario import CHAIN_NODES, CHAIN_REASONS, OUTSIDER, Scenario

# The intended reject code of every invalid offer; the generator refuses to write a
# vector whose code the core does not reproduce (tests/test_vectors.py has its own copy).
CUSTODY_INTENDED: dict[str, str] = {
    "valid_hop0_genesis": "accept",
    "valid_hop1_ttl": "accept",
    "valid_hop2_threat": "accept",
    "valid_hop3_drain": "accept",
    "record_body_bit_flip": "BAD_SIGNATURE",
    "record_signature_bit_flip": "BAD_SIGNATURE",
    "record_signed_by_wrong_key": "BAD_SIGNATURE",
    "chain_receipt_signed_by_wrong_key": "BAD_SIGNATURE",
    "chain_record_signed_by_wrong_key": "BAD_SIGNATURE",
    "chain_receipt_for_another_record": "BAD_CHAIN",
    "skipped_hop": "BAD_CHAIN",
    "missing_chain_link": "BAD_CHAIN",
    "replayed_hop": "STALE_HOP",
    "prev_record_hash_wrong": "BAD_CHAIN",
    "from_peer_not_previous_to_peer": "BAD_CHAIN",
    "wrong_recipient": "WRONG_RECIPIENT",
    "wrong_sender": "WRONG_SENDER",
    "bad_manifest_signature": "BAD_MANIFEST",
    "manifest_version_2": "UNSUPPORTED_VERSION",
    "record_version_2": "UNSUPPORTED_VERSION",
    "record_shard_hash_not_in_manifest": "BAD_CHAIN",
    "bad_locator_secret": "BAD_LOCATOR_KEY",
    "repair_at_generation_0": "MALFORMED",
    "hop0_from_peer_not_owner": "BAD_CHAIN",
    "hop0_signed_by_other_key": "BAD_SIGNATURE",
    # stage C and stage D on a described local state
    "retried_offer": "receipt",
    "retried_offer_while_shutting_down": "receipt",
    "retried_hop_with_another_record": "STALE_HOP",
    "shutting_down": "SHUTTING_DOWN",
    "busy": "BUSY",
    "capacity": "CAPACITY",
    "sibling_held": "SIBLING_HELD",
    "order_stale_and_shutting_down": "STALE_HOP",
    "order_shutting_down_and_busy": "SHUTTING_DOWN",
    "order_busy_and_capacity": "BUSY",
    "order_capacity_and_sibling": "CAPACITY",
    # field rules of 4.1, 4.2, 4.3
    "manifest_owner_key_31_bytes": "BAD_MANIFEST",
    "manifest_wanderer_id_31_bytes": "BAD_MANIFEST",
    "manifest_wanderer_id_not_derived": "BAD_MANIFEST",
    "manifest_cipher_unspecified": "BAD_MANIFEST",
    "manifest_nonce_11_bytes": "BAD_MANIFEST",
    "manifest_k_0": "BAD_MANIFEST",
    "manifest_k_above_n": "BAD_MANIFEST",
    "manifest_n_257": "BAD_MANIFEST",
    "manifest_payload_size_2_pow_31": "BAD_MANIFEST",
    "manifest_shard_size_wrong": "BAD_MANIFEST",
    "manifest_shard_size_over_128_mib": "TOO_LARGE",
    "manifest_shard_hashes_count_wrong": "BAD_MANIFEST",
    "manifest_shard_hash_31_bytes": "BAD_MANIFEST",
    "manifest_epoch_0": "BAD_MANIFEST",
    "manifest_epoch_604801": "BAD_MANIFEST",
    "manifest_created_at_as_bytes": "BAD_MANIFEST",
    "record_wanderer_id_31_bytes": "MALFORMED",
    "record_from_peer_31_bytes": "MALFORMED",
    "record_to_peer_31_bytes": "MALFORMED",
    "record_shard_hash_31_bytes": "MALFORMED",
    "record_manifest_hash_31_bytes": "MALFORMED",
    "record_locator_key_31_bytes": "MALFORMED",
    "record_reason_unspecified": "MALFORMED",
    "record_reason_6": "MALFORMED",
    "record_genesis_at_hop_1": "MALFORMED",
    "record_repair_at_hop_1": "MALFORMED",
    "record_prev_hash_31_bytes": "MALFORMED",
    "record_prev_hash_missing": "MALFORMED",
    "record_from_peer_is_to_peer": "MALFORMED",
    "record_version_as_bytes": "MALFORMED",
    "hop0_ttl": "MALFORMED",
    "hop0_genesis_generation_1": "MALFORMED",
    "hop0_with_prev_hash": "MALFORMED",
    "chain_receipt_version_as_bytes": "MALFORMED",
    "chain_receipt_receiver_31_bytes": "MALFORMED",
    "chain_link_without_receipt": "MALFORMED",
    "chain_receipt_shard_hash_wrong": "BAD_CHAIN",
    "record_locator_key_differs_from_chain": "BAD_CHAIN",
    "record_generation_differs_from_chain": "BAD_CHAIN",
    "chain_65_links": "TOO_LARGE",
    # truncation at 64 links
    "valid_hop65_unanchored": "accept",
}


def offer_verdict(
    frame: bytes,
    local_seed: bytes,
    remote_peer: bytes,
    state: dict[str, Any] | None,
) -> str:
    """What a receiver answers to an offer frame: 'accept', 'receipt' or a reject code name.

    Decode, the stateless checks (custody.check_offer), then stage C and the carrier's
    admit rules on a carrier in the local ``state`` of the vector.
    """
    try:
        msg = decode_frame(frame)
        if not isinstance(msg, Offer):
            return RejectCode.PROTOCOL_VIOLATION.name
        local = Signer(local_seed)
        check_offer(msg, local_peer=local.public_key, remote_peer=remote_peer)
        carrier = carrier_from_state(local_seed, state, T0_MS)
        if carrier.receipt_for(msg) is not None:
            return "receipt"
        refusal = carrier.admit(msg)
        if refusal is not None:
            return refusal.code.name
    except ProtocolError as exc:
        return exc.code.name
    return "accept"


def custody_file(scenario: Scenario) -> str:
    offers = scenario.offers
    owner = Signer(OWNER_SEED)
    node = {i: Signer(seed(i)) for i in (*CHAIN_NODES, OUTSIDER)}
    outsider = node[OUTSIDER]
    links = [t.link for t in scenario.transcripts]
    # (name, offer or raw frame, local node, remote key, note, receiver_seen)
    cases_in: list[tuple[str, Offer | bytes, int, bytes, str, dict[str, Any] | None]] = []

    for hop, offer in enumerate(offers):
        remote = owner.public_key if hop == 0 else node[CHAIN_NODES[hop - 1]].public_key
        reason = CHAIN_REASONS[hop].name.lower()
        cases_in.append(
            (
                f"valid_hop{hop}_{reason}",
                offer,
                CHAIN_NODES[hop],
                remote,
                f"hop {hop} ({CHAIN_REASONS[hop].name}) of a valid chain, with {hop} links",
                None,
            )
        )

    base = offers[1]  # hop 1: node 1 -> node 2, carrying the completed hop-0 link
    n1, n4 = node[1], node[4]

    def mut(
        name: str, offer: Offer, note: str, local: int = 2, remote: bytes = n1.public_key
    ) -> None:
        cases_in.append((name, offer, local, remote, note, None))

    rec = base.record
    mut(
        "record_body_bit_flip",
        dataclasses.replace(base, record=Signed(flip_bit(rec.body, -1), rec.signature, rec.value)),
        "lowest bit of the last record body byte flipped (inside prev_record_hash)",
    )
    mut(
        "record_signature_bit_flip",
        dataclasses.replace(base, record=Signed(rec.body, flip_bit(rec.signature, 0), rec.value)),
        "lowest bit of the first record signature byte flipped",
    )
    mut(
        "record_signed_by_wrong_key",
        dataclasses.replace(
            base,
            record=Signed(rec.body, outsider.sign(DOMAIN_RECORD, rec.body), rec.value),
        ),
        "the record body is unchanged but signed by node 5, not from_peer",
    )
    (link0,) = base.chain
    forged_receipt = Signed(
        link0.receipt.body,
        outsider.sign(DOMAIN_RECEIPT, link0.receipt.body),
        link0.receipt.value,
    )
    mut(
        "chain_receipt_signed_by_wrong_key",
        dataclasses.replace(base, chain=(CustodyLink(link0.record, forged_receipt),)),
        "the receipt of chain link 0 is signed by node 5 instead of its receiver (node 1)",
    )
    forged_record = Signed(
        link0.record.body, outsider.sign(DOMAIN_RECORD, link0.record.body), link0.record.value
    )
    mut(
        "chain_record_signed_by_wrong_key",
        dataclasses.replace(base, chain=(CustodyLink(forged_record, link0.receipt),)),
        "the hop-0 record in the chain is signed by node 5 instead of the owner",
    )
    link1 = links[1]
    assert link1 is not None
    mut(
        "chain_receipt_for_another_record",
        dataclasses.replace(base, chain=(CustodyLink(link0.record, link1.receipt),)),
        "chain link 0 carries the (validly signed) receipt of hop 1 instead of its own",
    )
    mut(
        "skipped_hop",
        dataclasses.replace(base, record=resign(rec, n1, hop=2)),
        "the record claims hop 2 after the chain's hop 0 (re-signed by the sender)",
    )
    mut(
        "missing_chain_link",
        dataclasses.replace(base, chain=()),
        "hop 1 carries no link",
    )
    mut(
        "prev_record_hash_wrong",
        dataclasses.replace(
            base, record=resign(rec, n1, prev_record_hash=sha256(b"not the previous record"))
        ),
        "prev_record_hash is not the hash of the hop-0 record (re-signed by the sender)",
    )
    mut(
        "from_peer_not_previous_to_peer",
        dataclasses.replace(base, record=resign(rec, n4, from_peer=n4.public_key)),
        "hop 1 is made and sent by node 4, who never held the shard",
        remote=n4.public_key,
    )
    mut(
        "wrong_recipient",
        base,
        "the valid hop-1 offer (to node 2) is delivered to node 3",
        local=3,
    )
    mut(
        "wrong_sender",
        base,
        "the valid hop-1 offer arrives on a stream authenticated as node 5",
        remote=outsider.public_key,
    )
    man = base.manifest
    mut(
        "bad_manifest_signature",
        dataclasses.replace(base, manifest=Signed(man.body, flip_bit(man.signature, 0), man.value)),
        "lowest bit of the first manifest signature byte flipped",
    )
    mut(
        "manifest_version_2",
        dataclasses.replace(base, manifest=resign(man, owner, version=2)),
        "the manifest says version 2 (re-signed by the owner)",
    )
    mut(
        "record_version_2",
        dataclasses.replace(base, record=resign(rec, n1, version=2)),
        "the record says version 2 (re-signed by the sender)",
    )
    mut(
        "record_shard_hash_not_in_manifest",
        dataclasses.replace(base, record=resign(rec, n1, shard_hash=sha256(b"another shard"))),
        "the record names a shard hash the manifest does not list at its index",
    )
    mut(
        "bad_locator_secret",
        dataclasses.replace(base, locator_secret=seed(42)),
        "locator_secret is not the seed of the record's locator_key",
    )

    # Hop 0 cases: the owner's launch of shard 0 to node 1.
    g = offers[0]
    grec = g.record
    repair0 = Signed.create(dataclasses.replace(grec.value, reason=Reason.REPAIR), owner)
    cases_in.append(
        (
            "repair_at_generation_0",
            frame_of(dataclasses.replace(g, record=repair0)),
            1,
            owner.public_key,
            "hop 0 with reason REPAIR in generation 0 (REPAIR starts generation >= 1)",
            None,
        )
    )
    cases_in.append(
        (
            "hop0_from_peer_not_owner",
            dataclasses.replace(g, record=resign(grec, outsider, from_peer=outsider.public_key)),
            1,
            outsider.public_key,
            "hop 0 made and signed by node 5 (from_peer = node 5), not by the owner key",
            None,
        )
    )
    cases_in.append(
        (
            "hop0_signed_by_other_key",
            dataclasses.replace(
                g, record=Signed(grec.body, outsider.sign(DOMAIN_RECORD, grec.body), grec.value)
            ),
            1,
            owner.public_key,
            "hop 0 names the owner as from_peer but is signed by node 5",
            None,
        )
    )

    # The replay: node 2 took hop 1, passed the shard on at hop 2 and remembers (0, 2).
    key = ShardKey(scenario.wanderer.manifest.value.wanderer_id, 0)
    seen = scenario.carriers[2]._seen[key]
    seen_hop2 = {
        "wanderer_id": key.wanderer_id.hex(),
        "shard_index": key.shard_index,
        "generation": seen[0],
        "hop": seen[1],
    }
    cases_in.append(
        (
            "replayed_hop",
            offers[1],
            2,
            node[1].public_key,
            "the valid hop-1 offer replayed to node 2 after it passed the shard on at hop 2",
            {"seen": [seen_hop2]},
        )
    )
    assert links[2] is not None
    cases_in += local_state_cases(scenario)
    cases_in += field_rule_cases(scenario)
    cases_in += long_chain_cases(scenario)

    cases = []
    for name, item, local, remote, note, state in cases_in:
        frame = item if isinstance(item, bytes) else frame_of(item)
        local_seed = seed(local)
        verdict = offer_verdict(frame, local_seed, remote, state)
        if verdict != CUSTODY_INTENDED[name]:
            raise AssertionError(
                f"custody case {name}: core says {verdict}, intended {CUSTODY_INTENDED[name]}"
            )
        case: dict[str, Any] = {
            "name": name,
            "note": note,
            "local_seed": local_seed.hex(),
            "local_peer": Signer(local_seed).public_key.hex(),
            "remote_peer": remote.hex(),
            "offer_frame": frame.hex(),
            "expect": verdict,
        }
        if state is not None:
            case["receiver_state"] = state
        cases.append(case)
    if {c["name"] for c in cases} != set(CUSTODY_INTENDED):
        raise AssertionError("custody cases and CUSTODY_INTENDED disagree")
    return render(
        "Offer checks of /wdp/migrate/1.0. Node seeds are byte i repeated 32 times (nodes "
        "1..4 carry the chain, node 5 is an outsider); the owner seed is 00..1f. The valid "
        "chain moves shard 0 of one wanderer owner -> node 1 (GENESIS, hop 0) -> node 2 (TTL) "
        "-> node 3 (THREAT) -> node 4 (DRAIN); shard 1 travels 66 hops over nodes 6, 7 and 8 "
        "(hop h to node 6 + h mod 3). Each case: the receiver local_peer (its seed "
        "local_seed) gets offer_frame on a stream authenticated as remote_peer and must answer "
        "expect: 'accept', 'receipt' (a retried offer, stage C: it sends the Receipt it "
        "signed before, the receipt of its receiver_state.carries entry whose record is the "
        "offered one) or the reject code name. The first failing check decides the code, "
        "in this order: decoding (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION, BAD_MANIFEST for "
        "malformed manifests), manifest signature (BAD_MANIFEST), record signature "
        "(BAD_SIGNATURE), record vs manifest (BAD_CHAIN), to_peer (WRONG_RECIPIENT), from_peer "
        "vs remote_peer for hop > 0 (WRONG_SENDER), chain (BAD_CHAIN / BAD_SIGNATURE), "
        "locator_secret (BAD_LOCATOR_KEY), then stage C and stage D (D1 STALE_HOP, D2 "
        "SHUTTING_DOWN, D3 BUSY, D4 CAPACITY, D5 SIBLING_HELD) on the receiver's local state. "
        "receiver_state, when given, describes that state (absent keys take the defaults of "
        "a fresh node: nothing seen, carried or in progress, not shutting down, max_inbound "
        "8, capacity 1073741824): seen lists the highest (generation, hop) seen per shard "
        "(D1); shutting_down: it drains (D2); max_inbound: admitted inbound handoffs it "
        "allows at once, none being in progress (D3: BUSY when that number is reached, so 0 "
        "refuses every offer); capacity: bytes it may hold, counting carried shards (D4); "
        "carries lists the shards it carries, each as the encoded Signed manifest, the "
        "Signed record that brought it (to_peer = this node), the Signed receipt this node "
        "signed for it, its locator_secret and its bytes (stage C, D4, D5; carrying also "
        "counts as having seen that record's (generation, hop)).",
        cases,
    )
