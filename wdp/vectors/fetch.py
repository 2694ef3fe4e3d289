"""fetch.json: the owner's /wdp/fetch/1.0: requests, checks, transcripts, messages.

Node 4 carries shard 0 at FETCH_NOW_MS; node 3 carried it before and holds nothing.
Each ``*_cases`` function builds one group of cases; ``fetch_file`` puts them in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from wdp.core.audit import make_grant
from wdp.core.carrier import HeldShard
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
from wdp.core.wanderer import repair_seed
from wdp.vectors.common import OWNER_SEED, T0_MS, label_seed, now_s, seed
from wdp.vectors.frames import decode_fetch_frame, fetch_frame
from wdp.vectors.mutate import flip_bit, pb_field, retyped
from wdp.vectors.render import message_kind, render, spell
from wdp.vectors.runs import run_fetch, split_fetch_data
from wdp.vectors.scenario import CHAIN_NODES, OUTSIDER, Scenario

FETCH_NOW_MS = T0_MS + 60_000  # a minute after the chain scenario: node 4 carries shard 0
FETCH_CARRIER = CHAIN_NODES[-1]  # the current carrier of shard 0
FETCH_PAST_CARRIER = CHAIN_NODES[-2]  # carried shard 0 before, holds nothing now
SKEW = MAX_CLOCK_SKEW_MS

# The names of the two carrier cases, which the other cases refer to.
CARRIER = f"carrier_node{FETCH_CARRIER}"
PAST_CARRIER = f"carrier_node{FETCH_PAST_CARRIER}"
CARRIER_NODES = {CARRIER: FETCH_CARRIER, PAST_CARRIER: FETCH_PAST_CARRIER}

# (name, carrier case, first frame, nonces the carrier has seen, intended answer)
Check = tuple[str, str, bytes, Sequence[tuple[bytes, int]], str]


@dataclasses.dataclass(frozen=True)
class FetchSetup:
    """What the fetch cases share: the scenario, both carriers' keys, the held shard 0."""

    scenario: Scenario
    wid: bytes
    carrier_key: bytes
    past_key: bytes
    held: HeldShard

    @classmethod
    def of(cls, scenario: Scenario) -> FetchSetup:
        wid = scenario.wanderer.manifest.value.wanderer_id
        if scenario.carriers[FETCH_PAST_CARRIER].held:
            raise AssertionError("the past carrier still holds a shard")
        return cls(
            scenario,
            wid,
            scenario.carriers[FETCH_CARRIER].peer,
            scenario.carriers[FETCH_PAST_CARRIER].peer,
            scenario.carriers[FETCH_CARRIER].held[ShardKey(wid, 0)],
        )

    def request(
        self,
        label: str,
        *,
        time_ms: int = FETCH_NOW_MS,
        index: int = 0,
        to: bytes | None = None,
    ) -> Signed[FetchRequest]:
        """The owner's request with the nonce named ``label``, to ``to`` or the current carrier."""
        nonce = label_seed(f"wdp/vectors/fetch-nonce/{label}")[:FETCH_NONCE_SIZE]
        carrier = self.carrier_key if to is None else to
        return make_fetch_request(
            OWNER_SEED, self.wid, index, now_s(time_ms), nonce, carrier=carrier
        )

    @property
    def valid(self) -> Signed[FetchRequest]:
        return self.request("valid")


def _raw_request_frame(body: bytes, signature: bytes) -> bytes:
    payload = pb.FetchMessage(request=pb.Signed(body=body, signature=signature)).SerializeToString(
        deterministic=True
    )
    return encode_uvarint(len(payload)) + payload


def _owner_signed(body: bytes) -> bytes:
    """A request frame of ``body`` as is, signed by the owner."""
    return _raw_request_frame(body, Signer(OWNER_SEED).sign(DOMAIN_FETCH, body))


def _request_frame(req: Signed[FetchRequest]) -> bytes:
    return fetch_frame(Request(req))


