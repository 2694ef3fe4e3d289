"""Tests for wdp.core.erasure, and a from-spec reference of the erasure code.

``RefCode`` below is written only from protocols/coding-and-crypto.md section
5 (field, evaluation points, Vandermonde matrix, systematic transform). It is
deliberately slow and simple; it proves the spec text describes zfec exactly.
"""

from __future__ import annotations

import hashlib
import os
from functools import reduce

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wdp.core import erasure
from wdp.core.erasure import CodingError, decode, encode, shard_hash, shard_size

# --- reference implementation, from the spec text only ----------------------

POLY = 0x11D  # x^8 + x^4 + x^3 + x^2 + 1

EXP = [0] * 255
LOG = [0] * 256
_x = 1
for _i in range(255):
    EXP[_i] = _x
    LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= POLY


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return EXP[(LOG[a] + LOG[b]) % 255]


def gf_inv(a: int) -> int:
    assert a != 0
    return EXP[(255 - LOG[a]) % 255]


def gf_pow(a: int, e: int) -> int:
    result = 1  # 0^0 = 1
    for _ in range(e):
        result = gf_mul(result, a)
    return result


def point(i: int) -> int:
    """Evaluation point of shard i: x_0 = 0, x_i = alpha^(i-1)."""
    return 0 if i == 0 else EXP[(i - 1) % 255]


def mat_inv(m: list[list[int]]) -> list[list[int]]:
    """Gauss-Jordan inverse over GF(2^8)."""
    k = len(m)
    a = [row[:] + [int(r == c) for c in range(k)] for r, row in enumerate(m)]
    for c in range(k):
        p = next(r for r in range(c, k) if a[r][c])
        a[c], a[p] = a[p], a[c]
        inv = gf_inv(a[c][c])
        a[c] = [gf_mul(inv, v) for v in a[c]]
        for r in range(k):
            if r != c and a[r][c]:
                f = a[r][c]
                a[r] = [v ^ gf_mul(f, w) for v, w in zip(a[r], a[c], strict=True)]
    return [row[k:] for row in a]


