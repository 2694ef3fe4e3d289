"""``/wdp/audit/1.0``: an honest holder passes, a carrier without the bytes fails,
and replayed, forged and stale challenges are refused with their codes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdp.core import merkle
from wdp.core.audit import (
    AuditChallenge,
    AuditClientSession,
    AuditServerSession,
    Moved,
    Proof,
    check_proof,
    decode_audit_message,
    encode_audit_message,
    make_challenge,
    make_grant,
    make_spot_challenge,
)
from wdp.core.effects import HandoffSucceeded, Send
from wdp.core.errors import LocalProtocolError, RejectCode
from wdp.core.fetch import LoadShard
from wdp.core.framing import encode_frame
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.nonces import NonceCache
from wdp.core.objects import CustodyLink, Reason, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, repair_seed

from .helpers import (
    OWNER_SEED,
    T0,
    Node,
    launch,
    make_node,
    make_wanderer,
    run_handoff,
    seed,
)

REPAIR_SEED = repair_seed(OWNER_SEED)


def carrying(index: int = 0, *, version: int = 2) -> tuple[Wanderer, Node]:
    """A wanderer and a node that took shard ``index`` at hop 0."""
    if version == 2:
        w = make_wanderer(b"audited payload " * 300, k=2, n=4)  # 2408-byte shards: 3 leaves
    else:
        w = create_wanderer(
            b"old", owner_seed=OWNER_SEED, nonce=bytes(12), k=2, n=4, epoch_seconds=600,
            now=T0, version=1,
        )  # fmt: skip
    node = make_node(1)
    assert launch(w, index, node).reject_code is None
    return w, node


def challenge_for(
    w: Wanderer,
    node: Node,
    *,
    index: int = 0,
    leaf: int = 1,
    now: float = T0,
    nonce: bytes = b"\x01" * 16,
    signer_seed: bytes = OWNER_SEED,
    grant: bytes = b"",
    carrier: bytes | None = None,
) -> Signed[AuditChallenge]:
    return make_challenge(
        signer_seed,
        owner_key=w.manifest.value.owner_key,
        shard_index=index,
        carrier=node.peer if carrier is None else carrier,
        leaf_index=leaf,
        now=now,
        nonce=nonce,
        grant=grant,
    )


def run_audit(
    w: Wanderer,
    node: Node,
    challenge: Signed[AuditChallenge],
    *,
    now: float = T0,
    nonces: NonceCache | None = None,
    stored: bytes | str | None = "store",
    tamper=None,
) -> tuple[AuditClientSession, AuditServerSession]:
    """One audit over a perfect in-memory link; ``stored`` overrides what the store returns,
    ``tamper`` rewrites the proof on its way."""
    client = AuditClientSession(challenge, w.manifest)
    server = AuditServerSession(
        local_peer=node.peer,
        lookup=node.carrier.held.get,
        nonces=NonceCache() if nonces is None else nonces,
        now=now,
        moved=node.carrier.handed_on,
        received_from=node.carrier.received_from,
    )
    to_server = [e.data for e in client.start(now) if isinstance(e, Send)]
    for data in to_server:
        for eff in server.receive_data(data, now):
            if isinstance(eff, Send):
                deliver(client, eff, now, tamper)
            elif isinstance(eff, LoadShard):
                shard = node.store.get(eff.key) if stored == "store" else stored
                for out in server.shard_loaded(shard, now):  # type: ignore[arg-type]
                    if isinstance(out, Send):
                        deliver(client, out, now, tamper)
    return client, server


def deliver(client: AuditClientSession, eff: Send, now: float, tamper) -> None:
    msg = eff.message
    if tamper is not None and isinstance(msg, Proof):
        msg = tamper(msg)
    client.receive_data(encode_frame(encode_audit_message(msg), MAX_FRAME_SIZE), now)  # type: ignore[arg-type]


def test_an_honest_holder_passes_every_leaf():
    w, node = carrying()
    for leaf in range(merkle.leaf_count(w.manifest.value.shard_size)):
        client, server = run_audit(
            w, node, challenge_for(w, node, leaf=leaf, nonce=bytes([leaf]) * 16)
        )
        assert client.result is not None and client.failure is None, client.failure
        assert client.result.record.value.to_peer == node.peer
        assert server.failure is None


def test_a_carrier_that_dropped_the_bytes_fails():
    w, node = carrying()
    client, _ = run_audit(w, node, challenge_for(w, node), stored=None)
    assert client.result is None and client.failure.code is RejectCode.NOT_HELD
    assert client.failed_by_peer


def test_a_carrier_with_other_bytes_fails():
    w, node = carrying()
    client, _ = run_audit(w, node, challenge_for(w, node), stored=w.shards[1])
    assert client.failure.code is RejectCode.NOT_HELD


def test_a_node_that_never_held_it_fails_with_not_held():
    w, node = carrying(0)
    client, _ = run_audit(w, node, challenge_for(w, node, index=1))
    assert client.failure.code is RejectCode.NOT_HELD


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: dataclasses.replace(p, leaf=bytes([p.leaf[0] ^ 1]) + p.leaf[1:]),
        lambda p: dataclasses.replace(p, path=(bytes(32), *p.path[1:])),
        lambda p: dataclasses.replace(p, path=p.path[:-1]),
        lambda p: dataclasses.replace(p, leaf=p.leaf[:-1]),
    ],
    ids=["leaf-bit", "path-hash", "short-path", "short-leaf"],
)
def test_a_forged_proof_fails_with_bad_proof(tamper):
    w, node = carrying()
    client, _ = run_audit(w, node, challenge_for(w, node), tamper=tamper)
    assert client.result is None and client.failure.code is RejectCode.BAD_PROOF
    assert not client.failed_by_peer


def test_a_proof_under_another_carriers_record_fails():
    w, node = carrying()
    other = make_node(2)
    launch(w, 0, other)
    (held,) = other.carrier.held.values()
    client, _ = run_audit(
        w,
        node,
        challenge_for(w, node),
        tamper=lambda p: dataclasses.replace(p, record=held.last.record),
    )
    assert client.failure.code is RejectCode.WRONG_SENDER


def test_a_replayed_challenge_is_refused():
    w, node = carrying()
    nonces = NonceCache()
    c = challenge_for(w, node)
    first, _ = run_audit(w, node, c, nonces=nonces)
    assert first.result is not None
    again, _ = run_audit(w, node, c, nonces=nonces, now=T0 + 60)
    assert again.failure.code is RejectCode.STALE_HOP


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_challenge_is_refused(skew):
    w, node = carrying()
    client, _ = run_audit(w, node, challenge_for(w, node, now=T0 + skew))
    assert client.failure.code is RejectCode.STALE_HOP


def test_challenges_within_the_skew_window_pass():
    w, node = carrying()
    for i, skew in enumerate((-300, 300)):
        client, _ = run_audit(w, node, challenge_for(w, node, now=T0 + skew, nonce=bytes([i]) * 16))
        assert client.result is not None


def test_a_forged_signature_is_refused_before_anything_is_looked_up():
    w, node = carrying()
    good = challenge_for(w, node)
    forged = Signed(good.body, bytes([good.signature[0] ^ 1]) + good.signature[1:], good.value)
    client, _ = run_audit(w, node, forged)
    assert client.failure.code is RejectCode.UNAUTHORIZED
    # A stranger's own key: UNAUTHORIZED whether or not the node holds the shard.
    stranger = seed(77)
    for index in (0, 1):  # held, not held
        body = dataclasses.replace(
            good.value,
            challenger_key=Signer(stranger).public_key,
            grant=bytes(64),
            shard_index=index,
        )
        client, _ = run_audit(w, node, Signed.create(body, Signer(stranger)))
        assert client.failure.code is RejectCode.UNAUTHORIZED


def test_a_repair_key_with_the_owners_grant_may_audit():
    w, node = carrying()
    m = w.manifest.value
    grant = make_grant(OWNER_SEED, m.wanderer_id, m.repair_key)
    c = challenge_for(w, node, signer_seed=REPAIR_SEED, grant=grant)
    assert c.value.challenger_key == m.repair_key
    client, _ = run_audit(w, node, c)
    assert client.result is not None
    # A grant to another key does not carry over.
    body = dataclasses.replace(
        c.value, challenger_key=Signer(seed(9)).public_key, nonce=b"\x02" * 16
    )
    client, _ = run_audit(w, node, Signed.create(body, Signer(seed(9))))
    assert client.failure.code is RejectCode.UNAUTHORIZED
    with pytest.raises(LocalProtocolError):
        challenge_for(w, node, signer_seed=seed(9), grant=grant)


def test_a_challenge_for_another_carrier_is_refused():
    w, node = carrying()
    client, _ = run_audit(w, node, challenge_for(w, node, carrier=make_node(3).peer))
    assert client.failure.code is RejectCode.WRONG_RECIPIENT


def test_a_leaf_outside_the_shard_is_malformed():
    w, node = carrying()
    leaves = merkle.leaf_count(w.manifest.value.shard_size)
    client, _ = run_audit(w, node, challenge_for(w, node, leaf=leaves))
    assert client.failure.code is RejectCode.MALFORMED


def test_a_version_1_shard_cannot_be_audited():
    w, node = carrying(version=1)
    c = challenge_for(w, node, leaf=0)
    with pytest.raises(LocalProtocolError):
        AuditClientSession(c, w.manifest)
    v2 = make_wanderer(k=2, n=4)  # a client that thinks it is v2 still gets the carrier's refusal
    client = AuditClientSession(c, dataclasses.replace(v2.manifest))
    server = AuditServerSession(
        local_peer=node.peer, lookup=node.carrier.held.get, nonces=NonceCache(), now=T0
    )
    (sent,) = [e for e in client.start(T0) if isinstance(e, Send)]
    out = server.receive_data(sent.data, T0)
    (reject,) = [e for e in out if isinstance(e, Send)]
    assert server.failure.code is RejectCode.UNSUPPORTED_VERSION
    assert decode_audit_message(reject.data[1:]).code is RejectCode.UNSUPPORTED_VERSION


def test_a_challenge_that_never_comes_times_out():
    server = AuditServerSession(
        local_peer=b"\x01" * 32, lookup=lambda k: None, nonces=NonceCache(), now=T0
    )
    assert server.get_timer() == T0 + 10
    server.handle_timer(T0 + 10)
    assert server.failure.code is RejectCode.TIMEOUT


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 20_000), data=st.data())
def test_every_leaf_proves_and_any_flip_fails(size, data):
    shard = data.draw(st.binary(min_size=size, max_size=size))
    root = merkle.merkle_root(shard)
    leaves = merkle.leaf_count(size)
    i = data.draw(st.integers(0, leaves - 1))
    leaf, path = merkle.leaf_of(shard, i), merkle.audit_path(shard, i)
    assert merkle.path_root(size, i, leaf, path) == root
    pos = data.draw(st.integers(0, len(leaf) + 32 * len(path) - 1))
    if pos < len(leaf):
        leaf = leaf[:pos] + bytes([leaf[pos] ^ 1]) + leaf[pos + 1 :]
    else:
        j, b = divmod(pos - len(leaf), 32)
        path[j] = path[j][:b] + bytes([path[j][b] ^ 1]) + path[j][b + 1 :]
    assert merkle.path_root(size, i, leaf, path) != root
    j = (i + 1) % leaves
    if merkle.leaf_of(shard, j) != merkle.leaf_of(shard, i):  # a true leaf at the wrong place
        assert (
            merkle.path_root(size, j, merkle.leaf_of(shard, i), merkle.audit_path(shard, i)) != root
        )


def test_check_proof_wants_a_v2_manifest():
    w, node = carrying(version=1)
    (held,) = node.carrier.held.values()
    c = AuditChallenge(
        wanderer_id=w.manifest.value.wanderer_id, owner_key=w.manifest.value.owner_key,
        challenger_key=w.manifest.value.owner_key, shard_index=0, carrier=node.peer,
        leaf_index=0, time_ms=0, nonce=bytes(16),
    )  # fmt: skip
    with pytest.raises(Exception) as err:
        check_proof(Proof(held.last.record, w.shards[0][:1024], ()), c, w.manifest)
    assert err.value.code is RejectCode.BAD_PROOF


def handed_on(w: Wanderer, node: Node) -> Node:
    """Let ``node`` hand its shard on to a new node (a TTL hop); return the new carrier."""
    nxt = make_node(4)
    (held,) = node.carrier.held.values()
    held.in_flight_to = nxt.peer
    offer = node.carrier.next_offer(held, nxt.peer, Reason.TTL, T0 + 1)
    assert run_handoff(node, nxt, offer, node.store[held.key], now=T0 + 1).reject_code is None
    assert not node.carrier.held and nxt.carrier.held
    return nxt


def test_a_carrier_that_handed_the_shard_on_shows_the_hop():
    w, node = carrying()
    nxt = handed_on(w, node)
    client, server = run_audit(w, node, challenge_for(w, node), now=T0 + 2)
    assert client.failure is None and server.failure is None
    result = client.result
    assert result is not None and not result.proved
    assert result.moved.record.value.to_peer == nxt.peer
    assert result.moved.receipt.value.receiver == nxt.peer
    # ... and the next carrier proves it.
    client, _ = run_audit(w, nxt, challenge_for(w, nxt, now=T0 + 2), now=T0 + 2)
    assert client.result is not None and client.result.proved


def spot_challenge(w: Wanderer, by: Node, to: Node, nonce: bytes, now: float = T0 + 2):
    """A spot audit (spec 18.4 A3): signed by ``by``'s peer key, with no grant."""
    return make_spot_challenge(
        by.carrier.signer, owner_key=w.manifest.value.owner_key, shard_index=0,
        carrier=to.peer, leaf_index=1, now=now, nonce=nonce,
    )  # fmt: skip