def _one_payload(*msgs: FetchMessage) -> bytes:
    """One frame whose payload is the encodings of ``msgs`` one after the other."""
    payload = b"".join(encode_fetch_message(m) for m in msgs)
    return encode_uvarint(len(payload)) + payload


# ---- kind carrier and kind request -----------------------------------------------


def _carrier_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    held = setup.held
    carriers = {
        CARRIER: (FETCH_CARRIER, held.manifest.to_bytes(), held.last.record.to_bytes()),
        PAST_CARRIER: (FETCH_PAST_CARRIER, None, None),
    }
    shard = setup.scenario.wanderer.shards[0]
    return [
        {
            "name": name,
            "kind": "carrier",
            "seed": seed(i).hex(),
            "peer": Signer(seed(i)).public_key.hex(),
            "manifest": None if manifest is None else manifest.hex(),
            "record": None if record is None else record.hex(),
            "shard": None if manifest is None else shard.hex(),
        }
        for name, (i, manifest, record) in carriers.items()
    ]


def _request_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    """Valid requests, spelled out."""
    to_node1 = setup.scenario.carriers[1].peer
    requests = (
        ("request_shard0_to_node4", setup.valid),
        ("request_shard2_to_node1", setup.request("shard2", index=2, to=to_node1)),
    )
    return [
        {
            "name": name,
            "kind": "request",
            "owner_seed": OWNER_SEED.hex(),
            "domain": DOMAIN_FETCH.decode(),
            "signed": req.to_bytes().hex(),
            "frame": _request_frame(req).hex(),
            **spell(req),
        }
        for name, req in requests
    ]


# ---- kind check: the carrier's answer to one request frame -----------------------


def _valid_checks(setup: FetchSetup) -> list[Check]:
    """Requests the carrier serves: on time at either end of the clock skew, unknown fields."""
    req, now = setup.request, FETCH_NOW_MS
    return [
        ("valid", CARRIER, _request_frame(setup.valid), (), "serve"),
        (
            "valid_owner_clock_5_min_behind",
            CARRIER,
            _request_frame(req("behind", time_ms=now - SKEW)),
            (),
            "serve",
        ),
        (
            "valid_owner_clock_5_min_ahead",
            CARRIER,
            _request_frame(req("ahead", time_ms=now + SKEW)),
            (),
            "serve",
        ),
        (
            "valid_unknown_field_signed",
            CARRIER,
            _owner_signed(req("unknown").body + b"\xa2\x06\x03abc"),
            (),
            "serve",
        ),
    ]


def _signature_checks(setup: FetchSetup) -> list[Check]:
    """Requests not signed by the owner key, or whose bytes changed after signing."""
    req, valid = setup.request, setup.valid
    outsider = Signer(seed(OUTSIDER))
    return [
        (
            "signed_by_non_owner_key",
            CARRIER,
            _request_frame(Signed.create(req("forged").value, outsider)),
            (),
            "UNAUTHORIZED",
        ),
        (
            "non_owner_key_in_body",
            CARRIER,
            _request_frame(
                Signed.create(
                    dataclasses.replace(req("own").value, owner_key=outsider.public_key),
                    outsider,
                )
            ),
            (),
            "UNAUTHORIZED",
        ),
        (
            "carrier_key_in_body",
            CARRIER,
            _request_frame(
                Signed.create(
                    dataclasses.replace(req("carrier").value, owner_key=setup.past_key),
                    Signer(seed(FETCH_PAST_CARRIER)),
                )
            ),
            (),
            "UNAUTHORIZED",
        ),
        (
            "body_bit_flip",
            CARRIER,
            _raw_request_frame(flip_bit(valid.body, len(valid.body) - 1), valid.signature),
            (),
            "UNAUTHORIZED",
        ),
        (
            "signature_bit_flip",
            CARRIER,
            _raw_request_frame(valid.body, flip_bit(valid.signature, 0)),
            (),
            "UNAUTHORIZED",
        ),
    ]


