"""Locator records: the validator every DHT node runs, and the select rule."""

from __future__ import annotations

import pytest

from wdp.core.errors import ProtocolError
from wdp.core.limits import MAX_LOCATOR_TTL_MS
from wdp.core.locator import (
    locator_expiry_ms,
    make_locator,
    open_locator,
    select_locator,
    validate_locator,
)
from wdp.core.objects import HolderInfo
from wdp.core.signing import public_key_of

OWNER = b"\x01" * 32
SECRET = b"\x05" * 32
HOLDER = HolderInfo(b"\x02" * 32, (b"\x04\x7f\x00\x00\x01\x06\x0f\xa1",), b"\x03" * 32)


def record(hop: int = 3, generation: int = 0, expires: int = 10_000, secret: bytes = SECRET):
    return make_locator(
        locator_secret=secret,
        sealing_key=public_key_of(OWNER),
        holder=HOLDER,
        generation=generation,
        hop=hop,
        expires_at_ms=expires,
        ephemeral_seed=bytes([hop]) * 32,
    )


def test_owner_reads_the_holder_and_nobody_else_can() -> None:
    key, value = record()
    loc = validate_locator(key, value, now_ms=1_000).value
    assert open_locator(OWNER, loc) == HOLDER
    with pytest.raises(ProtocolError):
        open_locator(b"\x09" * 32, loc)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k, v: (k + "\n", v),  # trailing newline in the key
        lambda k, v: (k[:-1] + ("B" if k[-1] != "B" else "C"), v),  # another key
        lambda k, v: (k.replace("/wdp/", "/wdp/="), v),  # not base64url
        lambda k, v: ("/wdp/" + "00" * 32, v),  # the old hex form
        lambda k, v: (k, v[:-1] + bytes([v[-1] ^ 1])),  # flipped signature bit
        lambda k, v: (k, v + b"\x00" * 3000),  # oversized
    ],
)
def test_validator_refuses(mutate) -> None:
    key, value = mutate(*record())
    with pytest.raises(ProtocolError):
        validate_locator(key, value, now_ms=1_000)


def test_expired_and_far_future_records_are_refused() -> None:
    key, value = record(expires=5_000)
    validate_locator(key, value, now_ms=4_999)
    with pytest.raises(ProtocolError):
        validate_locator(key, value, now_ms=5_000)
    key, value = record(expires=MAX_LOCATOR_TTL_MS * 2)
    with pytest.raises(ProtocolError):
        validate_locator(key, value, now_ms=0)


def test_select_prefers_generation_then_hop_and_skips_invalid() -> None:
    key, low = record(hop=3)
    _, high = record(hop=9)
    _, newer_gen = record(hop=1, generation=1)
    assert select_locator(key, [low, high], 1_000) == 1
    assert select_locator(key, [high, newer_gen, low], 1_000) == 1
    assert select_locator(key, [b"junk", low], 1_000) == 1
    with pytest.raises(ProtocolError):
        select_locator(key, [b"junk"], 1_000)


def test_expiry_is_a_few_epochs_capped_at_a_day() -> None:
    assert locator_expiry_ms(0, 60) == 120_000
    assert locator_expiry_ms(0, 7 * 24 * 3600) == MAX_LOCATOR_TTL_MS


def test_too_many_addresses_do_not_make_an_unacceptable_record() -> None:
    fat = HolderInfo(b"\x02" * 32, tuple(b"\x04" * 200 for _ in range(8)), b"\x03" * 32)
    with pytest.raises(ValueError, match="fewer addresses"):
        make_locator(
            locator_secret=SECRET,
            sealing_key=public_key_of(OWNER),
            holder=fat,
            generation=0,
            hop=0,
            expires_at_ms=1,
            ephemeral_seed=b"\x00" * 32,
        )
