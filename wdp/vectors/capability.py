"""capability.json: repair capabilities (README section 16.1), derived from tickets,
and texts a decoder refuses, with the reason."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from wdp.core.capability import CapabilityError, RepairCapability
from wdp.core.segments import FileWriter, SegmentIndex
from wdp.core.ticket import Ticket
from wdp.vectors.common import OWNER_SEED, label_seed
from wdp.vectors.render import render

MIB = 1024 * 1024


def _text(raw: bytes) -> str:
    return "wdpr" + base64.b32encode(raw).decode().rstrip("=").lower()


def _raw(cap: RepairCapability) -> bytes:
    b32 = cap.encode()[4:].upper()
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def _checksummed(body: bytes) -> str:
    return _text(body + hashlib.sha256(body).digest()[:4])


def _derived_cases() -> list[dict[str, Any]]:
    mh = label_seed("wdp/vectors/ticket-manifest-hash")
    cases = []
    for version in (2, 3):
        ticket = Ticket(OWNER_SEED, mh, 3, 8, version)
        cap = RepairCapability.of_ticket(ticket)
        case: dict[str, Any] = {
            "name": f"capability_v{version}",
            "kind": "derived",
            "ticket": ticket.encode(),
            "text": cap.encode(),
            "version": version,
            "repair_seed": cap.repair_seed.hex(),
            "repair_key": cap.repair_key.hex(),
            "manifest_hash": mh.hex(),
            "k": 3,
            "n": 8,
        }
        if version == 2:
            case |= {
                "owner_key": cap.owner_key.hex(),
                "wanderer_id": cap.wanderer_id.hex(),
                "grant": cap.grant.hex(),
                "locator_seed_shard2_gen1": cap.locator_seed(2, 1).hex(),
                "sealing_seed": cap.sealing_seed.hex(),
            }
        else:
            case["index_ticket"] = cap.index_ticket().encode()
        cases.append(case)
    return cases


def _segment_case() -> dict[str, Any]:
    """A file's keeper reads the index and derives each segment's version 2 capability."""
    w = FileWriter(OWNER_SEED, 2 * MIB + 7, MIB)
    for i in range(3):
        w.stored(i, label_seed(f"wdp/vectors/segment-manifest/{i}"))
    index = w.index()
    cap = RepairCapability.of_ticket(w.ticket(label_seed("wdp/vectors/index-manifest"), 3, 8))
    return {
        "name": "capability_v3_segments",
        "kind": "segments",
        "text": cap.encode(),
        "index": index.encode().hex(),
        "segments": [
            cap.segment(SegmentIndex.decode(index.encode()), i).encode() for i in range(3)
        ],
    }


def _bad_cases() -> list[dict[str, Any]]:
    good = RepairCapability.of_ticket(Ticket(OWNER_SEED, label_seed("wdp/vectors/x"), 3, 8, 2))
    text, raw = good.encode(), _raw(good)
    grant_flipped = bytearray(raw[:-4])
    grant_flipped[65] ^= 1
    v9 = bytearray(raw[:-4])
    v9[0] = 9
    bad_kn = bytearray(raw[:-4])
    bad_kn[161], bad_kn[162] = 8, 2  # k = 9 > n = 3
    inputs = [
        ("truncated", text[:-5], "length"),
        ("too_long", text + "aaaaaaaa", "length"),
        ("mistyped", text[:30] + ("b" if text[30] != "b" else "c") + text[31:], "checksum"),
        ("wrong_prefix", "wdpx" + text[4:], "prefix"),
        ("a_ticket", Ticket(OWNER_SEED, bytes(32), 3, 8, 2).encode(), "prefix"),
        ("bad_character", text[:10] + "1" + text[11:], "characters"),
        ("empty", "wdpr", "checksum"),
        ("version_9", _checksummed(bytes(v9)), "version"),
        ("grant_altered", _checksummed(bytes(grant_flipped)), "grant"),
        ("k_above_n", _checksummed(bytes(bad_kn)), "k_n"),
    ]
    cases = []
    for name, t, reason in inputs:
        try:
            RepairCapability.decode(t)
        except CapabilityError:
            pass
        else:
            raise AssertionError(f"capability case {name} decodes")
        cases.append({"name": f"bad_{name}", "kind": "bad", "text": t, "reason": reason})
    return cases


def capability_file() -> str:
    return render(
        "Repair capabilities (README section 16.1). kind derived: the capability of a ticket "
        "(version 2: one version 2 wanderer; version 3: a file) with its fields; a decoder "
        "of 'text' gets them back; for version 2 the grant verifies (domain "
        "'wdp/v2/repair-grant', by owner_key, over wanderer_id || repair_key) and the "
        "locator and sealing seeds are the ticket's; for version 3 index_ticket is the "
        "version 2 ticket of the index wanderer. kind segments: a file capability, its "
        "index payload, and the version 2 capability of each segment that the index gives. "
        "kind bad: a text a decoder refuses; reason names the first rule broken (prefix, "
        "characters, length, checksum, version, k_n, grant), in that order.",
        [*_derived_cases(), _segment_case(), *_bad_cases()],
    )
