"""Merkle trees over a shard's bytes: the root a manifest commits to, and one-leaf proofs.

A possession audit asks a carrier for one leaf of a shard and the hashes that
link it to the root the owner signed, so a carrier that no longer has the
bytes cannot answer (a receipt is a promise; an answered challenge is proof).
The tree is RFC 6962's (Certificate Transparency) Merkle Tree Hash over the
shard cut into ``LEAF_SIZE``-byte leaves (the last one may be shorter):

* leaf hash ``SHA-256(0x00 || leaf)``, interior hash
  ``SHA-256(0x01 || left || right)``;
* a tree of n > 1 leaves splits at k, the largest power of two below n: the
  left subtree holds leaves ``[0, k)``, the right ``[k, n)``;
* the audit path of leaf m lists the sibling subtree hashes from the leaf's
  level up to the root.

A shard of s bytes has ``ceil(s / LEAF_SIZE)`` leaves and a path of at most
``ceil(log2(leaves))`` hashes: 17 hashes (544 bytes) for a 128 MiB shard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["LEAF_SIZE", "audit_path", "leaf_count", "leaf_of", "merkle_root", "path_root"]

LEAF_SIZE = 1024
"""Bytes per leaf; normative (protocols/README.md)."""

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_count(size: int) -> int:
    """Leaves of a shard of ``size`` bytes (at least one)."""
    if size < 1:
        raise ValueError("a shard has at least one byte")
    return -(-size // LEAF_SIZE)


def leaf_of(shard: bytes, index: int) -> bytes:
    """Leaf ``index`` of ``shard``."""
    if not 0 <= index < leaf_count(len(shard)):
        raise ValueError(f"leaf {index} is outside the shard")
    return shard[index * LEAF_SIZE : (index + 1) * LEAF_SIZE]


def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(_LEAF + leaf).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _hashes(shard: bytes) -> list[bytes]:
    # A copy of a hash object already fed the prefix, then the leaf's bytes through a
    # memoryview: no concatenated copy of each leaf (this runs once per KiB received).
    view, prefixed = memoryview(shard), hashlib.sha256(_LEAF)
    out = []
    for start in range(0, leaf_count(len(shard)) * LEAF_SIZE, LEAF_SIZE):
        h = prefixed.copy()
        h.update(view[start : start + LEAF_SIZE])
        out.append(h.digest())
    return out


def _root(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(_root(leaves[:k]), _root(leaves[k:]))


def merkle_root(shard: bytes) -> bytes:
    """The Merkle Tree Hash of ``shard`` (what a v2 manifest lists per shard).

    Computed level by level: pair neighbours, carry an odd last node up
    unchanged. That is the same tree as RFC 6962's split at the largest power
    of two (its left subtrees are always complete), without the recursion and
    list slicing of :func:`_root`.
    """
    level, prefixed = _hashes(shard), hashlib.sha256(_NODE)
    while len(level) > 1:
        pairs = []
        for i in range(0, len(level) - 1, 2):
            h = prefixed.copy()
            h.update(level[i])
            h.update(level[i + 1])
            pairs.append(h.digest())
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _root(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _root(leaves[:k])]


def audit_path(shard: bytes, index: int) -> list[bytes]:
    """The sibling hashes that link leaf ``index`` to the root, leaf level first."""
    leaves = _hashes(shard)
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is outside the shard")
    return _path(index, leaves)


def path_root(size: int, index: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that ``leaf`` at ``index`` and ``path`` lead to, in a shard of ``size`` bytes.

    None if the leaf has the wrong length for its place or the path the wrong
    number of hashes. The caller compares the result with the signed root.
    """
    n = leaf_count(size)
    if not 0 <= index < n:
        return None
    expected = LEAF_SIZE if index < n - 1 else size - (n - 1) * LEAF_SIZE
    if len(leaf) != expected:
        return None
    # Walk down to the leaf recording which side each sibling is on, then back up.
    sides: list[bool] = []  # True: the sibling is on the right
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            sides.append(True)
            hi = lo + k
        else:
            sides.append(False)
            lo = lo + k
    if len(path) != len(sides):
        return None
    node = _leaf_hash(leaf)
    for sibling, right in zip(path, reversed(sides), strict=True):
        if len(sibling) != 32:
            return None
        node = _node_hash(node, sibling) if right else _node_hash(sibling, node)
    return node