def _keeper_checks(setup: FetchSetup) -> list[Check]:
    """A keeper's requests (15.2 fields 8 and 9, F3): signed by requester_key with the owner's
    grant to it; the repair key of the owner seed is the keeper, node 5 an outsider."""
    owner_key = Signer(OWNER_SEED).public_key
    keeper_seed = repair_seed(OWNER_SEED)
    keeper_key = Signer(keeper_seed).public_key
    outsider = Signer(seed(OUTSIDER))
    grant = make_grant(OWNER_SEED, setup.wid, keeper_key)

    def keeper(
        label: str, *, g: bytes = grant, by: bytes = keeper_seed, to: bytes | None = None
    ) -> Signed[FetchRequest]:
        nonce = label_seed(f"wdp/vectors/fetch-nonce/keeper-{label}")[:FETCH_NONCE_SIZE]
        return make_fetch_request(
            by, setup.wid, 0, now_s(FETCH_NOW_MS), nonce,
            carrier=setup.carrier_key if to is None else to, owner_key=owner_key, grant=g,
        )  # fmt: skip

    def changed(req: Signed[FetchRequest], signer: Signer, **changes: Any) -> bytes:
        return _request_frame(Signed.create(dataclasses.replace(req.value, **changes), signer))

    k = Signer(keeper_seed)
    other_wid = sha256(b"wdp/vectors/another-wanderer")
    by_outsider = keeper("outsider", g=make_grant(OWNER_SEED, setup.wid, outsider.public_key),
                         by=seed(OUTSIDER))  # fmt: skip
    frames: list[tuple[str, bytes, str]] = [
        ("keeper_granted", _request_frame(keeper("granted")), "serve"),
        ("keeper_granted_other_key", _request_frame(by_outsider), "serve"),
        (
            "keeper_grant_by_another_owner",
            _request_frame(keeper("by-other", g=make_grant(seed(OUTSIDER), setup.wid, keeper_key))),
            "UNAUTHORIZED",
        ),
        (
            "keeper_grant_to_another_key",
            _request_frame(keeper("to-other", g=make_grant(OWNER_SEED, setup.wid, bytes(32)))),
            "UNAUTHORIZED",
        ),
        (
            "keeper_grant_for_another_wanderer",
            _request_frame(keeper("other-wid", g=make_grant(OWNER_SEED, other_wid, keeper_key))),
            "UNAUTHORIZED",
        ),
        (
            "keeper_request_signed_by_owner",
            changed(keeper("owner-signs"), Signer(OWNER_SEED)),
            "UNAUTHORIZED",
        ),
        (
            "keeper_request_signed_by_outsider",
            changed(keeper("outsider-signs"), outsider),
            "UNAUTHORIZED",
        ),
        (
            "keeper_unauthorized_and_wrong_recipient",
            _request_frame(
                keeper("both", g=make_grant(OWNER_SEED, setup.wid, bytes(32)), to=setup.past_key)
            ),
            "UNAUTHORIZED",
        ),
        (
            "keeper_requester_is_owner",
            changed(keeper("is-owner"), Signer(OWNER_SEED), requester_key=owner_key),
            "MALFORMED",
        ),
        (
            "keeper_requester_31_bytes",
            changed(keeper("31"), k, requester_key=keeper_key[:31]),
            "MALFORMED",
        ),
        ("keeper_grant_63_bytes", changed(keeper("63"), k, grant=grant[:63]), "MALFORMED"),
        ("keeper_grant_absent", changed(keeper("absent"), k, grant=b""), "MALFORMED"),
        (
            "owner_request_with_grant",
            changed(setup.request("with-grant"), Signer(OWNER_SEED), grant=grant),
            "MALFORMED",
        ),
    ]
    return [(name, CARRIER, frame, (), want) for name, frame, want in frames]


