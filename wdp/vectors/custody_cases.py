"""Custody cases on a described local state (stage C, D1-D5) and past 64 links."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.messages import Offer
from wdp.core.signing import Signer
from wdp.core.wanderer import launch_offer
from wdp.vectors.carriers import carried, new_carrier
from wdp.vectors.common import OWNER_SEED, T0_MS, now_s, seed
from wdp.vectors.mutate import resign
from wdp.vectors.runs import run_handoff
from wdp.vectors.scenario import LONG_CHAIN_NODES, Scenario, long_chain_offers

CustodyCase = tuple[str, Offer | bytes, int, bytes, str, dict[str, Any] | None]


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
