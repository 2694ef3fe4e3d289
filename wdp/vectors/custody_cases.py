"""Custody case groups: the valid chain, tampered offers, hop 0, replays, local state.

A case is (name, offer or raw frame, local node, remote key, note, receiver_state);
custody.py turns each into a vector after the core reproduces its intended answer.
The field rules of section 4 have their own module, custody_fields.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.effects import ShardKey
from wdp.core.messages import Offer
from wdp.core.objects import CustodyLink, Reason, Signed
from wdp.core.signing import DOMAIN_RECEIPT, DOMAIN_RECORD, Signer, sha256
from wdp.core.wanderer import create_wanderer, launch_offer, repair_seed
from wdp.vectors.carriers import carried, new_carrier
from wdp.vectors.common import EPOCH_SECONDS, OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.frames import frame_of
from wdp.vectors.mutate import flip_bit, resign
from wdp.vectors.runs import run_handoff
from wdp.vectors.scenario import (
    CHAIN_NODES,
    CHAIN_REASONS,
    LONG_CHAIN_NODES,
    OUTSIDER,
    Scenario,
    long_chain_offers,
)

CustodyCase = tuple[str, Offer | bytes, int, bytes, str, dict[str, Any] | None]


def valid_chain_cases(scenario: Scenario) -> list[CustodyCase]:
    """Every hop of the shared chain, offered to the node it names by the node before."""
    owner_key = Signer(OWNER_SEED).public_key
    cases: list[CustodyCase] = []
    for hop, offer in enumerate(scenario.offers):
        remote = owner_key if hop == 0 else Signer(seed(CHAIN_NODES[hop - 1])).public_key
        reason = CHAIN_REASONS[hop].name.lower()
        cases.append(
            (
                f"valid_hop{hop}_{reason}",
                offer,
                CHAIN_NODES[hop],
                remote,
                f"hop {hop} ({CHAIN_REASONS[hop].name}) of a valid chain, with {hop} links",
                None,
            )
        )
    return cases


def hop1_case(
    name: str, offer: Offer | bytes, note: str, *, local: int = 2, remote: bytes | None = None
) -> CustodyCase:
    """A changed hop-1 offer, by default delivered to node 2 on a stream from node 1."""
    sender = Signer(seed(1)).public_key if remote is None else remote
    return (name, offer, local, sender, note, None)


def record_signature_cases(scenario: Scenario) -> list[CustodyCase]:
    """The hop-1 record's body or signature changed, or signed by another key."""
    base = scenario.offers[1]  # hop 1: node 1 -> node 2, carrying the completed hop-0 link
    rec = base.record
    outsider = Signer(seed(OUTSIDER))
    return [
        hop1_case(
            "record_body_bit_flip",
            dataclasses.replace(
                base, record=Signed(flip_bit(rec.body, -1), rec.signature, rec.value)
            ),
            "lowest bit of the last record body byte flipped (inside prev_record_hash)",
        ),
        hop1_case(
            "record_signature_bit_flip",
            dataclasses.replace(
                base, record=Signed(rec.body, flip_bit(rec.signature, 0), rec.value)
            ),
            "lowest bit of the first record signature byte flipped",
        ),
        hop1_case(
            "record_signed_by_wrong_key",
            dataclasses.replace(
                base,
                record=Signed(rec.body, outsider.sign(DOMAIN_RECORD, rec.body), rec.value),
            ),
            "the record body is unchanged but signed by node 5, not from_peer",
        ),
    ]


