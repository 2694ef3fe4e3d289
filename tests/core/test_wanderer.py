"""The owner's pipeline end to end: encrypt, code, sign; rebuild from any k shards."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core.objects import Manifest, Signed
from wdp.core.wanderer import RebuildError, create_wanderer, rebuild

OWNER = b"\x11" * 32


def make(payload: bytes, k: int, n: int):
    return create_wanderer(
        payload, owner_seed=OWNER, nonce=b"\x22" * 12, k=k, n=n, epoch_seconds=60, now=1.0
    )


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=2000),
    kn=st.tuples(st.integers(1, 6), st.integers(0, 5)).map(lambda t: (t[0], t[0] + t[1])),
    data=st.data(),
)
def test_any_k_shards_rebuild_the_payload(payload: bytes, kn: tuple[int, int], data) -> None:
    k, n = kn
    w = make(payload, k, n)
    chosen = data.draw(st.permutations(range(n)))[:k]
    assert rebuild(w.manifest.value, {i: w.shards[i] for i in chosen}, OWNER) == payload


def test_every_k_subset_of_3_of_8_rebuilds_byte_identical() -> None:
    payload = bytes(range(256)) * 40 + b"tail"
    w = make(payload, 3, 8)
    for subset in itertools.combinations(range(8), 3):
        assert rebuild(w.manifest.value, {i: w.shards[i] for i in subset}, OWNER) == payload


def test_fewer_than_k_fails_with_a_clear_count() -> None:
    w = make(b"secret", 3, 8)
    with pytest.raises(RebuildError, match="2 of the 3 needed shards found"):
        rebuild(w.manifest.value, {0: w.shards[0], 5: w.shards[5]}, OWNER)


def test_a_tampered_shard_is_not_used_and_is_reported() -> None:
    w = make(b"secret" * 100, 3, 8)
    bad = bytes([w.shards[1][0] ^ 1]) + w.shards[1][1:]
    shards = {0: w.shards[0], 1: bad, 2: w.shards[2]}
    with pytest.raises(RebuildError, match=r"2 of the 3 needed.*1 more failed their hash check"):
        rebuild(w.manifest.value, shards, OWNER)
    shards[7] = w.shards[7]
    assert rebuild(w.manifest.value, shards, OWNER) == b"secret" * 100


def test_wrong_owner_seed_cannot_decrypt() -> None:
    w = make(b"secret", 2, 4)
    with pytest.raises(RebuildError, match="cannot decrypt"):
        rebuild(w.manifest.value, dict(enumerate(w.shards)), b"\x12" * 32)


def test_manifest_round_trips_through_its_signed_bytes() -> None:
    w = make(b"x" * 1000, 3, 8)
    again = Signed.from_bytes(w.manifest.to_bytes(), Manifest)
    assert again.value == w.manifest.value and again.verify(w.manifest.value.owner_key)
