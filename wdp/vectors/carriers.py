"""Carriers for the vectors: a fresh node, and a node in a described receiver_state."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from wdp.core.carrier import Carrier, CarrierParams
from wdp.core.effects import ShardKey, StoreShard
from wdp.core.messages import Offer
from wdp.core.objects import CustodyLink, CustodyRecord, Manifest, Signed
from wdp.core.objects import Receipt as ReceiptBody
from wdp.core.signing import Signer
from wdp.vectors.common import now_s, seed


def new_carrier(i: int, now_ms: int) -> Carrier:
    return Carrier(Signer(seed(i)), random.Random(i), now_s(now_ms))


def carrier_from_state(local_seed: bytes, state: dict[str, Any] | None, now_ms: int) -> Carrier:
    """A fresh carrier in the local state a vector describes (custody.json, section 13)."""
    state = state or {}
    defaults = CarrierParams()
    params = dataclasses.replace(
        defaults,
        capacity=state.get("capacity", defaults.capacity),
        max_inbound=state.get("max_inbound", defaults.max_inbound),
    )
    signer = Signer(local_seed)
    carrier = Carrier(signer, random.Random(0), now_s(now_ms), params)
    for seen in state.get("seen", []):
        key = ShardKey(bytes.fromhex(seen["wanderer_id"]), seen["shard_index"])
        carrier.remember_seen(key, (seen["generation"], seen["hop"]))
    for held in state.get("carries", []):
        manifest = Signed.from_bytes(bytes.fromhex(held["manifest"]), Manifest)
        record = Signed.from_bytes(bytes.fromhex(held["record"]), CustodyRecord)
        receipt = Signed.from_bytes(bytes.fromhex(held["receipt"]), ReceiptBody)
        store = StoreShard(
            key=ShardKey(record.value.wanderer_id, record.value.shard_index),
            shard=bytes.fromhex(held["shard"]),
            manifest=manifest,
            chain=(),
            record=record,
            locator_secret=bytes.fromhex(held["locator_secret"]),
        )
        carrier.shard_received(store, CustodyLink(record, receipt), now_s(now_ms))
    if state.get("shutting_down"):
        carrier.drain(now_s(now_ms))
    return carrier


def carried(offer: Offer, link: CustodyLink, shard: bytes) -> dict[str, Any]:
    """A receiver_state.carries entry: what a node keeps for a shard it took with ``offer``."""
    return {
        "manifest": offer.manifest.to_bytes().hex(),
        "record": offer.record.to_bytes().hex(),
        "receipt": link.receipt.to_bytes().hex(),
        "locator_secret": offer.locator_secret.hex(),
        "shard": shard.hex(),
    }