def chain_cases(scenario: Scenario) -> list[CustodyCase]:
    """The hop-1 offer with a forged, foreign or missing chain link, or a broken hop order."""
    base = scenario.offers[1]
    rec = base.record
    n1, n4 = Signer(seed(1)), Signer(seed(4))
    outsider = Signer(seed(OUTSIDER))
    (link0,) = base.chain
    link1 = scenario.transcripts[1].link
    assert link1 is not None
    forged_receipt = Signed(
        link0.receipt.body,
        outsider.sign(DOMAIN_RECEIPT, link0.receipt.body),
        link0.receipt.value,
    )
    forged_record = Signed(
        link0.record.body, outsider.sign(DOMAIN_RECORD, link0.record.body), link0.record.value
    )
    return [
        hop1_case(
            "chain_receipt_signed_by_wrong_key",
            dataclasses.replace(base, chain=(CustodyLink(link0.record, forged_receipt),)),
            "the receipt of chain link 0 is signed by node 5 instead of its receiver (node 1)",
        ),
        hop1_case(
            "chain_record_signed_by_wrong_key",
            dataclasses.replace(base, chain=(CustodyLink(forged_record, link0.receipt),)),
            "the hop-0 record in the chain is signed by node 5 instead of the owner",
        ),
        hop1_case(
            "chain_receipt_for_another_record",
            dataclasses.replace(base, chain=(CustodyLink(link0.record, link1.receipt),)),
            "chain link 0 carries the (validly signed) receipt of hop 1 instead of its own",
        ),
        hop1_case(
            "skipped_hop",
            dataclasses.replace(base, record=resign(rec, n1, hop=2)),
            "the record claims hop 2 after the chain's hop 0 (re-signed by the sender)",
        ),
        hop1_case(
            "missing_chain_link",
            dataclasses.replace(base, chain=()),
            "hop 1 carries no link",
        ),
        hop1_case(
            "prev_record_hash_wrong",
            dataclasses.replace(
                base, record=resign(rec, n1, prev_record_hash=sha256(b"not the previous record"))
            ),
            "prev_record_hash is not the hash of the hop-0 record (re-signed by the sender)",
        ),
        hop1_case(
            "from_peer_not_previous_to_peer",
            dataclasses.replace(base, record=resign(rec, n4, from_peer=n4.public_key)),
            "hop 1 is made and sent by node 4, who never held the shard",
            remote=n4.public_key,
        ),
    ]


def addressing_cases(scenario: Scenario) -> list[CustodyCase]:
    """The valid hop-1 offer delivered to the wrong node, or from the wrong one."""
    base = scenario.offers[1]
    return [
        hop1_case(
            "wrong_recipient",
            base,
            "the valid hop-1 offer (to node 2) is delivered to node 3",
            local=3,
        ),
        hop1_case(
            "wrong_sender",
            base,
            "the valid hop-1 offer arrives on a stream authenticated as node 5",
            remote=Signer(seed(OUTSIDER)).public_key,
        ),
    ]


def manifest_version_and_secret_cases(scenario: Scenario) -> list[CustodyCase]:
    """A bad manifest signature, version 2 bodies, a foreign shard hash, a wrong secret."""
    base = scenario.offers[1]
    rec, man = base.record, base.manifest
    owner, n1 = Signer(OWNER_SEED), Signer(seed(1))
    return [
        hop1_case(
            "bad_manifest_signature",
            dataclasses.replace(
                base, manifest=Signed(man.body, flip_bit(man.signature, 0), man.value)
            ),
            "lowest bit of the first manifest signature byte flipped",
        ),
        hop1_case(
            "manifest_version_3",
            dataclasses.replace(base, manifest=resign(man, owner, version=3)),
            "the manifest says version 3 (re-signed by the owner)",
        ),
        hop1_case(
            "record_version_2",
            dataclasses.replace(base, record=resign(rec, n1, version=2)),
            "the record says version 2 (re-signed by the sender)",
        ),
        hop1_case(
            "record_shard_hash_not_in_manifest",
            dataclasses.replace(base, record=resign(rec, n1, shard_hash=sha256(b"another shard"))),
            "the record names a shard hash the manifest does not list at its index",
        ),
        hop1_case(
            "bad_locator_secret",
            dataclasses.replace(base, locator_secret=seed(42)),
            "locator_secret is not the seed of the record's locator_key",
        ),
    ]


