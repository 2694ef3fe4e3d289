"""objects.json: one signed body of each object kind, holder info and a locator."""

from __future__ import annotations

from typing import Any

from wdp.core.locator import make_locator
from wdp.core.objects import Locator, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import launch_offer
from wdp.vectors.common import OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.render import render, spell
from wdp.vectors.scenario import OUTSIDER, Scenario, holder_info


def _signed_case(name: str, kind: str, signed: Signed[Any], signer_key: bytes) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "domain": signed.value.DOMAIN.decode(),
        "signer_public_key": signer_key.hex(),
        "signed": signed.to_bytes().hex(),
        **spell(signed),
    }


def _signed_object_cases(scenario: Scenario) -> list[dict[str, Any]]:
    """The manifest, custody records of hop 0, hop 1 and a repair, receipts of hop 0 and 1."""
    w = scenario.wanderer
    owner_key = w.manifest.value.owner_key
    links = [t.link for t in scenario.transcripts]
    assert all(link is not None for link in links)
    hop0, hop1 = (link for link in links[:2] if link is not None)
    # A REPAIR record: hop 0 of generation 1, signed by the owner.
    repair = launch_offer(
        w.manifest,
        0,
        owner_seed=OWNER_SEED,
        to_peer=Signer(seed(OUTSIDER)).public_key,
        now=now_s(T0_MS + 60_000),
        generation=1,
    )
    hop1_sender = hop1.record.value.from_peer
    return [
        _signed_case("manifest", "manifest", w.manifest, owner_key),
        _signed_case("custody_record_hop0_genesis", "custody_record", hop0.record, owner_key),
        _signed_case("custody_record_hop1_ttl", "custody_record", hop1.record, hop1_sender),
        _signed_case("custody_record_hop0_repair_gen1", "custody_record", repair.record, owner_key),
        _signed_case("receipt_hop0", "receipt", hop0.receipt, hop0.record.value.to_peer),
        _signed_case("receipt_hop1", "receipt", hop1.receipt, hop1.record.value.to_peer),
    ]


def _holder_info_case(scenario: Scenario) -> dict[str, Any]:
    holder, addrs_text = holder_info(scenario, 1)
    return {
        "name": "holder_info_hop1",
        "kind": "holder_info",
        "body": holder.encode().hex(),
        "fields": spell(holder),
        "addrs_text": addrs_text,
    }


def _locator_case(scenario: Scenario) -> dict[str, Any]:
    """The locator of hop 1, signed by the locator key, the holder info sealed to the owner."""
    holder, _ = holder_info(scenario, 1)
    loc_secret = scenario.offers[1].locator_secret
    eph = label_seed("wdp/vectors/locator-ephemeral/hop1")
    key, value = make_locator(
        locator_secret=loc_secret,
        sealing_key=scenario.wanderer.manifest.value.owner_key,
        holder=holder,
        generation=0,
        hop=1,
        expires_at_ms=T0_MS + 3_600_000,
        ephemeral_seed=eph,
    )
    signed = Signed.from_bytes(value, Locator)
    case = _signed_case("locator_hop1", "locator", signed, Signer(loc_secret).public_key)
    case.update(
        {
            "dht_key": key,
            "locator_secret": loc_secret.hex(),
            "owner_seed": OWNER_SEED.hex(),
            "ephemeral_seed": eph.hex(),
            "holder_info_body": holder.encode().hex(),
        }
    )
    return case


def objects_file(scenario: Scenario) -> str:
    cases = _signed_object_cases(scenario)
    cases += [_holder_info_case(scenario), _locator_case(scenario)]
    return render(
        "One signed body of each object kind. body is the exact protobuf encoding of the "
        "*Body message (deterministic, fields in number order, defaults omitted); signature "
        "is over signing_input(domain, body) by signer_public_key; hash = SHA-256(body); "
        "signed = the encoded Signed{body, signature}; fields spells out the body. "
        "holder_info is not signed (it travels sealed inside a locator: sealed_holder opens "
        "with owner_seed to holder_info_body; the ephemeral seed is given).",
        cases,
    )
