"""messages.json: migrate messages, varints, frame prefixes, invalid and equivalent frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wdp.core.errors import MIGRATE_REJECT_CODES, ProtocolError, RejectCode
from wdp.core.framing import FrameDecoder, encode_uvarint
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.messages import (
    Accept,
    Data,
    Done,
    Message,
    Receipt,
    Reject,
    decode_message,
    encode_message,
)
from wdp.core.proto import wdp_pb2 as pb
from wdp.vectors.frames import decode_frame, frame_of, payload_len
from wdp.vectors.mutate import drop_field, pb_field, retyped
from wdp.vectors.render import message_kind, render, spell
from wdp.vectors.scenario import Scenario

VARINTS = (
    0,
    1,
    127,
    128,
    255,
    300,
    16383,
    16384,
    2097151,
    2097152,
    MAX_FRAME_SIZE,
    MAX_FRAME_SIZE + 1,
    2**32,
    2**63,
    2**64 - 1,
)


def _frame_prefix_cases() -> list[dict[str, Any]]:
    bad: list[tuple[str, bytes, str]] = [
        ("non_minimal_zero", b"\x80\x00", "MALFORMED"),
        ("non_minimal_one", b"\x81\x00", "MALFORMED"),
        ("non_minimal_long", b"\xff\x80\x80\x00", "MALFORMED"),
        ("eleven_bytes", b"\xff" * 10 + b"\x01", "MALFORMED"),
        ("ten_bytes_above_64_bits", b"\xff" * 9 + b"\x02", "MALFORMED"),
        ("length_max_frame_plus_one", encode_uvarint(MAX_FRAME_SIZE + 1), "TOO_LARGE"),
        ("length_2_pow_64_minus_1", encode_uvarint(2**64 - 1), "TOO_LARGE"),
        ("incomplete_prefix", b"\x80", "incomplete"),
        ("incomplete_nine_continuation_bytes", b"\xff" * 9, "incomplete"),
        ("length_max_frame_waits_for_payload", encode_uvarint(MAX_FRAME_SIZE), "incomplete"),
    ]
    cases: list[dict[str, Any]] = []
    for name, data, intended in bad:
        try:
            frames = FrameDecoder(MAX_FRAME_SIZE).feed(data)
            got = "incomplete" if not frames else "frame"
        except ProtocolError as exc:
            got = exc.code.name
        if got != intended:
            raise AssertionError(f"framing case {name}: core says {got}, intended {intended}")
        cases.append(
            {"name": f"prefix_{name}", "kind": "frame_prefix", "bytes": data.hex(), "expect": got}
        )
    return cases


def _invalid_message_cases(scenario: Scenario) -> list[dict[str, Any]]:
    def raw(build: Callable[[pb.MigrateMessage], None]) -> bytes:
        m = pb.MigrateMessage()
        build(m)
        return m.SerializeToString(deterministic=True)

    def set_reject(code: int) -> Callable[[pb.MigrateMessage], None]:
        def build(m: pb.MigrateMessage) -> None:
            m.reject.code = code  # type: ignore[assignment]

        return build

    def empty_data(m: pb.MigrateMessage) -> None:
        m.data.offset = 0
        m.data.chunk = b""

    def short_accept(m: pb.MigrateMessage) -> None:
        m.accept.record_hash = bytes(31)

    def offer_bad_secret(m: pb.MigrateMessage) -> None:
        m.offer.CopyFrom(pb.MigrateMessage.FromString(encode_message(scenario.offers[0])).offer)
        m.offer.locator_secret = bytes(31)

    def empty_receipt(m: pb.MigrateMessage) -> None:
        m.receipt.SetInParent()

    def long_detail(m: pb.MigrateMessage) -> None:
        m.reject.code = RejectCode.BUSY  # type: ignore[assignment]
        m.reject.detail = "x" * 257

    offer0 = pb.MigrateMessage.FromString(encode_message(scenario.offers[0])).offer
    manifest0 = scenario.offers[0].manifest
    t0 = scenario.transcripts[0]
    assert t0.link is not None
    receipt0 = t0.link.receipt
    accept = encode_message(Accept(scenario.offers[0].record.hash))
    # The hop-0 offer whose Signed manifest carries its signature as a varint (wire type 0).
    manifest_sig_varint = pb_field(1, manifest0.body) + pb_field(2, 1)
    offer_body = drop_field(offer0.SerializeToString(deterministic=True), 1)
    offer_sig_varint = pb_field(1, pb_field(1, manifest_sig_varint) + offer_body)
    # A Receipt message whose receipt body says version 1 length-delimited.
    receipt_body = retyped(receipt0.body, 1, b"\x01")
    receipt_version_bytes = pb_field(
        5, pb_field(1, pb_field(1, receipt_body) + pb_field(2, receipt0.signature))
    )
    bad = [
        ("no_kind", b"", "MALFORMED"),
        ("only_unknown_fields", pb_field(7, 1) + pb_field(9, b"x"), "MALFORMED"),
        ("not_protobuf", b"\xff\xff\xff", "MALFORMED"),
        # Section 1: a known field with the wrong wire type fails the parse, at any depth.
        ("accept_as_varint", pb_field(2, 1), "MALFORMED"),
        ("accept_then_done_as_varint", accept + pb_field(6, 1), "MALFORMED"),
        ("reject_detail_as_varint", pb_field(3, pb_field(1, 15) + pb_field(2, 1)), "MALFORMED"),
        (
            "data_offset_as_bytes",
            pb_field(4, pb_field(1, b"\x00") + pb_field(2, b"x")),
            "MALFORMED",
        ),
        ("offer_manifest_signature_as_varint", offer_sig_varint, "MALFORMED"),
        ("receipt_body_version_as_bytes", receipt_version_bytes, "BAD_RECEIPT"),
        ("reject_unknown_code_0", raw(set_reject(0)), "MALFORMED"),
        ("reject_unknown_code_19", raw(set_reject(19)), "MALFORMED"),
        ("reject_detail_257_bytes", raw(long_detail), "TOO_LARGE"),
        ("data_empty_chunk", raw(empty_data), "MALFORMED"),
        ("accept_hash_31_bytes", raw(short_accept), "MALFORMED"),
        ("offer_locator_secret_31_bytes", raw(offer_bad_secret), "MALFORMED"),
        ("receipt_without_receipt", raw(empty_receipt), "BAD_RECEIPT"),
        ("reject_detail_invalid_utf8", bytes.fromhex("1a05080f1201ff"), "MALFORMED"),
    ]
    cases = []
    for name, payload, intended in bad:
        frame = encode_uvarint(len(payload)) + payload
        try:
            decode_frame(frame)
            got = "ok"
        except ProtocolError as exc:
            got = exc.code.name
        if got != intended:
            raise AssertionError(f"message case {name}: core says {got}, intended {intended}")
        cases.append(
            {
                "name": f"invalid_{name}",
                "kind": "invalid_message",
                "frame": frame.hex(),
                "expect": got,
            }
        )
    return cases


def _equivalent_message_cases(scenario: Scenario) -> list[dict[str, Any]]:
    """Frames that are not the canonical encoding of a message but decode to one (section 1)."""
    record_hash = scenario.offers[0].record.hash
    accept = Accept(record_hash)
    done = Done(record_hash)
    busy = Reject(RejectCode.BUSY, "")
    enc = encode_message
    odd: list[tuple[str, bytes, Message]] = [
        ("last_kind_wins_accept_then_done", enc(accept) + enc(done), done),
        ("last_kind_wins_done_then_accept", enc(done) + enc(accept), accept),
        ("last_kind_wins_offer_then_reject", enc(scenario.offers[0]) + enc(busy), busy),
        (
            "same_kind_twice_merges",
            pb_field(4, pb_field(1, 300)) + pb_field(4, pb_field(2, b"\x01\x02\x03")),
            Data(300, b"\x01\x02\x03"),
        ),
        (
            "unknown_fields_ignored",
            pb_field(6, pb_field(1, record_hash) + pb_field(9, 7)) + pb_field(7, 1),
            done,
        ),
    ]
    cases = []
    for name, payload, intended in odd:
        if decode_message(payload) != intended:
            raise AssertionError(f"message case {name} does not decode as intended")
        cases.append(
            {
                "name": name,
                "kind": "equivalent_message",
                "message": message_kind(intended),
                "frame": (encode_uvarint(len(payload)) + payload).hex(),
                "equivalent_frame": frame_of(intended).hex(),
            }
        )
    return cases


def _message_cases(scenario: Scenario) -> list[dict[str, Any]]:
    """Every message kind and every migrate reject code, each checked to round-trip."""
    t1 = scenario.transcripts[1]
    assert t1.link is not None
    record_hash = t1.link.record.hash
    msgs: list[tuple[str, Message]] = [
        ("offer_hop1_ttl_with_chain", scenario.offers[1]),
        ("accept", Accept(record_hash)),
        ("reject_empty_detail", Reject(RejectCode.MALFORMED, "")),
    ]
    msgs += [
        (f"reject_{code.name.lower()}", Reject(code, f"example detail for {code.name}"))
        for code in sorted(MIGRATE_REJECT_CODES)
    ]
    shard = scenario.wanderer.shards[0]
    msgs += [
        ("data_offset_0", Data(0, shard)),
        ("data_offset_300", Data(300, b"\x00\x01\x02")),
        ("receipt", Receipt(t1.link.receipt)),
        ("done", Done(record_hash)),
    ]
    cases: list[dict[str, Any]] = []
    for name, msg in msgs:
        frame = frame_of(msg)
        if decode_frame(frame) != msg:
            raise AssertionError(f"message {name} does not round-trip")
        cases.append(
            {
                "name": name,
                "kind": "message",
                "message": message_kind(msg),
                "frame": frame.hex(),
                "payload_length": payload_len(frame),
                "fields": spell(msg),
            }
        )
    return cases


def _varint_cases() -> list[dict[str, Any]]:
    return [
        {
            "name": f"varint_{value}",
            "kind": "varint",
            "value": value,
            "bytes": encode_uvarint(value).hex(),
        }
        for value in VARINTS
    ]


def messages_file(scenario: Scenario) -> str:
    cases = [
        *_message_cases(scenario),
        *_varint_cases(),
        *_frame_prefix_cases(),
        *_invalid_message_cases(scenario),
        *_equivalent_message_cases(scenario),
    ]
    return render(
        "Messages of /wdp/migrate/1.0. kind message: frame = uvarint(payload_length) || "
        "MigrateMessage payload; message names the oneof member (offer, accept, reject, data, "
        "receipt, done); fields spells it out (signed bodies as body/signature/hash/fields). "
        "kind varint: LEB128 unsigned varint. kind frame_prefix: bytes at the start of a "
        "stream and the decoder's verdict: a reject code name, or 'incomplete' (wait for more "
        "bytes); MAX_FRAME_SIZE = 1114112 bytes of payload. kind invalid_message: a whole "
        "frame the receiver must refuse with the reject code in expect (a known field with "
        "the wrong wire type, at any depth, fails the parse: README section 1). kind "
        "equivalent_message: a frame that is not the canonical encoding of a message but "
        "decodes to the same message as equivalent_frame, by the protobuf rules of README "
        "section 1 (of several oneof members the last one wins, a repeated message field "
        "merges, unknown fields are ignored).",
        cases,
    )
