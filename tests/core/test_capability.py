"""Repair capabilities: derived from a ticket, round trip, clear errors, and no power to read."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core.audit import grant_is_valid
from wdp.core.capability import CapabilityError, RepairCapability
from wdp.core.segments import FileWriter, SegmentIndex, segment_seed, segment_ticket
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket, TicketError
from wdp.core.wanderer import RebuildError, rebuild, repair_seed

from .helpers import OWNER_SEED, make_wanderer

MIB = 1 << 20
F = bytes(range(100, 132))


def wanderer_cap() -> tuple[Ticket, RepairCapability]:
    w = make_wanderer(k=2, n=3)
    ticket = Ticket(OWNER_SEED, w.manifest.hash, 2, 3)
    return ticket, RepairCapability.of_ticket(ticket)


def test_a_wanderers_capability_finds_and_relaunches_as_the_owner_would():
    ticket, cap = wanderer_cap()
    assert cap.version == 2 and not cap.is_file
    assert cap.repair_seed == repair_seed(OWNER_SEED)
    assert (cap.wanderer_id, cap.owner_key) == (ticket.wanderer_id, ticket.owner_key)
    assert (cap.manifest_hash, cap.k, cap.n) == (ticket.manifest_hash, 2, 3)
    assert cap.sealing_seed == ticket.sealing_seed
    assert cap.locator_seed(2, 5) == ticket.locator_seed(2, 5)
    assert grant_is_valid(cap.owner_key, cap.wanderer_id, cap.repair_key, cap.grant)
    text = cap.encode()
    assert text.startswith("wdpr") and text == text.lower() and len(text) == 4 + 268
    assert RepairCapability.decode(text[:100] + "\n  " + text[100:]) == cap


@settings(max_examples=30)
@given(seed=st.binary(min_size=32, max_size=32), mh=st.binary(min_size=32, max_size=32))
def test_round_trip(seed: bytes, mh: bytes) -> None:
    for version in (2, 3):
        cap = RepairCapability.of_ticket(Ticket(seed, mh, 3, 8, version))
        assert RepairCapability.decode(cap.encode()) == cap


def test_the_capability_cannot_read_the_data():
    w = make_wanderer(payload=b"secret " * 200, k=2, n=3)
    cap = RepairCapability.of_ticket(Ticket(OWNER_SEED, w.manifest.hash, 2, 3))
    shards = dict(enumerate(w.shards))
    assert rebuild(w.manifest.value, shards, OWNER_SEED) == b"secret " * 200
    raw = base64.b32decode(cap.encode()[4:].upper() + "=" * 4)
    secrets = {raw[i : i + 32] for i in range(len(raw) - 31)}  # every 32 bytes it holds
    assert OWNER_SEED not in secrets
    for secret in secrets:
        with pytest.raises(RebuildError, match="cannot decrypt"):
            rebuild(w.manifest.value, shards, secret)


def test_a_files_keeper_reads_the_index_and_keeps_each_segment():
    w = FileWriter(F, 3 * MIB, MIB)
    for i in range(3):
        w.stored(i, bytes([i]) * 32)
    index = w.index()
    ticket = w.ticket(b"\x09" * 32, 3, 8)
    cap = RepairCapability.of_ticket(ticket)
    assert cap.is_file and len(cap.encode()) == 4 + 114
    assert cap.index_ticket().owner_seed == w.index_seed  # it reads the index as its owner
    for i in range(3):
        seg = cap.segment(SegmentIndex.decode(index.encode()), i)
        owner = segment_ticket(ticket, index, i)
        assert seg == RepairCapability.of_ticket(owner)
        assert segment_seed(F, i) not in (seg.repair_seed, cap.repair_seed)
    with pytest.raises(ValueError, match="names no wanderer"):
        cap.locator_seed(0, 0)
    old = SegmentIndex(index.file_size, index.segment_size, index.manifest_hashes,
                       index.repair_seeds, index.repair_grants)  # fmt: skip
    with pytest.raises(CapabilityError, match="before keepers"):
        cap.segment(old, 0)


def test_a_version_1_wanderer_has_no_capability():
    with pytest.raises(CapabilityError, match="only its owner can keep it"):
        RepairCapability.of_ticket(Ticket(OWNER_SEED, b"\x01" * 32, 2, 3, 1))


def _recheck(raw: bytes) -> str:
    body = raw[:-4]
    raw = body + hashlib.sha256(body).digest()[:4]
    return "wdpr" + base64.b32encode(raw).decode().rstrip("=").lower()


def _raw(cap: RepairCapability) -> bytearray:
    text = cap.encode()[4:].upper()
    return bytearray(base64.b32decode(text + "=" * (-len(text) % 8)))


def _altered_grant(cap: RepairCapability) -> str:
    raw = _raw(cap)
    raw[70] ^= 1
    return _recheck(bytes(raw))


def _other_version(cap: RepairCapability) -> str:
    raw = _raw(cap)
    raw[0] = 9
    return _recheck(bytes(raw))


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda c: c.encode()[:-5], "too short"),
        (lambda c: c.encode() + "aaaaaaaa", "too long"),
        (
            lambda c: c.encode()[:30] + ("b" if c.encode()[30] != "b" else "c") + c.encode()[31:],
            "checksum",
        ),
        (lambda c: "wdpx" + c.encode()[4:], "should start with 'wdpr'"),
        (lambda c: c.encode()[:10] + "!" + c.encode()[11:], "characters"),
        (lambda c: "wdpr", "checksum"),
        (_altered_grant, "grant is not its owner's"),
        (_other_version, "version 9 is not supported"),
        (lambda c: Ticket(OWNER_SEED, b"\x01" * 32, 2, 3).encode(), "this is a ticket"),
    ],
)
def test_bad_capabilities_say_what_is_wrong(mangle, message: str) -> None:
    _, cap = wanderer_cap()
    with pytest.raises(CapabilityError, match=message):
        RepairCapability.decode(mangle(cap))


def test_a_capability_given_as_a_ticket_says_what_it_is():
    _, cap = wanderer_cap()
    with pytest.raises(TicketError, match="repair capability: it lets a node keep the data"):
        Ticket.decode(cap.encode())


def test_a_capability_for_one_wanderer_does_not_pass_for_another():
    _, cap = wanderer_cap()
    other_owner = public_key_of(bytes([42]) * 32)
    with pytest.raises(CapabilityError, match="grant is not its owner's"):
        RepairCapability(cap.repair_seed, cap.manifest_hash, 2, 3, 2, other_owner, cap.grant)