def mat_mul(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    return [
        [
            reduce(lambda acc, t: acc ^ gf_mul(row[t], b[t][j]), range(len(b)), 0)
            for j in range(len(b[0]))
        ]
        for row in a
    ]


class RefCode:
    def __init__(self, k: int, n: int) -> None:
        self.k, self.n = k, n
        v = [[gf_pow(point(i), j) for j in range(k)] for i in range(n)]
        self.matrix = mat_mul(v, mat_inv(v[:k]))

    def encode(self, data: bytes) -> list[bytes]:
        k = self.k
        size = max(1, -(-len(data) // k))
        padded = data + bytes(k * size - len(data))
        blocks = [padded[i * size : (i + 1) * size] for i in range(k)]
        return [
            bytes(
                reduce(lambda acc, i: acc ^ gf_mul(row[i], blocks[i][b]), range(k), 0)
                for b in range(size)
            )
            for row in self.matrix
        ]

    def decode(self, shards: dict[int, bytes], data_len: int) -> bytes:
        idx = sorted(shards)[: self.k]
        inv = mat_inv([self.matrix[i] for i in idx])
        size = len(shards[idx[0]])
        blocks = [
            bytes(
                reduce(lambda acc, t: acc ^ gf_mul(row[t], shards[idx[t]][b]), range(self.k), 0)
                for b in range(size)
            )
            for row in inv
        ]
        return b"".join(blocks)[:data_len]


def lagrange_eval(xs: list[int], ys: list[int], x: int) -> int:
    """Q(x) for the polynomial of degree < len(xs) through (xs[i], ys[i])."""
    total = 0
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = gf_mul(num, x ^ xj)
                den = gf_mul(den, xi ^ xj)
        total ^= gf_mul(yi, gf_mul(num, gf_inv(den)))
    return total


# --- the reference matches zfec ---------------------------------------------


def test_field_tables_match_spec() -> None:
    assert EXP[1:9] == [0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1D]
    assert sorted(EXP) == list(range(1, 256))  # alpha is primitive


@pytest.mark.parametrize(
    ("k", "n", "length"),
    [
        (1, 1, 5),
        (1, 4, 9),
        (2, 3, 0),
        (2, 4, 1),
        (3, 5, 22),
        (3, 8, 100),
        (3, 10, 31),
        (4, 4, 17),
        (5, 7, 64),
        (7, 20, 50),
        (16, 40, 33),
        (30, 256, 61),
        (100, 256, 101),
    ],
)
def test_reference_from_spec_matches_zfec(k: int, n: int, length: int) -> None:
    data = hashlib.shake_256(f"{k}/{n}/{length}".encode()).digest(length) if length else b""
    ref = RefCode(k, n)
    assert all(ref.matrix[i][j] == int(i == j) for i in range(k) for j in range(k))
    shards = encode(data, k, n)
    assert ref.encode(data) == shards
    # the reference decoder rebuilds from the highest k shards (mostly parity)
    last = {i: shards[i] for i in range(n - k, n)}
    assert ref.decode(last, len(data)) == data


@pytest.mark.parametrize(("k", "n"), [(1, 3), (2, 4), (3, 8), (6, 17)])
def test_interpolation_view_matches(k: int, n: int) -> None:
    data = os.urandom(k * 5 - 1)
    shards = encode(data, k, n)
    xs = [point(i) for i in range(k)]
    for b in range(len(shards[0])):
        ys = [shards[i][b] for i in range(k)]
        for j in range(n):
            assert lagrange_eval(xs, ys, point(j)) == shards[j][b]


def test_spec_vectors() -> None:
    shards = encode(b"The wanderer moves on.", 3, 5)
    assert [s.hex() for s in shards] == [
        "5468652077616e64",
        "65726572206d6f76",
        "6573206f6e2e0000",
        "67e2e635a3be1fb1",
        "6bab5a1c7ddb02a7",
    ]
    assert encode(b"\x01", 2, 4) == [b"\x01", b"\x00", b"\x03", b"\x05"]
    assert encode(b"", 2, 3) == [b"\x00", b"\x00", b"\x00"]


# --- round trips ------------------------------------------------------------


@st.composite
def coding_case(draw: st.DrawFn) -> tuple[bytes, int, int, list[int]]:
    n = draw(st.integers(min_value=1, max_value=24))
    k = draw(st.integers(min_value=1, max_value=n))
    data = draw(st.binary(min_size=0, max_size=600))
    count = draw(st.integers(min_value=k, max_value=n))
    subset = draw(st.permutations(range(n)))[:count]
    return data, k, n, subset


@settings(max_examples=300, deadline=None)
@given(coding_case())
@example((b"", 1, 1, [0]))
@example((b"", 3, 8, [7, 6, 5]))
@example((b"\x00", 3, 8, [5, 6, 7]))
@example((b"\xff", 2, 5, [4, 1]))
@example((b"x" * 256, 255, 256, list(range(1, 256))))
def test_any_k_shards_rebuild(case: tuple[bytes, int, int, list[int]]) -> None:
    data, k, n, subset = case
    shards = encode(data, k, n)
    size = shard_size(len(data), k)
    assert len(shards) == n
    assert all(type(s) is bytes and len(s) == size for s in shards)
    assert b"".join(shards[:k])[: len(data)] == data  # systematic
    got = decode({i: shards[i] for i in subset}, k, n, len(data))
    assert got == data


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=64), st.data())
def test_n_256_round_trip(data: bytes, draw: st.DataObject) -> None:
    k = draw.draw(st.integers(min_value=1, max_value=256))
    shards = encode(data, k, 256)
    subset = draw.draw(st.permutations(range(256)))[:k]
    assert decode({i: shards[i] for i in subset}, k, 256, len(data)) == data


def test_extra_shards_ignored_and_lowest_used() -> None:
    data = os.urandom(1000)
    shards = encode(data, 3, 8)
    everything = dict(enumerate(shards))
    assert decode(everything, 3, 8, len(data)) == data
    # a corrupt shard above the k lowest indices is not used
    everything[7] = bytes(len(shards[7]))
    assert decode(everything, 3, 8, len(data)) == data


def test_decode_accepts_buffers_and_does_not_mutate_input() -> None:
    data = os.urandom(301)
    shards = encode(memoryview(data), 4, 9)
    given_shards: dict[int, erasure.BytesLike] = {
        8: bytearray(shards[8]),
        2: memoryview(shards[2]),
        6: shards[6],
        5: shards[5],
    }
    before = dict(given_shards)
    assert decode(given_shards, 4, 9, len(data)) == data
    assert list(given_shards) == list(before)
    assert all(given_shards[i] is before[i] for i in given_shards)


def test_encode_is_deterministic_and_primary_blocks_are_data() -> None:
    data = bytes(range(256)) * 3
    assert encode(data, 5, 9) == encode(bytearray(data), 5, 9)
    shards = encode(data, 4, 6)
    assert b"".join(shards[:4]) == data  # 768 = 4 * 192, no padding


# --- shard_size and hashes ---------------------------------------------------


@pytest.mark.parametrize(
    ("length", "k", "size"),
    [(0, 1, 1), (0, 3, 1), (1, 3, 1), (3, 3, 1), (4, 3, 2), (22, 3, 8), (10, 10, 1), (11, 10, 2)],
)
def test_shard_size(length: int, k: int, size: int) -> None:
    assert shard_size(length, k) == size


def test_shard_hash_is_plain_sha256() -> None:
    shard = os.urandom(77)
    assert shard_hash(shard) == hashlib.sha256(shard).digest()
    assert shard_hash(memoryview(shard)) == hashlib.sha256(shard).digest()


# --- errors -------------------------------------------------------------------


def test_too_few_shards_message() -> None:
    data = os.urandom(90)
    shards = encode(data, 3, 8)
    with pytest.raises(CodingError) as info:
        decode({1: shards[1], 6: shards[6]}, 3, 8, len(data))
    assert str(info.value) == "cannot rebuild: 2 of the 3 needed shards found (n=8)"
    with pytest.raises(CodingError, match="0 of the 1 needed"):
        decode({}, 1, 1, 0)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (2, 1), (1, 257), (0, 0), (257, 257), (-1, 3)])