def test_the_peer_that_handed_a_shard_on_may_audit_its_receiver_and_no_one_else_may():
    w, node = carrying()
    nxt = handed_on(w, node)
    stranger = make_node(9)
    client, _ = run_audit(w, nxt, spot_challenge(w, node, nxt, b"\x01" * 16), now=T0 + 2)
    assert client.failure is None and client.result is not None and client.result.proved
    # A stranger is refused whether or not the node carries the shard: no oracle.
    for target in (nxt, make_node(8)):
        c = spot_challenge(w, stranger, target, b"\x02" * 16)
        client, _ = run_audit(w, target, c, now=T0 + 2)
        assert client.failure is not None and client.failure.code is RejectCode.UNAUTHORIZED
    # nxt hands the shard on: node may still audit it, and is shown the hop (moved).
    last = make_node(5)
    (held,) = nxt.carrier.held.values()
    held.in_flight_to = last.peer
    offer = nxt.carrier.next_offer(held, last.peer, Reason.TTL, T0 + 3)
    assert run_handoff(nxt, last, offer, nxt.store[held.key], now=T0 + 3).reject_code is None
    client, _ = run_audit(w, nxt, spot_challenge(w, node, nxt, b"\x03" * 16, T0 + 4), now=T0 + 4)
    assert client.result is not None and client.result.moved is not None
    assert client.result.moved.record.value.to_peer == last.peer
    # ... but node may not audit the carrier nxt chose.
    client, _ = run_audit(w, last, spot_challenge(w, node, last, b"\x04" * 16, T0 + 4), now=T0 + 4)
    assert client.failure is not None and client.failure.code is RejectCode.UNAUTHORIZED


