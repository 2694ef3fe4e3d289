"""Spec section 1: a known field with the wrong wire type fails the parse, at any depth.

upb keeps such a field as an unknown field; the core must refuse it with the
parse-failure code of the place where it is parsed, while unknown field
numbers (a later version's fields) stay accepted.
"""

from __future__ import annotations

import pytest

from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.framing import encode_uvarint
from wdp.core.messages import decode_message
from wdp.core.objects import CustodyRecord, HolderInfo, Locator, Manifest, Reason, misplaced_field
from wdp.core.proto import wdp_pb2 as pb

KEY = bytes(range(32))


def varint_field(number: int, value: int) -> bytes:
    return encode_uvarint(number << 3) + encode_uvarint(value)


def bytes_field(number: int, value: bytes) -> bytes:
    return encode_uvarint(number << 3 | 2) + encode_uvarint(len(value)) + value


def record_body(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "wanderer_id": KEY,
        "shard_index": 0,
        "generation": 0,
        "hop": 0,
        "from_peer": KEY,
        "to_peer": bytes(32),
        "shard_hash": KEY,
        "manifest_hash": KEY,
        "locator_key": KEY,
        "reason": Reason.GENESIS,
        "time_ms": 5,
    }
    fields.update(changes)
    return CustodyRecord(**fields).encode()  # type: ignore[arg-type]


def test_a_well_formed_body_has_no_misplaced_field():
    assert misplaced_field(pb.CustodyRecordBody.FromString(record_body())) is None
    assert CustodyRecord.decode(record_body()).time_ms == 5


def test_unknown_field_numbers_of_any_type_are_still_accepted():
    body = record_body() + varint_field(99, 7) + bytes_field(100, b"later")
    assert CustodyRecord.decode(body).time_ms == 5


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        (bytes_field(12, b"\x05"), "time_ms as bytes"),
        (bytes_field(1, b"\x01"), "version as bytes"),
        (varint_field(2, 1), "wanderer_id as a varint"),
        (varint_field(11, 1) + bytes_field(11, b"\x01"), "reason both ways"),
    ],
)
def test_a_record_with_a_retyped_field_is_malformed(extra: bytes, what: str):
    with pytest.raises(ProtocolError) as exc:
        CustodyRecord.decode(record_body() + extra)
    assert exc.value.code is RejectCode.MALFORMED, what
    assert "wire type" in exc.value.detail


def test_each_object_refuses_with_its_own_invalid_code():
    with pytest.raises(ProtocolError) as exc:
        Manifest.decode(varint_field(1, 1) + varint_field(3, 5))
    assert exc.value.code is RejectCode.BAD_MANIFEST
    with pytest.raises(ProtocolError) as exc:
        Locator.decode(varint_field(1, 1) + varint_field(5, 48))
    assert exc.value.code is RejectCode.MALFORMED
    with pytest.raises(ProtocolError) as exc:
        HolderInfo.decode(bytes_field(1, KEY) + varint_field(2, 1) + bytes_field(3, KEY))
    assert exc.value.code is RejectCode.MALFORMED


def test_a_retyped_field_deep_inside_a_frame_is_malformed():
    # MigrateMessage.offer (1) -> Offer.chain (2) -> CustodyLink.receipt (2) -> Signed.body as
    # a varint: three messages down.
    link = bytes_field(2, varint_field(1, 9))
    offer = bytes_field(1, bytes_field(1, b"m") + bytes_field(2, b"s")) + bytes_field(2, link)
    with pytest.raises(ProtocolError) as exc:
        decode_message(bytes_field(1, offer))
    assert exc.value.code is RejectCode.MALFORMED
    assert "wdp.v1.Signed.body" in exc.value.detail
