"""locator.json: the DHT locator validator and the selection among values."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core import crypto
from wdp.core.errors import ProtocolError
from wdp.core.limits import MAX_LOCATOR_TTL_MS
from wdp.core.locator import (
    MAX_CLOCK_SKEW_MS,
    locator_dht_key,
    make_locator,
    select_locator,
    validate_locator,
)
from wdp.core.objects import HolderInfo, Locator, Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import Signer
from wdp.vectors.common import OWNER_SEED, T0_MS, label_seed
from wdp.vectors.mutate import flip_bit
from wdp.vectors.render import render, spell
from wdp.vectors.scenario import Scenario, holder_info


def locator_file(scenario: Scenario) -> str:
    owner_key = scenario.wanderer.manifest.value.owner_key
    secret = scenario.offers[0].locator_secret
    key = locator_dht_key(Signer(secret).public_key)
    other_secret = crypto.derive_locator_seed(OWNER_SEED, 1, 0)
    other_key = locator_dht_key(Signer(other_secret).public_key)
    now = T0_MS + 10_000
    holder, _ = holder_info(scenario, 1)

    def make(
        generation: int,
        hop: int,
        expires: int,
        label: str,
        loc_secret: bytes = secret,
        holder_info: HolderInfo = holder,
    ) -> bytes:
        return make_locator(
            locator_secret=loc_secret,
            owner_key=owner_key,
            holder=holder_info,
            generation=generation,
            hop=hop,
            expires_at_ms=expires,
            ephemeral_seed=label_seed(f"wdp/vectors/locator/{label}"),
        )[1]

    hour = 3_600_000
    max_expiry = now + MAX_LOCATOR_TTL_MS + MAX_CLOCK_SKEW_MS
    good = make(0, 1, now + hour, "good")

    def raw_signed(body: Locator, signer: Signer) -> bytes:
        return Signed.create(body, signer).to_bytes()

    signer = Signer(secret)
    sealed = Signed.from_bytes(good, Locator).value.sealed_holder
    oversized = good + b"\x1a\xd0\x0f" + bytes(2000)  # + unknown field 3, 2000 bytes
    huge_holder = Locator(generation=0, hop=1, expires_at_ms=now + hour, sealed_holder=bytes(1025))
    validate: list[tuple[str, str, bytes, int, str]] = [
        ("valid", key, good, now, "valid"),
        ("valid_at_max_expiry", key, make(0, 1, max_expiry, "max"), now, "valid"),
        ("valid_one_ms_before_expiry", key, good, now + hour - 1, "valid"),
        ("expired_at_expiry", key, good, now + hour, "STALE_HOP"),
        ("expired_long_ago", key, good, now + 10 * hour, "STALE_HOP"),
        ("too_far_future", key, make(0, 1, max_expiry + 1, "far"), now, "MALFORMED"),
        ("wrong_key", other_key, good, now, "BAD_SIGNATURE"),
        ("signature_bit_flip", key, _flip_signature(good), now, "BAD_SIGNATURE"),
        ("key_old_hex_form", "/wdp/" + Signer(secret).public_key.hex(), good, now, "MALFORMED"),
        ("key_padded_base64", key + "=", good, now, "MALFORMED"),
        ("key_non_canonical_base64", key[:-1] + chr(ord(key[-1]) + 1), good, now, "MALFORMED"),
        ("key_wrong_namespace", key.replace("/wdp/", "/pk/"), good, now, "MALFORMED"),
        ("key_short", key[:-2], good, now, "MALFORMED"),
        ("key_trailing_slash", key + "/", good, now, "MALFORMED"),
        ("value_oversized", key, oversized, now, "TOO_LARGE"),
        ("value_not_protobuf", key, b"\xff\xff", now, "MALFORMED"),
        ("sealed_holder_1025_bytes", key, raw_signed(huge_holder, signer), now, "MALFORMED"),
        (
            "sealed_holder_empty",
            key,
            raw_signed(dataclasses.replace(huge_holder, sealed_holder=b""), signer),
            now,
            "MALFORMED",
        ),
        (
            "version_2",
            key,
            raw_signed(
                Locator(
                    generation=0, hop=1, expires_at_ms=now + hour, sealed_holder=sealed, version=2
                ),
                signer,
            ),
            now,
            "UNSUPPORTED_VERSION",
        ),
    ]
    cases: list[dict[str, Any]] = []
    for name, k, value, now_ms, intended in validate:
        try:
            validate_locator(k, value, now_ms)
            verdict = "valid"
        except ProtocolError as exc:
            verdict = exc.code.name
        if verdict != intended:
            raise AssertionError(f"locator case {name}: core says {verdict}, intended {intended}")
        case: dict[str, Any] = {
            "name": f"validate_{name}",
            "kind": "validate",
            "key": k,
            "value": value.hex(),
            "now_ms": now_ms,
            "expect": "valid" if verdict == "valid" else "invalid",
            "reference_code": None if verdict == "valid" else verdict,
        }
        if verdict == "valid":
            case["fields"] = spell(Signed.from_bytes(value, Locator).value)
        if name == "valid":
            case["holder_info_body"] = holder.encode().hex()
            case["owner_seed"] = OWNER_SEED.hex()
        cases.append(case)

    # select: valid first, then highest (generation, hop), then latest expiry, then the
    # smallest value bytes.
    tie_a = make(0, 2, now + hour, "tie-a")
    tie_b = make(0, 2, now + hour, "tie-b")
    selects: list[tuple[str, list[bytes], int]] = [
        (
            "highest_generation_wins",
            [
                make(0, 1, now + hour, "s1"),
                make(0, 5, now + hour, "s2"),
                make(1, 0, now + hour, "s3"),
                make(0, 9, now + 2 * hour, "s4"),
            ],
            2,
        ),
        (
            "invalid_values_are_ignored",
            [
                make(3, 0, now - 1, "expired"),
                _flip_signature(make(4, 0, now + hour, "forged")),
                make(0, 2, now + hour, "ok"),
                b"\x00",
            ],
            2,
        ),
        (
            "latest_expiry_breaks_a_hop_tie",
            [make(0, 2, now + hour, "e1"), make(0, 2, now + 2 * hour, "e2")],
            1,
        ),
        ("smallest_bytes_break_a_full_tie", [tie_a, tie_b], 0 if tie_a < tie_b else 1),
    ]
    for name, values, intended_index in selects:
        index = select_locator(key, values, now)
        if index != intended_index:
            raise AssertionError(f"select case {name}: core picks {index}, not {intended_index}")
        cases.append(
            {
                "name": f"select_{name}",
                "kind": "select",
                "key": key,
                "values": [v.hex() for v in values],
                "now_ms": now,
                "expect_index": index,
            }
        )
    return render(
        "DHT locator records under key '/wdp/' + unpadded base64url(locator_key); the value is an "
        "encoded Signed{LocatorBody} signed by the locator key (domain 'wdp/v1/locator'). "
        "kind validate: the namespace validator's verdict at now_ms (README section 9): "
        "'valid' or 'invalid'; reference_code is informative, the error the Python reference "
        "raises (key not /wdp/ + 43 canonical base64url chars: MALFORMED; "
        "value > 2048 bytes: TOO_LARGE; "
        "bad signature: BAD_SIGNATURE; expires_at_ms <= now_ms: STALE_HOP; expires_at_ms > "
        "now_ms + 24 h + 5 min: MALFORMED). validate_valid opens with owner_seed to "
        "holder_info_body. "
        "kind select: among values, the index that wins: only valid values count, then the "
        "highest (generation, hop), then the latest expires_at_ms, then the smallest value "
        "bytes.",
        cases,
    )


def _flip_signature(value: bytes) -> bytes:
    msg = pb.Signed.FromString(value)
    msg.signature = flip_bit(msg.signature, 0)
    return msg.SerializeToString(deterministic=True)
