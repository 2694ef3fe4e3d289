"""custody.json: offers and the answer a receiver must give to each."""

from __future__ import annotations

from typing import Any

from wdp.core.custody import check_offer
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.messages import Offer
from wdp.core.signing import Signer
from wdp.vectors.carriers import carrier_from_state
from wdp.vectors.common import T0_MS, seed
from wdp.vectors.custody_cases import (
    CustodyCase,
    addressing_cases,
    chain_cases,
    hop0_cases,
    keeper_cases,
    local_state_cases,
    long_chain_cases,
    manifest_version_and_secret_cases,
    record_signature_cases,
    replay_cases,
    valid_chain_cases,
)
from wdp.vectors.custody_fields import (
    chain_rule_cases,
    hop0_rule_cases,
    manifest_rule_cases,
    record_rule_cases,
)
from wdp.vectors.frames import decode_frame, frame_of
from wdp.vectors.render import render
from wdp.vectors.scenario import Scenario

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
    "manifest_version_3": "UNSUPPORTED_VERSION",
    "record_version_2": "UNSUPPORTED_VERSION",
    "record_shard_hash_not_in_manifest": "BAD_CHAIN",
    "bad_locator_secret": "BAD_LOCATOR_KEY",
    "repair_at_generation_0": "MALFORMED",
    "hop0_from_peer_not_owner": "BAD_CHAIN",
    "hop0_signed_by_other_key": "BAD_SIGNATURE",
    "keeper_repair_hop0": "accept",
    "keeper_hop1_after_keeper_hop0": "accept",
    "keeper_genesis_hop0": "BAD_CHAIN",
    "keeper_repair_hop0_version_1": "BAD_CHAIN",
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


def _custody_case(case: CustodyCase) -> dict[str, Any]:
    """One vector: the offer frame and the answer the core gives, checked to be intended."""
    name, item, local, remote, note, state = case
    frame = item if isinstance(item, bytes) else frame_of(item)
    local_seed = seed(local)
    verdict = offer_verdict(frame, local_seed, remote, state)
    if verdict != CUSTODY_INTENDED[name]:
        raise AssertionError(
            f"custody case {name}: core says {verdict}, intended {CUSTODY_INTENDED[name]}"
        )
    out: dict[str, Any] = {
        "name": name,
        "note": note,
        "local_seed": local_seed.hex(),
        "local_peer": Signer(local_seed).public_key.hex(),
        "remote_peer": remote.hex(),
        "offer_frame": frame.hex(),
        "expect": verdict,
    }
    if state is not None:
        out["receiver_state"] = state
    return out


def custody_file(scenario: Scenario) -> str:
    groups = (
        valid_chain_cases,
        record_signature_cases,
        chain_cases,
        addressing_cases,
        manifest_version_and_secret_cases,
        hop0_cases,
        keeper_cases,
        replay_cases,
        local_state_cases,
        manifest_rule_cases,
        record_rule_cases,
        hop0_rule_cases,
        chain_rule_cases,
        long_chain_cases,
    )
    cases = [_custody_case(case) for group in groups for case in group(scenario)]
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