def _recipient_time_and_holding_checks(setup: FetchSetup) -> list[Check]:
    """Signed requests to another carrier, out of the time window, replayed, or not held."""
    req, now, past_key = setup.request, FETCH_NOW_MS, setup.past_key
    replayed = req("replayed")
    return [
        (
            "addressed_to_another_carrier",
            CARRIER,
            _request_frame(req("elsewhere", to=past_key)),
            (),
            "WRONG_RECIPIENT",
        ),
        (
            "stale_time",
            CARRIER,
            _request_frame(req("stale", time_ms=now - SKEW - 1)),
            (),
            "STALE_HOP",
        ),
        (
            "future_time",
            CARRIER,
            _request_frame(req("future", time_ms=now + SKEW + 1)),
            (),
            "STALE_HOP",
        ),
        (
            "replayed_nonce",
            CARRIER,
            _request_frame(replayed),
            ((replayed.value.nonce, replayed.value.time_ms),),
            "STALE_HOP",
        ),
        (
            "not_held_other_shard",
            CARRIER,
            _request_frame(req("shard1", index=1)),
            (),
            "NOT_HELD",
        ),
        (
            "not_held_past_carrier",
            PAST_CARRIER,
            _request_frame(req("past", to=past_key)),
            (),
            "NOT_HELD",
        ),
    ]


def _check_order_checks(setup: FetchSetup) -> list[Check]:
    """Requests failing two checks: the earlier check decides the code."""
    req, now, past_key = setup.request, FETCH_NOW_MS, setup.past_key
    outsider = Signer(seed(OUTSIDER))
    replayed_past = req("replayed-past", to=past_key)
    return [
        (
            "order_stale_and_not_held",
            PAST_CARRIER,
            _request_frame(req("stale-past", time_ms=now - 2 * SKEW, to=past_key)),
            (),
            "STALE_HOP",
        ),
        (
            "order_non_owner_and_elsewhere",
            CARRIER,
            _request_frame(Signed.create(req("forged-elsewhere", to=past_key).value, outsider)),
            (),
            "UNAUTHORIZED",
        ),
        (
            "order_elsewhere_and_stale",
            CARRIER,
            _request_frame(req("stale-elsewhere", time_ms=now - 2 * SKEW, to=past_key)),
            (),
            "WRONG_RECIPIENT",
        ),
        (
            "order_replayed_and_not_held",
            PAST_CARRIER,
            _request_frame(replayed_past),
            ((replayed_past.value.nonce, replayed_past.value.time_ms),),
            "STALE_HOP",
        ),
    ]


def _body_limit_checks(setup: FetchSetup) -> list[Check]:
    """Request bodies of another version, a short nonce, too large; a short signature."""
    req, valid = setup.request, setup.valid
    version_2 = dataclasses.replace(req("v2").value, version=2).encode()
    short_nonce = dataclasses.replace(req("n15").value, nonce=bytes(15)).encode()
    padded = req("big").body + b"\xa2\x06\xd0\x01" + bytes(208)  # field 100: body > 256
    return [
        ("version_2", CARRIER, _owner_signed(version_2), (), "UNSUPPORTED_VERSION"),
        ("nonce_15_bytes", CARRIER, _owner_signed(short_nonce), (), "MALFORMED"),
        ("body_over_256_bytes", CARRIER, _owner_signed(padded), (), "TOO_LARGE"),
        (
            "signature_63_bytes",
            CARRIER,
            _raw_request_frame(valid.body, valid.signature[:63]),
            (),
            "MALFORMED",
        ),
    ]


