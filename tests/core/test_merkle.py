"""The shard Merkle tree (RFC 6962's tree hash over 1 KiB leaves) and its audit paths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core import merkle
from wdp.core.merkle import LEAF_SIZE, audit_path, leaf_count, leaf_of, merkle_root, path_root

# RFC 6962's reference inputs and roots (certificate-transparency's merkle tree tests).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_tree_is_rfc_6962s() -> None:
    hashes = [merkle._leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES]
    for n, root in enumerate(CT_ROOTS, start=1):
        assert merkle._root(hashes[:n]).hex() == root


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=70 * LEAF_SIZE), st.integers(0, 255))
def test_the_level_by_level_root_is_the_split_trees(size: int, fill: int) -> None:
    shard = bytes([fill]) * (size - 1) + b"\x01"
    assert merkle_root(shard) == merkle._root(merkle._hashes(shard))


def test_leaves_are_1_kib_and_the_last_is_shorter() -> None:
    shard = bytes(range(256)) * 9 + b"tail"  # 2308 bytes: 3 leaves
    assert leaf_count(len(shard)) == 3
    assert leaf_of(shard, 0) == shard[:LEAF_SIZE] and leaf_of(shard, 2) == shard[2048:]
    assert leaf_count(1) == 1 and leaf_count(LEAF_SIZE) == 1 and leaf_count(LEAF_SIZE + 1) == 2
    with pytest.raises(ValueError):
        leaf_count(0)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=9 * LEAF_SIZE + 7), st.data())
def test_every_leaf_proves_its_place_and_a_tampered_one_does_not(shard: bytes, data) -> None:  # type: ignore[no-untyped-def]
    root = merkle_root(shard)
    n = leaf_count(len(shard))
    i = data.draw(st.integers(0, n - 1))
    leaf, path = leaf_of(shard, i), audit_path(shard, i)
    assert path_root(len(shard), i, leaf, path) == root
    assert len(path) <= max(0, (n - 1).bit_length())
    flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
    assert path_root(len(shard), i, flipped, path) != root
    if path:
        bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert path_root(len(shard), i, leaf, bad) != root
        assert path_root(len(shard), i, leaf, path[:-1]) is None  # one hash short
    assert path_root(len(shard), i, leaf + b"x", path) is None  # a leaf of the wrong length
    assert path_root(len(shard), n, leaf, path) is None  # outside the shard


def test_a_128_mib_shard_needs_17_hashes() -> None:
    size = 128 << 20
    assert leaf_count(size) == 131072
    assert (leaf_count(size) - 1).bit_length() == 17
