"""k-of-n erasure coding of a wanderer's ciphertext.

Normative description: protocols/coding-and-crypto.md, section "Erasure code".

The code is zfec's systematic Reed-Solomon code over GF(2^8): the data is
zero-padded to k * shard_size bytes and cut into k primary shards (shards
0..k-1, the data itself); shards k..n-1 are parity. Any k distinct shards
rebuild the data. Pure functions, no I/O, deterministic.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

import zfec

from .errors import WdpError

BytesLike = bytes | bytearray | memoryview

MAX_SHARDS = 256  # n <= 256: zfec's limit, and GF(2^8) has 256 evaluation points


class CodingError(WdpError, ValueError):
    """Parameters or shards that cannot be encoded or decoded.

    Still a ValueError: the owner turns any ValueError from making a wanderer
    into an OwnerError.
    """


def _check_params(k: int, n: int) -> None:
    for name, value in (("k", k), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodingError(f"{name} must be an int, got {type(value).__name__}")
    if not 1 <= k <= n <= MAX_SHARDS:
        raise CodingError(f"need 1 <= k <= n <= {MAX_SHARDS}, got k={k}, n={n}")


def _byte_view(value: BytesLike, what: str) -> memoryview:
    """A flat unsigned-byte view of ``value`` (no copy)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CodingError(f"{what} must be bytes, got {type(value).__name__}")
    view = memoryview(value)
    if not view.c_contiguous:
        raise CodingError(f"{what} must be a contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def shard_size(data_len: int, k: int) -> int:
    """Bytes in every shard: ceil(data_len / k), and at least 1."""
    if isinstance(data_len, bool) or not isinstance(data_len, int) or data_len < 0:
        raise CodingError(f"data length must be a non-negative int, got {data_len!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SHARDS:
        raise CodingError(f"k must be an int in 1..{MAX_SHARDS}, got {k!r}")
    return max(1, -(-data_len // k))


@functools.lru_cache(maxsize=32)
def _encoder(k: int, n: int) -> Any:
    return zfec.Encoder(k, n)


@functools.lru_cache(maxsize=32)
def _decoder(k: int, n: int) -> Any:
    return zfec.Decoder(k, n)


def encode(data: BytesLike, k: int, n: int) -> list[bytes]:
    """All n shards of ``data``, each shard_size(len(data), k) bytes, in index order.

    Shards 0..k-1 are the zero-padded data cut into k equal blocks (the code
    is systematic); shards k..n-1 are parity.
    """
    _check_params(k, n)
    view = _byte_view(data, "data")
    size = shard_size(view.nbytes, k)
    blocks: list[bytes] = []
    for i in range(k):
        block = bytes(view[i * size : (i + 1) * size])
        if len(block) < size:
            block += bytes(size - len(block))
        blocks.append(block)
    if n == k:
        return blocks
    try:
        parity = _encoder(k, n).encode(blocks, list(range(k, n)))
    except zfec.Error as exc:  # pragma: no cover - inputs are validated above
        raise CodingError(f"zfec refused to encode: {exc}") from None
    return blocks + [bytes(p) for p in parity]


def decode(shards: Mapping[int, BytesLike], k: int, n: int, data_len: int) -> bytes:
    """Rebuild the ``data_len`` bytes of data from any k distinct shards.

    ``shards`` maps shard index -> shard bytes. Every shard given must have an
    index in 0..n-1 and exactly shard_size(data_len, k) bytes. If more than k
    are given, the k lowest indices are used (the result does not depend on
    the choice when the shards are consistent). Raises CodingError with fewer
    than k shards, and if the rebuilt padding is not all zero (the shards do
    not belong together, or ``data_len`` is wrong).
    """
    _check_params(k, n)
    size = shard_size(data_len, k)
    views: dict[int, memoryview] = {}
    for index, shard in shards.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise CodingError(f"shard index must be an int, got {type(index).__name__}")
        if not 0 <= index < n:
            raise CodingError(f"shard index {index} out of range 0..{n - 1}")
        view = _byte_view(shard, f"shard {index}")
        if view.nbytes != size:
            raise CodingError(
                f"shard {index} is {view.nbytes} bytes; expected {size} "
                f"(data_len={data_len}, k={k})"
            )
        views[index] = view
    if len(views) < k:
        raise CodingError(f"cannot rebuild: {len(views)} of the {k} needed shards found (n={n})")
    chosen = sorted(views)[:k]
    primary: list[Any]
    if chosen == list(range(k)):
        primary = [views[i] for i in chosen]
    else:
        # zfec's Decoder.decode reorders the sequences it is given in place:
        # hand it fresh lists. It returns the k primary blocks in order.
        try:
            primary = list(_decoder(k, n).decode([views[i] for i in chosen], list(chosen)))
        except zfec.Error as exc:  # pragma: no cover - inputs are validated above
            raise CodingError(f"zfec refused to decode: {exc}") from None
    joined = b"".join(primary)
    if any(joined[data_len:]):
        raise CodingError(
            "rebuilt padding is not zero: the shards do not belong together "
            f"or data_len={data_len} is wrong"
        )
    return joined if len(joined) == data_len else joined[:data_len]


def shard_hash(shard: BytesLike) -> bytes:
    """SHA-256 of the shard bytes (plain, no domain prefix: a content address)."""
    return hashlib.sha256(_byte_view(shard, "shard")).digest()