def _nonce_window_checks(setup: FetchSetup) -> list[Check]:
    """A seen nonce is remembered until time_ms + 300000 inclusive, then forgotten."""
    at_window_end = setup.request("window-end", time_ms=FETCH_NOW_MS - SKEW)
    after_window = setup.request("after-window", time_ms=FETCH_NOW_MS - SKEW)
    return [
        (
            "replayed_nonce_at_window_end",
            CARRIER,
            _request_frame(at_window_end),
            ((at_window_end.value.nonce, at_window_end.value.time_ms),),
            "STALE_HOP",
        ),
        (
            "nonce_forgotten_one_ms_after_window",
            CARRIER,
            _request_frame(after_window),
            ((after_window.value.nonce, after_window.value.time_ms - 1),),
            "serve",
        ),
    ]


def _first_frame_checks(setup: FetchSetup) -> list[Check]:
    """A first frame that is not one well-formed Request: wrong wire type, other messages."""
    valid = setup.valid
    version_bytes = retyped(setup.request("version-bytes").body, 1, b"\x01")
    return [
        ("request_version_as_bytes", CARRIER, _owner_signed(version_bytes), (), "MALFORMED"),
        (
            "request_then_data_in_one_payload",
            CARRIER,
            _one_payload(Request(valid), Data(0, b"\x00")),
            (),
            "PROTOCOL_VIOLATION",
        ),
        (
            "data_then_request_in_one_payload",
            CARRIER,
            _one_payload(Data(0, b"\x00"), Request(valid)),
            (),
            "serve",
        ),
        (
            "reject_before_request",
            CARRIER,
            fetch_frame(Reject(RejectCode.BUSY, "")),
            (),
            "PROTOCOL_VIOLATION",
        ),
        ("empty_message", CARRIER, b"\x00", (), "MALFORMED"),
        (
            "data_before_request",
            CARRIER,
            fetch_frame(Data(0, b"\x00")),
            (),
            "PROTOCOL_VIOLATION",
        ),
    ]


def _check_case(setup: FetchSetup, check: Check) -> dict[str, Any]:
    """Run one check against the reference carrier; refuse it unless the answer is intended."""
    name, carrier_name, frame, seen, intended = check
    server_node = CARRIER_NODES[carrier_name]
    t = run_fetch(
        setup.scenario, server_node, setup.valid, FETCH_NOW_MS, first_frame=frame, seen=seen
    )
    answer = decode_fetch_frame(next(f for d, f in t.frames if d == "s2c"))
    got = answer.code.name if isinstance(answer, Reject) else "serve"
    if got != intended:
        raise AssertionError(f"fetch check {name}: carrier says {got}, intended {intended}")
    return {
        "name": f"check_{name}",
        "kind": "check",
        "carrier": carrier_name,
        "now_ms": FETCH_NOW_MS,
        "seen_nonces": [{"nonce": n.hex(), "time_ms": tm} for n, tm in seen],
        "request_frame": frame.hex(),
        "expect": got,
    }


def _check_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    checks = [
        *_valid_checks(setup),
        *_signature_checks(setup),
        *_keeper_checks(setup),
        *_recipient_time_and_holding_checks(setup),
        *_check_order_checks(setup),
        *_body_limit_checks(setup),
        *_nonce_window_checks(setup),
        *_first_frame_checks(setup),
    ]
    return [_check_case(setup, check) for check in checks]


# ---- kind transcript: whole fetches ----------------------------------------------