def test_the_hop_is_forgotten_after_two_epochs():
    w, node = carrying()
    handed_on(w, node)
    node.carrier.handle_timer(T0 + 1 + 2 * 600 + 1)
    client, _ = run_audit(w, node, challenge_for(w, node, now=T0 + 1202), now=T0 + 1202)
    assert client.failure.code is RejectCode.NOT_HELD


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda link, other: CustodyLink(link.record, other.receipt), RejectCode.BAD_CHAIN),
        (
            lambda link, other: CustodyLink(
                link.record,
                Signed(link.receipt.body, bytes(64), link.receipt.value),
            ),
            RejectCode.BAD_SIGNATURE,
        ),
        (lambda link, other: other, RejectCode.WRONG_SENDER),
    ],
    ids=["receipt-for-another-hop", "receipt-unsigned", "someone-elses-hop"],
)
def test_a_forged_moved_is_refused(tamper, code):
    w, node = carrying()
    handed_on(w, node)
    other_node, other_node2 = make_node(6), make_node(5)  # the same shard, carried elsewhere
    launch(w, 0, other_node)
    (held,) = other_node.carrier.held.values()
    held.in_flight_to = other_node2.peer
    offer = other_node.carrier.next_offer(held, other_node2.peer, Reason.TTL, T0 + 1)
    other_link = run_handoff(other_node, other_node2, offer, other_node.store[held.key], now=T0 + 1)
    (theirs,) = [e.link for e in other_link.sender_effects if isinstance(e, HandoffSucceeded)]
    c = challenge_for(w, node, now=T0 + 2)
    client = AuditClientSession(c, w.manifest)
    client.start(T0 + 2)
    mine = node.carrier.handed_on(c.value.key)
    forged = Moved(tamper(mine, theirs))
    client.receive_data(encode_frame(encode_audit_message(forged), MAX_FRAME_SIZE), T0 + 2)
    assert client.result is None and client.failure.code is code