def test_bad_parameters(k: int, n: int) -> None:
    with pytest.raises(CodingError):
        encode(b"abc", k, n)
    with pytest.raises(CodingError):
        decode({0: b"a"}, k, n, 1)


def test_bad_shards() -> None:
    data = os.urandom(30)
    shards = encode(data, 3, 5)
    good = {0: shards[0], 3: shards[3], 4: shards[4]}
    with pytest.raises(CodingError, match="out of range"):
        decode({**good, 5: shards[4]}, 3, 5, len(data))
    with pytest.raises(CodingError, match="out of range"):
        decode({**good, -1: shards[4]}, 3, 5, len(data))
    with pytest.raises(CodingError, match="expected 10"):
        decode({**good, 3: shards[3][:-1]}, 3, 5, len(data))
    with pytest.raises(CodingError, match="expected"):
        decode(good, 3, 5, len(data) + 1)  # shard size would be 11
    with pytest.raises(CodingError, match="non-negative"):
        decode(good, 3, 5, -1)
    with pytest.raises(CodingError, match="must be bytes"):
        encode("text", 3, 5)  # type: ignore[arg-type]


def test_inconsistent_shards_or_length_detected_by_padding() -> None:
    data = b"\x07" * 29  # S = 10 at k=3: one byte of padding
    shards = encode(data, 3, 5)
    # claiming 28 bytes keeps S = 10 but a data byte now sits in the "padding"
    with pytest.raises(CodingError, match="padding"):
        decode(dict(enumerate(shards)), 3, 5, 28)
    assert decode(dict(enumerate(shards)), 3, 5, 29) == data
    # shards from another encoding mixed in
    other = encode(b"\x09" * 29, 3, 5)
    with pytest.raises(CodingError, match="padding"):
        decode({0: shards[0], 3: shards[3], 4: other[4]}, 3, 5, 29)


def test_module_limits() -> None:
    assert erasure.MAX_SHARDS == 256
    assert issubclass(CodingError, ValueError)
