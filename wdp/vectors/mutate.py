"""Encoded values changed on purpose: flipped bits, re-signed bodies, raw protobuf fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.framing import decode_uvarint, encode_uvarint
from wdp.core.objects import Signed
from wdp.core.signing import Signer


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def resign(signed: Signed[Any], signer: Signer, **changes: Any) -> Signed[Any]:
    return Signed.create(dataclasses.replace(signed.value, **changes), signer)


def pb_field(number: int, value: int | bytes) -> bytes:
    """One raw protobuf field: a varint for an int, length-delimited for bytes."""
    if isinstance(value, int):
        return encode_uvarint(number << 3) + encode_uvarint(value)
    return encode_uvarint(number << 3 | 2) + encode_uvarint(len(value)) + value


def drop_field(body: bytes, number: int) -> bytes:
    """An encoded message without every occurrence of field ``number`` (varint or LEN only)."""
    out, i = bytearray(), 0
    while i < len(body):
        head = decode_uvarint(body, i)
        assert head is not None
        key, j = head
        if key & 7 == 0:
            value = decode_uvarint(body, j)
            assert value is not None
            end = value[1]
        else:
            assert key & 7 == 2, "only varint and length-delimited fields"
            length = decode_uvarint(body, j)
            assert length is not None
            end = length[1] + length[0]
        if key >> 3 != number:
            out += body[i:end]
        i = end
    return bytes(out)


def retyped(body: bytes, number: int, value: int | bytes) -> bytes:
    """``body`` with field ``number`` replaced by ``value`` in the other wire type, appended."""
    return drop_field(body, number) + pb_field(number, value)