def _transcript_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    w = setup.scenario.wanderer
    req = setup.request
    tampered_shard = flip_bit(w.shards[0], 0)

    def tamper_data(msg: FetchMessage) -> FetchMessage:
        return Data(msg.offset, tampered_shard[msg.offset :]) if isinstance(msg, Data) else msg

    runs: list[tuple[str, str, Signed[FetchRequest], dict[str, Any], list[str]]] = [
        (
            "fetch_shard0_from_node4",
            "the owner reads shard 0 (hop 3) from its carrier, node 4",
            req("t-ok"),
            {"expected_manifest_hash": w.manifest.hash},
            ["client", "carrier"],
        ),
        (
            "fetch_three_chunks",
            "as fetch_shard0_from_node4, the shard delivered as Data of 1, 9 and 9 bytes",
            req("t-chunks"),
            {"rechunk": split_fetch_data([1, 9])},
            ["client"],
        ),
        (
            "reject_unauthorized",
            "a request signed by node 5's key instead of the owner key",
            Signed.create(req("t-forged").value, Signer(seed(OUTSIDER))),
            {},
            ["client", "carrier"],
        ),
        (
            "reject_not_held",
            "the owner asks the past carrier, node 3",
            req("t-past", to=setup.past_key),
            {},
            ["client", "carrier"],
        ),
        (
            "client_refuses_tampered_data",
            "the carrier sends the shard with its first bit flipped",
            req("t-tampered"),
            {"tamper": tamper_data},
            ["client"],
        ),
        (
            "client_refuses_other_manifest",
            "the owner expects another manifest (the ticket's hash does not match)",
            req("t-manifest"),
            {"expected_manifest_hash": sha256(b"another manifest")},
            ["client", "carrier"],
        ),
    ]
    cases = []
    for name, note, request, options, replay in runs:
        server_node = (
            FETCH_PAST_CARRIER if request.value.carrier == setup.past_key else FETCH_CARRIER
        )
        t = run_fetch(setup.scenario, server_node, request, FETCH_NOW_MS, **options)
        failure = t.client.failure or t.server.failure
        expected = options.get("expected_manifest_hash")
        cases.append(
            {
                "name": name,
                "kind": "transcript",
                "note": note,
                "carrier": f"carrier_node{server_node}",
                "now_ms": FETCH_NOW_MS,
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
    return cases


# ---- kind message, invalid_message, equivalent_message ---------------------------


def _message_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    """Every FetchMessage kind on the wire."""
    held = setup.held
    msgs: list[tuple[str, FetchMessage]] = [
        ("request", Request(setup.valid)),
        ("header", Header(held.manifest, held.last.record)),
        ("data", Data(0, setup.scenario.wanderer.shards[0])),
        ("done", Done(held.last.record.hash)),
        ("reject_not_held", Reject(RejectCode.NOT_HELD, "this node does not carry that shard")),
        ("reject_unauthorized", Reject(RejectCode.UNAUTHORIZED, "")),
    ]
    cases = []
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
    return cases


def _invalid_message_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    """Frames the decoder refuses: wrong wire types, unknown codes, missing or short fields."""
    held = setup.held

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
    cases = []
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
    return cases


def _equivalent_message_cases(setup: FetchSetup) -> list[dict[str, Any]]:
    """Frames of several oneof members that decode to the last one (README section 1)."""
    held = setup.held
    done = Done(held.last.record.hash)
    header = Header(held.manifest, held.last.record)
    odd: list[tuple[str, bytes, FetchMessage]] = [
        ("last_kind_wins_data_then_done", _one_payload(Data(0, b"\x00"), done), done),
        (
            "last_kind_wins_header_then_reject",
            _one_payload(header, Reject(RejectCode.BUSY, "")),
            Reject(RejectCode.BUSY, ""),
        ),
    ]
    cases = []
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
    return cases


def fetch_file(scenario: Scenario) -> str:
    setup = FetchSetup.of(scenario)
    cases = [
        *_carrier_cases(setup),
        *_request_cases(setup),
        *_check_cases(setup),
        *_transcript_cases(setup),
        *_message_cases(setup),
        *_invalid_message_cases(setup),
        *_equivalent_message_cases(setup),
    ]
    return render(
        "The owner's /wdp/fetch/1.0 (README section 15). frame = uvarint(len) || FetchMessage. "
        "kind carrier: a node by seed/peer and what it carries (manifest and record as encoded "
        "Signed, shard bytes), or null when it carries nothing; other cases name it in "
        "'carrier'. kind request: a valid signed FetchRequestBody (domain "
        "'wdp/v1/fetch-request', signed with owner_seed), spelled out; a keeper's request "
        "(check_keeper_*) names requester_key and the owner's grant to it. kind check: the "
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
