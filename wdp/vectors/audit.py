"""audit.json: /wdp/audit/1.0: challenges, the carrier's answers, the challenger's verdicts.

The scenario is :mod:`wdp.vectors.audit_scenario`'s. Each ``*_cases`` function builds
one group of cases; ``audit_file`` puts them in order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wdp.core.audit import (
    AuditChallenge,
    AuditClientSession,
    AuditMessage,
    AuditServerSession,
    Challenge,
    Moved,
    Proof,
    decode_audit_message,
    encode_audit_message,
    make_challenge,
    make_grant,
    make_spot_challenge,
)
from wdp.core.carrier import Carrier
from wdp.core.effects import Send
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.fetch import LoadShard
from wdp.core.framing import decode_uvarint, encode_uvarint
from wdp.core.limits import AUDIT_NONCE_SIZE
from wdp.core.locator import MAX_CLOCK_SKEW_MS
from wdp.core.messages import Reject
from wdp.core.nonces import NonceCache
from wdp.core.objects import CustodyLink, Manifest, Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import DOMAIN_AUDIT, Signer
from wdp.core.wanderer import repair_seed
from wdp.vectors.audit_scenario import (
    AUDIT_NOW_MS,
    HOLDER,
    OLD_HOLDER,
    PASSED_ON,
    STRANGER,
    V1_SEED,
    AuditScenario,
)
from wdp.vectors.common import OWNER_SEED, label_seed, now_s, seed
from wdp.vectors.mutate import flip_bit
from wdp.vectors.render import render, spell

SKEW = MAX_CLOCK_SKEW_MS
NODES = {f"carrier_node{i}": i for i in (HOLDER, PASSED_ON, STRANGER, OLD_HOLDER)}


def audit_frame(msg: AuditMessage) -> bytes:
    payload = encode_audit_message(msg)
    return encode_uvarint(len(payload)) + payload


def payload_of(frame: bytes) -> bytes:
    """The payload of one whole frame."""
    head = decode_uvarint(frame, 0)
    assert head is not None and head[1] + head[0] == len(frame)
    return frame[head[1] :]


def _raw_challenge_frame(body: bytes, signature: bytes) -> bytes:
    payload = pb.AuditMessage(
        challenge=pb.Signed(body=body, signature=signature)
    ).SerializeToString(deterministic=True)
    return encode_uvarint(len(payload)) + payload


@dataclasses.dataclass(frozen=True)
class Setup:
    s: AuditScenario

    @property
    def manifest(self) -> Signed[Manifest]:
        return self.s.wanderer.manifest

    def peer(self, node: int) -> bytes:
        return self.s.carriers[node].peer

    def challenge(
        self,
        label: str,
        *,
        to: int = HOLDER,
        leaf: int = 1,
        time_ms: int = AUDIT_NOW_MS,
        index: int = 0,
        by_repair_key: bool = False,
        v1: bool = False,
    ) -> Signed[AuditChallenge]:
        m = (self.s.old if v1 else self.s.wanderer).manifest.value
        owner = V1_SEED if v1 else OWNER_SEED
        grant = b""
        signer = owner
        if by_repair_key:
            signer = repair_seed(owner)
            grant = make_grant(owner, m.wanderer_id, m.repair_key)
        return make_challenge(
            signer,
            owner_key=m.owner_key,
            shard_index=index,
            carrier=self.peer(to),
            leaf_index=leaf,
            now=now_s(time_ms),
            nonce=label_seed(f"wdp/vectors/audit-nonce/{label}")[:AUDIT_NONCE_SIZE],
            grant=grant,
        )

    def spot(self, label: str, by: int, *, to: int = HOLDER, index: int = 0) -> bytes:
        """A spot audit frame (spec 18.4 A3) signed by node ``by``'s peer key, no grant."""
        c = make_spot_challenge(
            Signer(seed(by)),
            owner_key=self.manifest.value.owner_key,
            shard_index=index,
            carrier=self.peer(to),
            leaf_index=1,
            now=now_s(AUDIT_NOW_MS),
            nonce=label_seed(f"wdp/vectors/audit-nonce/spot-{label}")[:AUDIT_NONCE_SIZE],
        )
        return audit_frame(Challenge(c))

    def resigned(self, c: Signed[AuditChallenge], signer_seed: bytes, **changes: Any) -> bytes:
        body = dataclasses.replace(c.value, **changes).encode()
        return _raw_challenge_frame(body, Signer(signer_seed).sign(DOMAIN_AUDIT, body))