def hop0_cases(scenario: Scenario) -> list[CustodyCase]:
    """The owner's launch of shard 0 to node 1, with a wrong reason, sender or signer."""
    owner = Signer(OWNER_SEED)
    outsider = Signer(seed(OUTSIDER))
    g = scenario.offers[0]
    grec = g.record
    repair0 = Signed.create(dataclasses.replace(grec.value, reason=Reason.REPAIR), owner)
    return [
        (
            "repair_at_generation_0",
            frame_of(dataclasses.replace(g, record=repair0)),
            1,
            owner.public_key,
            "hop 0 with reason REPAIR in generation 0 (REPAIR starts generation >= 1)",
            None,
        ),
        (
            "hop0_from_peer_not_owner",
            dataclasses.replace(g, record=resign(grec, outsider, from_peer=outsider.public_key)),
            1,
            outsider.public_key,
            "hop 0 made and signed by node 5 (from_peer = node 5), not by the owner key",
            None,
        ),
        (
            "hop0_signed_by_other_key",
            dataclasses.replace(
                g, record=Signed(grec.body, outsider.sign(DOMAIN_RECORD, grec.body), grec.value)
            ),
            1,
            owner.public_key,
            "hop 0 names the owner as from_peer but is signed by node 5",
            None,
        ),
    ]


def replay_cases(scenario: Scenario) -> list[CustodyCase]:
    """Node 2 took hop 1, passed the shard on at hop 2 and remembers (0, 2)."""
    key = ShardKey(scenario.wanderer.manifest.value.wanderer_id, 0)
    seen = scenario.carriers[2]._seen[key]
    seen_hop2 = {
        "wanderer_id": key.wanderer_id.hex(),
        "shard_index": key.shard_index,
        "generation": seen[0],
        "hop": seen[1],
    }
    return [
        (
            "replayed_hop",
            scenario.offers[1],
            2,
            Signer(seed(1)).public_key,
            "the valid hop-1 offer replayed to node 2 after it passed the shard on at hop 2",
            {"seen": [seen_hop2]},
        )
    ]


def local_state_cases(scenario: Scenario) -> list[CustodyCase]:
    """Stage C and D1-D5 on node 2, offered the valid hop-1 offer by node 1."""
    w = scenario.wanderer
    offer1 = scenario.offers[1]
    link1 = scenario.transcripts[1].link
    assert link1 is not None
    n1 = Signer(seed(1))
    size = w.manifest.value.shard_size
    carried_hop1 = carried(offer1, link1, w.shards[0])
    # Node 2 carries shard 1 of the same wanderer, launched to it by the owner.
    sibling_offer = launch_offer(
        w.manifest, 1, owner_seed=OWNER_SEED, to_peer=Signer(seed(2)).public_key, now=now_s(T0_MS)
    )
    t = run_handoff(
        sibling_offer,
        w.shards[1],
        Signer(seed(2)),
        new_carrier(2, T0_MS),
        T0_MS,
        remote_peer=w.manifest.value.owner_key,
    )
    assert t.link is not None
    sibling = carried(sibling_offer, t.link, w.shards[1])
    seen_hop1 = {
        "wanderer_id": w.manifest.value.wanderer_id.hex(),
        "shard_index": 0,
        "generation": 0,
        "hop": 1,
    }
    other_record = dataclasses.replace(
        offer1, record=resign(offer1.record, n1, time_ms=offer1.record.value.time_ms + 1)
    )
    remote = n1.public_key
    cases: list[tuple[str, Offer, str, dict[str, Any]]] = [
        (
            "retried_offer",
            offer1,
            "node 2 still carries shard 0 from this very hop-1 record (its receipt was lost)",
            {"carries": [carried_hop1]},
        ),
        (
            "retried_offer_while_shutting_down",
            offer1,
            "as retried_offer while node 2 drains: stage C skips stage D",
            {"carries": [carried_hop1], "shutting_down": True},
        ),
        (
            "retried_hop_with_another_record",
            other_record,
            "node 2 carries shard 0 from hop 1; node 1 signs a second hop-1 record (time_ms + 1)",
            {"carries": [carried_hop1]},
        ),
        ("shutting_down", offer1, "node 2 drains (D2)", {"shutting_down": True}),
        ("busy", offer1, "node 2 takes no inbound handoff now (D3)", {"max_inbound": 0}),
        (
            "capacity",
            offer1,
            "node 2 has room for one byte less than the shard (D4)",
            {"capacity": size - 1},
        ),
        (
            "sibling_held",
            offer1,
            "node 2 carries shard 1 of the same wanderer (D5)",
            {"carries": [sibling]},
        ),
        (
            "order_stale_and_shutting_down",
            offer1,
            "D1 and D2 both fail",
            {"seen": [seen_hop1], "shutting_down": True},
        ),
        (
            "order_shutting_down_and_busy",
            offer1,
            "D2 and D3 both fail",
            {"shutting_down": True, "max_inbound": 0},
        ),
        (
            "order_busy_and_capacity",
            offer1,
            "D3 and D4 both fail",
            {"max_inbound": 0, "capacity": 0},
        ),
        (
            "order_capacity_and_sibling",
            offer1,
            "D4 and D5 both fail: node 2 carries shard 1 and has room for it alone",
            {"carries": [sibling], "capacity": 2 * size - 1},
        ),
    ]
    return [(name, offer, 2, remote, note, state) for name, offer, note, state in cases]


