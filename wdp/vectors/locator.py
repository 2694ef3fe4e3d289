"""locator.json: the DHT locator validator and the selection among values.

Every locator is shard 0's (generation 0), its holder info that of hop 1, judged at
LOCATOR_NOW_MS unless a case says otherwise.
"""

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

LOCATOR_NOW_MS = T0_MS + 10_000
HOUR = 3_600_000
MAX_EXPIRY = LOCATOR_NOW_MS + MAX_LOCATOR_TTL_MS + MAX_CLOCK_SKEW_MS  # the latest valid expiry

# (name, DHT key, value, now_ms, intended verdict: 'valid' or the reference's code)
Validate = tuple[str, str, bytes, int, str]


@dataclasses.dataclass(frozen=True)
class LocatorSetup:
    """Shard 0's locator key and DHT key, the owner key, the holder info of hop 1."""

    owner_key: bytes
    secret: bytes
    key: str
    holder: HolderInfo

    @classmethod
    def of(cls, scenario: Scenario) -> LocatorSetup:
        secret = scenario.offers[0].locator_secret
        return cls(
            owner_key=scenario.wanderer.manifest.value.owner_key,
            secret=secret,
            key=locator_dht_key(Signer(secret).public_key),
            holder=holder_info(scenario, 1)[0],
        )

    def make(self, generation: int, hop: int, expires: int, label: str) -> bytes:
        """A locator value, its holder info sealed with the ephemeral seed named ``label``."""
        return make_locator(
            locator_secret=self.secret,
            sealing_key=self.owner_key,
            holder=self.holder,
            generation=generation,
            hop=hop,
            expires_at_ms=expires,
            ephemeral_seed=label_seed(f"wdp/vectors/locator/{label}"),
        )[1]

    @property
    def good(self) -> bytes:
        return self.make(0, 1, LOCATOR_NOW_MS + HOUR, "good")


# ---- kind validate ---------------------------------------------------------------


def _expiry_validates(setup: LocatorSetup) -> list[Validate]:
    """A locator is valid from now until its expiry, which may be at most 24 h + 5 min ahead."""
    key, good, now = setup.key, setup.good, LOCATOR_NOW_MS
    return [
        ("valid", key, good, now, "valid"),
        ("valid_at_max_expiry", key, setup.make(0, 1, MAX_EXPIRY, "max"), now, "valid"),
        ("valid_one_ms_before_expiry", key, good, now + HOUR - 1, "valid"),
        ("expired_at_expiry", key, good, now + HOUR, "STALE_HOP"),
        ("expired_long_ago", key, good, now + 10 * HOUR, "STALE_HOP"),
        ("too_far_future", key, setup.make(0, 1, MAX_EXPIRY + 1, "far"), now, "MALFORMED"),
        # A forward pointer (the owner's word, under generation 0's key, of generation 9):
        # an ordinary record to the validator.
        ("valid_forward_pointer", key, setup.make(9, 0, MAX_EXPIRY, "pointer"), now, "valid"),
    ]


def _signature_validates(setup: LocatorSetup) -> list[Validate]:
    """A value under another locator's key, or with a flipped signature bit."""
    other_secret = crypto.derive_locator_seed(OWNER_SEED, 1, 0)
    other_key = locator_dht_key(Signer(other_secret).public_key)
    good, now = setup.good, LOCATOR_NOW_MS
    return [
        ("wrong_key", other_key, good, now, "BAD_SIGNATURE"),
        ("signature_bit_flip", setup.key, _flip_signature(good), now, "BAD_SIGNATURE"),
    ]


def _key_form_validates(setup: LocatorSetup) -> list[Validate]:
    """DHT keys not of the form /wdp/ + 43 canonical base64url characters."""
    key, good, now = setup.key, setup.good, LOCATOR_NOW_MS
    hex_key = "/wdp/" + Signer(setup.secret).public_key.hex()
    return [
        ("key_old_hex_form", hex_key, good, now, "MALFORMED"),
        ("key_padded_base64", key + "=", good, now, "MALFORMED"),
        ("key_non_canonical_base64", key[:-1] + chr(ord(key[-1]) + 1), good, now, "MALFORMED"),
        ("key_wrong_namespace", key.replace("/wdp/", "/pk/"), good, now, "MALFORMED"),
        ("key_short", key[:-2], good, now, "MALFORMED"),
        ("key_trailing_slash", key + "/", good, now, "MALFORMED"),
    ]


