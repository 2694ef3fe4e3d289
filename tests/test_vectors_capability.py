"""capability.json, checked against the core and, byte by byte, against an independent
computation (base32, SHA-256, HKDF and Ed25519 straight from their libraries)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wdp.core.capability import CapabilityError, RepairCapability
from wdp.core.segments import SegmentIndex
from wdp.core.ticket import Ticket

VECTORS = Path(__file__).resolve().parents[1] / "protocols" / "vectors" / "v1"
CASES: list[dict[str, Any]] = json.loads((VECTORS / "capability.json").read_text())["cases"]


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [c for c in CASES if c["kind"] == kind]


def raw_of(text: str) -> bytes:
    b32 = text[4:].upper()
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


@pytest.mark.parametrize("case", of_kind("derived"), ids=lambda c: c["name"])
def test_derived_capability_by_hand(case: dict[str, Any]) -> None:
    ticket = Ticket.decode(case["ticket"])
    seed = hkdf(ticket.owner_seed, b"wdp/v2/repair-seed")
    assert case["repair_seed"] == seed.hex()
    raw = raw_of(case["text"])
    assert case["text"].startswith("wdpr") and raw[0] == case["version"]
    assert hashlib.sha256(raw[:-4]).digest()[:4] == raw[-4:]
    tail = bytes.fromhex(case["manifest_hash"]) + bytes([case["k"] - 1, case["n"] - 1])
    if case["version"] == 2:
        owner = nacl.signing.SigningKey(ticket.owner_seed)
        repair_key = bytes(nacl.signing.SigningKey(seed).verify_key)
        wid = hashlib.sha256(b"wdp/v1/wanderer-id" + bytes(owner.verify_key)).digest()
        domain, body = b"wdp/v2/repair-grant", wid + repair_key
        signed = bytes([len(domain)]) + domain + len(body).to_bytes(8, "big") + body
        grant = owner.sign(signed).signature
        assert case["grant"] == grant.hex()
        assert raw[:-4] == bytes([2]) + seed + bytes(owner.verify_key) + grant + tail
    else:
        assert raw[:-4] == bytes([3]) + seed + tail
    cap = RepairCapability.decode(case["text"])
    assert cap == RepairCapability.of_ticket(ticket)
    assert cap.repair_key.hex() == case["repair_key"]


@pytest.mark.parametrize("case", of_kind("segments"), ids=lambda c: c["name"])
def test_segment_capabilities(case: dict[str, Any]) -> None:
    cap = RepairCapability.decode(case["text"])
    index = SegmentIndex.decode(bytes.fromhex(case["index"]))
    assert [cap.segment(index, i).encode() for i in range(3)] == case["segments"]


@pytest.mark.parametrize("case", of_kind("bad"), ids=lambda c: c["name"])
def test_bad_capability_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(CapabilityError):
        RepairCapability.decode(case["text"])