def long_chain_cases(scenario: Scenario) -> list[CustodyCase]:
    """Truncation at 64 links (4.4): hop 65 carries hops 1..64 and is not anchored."""
    o65 = long_chain_offers(scenario.wanderer)[65]

    def at(hop: int) -> tuple[int, bytes]:
        return LONG_CHAIN_NODES[hop % 3], Signer(seed(LONG_CHAIN_NODES[(hop - 1) % 3])).public_key

    local, remote = at(65)
    return [
        (
            "valid_hop65_unanchored",
            o65,
            local,
            remote,
            "hop 65 with 64 links: hops 1..64, no longer anchored to the owner key",
            None,
        ),
    ]


def keeper_cases(scenario: Scenario) -> list[CustodyCase]:
    """Hop 0 signed by a version 2 wanderer's repair key (a keeper's relaunch, 4.4), and not.

    The wanderer is a version 2 one of the same owner seed; its keeper relaunches
    shard 0 as generation 1 to node 1, which passes it on to node 2.
    """
    w = create_wanderer(
        b"keeper vector payload",
        owner_seed=OWNER_SEED,
        nonce=label_seed("wdp/vectors/keeper-nonce")[:12],
        k=2,
        n=3,
        epoch_seconds=EPOCH_SECONDS,
        now=now_s(T0_MS),
        version=2,
    )
    keeper_seed = repair_seed(OWNER_SEED)
    keeper = Signer(keeper_seed)
    n1, n2 = Signer(seed(1)), Signer(seed(2))
    relaunch = launch_offer(
        w.manifest, 0, keeper_seed=keeper_seed, to_peer=n1.public_key, now=now_s(T0_MS),
        generation=1,
    )  # fmt: skip
    c1 = new_carrier(1, T0_MS)
    t = run_handoff(relaunch, w.shards[0], n1, c1, T0_MS, remote_peer=keeper.public_key)
    assert t.link is not None
    (held,) = c1.held.values()
    hop1 = c1.next_offer(held, n2.public_key, Reason.TTL, now_s(T0_MS + 1000))
    genesis = resign(relaunch.record, keeper, reason=Reason.GENESIS, generation=0)
    # The version 1 wanderer of the chain: it names no repair key.
    v1 = launch_offer(
        scenario.wanderer.manifest, 0, owner_seed=OWNER_SEED, to_peer=n1.public_key,
        now=now_s(T0_MS), generation=1,
    )  # fmt: skip
    v1_by_keeper = resign(v1.record, keeper, from_peer=keeper.public_key)
    return [
        (
            "keeper_repair_hop0",
            relaunch,
            1,
            keeper.public_key,
            "a version 2 wanderer's REPAIR hop 0 (generation 1) signed by its repair key",
            None,
        ),
        (
            "keeper_hop1_after_keeper_hop0",
            hop1,
            2,
            n1.public_key,
            "hop 1 (TTL) of that shard, its chain anchored to the repair key's hop 0",
            None,
        ),
        (
            "keeper_genesis_hop0",
            dataclasses.replace(relaunch, record=genesis),
            1,
            keeper.public_key,
            "a GENESIS hop 0 signed by the repair key: only the owner key starts generation 0",
            None,
        ),
        (
            "keeper_repair_hop0_version_1",
            dataclasses.replace(v1, record=v1_by_keeper),
            1,
            keeper.public_key,
            "a REPAIR hop 0 of a version 1 wanderer signed by the key a repair seed would give",
            None,
        ),
    ]