# ---- the carrier's side ------------------------------------------------------------


def carrier_answer(
    setup: Setup, node: int, frame: bytes, seen: list[tuple[bytes, int]]
) -> tuple[str, list[bytes]]:
    """What the reference carrier ``node`` answers to ``frame`` at AUDIT_NOW_MS."""
    carrier: Carrier = setup.s.carriers[node]
    now = now_s(AUDIT_NOW_MS)
    nonces = NonceCache()
    for nonce, time_ms in seen:
        nonces.add(nonce, time_ms, AUDIT_NOW_MS)
    server = AuditServerSession(
        local_peer=carrier.peer,
        lookup=carrier.held.get,
        nonces=nonces,
        now=now,
        moved=carrier.handed_on,
        received_from=carrier.received_from,
    )
    shards = {setup.s.key: setup.s.wanderer.shards[0]}
    old = setup.s.old.manifest.value
    shards[dataclasses.replace(setup.s.key, wanderer_id=old.wanderer_id)] = setup.s.old.shards[0]
    frames: list[bytes] = []

    def perform(effects: list[Any]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                frames.append(eff.data)
            elif isinstance(eff, LoadShard):
                perform(server.shard_loaded(shards.get(eff.key), now))

    perform(server.receive_data(frame, now))
    if server.failure is not None:
        return server.failure.code.name, frames
    msg = decode_audit_message(payload_of(frames[0]))
    return ("moved" if isinstance(msg, Moved) else "proof"), frames


def _carrier_cases(setup: Setup) -> list[dict[str, Any]]:
    out = []
    shard = setup.s.wanderer.shards[0]
    for name, node in NODES.items():
        c = setup.s.carriers[node]
        held = next(iter(c.held.values()), None)
        link = c.handed_on(setup.s.key)
        out.append(
            {
                "name": name,
                "kind": "carrier",
                "seed": seed(node).hex(),
                "peer": c.peer.hex(),
                "carries": None
                if held is None
                else {
                    "manifest": held.manifest.to_bytes().hex(),
                    "record": held.last.record.to_bytes().hex(),
                    "receipt": held.last.receipt.to_bytes().hex(),
                    "shard": (shard if node == HOLDER else setup.s.old.shards[0]).hex(),
                },
                "handed_on": None
                if link is None
                else {
                    "record": link.record.to_bytes().hex(),
                    "receipt": link.receipt.to_bytes().hex(),
                    "received_from": (c.received_from(setup.s.key) or b"").hex(),
                },
            }
        )
    return out


def _challenge_cases(setup: Setup) -> list[dict[str, Any]]:
    m = setup.manifest.value
    grant = make_grant(OWNER_SEED, m.wanderer_id, m.repair_key)
    return [
        {
            "name": name,
            "kind": "challenge",
            "signer_seed": signer.hex(),
            "domain": DOMAIN_AUDIT.decode(),
            "signed": c.to_bytes().hex(),
            "frame": audit_frame(Challenge(c)).hex(),
            **spell(c),
        }
        for name, c, signer in (
            ("challenge_by_owner", setup.challenge("valid"), OWNER_SEED),
            (
                "challenge_by_repair_key",
                setup.challenge("repair", by_repair_key=True),
                repair_seed(OWNER_SEED),
            ),
        )
    ] + [
        {
            "name": "repair_grant",
            "kind": "grant",
            "owner_seed": OWNER_SEED.hex(),
            "wanderer_id": m.wanderer_id.hex(),
            "repair_key": m.repair_key.hex(),
            "domain": "wdp/v2/repair-grant",
            "body": (m.wanderer_id + m.repair_key).hex(),
            "grant": grant.hex(),
        }
    ]


def _checks(setup: Setup) -> list[tuple[str, str, bytes, list[tuple[bytes, int]], str]]:
    """(name, carrier, frame, seen nonces, intended answer)."""
    ch = setup.challenge
    valid = ch("valid")
    holder, passed, stranger, old = (
        f"carrier_node{i}" for i in (HOLDER, PASSED_ON, STRANGER, OLD_HOLDER)
    )
    stranger_seed = seed(0x77)
    stranger_key = Signer(stranger_seed).public_key
    m = setup.manifest.value
    bogus = setup.resigned(valid, stranger_seed, challenger_key=stranger_key, grant=bytes(64))
    other_grant = make_grant(OWNER_SEED, m.wanderer_id, m.repair_key)

    def frame(c: Signed[AuditChallenge]) -> bytes:
        return audit_frame(Challenge(c))

    rows = [
        *(
            (f"proof_leaf{i}", holder, frame(ch(f"leaf{i}", leaf=i)), [], "proof")
            for i in range(3)
        ),
        ("proof_for_repair_key", holder, frame(ch("repair", by_repair_key=True)), [], "proof"),
        ("moved_on_by_node1", passed, frame(ch("moved", to=PASSED_ON)), [], "moved"),
        ("not_held_by_node3", stranger, frame(ch("stranger", to=STRANGER)), [], "NOT_HELD"),
        ("not_held_other_shard", holder, frame(ch("shard1", index=1)), [], "NOT_HELD"),
        ("owner_key_not_the_wanderers", holder,
         setup.resigned(valid, OWNER_SEED, wanderer_id=bytes(32)), [], "UNAUTHORIZED"),
        ("stranger_with_bogus_grant", holder, bogus, [], "UNAUTHORIZED"),
        ("stranger_with_bogus_grant_not_held", stranger,
         setup.resigned(ch("s2", to=STRANGER), stranger_seed, challenger_key=stranger_key,
                        grant=bytes(64)), [], "UNAUTHORIZED"),
        ("grant_of_another_key", holder,
         setup.resigned(valid, stranger_seed, challenger_key=stranger_key, grant=other_grant),
         [], "UNAUTHORIZED"),
        ("spot_audit_by_node1", holder, setup.spot("node1", PASSED_ON), [], "proof"),
        ("spot_audit_by_a_stranger", holder, setup.spot("stranger", STRANGER), [],
         "UNAUTHORIZED"),
        ("spot_audit_by_node1_of_another_shard", holder, setup.spot("shard1", PASSED_ON, index=1),
         [], "UNAUTHORIZED"),
        ("spot_audit_by_node2_of_node1", passed, setup.spot("back", HOLDER, to=PASSED_ON), [],
         "UNAUTHORIZED"),
        ("signature_flipped", holder,
         _raw_challenge_frame(valid.body, flip_bit(valid.signature, 0)), [], "UNAUTHORIZED"),
        ("wrong_recipient", holder, frame(ch("elsewhere", to=PASSED_ON)), [], "WRONG_RECIPIENT"),
        ("too_old", holder, frame(ch("old", time_ms=AUDIT_NOW_MS - SKEW - 1)), [], "STALE_HOP"),
        ("too_new", holder, frame(ch("new", time_ms=AUDIT_NOW_MS + SKEW + 1)), [], "STALE_HOP"),
        ("oldest_accepted", holder, frame(ch("oldest", time_ms=AUDIT_NOW_MS - SKEW)), [], "proof"),
        ("newest_accepted", holder, frame(ch("newest", time_ms=AUDIT_NOW_MS + SKEW)), [], "proof"),
        ("replayed_nonce", holder, frame(valid), [(valid.value.nonce, valid.value.time_ms)],
         "STALE_HOP"),
        ("leaf_outside_the_shard", holder, frame(ch("leaf3", leaf=3)), [], "MALFORMED"),
        ("version_1_shard", old, frame(ch("v1", to=OLD_HOLDER, v1=True)), [],
         "UNSUPPORTED_VERSION"),
        ("challenge_version_2", holder, setup.resigned(valid, OWNER_SEED, version=2), [],
         "UNSUPPORTED_VERSION"),
        ("nonce_15_bytes", holder, setup.resigned(valid, OWNER_SEED, nonce=bytes(15)), [],
         "MALFORMED"),
        ("owner_with_a_grant", holder, setup.resigned(valid, OWNER_SEED, grant=bytes(64)), [],
         "MALFORMED"),
        ("shard_index_256", holder, setup.resigned(valid, OWNER_SEED, shard_index=256), [],
         "MALFORMED"),
        ("body_over_512_bytes", holder,
         _raw_challenge_frame(valid.body + bytes([0x5A, 0x80, 0x03]) + bytes(384), bytes(64)),
         [], "TOO_LARGE"),
    ]  # fmt: skip
    return rows


def _check_cases(setup: Setup) -> list[dict[str, Any]]:
    out = []
    for name, carrier, frame, seen, intended in _checks(setup):
        got, frames = carrier_answer(setup, NODES[carrier], frame, seen)
        if got != intended:
            raise AssertionError(f"audit check {name}: carrier says {got}, intended {intended}")
        out.append(
            {
                "name": name,
                "kind": "check",
                "carrier": carrier,
                "now_ms": AUDIT_NOW_MS,
                "challenge_frame": frame.hex(),
                "seen_nonces": [{"nonce": n.hex(), "time_ms": t} for n, t in seen],
                "expect": got,
                "answer_frames": [f.hex() for f in frames],
            }
        )
    return out


# ---- the challenger's side -----------------------------------------------------------


def _proof(setup: Setup, c: Signed[AuditChallenge]) -> Proof:
    """The holder's proof for challenge ``c``."""
    _, frames = carrier_answer(setup, HOLDER, audit_frame(Challenge(c)), [])
    proof = decode_audit_message(payload_of(frames[0]))
    assert isinstance(proof, Proof)
    return proof


def _verdict(setup: Setup, c: Signed[AuditChallenge], answer: bytes) -> str:
    client = AuditClientSession(c, setup.manifest)
    client.start(now_s(AUDIT_NOW_MS))
    client.receive_data(answer, now_s(AUDIT_NOW_MS))
    if client.result is not None:
        return "proved" if client.result.proved else "moved"
    assert client.failure is not None
    return ("carrier:" if client.failed_by_peer else "") + client.failure.code.name


def _verdict_cases(setup: Setup) -> list[dict[str, Any]]:
    c = setup.challenge("valid")
    moved_c = setup.challenge("moved", to=PASSED_ON)
    proof = _proof(setup, c)
    hop0, hop1 = setup.s.hop0, setup.s.hop1
    rec = proof.record
    flipped_record = Signed(rec.body, flip_bit(rec.signature, 0), rec.value)
    tamper: list[tuple[str, Signed[AuditChallenge], AuditMessage, str]] = [
        ("honest_proof", c, proof, "proved"),
        ("leaf_bit_flipped", c, dataclasses.replace(proof, leaf=flip_bit(proof.leaf, 0)),
         "BAD_PROOF"),
        ("path_hash_flipped", c,
         dataclasses.replace(proof, path=(flip_bit(proof.path[0], 0), *proof.path[1:])),
         "BAD_PROOF"),
        ("path_one_short", c, dataclasses.replace(proof, path=proof.path[:-1]), "BAD_PROOF"),
        ("leaf_of_another_index", c,
         dataclasses.replace(proof, leaf=setup.s.wanderer.shards[0][:1024]), "BAD_PROOF"),
        ("record_of_the_previous_carrier", c, dataclasses.replace(proof, record=hop0.record),
         "WRONG_SENDER"),
        ("record_signature_flipped", c, dataclasses.replace(proof, record=flipped_record),
         "BAD_SIGNATURE"),
        ("honest_moved", moved_c, Moved(hop1), "moved"),
        ("moved_receipt_of_another_hop", moved_c, Moved(CustodyLink(hop1.record, hop0.receipt)),
         "BAD_CHAIN"),
        ("moved_receipt_unsigned", moved_c,
         Moved(CustodyLink(hop1.record, Signed(hop1.receipt.body, bytes(64), hop1.receipt.value))),
         "BAD_SIGNATURE"),
        ("moved_hop_of_another_carrier", c, Moved(hop1), "WRONG_SENDER"),
        ("not_held", c, Reject(RejectCode.NOT_HELD, "this node does not carry that shard"),
         "carrier:NOT_HELD"),
    ]  # fmt: skip
    out = []
    for name, challenge, answer, intended in tamper:
        frame = audit_frame(answer)
        got = _verdict(setup, challenge, frame)
        if got != intended:
            raise AssertionError(
                f"audit verdict {name}: challenger says {got}, intended {intended}"
            )
        out.append(
            {
                "name": f"verdict_{name}",
                "kind": "verdict",
                "challenge_frame": audit_frame(Challenge(challenge)).hex(),
                "manifest": setup.manifest.to_bytes().hex(),
                "answer_frame": frame.hex(),
                "expect": got,
            }
        )
    return out


# ---- messages ------------------------------------------------------------------------------


def _message_cases(setup: Setup) -> list[dict[str, Any]]:
    c = setup.challenge("valid")
    proof = _proof(setup, c)
    msgs: list[tuple[str, AuditMessage]] = [
        ("challenge", Challenge(c)),
        ("proof", proof),
        ("moved", Moved(setup.s.hop1)),
        ("reject", Reject(RejectCode.BAD_PROOF, "the leaf and path do not lead to the root")),
    ]
    out = [
        {
            "name": f"message_{name}",
            "kind": "message",
            "message": name,
            "frame": audit_frame(msg).hex(),
            "fields": spell(msg),
        }
        for name, msg in msgs
    ]
    record = proof.record.to_pb()

    def raw_proof(leaf: bytes, path: list[bytes], with_record: bool = True) -> bytes:
        p = pb.AuditProof(leaf=leaf, path=path)
        if with_record:
            p.record.CopyFrom(record)
        payload = pb.AuditMessage(proof=p).SerializeToString(deterministic=True)
        return encode_uvarint(len(payload)) + payload

    def raw(msg: pb.AuditMessage) -> bytes:
        payload = msg.SerializeToString(deterministic=True)
        return encode_uvarint(len(payload)) + payload

    invalid: list[tuple[str, bytes, str]] = [
        ("proof_leaf_empty", raw_proof(b"", list(proof.path)), "MALFORMED"),
        ("proof_leaf_1025_bytes", raw_proof(bytes(1025), list(proof.path)), "MALFORMED"),
        ("proof_path_hash_31_bytes", raw_proof(proof.leaf, [bytes(31)]), "MALFORMED"),
        ("proof_path_33_hashes", raw_proof(proof.leaf, [bytes(32)] * 33), "MALFORMED"),
        ("proof_without_record", raw_proof(proof.leaf, list(proof.path), False), "MALFORMED"),
        ("moved_without_link", raw(pb.AuditMessage(moved=pb.AuditMoved())), "MALFORMED"),
        ("reject_code_22", raw(pb.AuditMessage(reject=pb.Reject(code=22))), "MALFORMED"),  # type: ignore[arg-type]
        ("no_kind", raw(pb.AuditMessage()), "MALFORMED"),
    ]
    for name, frame, intended in invalid:
        try:
            decode_audit_message(payload_of(frame))
            got = "ok"
        except ProtocolError as exc:
            got = exc.code.name
        if got != intended:
            raise AssertionError(f"audit message {name}: decoder says {got}, intended {intended}")
        out.append(
            {
                "name": f"invalid_{name}",
                "kind": "invalid_message",
                "frame": frame.hex(),
                "expect": got,
            }
        )
    return out


def audit_file(scenario: AuditScenario) -> str:
    setup = Setup(scenario)
    cases = [
        *_carrier_cases(setup),
        *_challenge_cases(setup),
        *_check_cases(setup),
        *_verdict_cases(setup),
        *_message_cases(setup),
    ]
    return render(
        "Possession audits, /wdp/audit/1.0 (README section 18). frame = uvarint(len) || "
        "AuditMessage. kind carrier: a node by seed/peer, what it carries (encoded Signed "
        "manifest and record, the receipt it signed, the shard bytes) or null, and the hop "
        "by which it recently handed shard 0 on (encoded Signed record and receipt) or null. "
        "kind challenge: a valid signed AuditChallengeBody (domain 'wdp/v1/audit-challenge'), "
        "signed with signer_seed, spelled out; kind grant: the owner's repair grant "
        "(domain 'wdp/v2/repair-grant' over wanderer_id || repair_key). kind check: the "
        "carrier's answer to challenge_frame at now_ms, its nonce cache holding seen_nonces: "
        "'proof' or 'moved' (answer_frames are then exact: a Proof with the challenged leaf "
        "and its path, or a Moved with the hop) or the code of its Reject. kind verdict: "
        "what a challenger holding manifest concludes from answer_frame after sending "
        "challenge_frame: 'proved', 'moved', the code of its own refusal, or "
        "'carrier:' + the code of the carrier's Reject. kind message: every AuditMessage "
        "kind; kind invalid_message: a frame the decoder refuses with the code in expect.",
        cases,
    )
