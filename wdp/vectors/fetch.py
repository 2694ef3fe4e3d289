"""fetch.json: the owner's /wdp/fetch/1.0: requests, checks, transcripts, messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from wdp.core.effects import ShardKey
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.fetch import (
    FetchMessage,
    FetchRequest,
    Header,
    Request,
    encode_fetch_message,
    make_fetch_request,
)
from wdp.core.framing import encode_uvarint
from wdp.core.limits import FETCH_NONCE_SIZE
from wdp.core.locator import MAX_CLOCK_SKEW_MS
from wdp.core.messages import Data, Done, Reject
from wdp.core.objects import Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import DOMAIN_FETCH, Signer, sha256
from wdp.vectors.common import OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.frames import decode_fetch_frame, fetch_frame
from wdp.vectors.mutate import flip_bit, pb_field, retyped
from wdp.vectors.render import message_kind, render, spell
from wdp.vectors.runs import run_fetch, split_fetch_data
from wdp.vectors.scenario import CHAIN_NODES, OUTSIDER, Scenario

FETCH_NOW_MS = T0_MS + 60_000  # a minute after the chain scenario: node 4 carries shard 0
FETCH_CARRIER = CHAIN_NODES[-1]  # the current carrier of shard 0
FETCH_PAST_CARRIER = CHAIN_NODES[-2]  # carried shard 0 before, holds nothing now


def _raw_request_frame(body: bytes, signature: bytes) -> bytes:
    payload = pb.FetchMessage(request=pb.Signed(body=body, signature=signature)).SerializeToString(
        deterministic=True
    )
    return encode_uvarint(len(payload)) + payload


def fetch_file(scenario: Scenario) -> str:
    w = scenario.wanderer
    wid = w.manifest.value.wanderer_id
    node = FETCH_CARRIER
    carrier_key = scenario.carriers[node].peer
    past_key = scenario.carriers[FETCH_PAST_CARRIER].peer
    outsider = Signer(seed(OUTSIDER))
    now = FETCH_NOW_MS
    skew = MAX_CLOCK_SKEW_MS

    def nonce(label: str) -> bytes:
        return label_seed(f"wdp/vectors/fetch-nonce/{label}")[:FETCH_NONCE_SIZE]

    def request(
        label: str, *, time_ms: int = now, index: int = 0, to: bytes = carrier_key
    ) -> Signed[FetchRequest]:
        return make_fetch_request(OWNER_SEED, wid, index, now_s(time_ms), nonce(label), carrier=to)

    cases: list[dict[str, Any]] = []
    held = scenario.carriers[node].held[ShardKey(wid, 0)]
    carriers = {
        f"carrier_node{node}": (node, held.manifest.to_bytes(), held.last.record.to_bytes()),
        f"carrier_node{FETCH_PAST_CARRIER}": (FETCH_PAST_CARRIER, None, None),
    }
    if scenario.carriers[FETCH_PAST_CARRIER].held:
        raise AssertionError("the past carrier still holds a shard")
    for name, (i, manifest, record) in carriers.items():
        cases.append(
            {
                "name": name,
                "kind": "carrier",
                "seed": seed(i).hex(),
                "peer": Signer(seed(i)).public_key.hex(),
                "manifest": None if manifest is None else manifest.hex(),
                "record": None if record is None else record.hex(),
                "shard": None if manifest is None else w.shards[0].hex(),
            }
        )

    # kind request: valid requests, spelled out.
    valid = request("valid")
    for name, req in (
        ("request_shard0_to_node4", valid),
        ("request_shard2_to_node1", request("shard2", index=2, to=scenario.carriers[1].peer)),
    ):
        cases.append(
            {
                "name": name,
                "kind": "request",
                "owner_seed": OWNER_SEED.hex(),
                "domain": DOMAIN_FETCH.decode(),
                "signed": req.to_bytes().hex(),
                "frame": fetch_frame(Request(req)).hex(),
                **spell(req),
            }
        )

    # kind check: the carrier's answer to one request frame.
    version_2 = dataclasses.replace(request("v2").value, version=2).encode()
    short_nonce = dataclasses.replace(request("n15").value, nonce=bytes(15)).encode()
    padded = request("big").body + b"\xa2\x06\xd0\x01" + bytes(208)  # field 100: body > 256
    owner = Signer(OWNER_SEED)

    def owner_signed(body: bytes) -> bytes:
        return _raw_request_frame(body, owner.sign(DOMAIN_FETCH, body))

    def frame_of_req(req: Signed[FetchRequest]) -> bytes:
        return fetch_frame(Request(req))

    replayed = request("replayed")
    replayed_past = request("replayed-past", to=past_key)
    at_window_end = request("window-end", time_ms=now - skew)
    after_window = request("after-window", time_ms=now - skew)
    version_bytes = retyped(request("version-bytes").body, 1, b"\x01")

    def one_payload(*msgs: FetchMessage) -> bytes:
        payload = b"".join(encode_fetch_message(m) for m in msgs)
        return encode_uvarint(len(payload)) + payload

    checks: list[tuple[str, str, bytes, Sequence[tuple[bytes, int]], str]] = [
        ("valid", f"carrier_node{node}", frame_of_req(valid), (), "serve"),
        (
            "valid_owner_clock_5_min_behind",
            f"carrier_node{node}",
            frame_of_req(request("behind", time_ms=now - skew)),
            (),
            "serve",
        ),
        (
            "valid_owner_clock_5_min_ahead",
            f"carrier_node{node}",
            frame_of_req(request("ahead", time_ms=now + skew)),
            (),
            "serve",
        ),
        (
            "valid_unknown_field_signed",
            f"carrier_node{node}",
            owner_signed(request("unknown").body + b"\xa2\x06\x03abc"),
            (),
            "serve",
        ),
        (
            "signed_by_non_owner_key",
            f"carrier_node{node}",
            frame_of_req(Signed.create(request("forged").value, outsider)),
            (),
            "UNAUTHORIZED",
        ),
        (
            "non_owner_key_in_body",
            f"carrier_node{node}",
            frame_of_req(
                Signed.create(
                    dataclasses.replace(request("own").value, owner_key=outsider.public_key),
                    outsider,
                )
            ),
            (),
            "UNAUTHORIZED",
        ),
        (
            "carrier_key_in_body",
            f"carrier_node{node}",
            frame_of_req(
                Signed.create(
                    dataclasses.replace(request("carrier").value, owner_key=past_key),
                    Signer(seed(FETCH_PAST_CARRIER)),
                )
            ),
            (),
            "UNAUTHORIZED",
        ),
        (
            "body_bit_flip",
            f"carrier_node{node}",
            _raw_request_frame(flip_bit(valid.body, len(valid.body) - 1), valid.signature),
            (),
            "UNAUTHORIZED",
        ),
        (
            "signature_bit_flip",
            f"carrier_node{node}",
            _raw_request_frame(valid.body, flip_bit(valid.signature, 0)),
            (),
            "UNAUTHORIZED",
        ),
        (
            "addressed_to_another_carrier",
            f"carrier_node{node}",
            frame_of_req(request("elsewhere", to=past_key)),
            (),
            "WRONG_RECIPIENT",
        ),
        (
            "stale_time",
            f"carrier_node{node}",
            frame_of_req(request("stale", time_ms=now - skew - 1)),
            (),
            "STALE_HOP",
        ),
        (
            "future_time",
            f"carrier_node{node}",
            frame_of_req(request("future", time_ms=now + skew + 1)),
            (),
            "STALE_HOP",
        ),
        (
            "replayed_nonce",
            f"carrier_node{node}",
            frame_of_req(replayed),
            ((replayed.value.nonce, replayed.value.time_ms),),
            "STALE_HOP",
        ),
        (
            "not_held_other_shard",
            f"carrier_node{node}",
            frame_of_req(request("shard1", index=1)),
            (),
            "NOT_HELD",
        ),
        (
            "not_held_past_carrier",
            f"carrier_node{FETCH_PAST_CARRIER}",
            frame_of_req(request("past", to=past_key)),
            (),
            "NOT_HELD",
        ),
        (
            "order_stale_and_not_held",
            f"carrier_node{FETCH_PAST_CARRIER}",
            frame_of_req(request("stale-past", time_ms=now - 2 * skew, to=past_key)),
            (),
            "STALE_HOP",
        ),
        (
            "order_non_owner_and_elsewhere",
            f"carrier_node{node}",
            frame_of_req(Signed.create(request("forged-elsewhere", to=past_key).value, outsider)),
            (),
            "UNAUTHORIZED",
        ),
        (
            "order_elsewhere_and_stale",
            f"carrier_node{node}",
            frame_of_req(request("stale-elsewhere", time_ms=now - 2 * skew, to=past_key)),
            (),
            "WRONG_RECIPIENT",
        ),
        (
            "order_replayed_and_not_held",
            f"carrier_node{FETCH_PAST_CARRIER}",
            frame_of_req(replayed_past),
            ((replayed_past.value.nonce, replayed_past.value.time_ms),),
            "STALE_HOP",
        ),
        ("version_2", f"carrier_node{node}", owner_signed(version_2), (), "UNSUPPORTED_VERSION"),
        ("nonce_15_bytes", f"carrier_node{node}", owner_signed(short_nonce), (), "MALFORMED"),
        ("body_over_256_bytes", f"carrier_node{node}", owner_signed(padded), (), "TOO_LARGE"),
        (
            "signature_63_bytes",
            f"carrier_node{node}",
            _raw_request_frame(valid.body, valid.signature[:63]),
            (),
            "MALFORMED",
        ),
        (
            "replayed_nonce_at_window_end",
            f"carrier_node{node}",
            frame_of_req(at_window_end),
            ((at_window_end.value.nonce, at_window_end.value.time_ms),),
            "STALE_HOP",
        ),
        (
            "nonce_forgotten_one_ms_after_window",
            f"carrier_node{node}",
            frame_of_req(after_window),
            ((after_window.value.nonce, after_window.value.time_ms - 1),),
            "serve",
        ),
        (
            "request_version_as_bytes",
            f"carrier_node{node}",
            owner_signed(version_bytes),
            (),
            "MALFORMED",
        ),
        (
            "request_then_data_in_one_payload",
            f"carrier_node{node}",
            one_payload(Request(valid), Data(0, b"\x00")),
            (),
            "PROTOCOL_VIOLATION",
        ),
        (
            "data_then_request_in_one_payload",
            f"carrier_node{node}",
            one_payload(Data(0, b"\x00"), Request(valid)),
            (),
            "serve",
        ),
        (
            "reject_before_request",
            f"carrier_node{node}",
            fetch_frame(Reject(RejectCode.BUSY, "")),
            (),
            "PROTOCOL_VIOLATION",
        ),
        ("empty_message", f"carrier_node{node}", b"\x00", (), "MALFORMED"),
        (
            "data_before_request",
            f"carrier_node{node}",
            fetch_frame(Data(0, b"\x00")),
            (),
            "PROTOCOL_VIOLATION",
        ),
    ]
    for name, carrier_name, frame, seen, intended in checks:
        server_node = carriers[carrier_name][0]
        t = run_fetch(scenario, server_node, valid, now, first_frame=frame, seen=seen)
        answer = decode_fetch_frame(next(f for d, f in t.frames if d == "s2c"))
        got = answer.code.name if isinstance(answer, Reject) else "serve"
        if got != intended:
            raise AssertionError(f"fetch check {name}: carrier says {got}, intended {intended}")
        cases.append(
            {
                "name": f"check_{name}",
                "kind": "check",
                "carrier": carrier_name,
                "now_ms": now,
                "seen_nonces": [{"nonce": n.hex(), "time_ms": tm} for n, tm in seen],
                "request_frame": frame.hex(),
                "expect": got,
            }
        )

    # kind transcript: whole fetches.
    tampered_shard = flip_bit(w.shards[0], 0)

    def tamper_data(msg: FetchMessage) -> FetchMessage:
        return Data(msg.offset, tampered_shard[msg.offset :]) if isinstance(msg, Data) else msg

    runs: list[tuple[str, str, Signed[FetchRequest], dict[str, Any], list[str]]] = [
        (
            "fetch_shard0_from_node4",
            "the owner reads shard 0 (hop 3) from its carrier, node 4",
            request("t-ok"),
            {"expected_manifest_hash": w.manifest.hash},
            ["client", "carrier"],
        ),
        (
            "fetch_three_chunks",
            "as fetch_shard0_from_node4, the shard delivered as Data of 1, 9 and 9 bytes",
            request("t-chunks"),
            {"rechunk": split_fetch_data([1, 9])},
            ["client"],
        ),
        (
            "reject_unauthorized",
            "a request signed by node 5's key instead of the owner key",
            Signed.create(request("t-forged").value, outsider),
            {},
            ["client", "carrier"],
        ),
        (
            "reject_not_held",
            "the owner asks the past carrier, node 3",
            request("t-past", to=past_key),
            {},
            ["client", "carrier"],
        ),
        (
            "client_refuses_tampered_data",
            "the carrier sends the shard with its first bit flipped",
            request("t-tampered"),
            {"tamper": tamper_data},
            ["client"],
        ),
        (
            "client_refuses_other_manifest",
            "the owner expects another manifest (the ticket's hash does not match)",
            request("t-manifest"),
            {"expected_manifest_hash": sha256(b"another manifest")},
            ["client", "carrier"],
        ),
    ]
    for name, note, req, options, replay in runs:
        server_node = FETCH_PAST_CARRIER if req.value.carrier == past_key else node
        t = run_fetch(scenario, server_node, req, now, **options)
        failure = t.client.failure or t.server.failure
        expected = options.get("expected_manifest_hash")
        cases.append(
            {
                "name": name,
                "kind": "transcript",
                "note": note,
                "carrier": f"carrier_node{server_node}",
                "now_ms": now,
                "expected_manifest_hash": None if expected is None else expected.hex(),
                "replay": replay,
                "frames": [
                    {"dir": d, "frame": f.hex(), "message": message_kind(decode_fetch_frame(f))}
                    for d, f in t.frames
                ],
                "outcome": {
                    "client_state": t.client.state.name,
                    "carrier_state": t.server.state.name,
                    "code": None if failure is None else failure.code.name,
                },
            }
        )

    # kind message / invalid_message: every FetchMessage kind on the wire.
    header = Header(held.manifest, held.last.record)
    msgs: list[tuple[str, FetchMessage]] = [
        ("request", Request(valid)),
        ("header", header),
        ("data", Data(0, w.shards[0])),
        ("done", Done(held.last.record.hash)),
        ("reject_not_held", Reject(RejectCode.NOT_HELD, "this node does not carry that shard")),
        ("reject_unauthorized", Reject(RejectCode.UNAUTHORIZED, "")),
    ]
    for name, msg in msgs:
        frame = fetch_frame(msg)
        if decode_fetch_frame(frame) != msg:
            raise AssertionError(f"fetch message {name} does not round-trip")
        cases.append(
            {
                "name": f"message_{name}",
                "kind": "message",
                "message": message_kind(msg),
                "frame": frame.hex(),
                "fields": spell(msg),
            }
        )

    def raw(build: Callable[[pb.FetchMessage], None]) -> bytes:
        m = pb.FetchMessage()
        build(m)
        payload = m.SerializeToString(deterministic=True)
        return encode_uvarint(len(payload)) + payload

    def one_field(payload: bytes) -> bytes:
        return encode_uvarint(len(payload)) + payload

    def set_reject(code: int) -> Callable[[pb.FetchMessage], None]:
        def build(m: pb.FetchMessage) -> None:
            m.reject.code = code  # type: ignore[assignment]

        return build

    def header_without_record(m: pb.FetchMessage) -> None:
        m.header.manifest.CopyFrom(held.manifest.to_pb())

    def empty_data(m: pb.FetchMessage) -> None:
        m.data.SetInParent()

    def short_done(m: pb.FetchMessage) -> None:
        m.done.record_hash = bytes(31)

    sig_varint = pb_field(1, held.manifest.body) + pb_field(2, 1)
    header_sig_varint = pb_field(
        2, pb_field(1, sig_varint) + pb_field(2, held.last.record.to_bytes())
    )
    invalid = [
        ("done_hash_as_varint", one_field(pb_field(4, pb_field(1, 5))), "MALFORMED"),
        ("header_manifest_signature_as_varint", one_field(header_sig_varint), "MALFORMED"),
        ("reject_unknown_code_0", raw(set_reject(0)), "MALFORMED"),
        ("reject_unknown_code_21", raw(set_reject(21)), "MALFORMED"),
        ("header_without_record", raw(header_without_record), "MALFORMED"),
        ("data_empty_chunk", raw(empty_data), "MALFORMED"),
        ("done_hash_31_bytes", raw(short_done), "MALFORMED"),
    ]
    for name, frame, intended in invalid:
        try:
            decode_fetch_frame(frame)
            got = "ok"
        except ProtocolError as exc:
            got = exc.code.name
        if got != intended:
            raise AssertionError(f"fetch message {name}: decoder says {got}, intended {intended}")
        cases.append(
            {
                "name": f"invalid_{name}",
                "kind": "invalid_message",
                "frame": frame.hex(),
                "expect": got,
            }
        )
    done = Done(held.last.record.hash)
    odd: list[tuple[str, bytes, FetchMessage]] = [
        ("last_kind_wins_data_then_done", one_payload(Data(0, b"\x00"), done), done),
        (
            "last_kind_wins_header_then_reject",
            one_payload(header, Reject(RejectCode.BUSY, "")),
            Reject(RejectCode.BUSY, ""),
        ),
    ]
    for name, frame, intended in odd:
        if decode_fetch_frame(frame) != intended:
            raise AssertionError(f"fetch message {name} does not decode as intended")
        cases.append(
            {
                "name": f"equivalent_{name}",
                "kind": "equivalent_message",
                "message": message_kind(intended),
                "frame": frame.hex(),
                "equivalent_frame": fetch_frame(intended).hex(),
            }
        )
    return render(
        "The owner's /wdp/fetch/1.0 (README section 15). frame = uvarint(len) || FetchMessage. "
        "kind carrier: a node by seed/peer and what it carries (manifest and record as encoded "
        "Signed, shard bytes), or null when it carries nothing; other cases name it in "
        "'carrier'. kind request: a valid signed FetchRequestBody (domain "
        "'wdp/v1/fetch-request', signed with owner_seed), spelled out. kind check: the "
        "carrier's answer to request_frame at now_ms, its nonce cache holding seen_nonces "
        "(each remembered until time_ms + 300000 inclusive; an entry already past that is "
        "forgotten): 'serve' (it sends a header) or the code of "
        "its Reject. kind transcript: every frame of one fetch in order, dir c2s (owner to "
        "carrier) or s2c; the carrier writes its whole answer before reading, so a client's "
        "Reject comes last; replay lists the sides whose frames the reference sessions "
        "reproduce exactly (the client is made from the request in the first frame and "
        "expected_manifest_hash). kind message: every FetchMessage kind; kind invalid_message: "
        "a frame the decoder refuses with the code in expect; kind equivalent_message: a "
        "frame that decodes to the same message as equivalent_frame (README section 1: of "
        "several oneof members the last one wins).",
        cases,
    )