def _value_validates(setup: LocatorSetup) -> list[Validate]:
    """Values too large, not protobuf, with a sealed holder of a bad size, or of version 2."""
    key, good, now = setup.key, setup.good, LOCATOR_NOW_MS
    signer = Signer(setup.secret)

    def raw_signed(body: Locator) -> bytes:
        return Signed.create(body, signer).to_bytes()

    sealed = Signed.from_bytes(good, Locator).value.sealed_holder
    oversized = good + b"\x1a\xd0\x0f" + bytes(2000)  # + unknown field 3, 2000 bytes
    huge_holder = Locator(generation=0, hop=1, expires_at_ms=now + HOUR, sealed_holder=bytes(1025))
    version_2 = Locator(
        generation=0, hop=1, expires_at_ms=now + HOUR, sealed_holder=sealed, version=2
    )
    return [
        ("value_oversized", key, oversized, now, "TOO_LARGE"),
        ("value_not_protobuf", key, b"\xff\xff", now, "MALFORMED"),
        ("sealed_holder_1025_bytes", key, raw_signed(huge_holder), now, "MALFORMED"),
        (
            "sealed_holder_empty",
            key,
            raw_signed(dataclasses.replace(huge_holder, sealed_holder=b"")),
            now,
            "MALFORMED",
        ),
        ("version_2", key, raw_signed(version_2), now, "UNSUPPORTED_VERSION"),
    ]


def _validate_case(setup: LocatorSetup, validate: Validate) -> dict[str, Any]:
    """The validator's verdict on one key and value, checked to be the intended one."""
    name, k, value, now_ms, intended = validate
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
        case["holder_info_body"] = setup.holder.encode().hex()
        case["owner_seed"] = OWNER_SEED.hex()
    return case


# ---- kind select -----------------------------------------------------------------


def _select_cases(setup: LocatorSetup) -> list[dict[str, Any]]:
    """Which value wins: valid ones, then the highest (generation, hop), the latest expiry,
    the smallest bytes.
    """
    make, now = setup.make, LOCATOR_NOW_MS
    tie_a = make(0, 2, now + HOUR, "tie-a")
    tie_b = make(0, 2, now + HOUR, "tie-b")
    selects: list[tuple[str, list[bytes], int]] = [
        (
            "highest_generation_wins",
            [
                make(0, 1, now + HOUR, "s1"),
                make(0, 5, now + HOUR, "s2"),
                make(1, 0, now + HOUR, "s3"),
                make(0, 9, now + 2 * HOUR, "s4"),
            ],
            2,
        ),
        (
            "invalid_values_are_ignored",
            [
                make(3, 0, now - 1, "expired"),
                _flip_signature(make(4, 0, now + HOUR, "forged")),
                make(0, 2, now + HOUR, "ok"),
                b"\x00",
            ],
            2,
        ),
        (
            "latest_expiry_breaks_a_hop_tie",
            [make(0, 2, now + HOUR, "e1"), make(0, 2, now + 2 * HOUR, "e2")],
            1,
        ),
        ("smallest_bytes_break_a_full_tie", [tie_a, tie_b], 0 if tie_a < tie_b else 1),
        (
            "a_forward_pointer_wins_over_generation_0",
            [make(0, 7, now + 2 * HOUR, "carrier"), make(9, 0, now + HOUR, "pointer")],
            1,
        ),
    ]
    cases = []
    for name, values, intended_index in selects:
        index = select_locator(setup.key, values, now)
        if index != intended_index:
            raise AssertionError(f"select case {name}: core picks {index}, not {intended_index}")
        cases.append(
            {
                "name": f"select_{name}",
                "kind": "select",
                "key": setup.key,
                "values": [v.hex() for v in values],
                "now_ms": now,
                "expect_index": index,
            }
        )
    return cases


def locator_file(scenario: Scenario) -> str:
    setup = LocatorSetup.of(scenario)
    validates = [
        *_expiry_validates(setup),
        *_signature_validates(setup),
        *_key_form_validates(setup),
        *_value_validates(setup),
    ]
    cases = [_validate_case(setup, v) for v in validates]
    cases += _select_cases(setup)
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
