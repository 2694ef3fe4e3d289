"""manifest-v2.json and audit.json, checked against the Python core and, where a value can be
computed without it, against an independent computation (RFC 6962 by hand, HKDF and Ed25519
straight from their libraries)."""

from __future__ import annotations

import hashlib
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wdp.core.audit import (
    AuditChallenge,
    AuditClientSession,
    AuditServerSession,
    decode_audit_message,
    encode_audit_message,
)
from wdp.core.carrier import Carrier
from wdp.core.effects import PersistReceipt, Send, ShardKey, StoreShard
from wdp.core.errors import ProtocolError
from wdp.core.fetch import LoadShard
from wdp.core.framing import FrameDecoder, encode_uvarint
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.migrate import ReceiverSession
from wdp.core.nonces import NonceCache
from wdp.core.objects import CustodyLink, CustodyRecord, Manifest, Receipt, Signed
from wdp.core.signing import Signer, signing_input
from wdp.core.ticket import Ticket
from wdp.core.wanderer import create_wanderer

VECTORS = Path(__file__).resolve().parents[1] / "protocols" / "vectors" / "v1"


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def cases(name: str, kind: str) -> list[dict[str, Any]]:
    return [c for c in load(name)["cases"] if c["kind"] == kind]


def x(value: str) -> bytes:
    return bytes.fromhex(value)


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def ed25519_public(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def frames_of(data: bytes) -> list[bytes]:
    decoder = FrameDecoder(MAX_FRAME_SIZE)
    decoder.push(data)
    out = []
    while (frame := decoder.next_frame()) is not None:
        out.append(frame)
    return out


# ---- an RFC 6962 tree by hand ------------------------------------------------------


def mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


@pytest.mark.parametrize("case", cases("manifest-v2.json", "merkle"), ids=lambda c: c["name"])
def test_merkle(case: dict[str, Any]) -> None:
    shard = x(case["shard"])
    leaves = [shard[i : i + 1024] for i in range(0, len(shard), 1024)]
    assert len(leaves) == case["leaves"]
    assert mth(leaves).hex() == case["root"]
    assert [[h.hex() for h in path(i, leaves)] for i in range(len(leaves))] == case["paths"]


@pytest.mark.parametrize("case", cases("manifest-v2.json", "keys"), ids=lambda c: c["name"])
def test_repair_keys(case: dict[str, Any]) -> None:
    seed = x(case["owner_seed"])
    rs = hkdf(seed, b"wdp/v2/repair-seed")
    assert rs.hex() == case["repair_seed"]
    rk = ed25519_public(rs)
    assert rk.hex() == case["repair_key"]
    assert (
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(rk).hex()
        == case["repair_x25519_public_key"]
    )
    sk = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(rs + rk)
    assert sk.hex() == case["repair_x25519_private_key"]
    owner = ed25519_public(seed)
    wid = hashlib.sha256(b"wdp/v1/wanderer-id" + owner).digest()
    grant = x(case["repair_grant"])
    nacl.signing.VerifyKey(owner).verify(signing_input(b"wdp/v2/repair-grant", wid + rk), grant)
    for loc in case["locators"]:
        info = loc["shard_index"].to_bytes(4, "big") + loc["generation"].to_bytes(4, "big")
        assert hkdf(rs, b"wdp/v2/locator-key" + info).hex() == loc["locator_seed"]
        assert hkdf(seed, b"wdp/v1/locator-key" + info).hex() == loc["v1_locator_seed"]
        assert ed25519_public(x(loc["locator_seed"])).hex() == loc["locator_key"]


@pytest.mark.parametrize("case", cases("manifest-v2.json", "pipeline"), ids=lambda c: c["name"])
def test_v2_pipeline(case: dict[str, Any]) -> None:
    w = create_wanderer(
        x(case["payload"]), owner_seed=x(case["owner_seed"]), nonce=x(case["nonce"]),
        k=case["k"], n=case["n"], epoch_seconds=case["epoch_seconds"],
        now=case["created_at_ms"] / 1000,
    )  # fmt: skip
    shards = [x(s) for s in case["shards"]]
    assert list(w.shards) == shards
    roots = [mth([s[i : i + 1024] for i in range(0, len(s), 1024)]).hex() for s in shards]
    assert roots == case["shard_roots"]
    assert w.manifest.body.hex() == case["manifest"]["body"]
    assert w.manifest.signature.hex() == case["manifest"]["signature"]
    m = Manifest.decode(x(case["manifest"]["body"]))
    assert m.version == 2 and m.repair_key.hex() == case["repair_key"]
    ticket = Ticket.decode(case["ticket"])
    assert ticket.version == 2 and ticket.manifest_hash.hex() == case["manifest"]["hash"]


@pytest.mark.parametrize("case", cases("manifest-v2.json", "manifest"), ids=lambda c: c["name"])
def test_manifest_decoding(case: dict[str, Any]) -> None:
    try:
        m = Manifest.decode(x(case["body"]))
        got, auditable = "ok", m.auditable
    except ProtocolError as exc:
        got, auditable = exc.code.name, None
    assert (got, auditable) == (case["expect"], case["auditable"])


@pytest.mark.parametrize("case", cases("manifest-v2.json", "ticket"), ids=lambda c: c["name"])
def test_tickets(case: dict[str, Any]) -> None:
    t = Ticket.decode(case["text"])
    assert (t.version, t.owner_seed.hex(), t.manifest_hash.hex(), t.k, t.n) == (
        case["version"], case["owner_seed"], case["manifest_hash"], case["k"], case["n"],
    )  # fmt: skip
    assert t.locator_seed(2, 0).hex() == case["locator_seed_shard2_gen0"]
    assert t.sealing_seed.hex() == case["sealing_seed"]


@pytest.mark.parametrize("case", cases("manifest-v2.json", "receive"), ids=lambda c: c["name"])
def test_a_receiver_checks_the_root(case: dict[str, Any]) -> None:
    now = case["now_ms"] / 1000
    signer = Signer(x(case["local_seed"]))
    carrier = Carrier(signer, random.Random(0), now)
    recv = ReceiverSession(signer, carrier, now, x(case["remote_peer"]))
    sent: list[str] = []

    def perform(effects: list[Any]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                sent.append(eff.data.hex())
            elif isinstance(eff, StoreShard):
                perform(recv.store_done(True, now))
            elif isinstance(eff, PersistReceipt):
                perform(recv.receipt_persisted(True, now))

    for frame in case["frames"]:
        if frame["dir"] == "s2r":
            perform(recv.receive_data(x(frame["frame"]), now))
    assert sent == [f["frame"] for f in case["frames"] if f["dir"] == "r2s"]
    got = "receipt" if recv.failure is None else recv.failure.code.name
    assert got == case["expect"]


# ---- audit.json ------------------------------------------------------------------------


def carrier_of(case: dict[str, Any], now: float) -> tuple[Carrier, dict[ShardKey, bytes]]:
    """A reference carrier in the state a ``carrier`` case describes."""
    signer = Signer(x(case["seed"]))
    assert signer.public_key.hex() == case["peer"]
    carrier = Carrier(signer, random.Random(0), now)
    store: dict[ShardKey, bytes] = {}
    held = case["carries"]
    if held is not None:
        manifest = Signed.from_bytes(x(held["manifest"]), Manifest)
        record = Signed.from_bytes(x(held["record"]), CustodyRecord)
        receipt = Signed.from_bytes(x(held["receipt"]), Receipt)
        key = ShardKey(record.value.wanderer_id, record.value.shard_index)
        store[key] = x(held["shard"])
        stored = StoreShard(key, store[key], manifest, (), record, bytes(32))
        carrier.shard_received(stored, CustodyLink(record, receipt), now)
    moved = case["handed_on"]
    if moved is not None:
        record = Signed.from_bytes(x(moved["record"]), CustodyRecord)
        receipt = Signed.from_bytes(x(moved["receipt"]), Receipt)
        key = ShardKey(record.value.wanderer_id, record.value.shard_index)
        came_from = bytes.fromhex(moved["received_from"])
        carrier._handed_on[key] = (CustodyLink(record, receipt), now + 3600, came_from)
    return carrier, store


CARRIERS = {c["name"]: c for c in cases("audit.json", "carrier")}


@pytest.mark.parametrize("case", cases("audit.json", "check"), ids=lambda c: c["name"])
def test_the_carriers_answer(case: dict[str, Any]) -> None:
    now = case["now_ms"] / 1000
    carrier, store = carrier_of(CARRIERS[case["carrier"]], now)
    nonces = NonceCache()
    for seen in case["seen_nonces"]:
        nonces.add(x(seen["nonce"]), seen["time_ms"], case["now_ms"])
    server = AuditServerSession(
        local_peer=carrier.peer, lookup=carrier.held.get, nonces=nonces, now=now,
        moved=carrier.handed_on,
        received_from=carrier.received_from,
    )  # fmt: skip
    sent: list[str] = []

    def perform(effects: list[Any]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                sent.append(eff.data.hex())
            elif isinstance(eff, LoadShard):
                perform(server.shard_loaded(store.get(eff.key), now))

    perform(server.receive_data(x(case["challenge_frame"]), now))
    assert sent == case["answer_frames"]
    if server.failure is not None:
        assert server.failure.code.name == case["expect"]
    else:
        (answer,) = frames_of(x(sent[0]))
        assert type(decode_audit_message(answer)).__name__.lower() == case["expect"]


@pytest.mark.parametrize("case", cases("audit.json", "verdict"), ids=lambda c: c["name"])
def test_the_challengers_verdict(case: dict[str, Any]) -> None:
    (frame,) = frames_of(x(case["challenge_frame"]))
    challenge = decode_audit_message(frame)
    manifest = Signed.from_bytes(x(case["manifest"]), Manifest)
    client = AuditClientSession(challenge.challenge, manifest)  # type: ignore[union-attr]
    client.start(0.0)
    client.receive_data(x(case["answer_frame"]), 0.0)
    if client.result is not None:
        got = "proved" if client.result.proved else "moved"
    else:
        assert client.failure is not None
        got = ("carrier:" if client.failed_by_peer else "") + client.failure.code.name
    assert got == case["expect"]


@pytest.mark.parametrize("case", cases("audit.json", "challenge"), ids=lambda c: c["name"])
def test_challenges(case: dict[str, Any]) -> None:
    signed = Signed.from_bytes(x(case["signed"]), AuditChallenge)
    key = ed25519_public(x(case["signer_seed"]))
    assert signed.value.challenger_key == key
    nacl.signing.VerifyKey(key).verify(
        signing_input(case["domain"].encode(), signed.body), signed.signature
    )
    assert signed.body.hex() == case["body"]
    payload = encode_audit_message(decode_audit_message(frames_of(x(case["frame"]))[0]))
    assert (encode_uvarint(len(payload)) + payload).hex() == case["frame"]


@pytest.mark.parametrize("case", cases("audit.json", "message"), ids=lambda c: c["name"])
def test_messages_round_trip(case: dict[str, Any]) -> None:
    (frame,) = frames_of(x(case["frame"]))
    msg = decode_audit_message(frame)
    assert type(msg).__name__.lower() == case["message"]
    assert encode_audit_message(msg) == frame


@pytest.mark.parametrize("case", cases("audit.json", "invalid_message"), ids=lambda c: c["name"])
def test_invalid_messages(case: dict[str, Any]) -> None:
    (frame,) = frames_of(x(case["frame"]))
    with pytest.raises(ProtocolError) as err:
        decode_audit_message(frame)
    assert err.value.code.name == case["expect"]


def test_the_grant() -> None:
    (case,) = cases("audit.json", "grant")
    owner = ed25519_public(x(case["owner_seed"]))
    assert x(case["body"]) == x(case["wanderer_id"]) + x(case["repair_key"])
    nacl.signing.VerifyKey(owner).verify(
        signing_input(b"wdp/v2/repair-grant", x(case["body"])), x(case["grant"])
    )
