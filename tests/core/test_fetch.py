"""/wdp/fetch/1.0 in memory: the owner's client session against a carrier's server session."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from wdp.core.carrier import HeldShard
from wdp.core.crypto import wanderer_id as derive_wanderer_id
from wdp.core.effects import Close, Send, ShardKey
from wdp.core.errors import LocalProtocolError, ProtocolError, RejectCode, RemoteProtocolError
from wdp.core.fetch import (
    FetchClientSession,
    FetchClientState,
    FetchMessage,
    FetchRequest,
    FetchServerSession,
    FetchServerState,
    Header,
    LoadShard,
    NonceCache,
    Request,
    check_fetch_header,
    check_fetch_request,
    decode_fetch_message,
    encode_fetch_message,
    make_fetch_request,
)
from wdp.core.framing import encode_frame, encode_uvarint
from wdp.core.limits import (
    FETCH_IDLE_TIMEOUT,
    FETCH_LOAD_TIMEOUT,
    FETCH_REQUEST_TIMEOUT,
    FETCH_RESPONSE_TIMEOUT,
    MAX_CHUNK_SIZE,
    MAX_FRAME_SIZE,
)
from wdp.core.locator import MAX_CLOCK_SKEW_MS
from wdp.core.messages import Data, Done, Reject, decode_message, encode_message
from wdp.core.objects import Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import Signer

from .helpers import OWNER_SEED, T0, Node, launch, make_node, make_wanderer, run_handoff, seed
from .test_decoder_fuzz import mutate

SKEW = MAX_CLOCK_SKEW_MS / 1000
NOW = T0 + 10
OTHER_SEED = bytes([77]) * 32  # the owner seed of somebody else's wanderer


def frame(msg: FetchMessage) -> bytes:
    return encode_frame(encode_fetch_message(msg), MAX_FRAME_SIZE)


def nonce(i: int) -> bytes:
    return i.to_bytes(16, "big")


def lookup_of(node: Node) -> Callable[[ShardKey], HeldShard | None]:
    return node.carrier.held.get


@dataclass
class Carried:
    """A wanderer whose shard 0 went owner -> a -> b: b carries it at hop 1."""

    w: object
    a: Node
    b: Node
    c: Node  # carries nothing

    @property
    def wid(self) -> bytes:
        return self.w.manifest.value.wanderer_id  # type: ignore[attr-defined]

    def request(self, *, to: Node | None = None, now: float = NOW, i: int = 1, index: int = 0):
        return make_fetch_request(
            OWNER_SEED, self.wid, index, now, nonce(i), carrier=(to or self.b).peer
        )


def carried(payload: bytes = b"fetch me " * 300, k: int = 2, n: int = 3) -> Carried:
    w = make_wanderer(payload=payload, k=k, n=n)
    a, b, c = make_node(1), make_node(2), make_node(3)
    assert launch(w, 0, a).reject_code is None
    (held,) = a.carrier.held.values()
    offer = a.carrier.next_offer(held, b.peer, held.reason, T0 + 1)
    held.in_flight_to = b.peer
    assert run_handoff(a, b, offer, w.shards[0], now=T0 + 1).reject_code is None
    return Carried(w, a, b, c)


@dataclass
class FetchRun:
    client: FetchClientSession
    server: FetchServerSession
    frames: list[tuple[str, FetchMessage]] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [type(m).__name__.lower() for _, m in self.frames]

    @property
    def code(self) -> RejectCode | None:
        for s in (self.server, self.client):
            if s.failure is not None:
                return s.failure.code
        return None


def run_fetch(
    node: Node,
    request: Signed[FetchRequest] | bytes,
    *,
    now: float = NOW,
    nonces: NonceCache | None = None,
    expected: bytes | None = None,
    to_client: Callable[[bytes], bytes | None] | None = None,
    stored: Callable[[ShardKey], bytes | None] | None = None,
) -> FetchRun:
    """One fetch over a perfect in-memory link; ``request`` may be a raw first frame."""
    server = FetchServerSession(
        local_peer=node.peer,
        lookup=lookup_of(node),
        nonces=NonceCache() if nonces is None else nonces,
        now=now,
    )
    if isinstance(request, bytes):  # the test writes the first frame; the client only listens
        client = FetchClientSession(_placeholder_request(node))
    else:
        client = FetchClientSession(request, expected_manifest_hash=expected)
    run = FetchRun(client, server)
    q: deque[tuple[str, bytes]] = deque()
    get = stored or node.store.get

    def on_client(effects: list) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                run.frames.append(("c2s", eff.message))
                q.append(("s", eff.data))

    def on_server(effects: list) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                data = to_client(eff.data) if to_client else eff.data
                if data is not None:
                    run.frames.append(("s2c", decode_fetch_message(data[_prefix_len(data) :])))
                    q.append(("c", data))
            elif isinstance(eff, LoadShard):
                on_server(server.shard_loaded(get(eff.key), now))

    if isinstance(request, bytes):
        client.state = FetchClientState.REQUESTED  # the test speaks for the client
        q.append(("s", request))
    else:
        on_client(client.start(now))
    steps = 0
    while q:
        steps += 1
        assert steps < 10_000
        side, data = q.popleft()
        if side == "s":
            on_server(server.receive_data(data, now))
        else:
            on_client(client.receive_data(data, now))
    return run


def _placeholder_request(node: Node) -> Signed[FetchRequest]:
    w = derive_wanderer_id(Signer(OWNER_SEED).public_key)
    return make_fetch_request(OWNER_SEED, w, 0, NOW, nonce(0), carrier=node.peer)


def _prefix_len(data: bytes) -> int:
    i = 0
    while data[i] & 0x80:
        i += 1
    return i + 1


def resigned(request: Signed[FetchRequest], signer: Signer, **changes) -> Signed[FetchRequest]:
    return Signed.create(dataclasses.replace(request.value, **changes), signer)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 1
    return bytes(out)


# ---- success ---------------------------------------------------------------------


def test_owner_fetches_the_shard_with_manifest_and_hop():
    s = carried()
    run = run_fetch(s.b, s.request(), expected=s.w.manifest.hash)
    assert run.code is None
    assert run.kinds == ["request", "header", "data", "done"]
    assert [d for d, _ in run.frames] == ["c2s", "s2c", "s2c", "s2c"]
    assert run.client.state is FetchClientState.DONE
    assert run.server.state is FetchServerState.DONE
    result = run.client.result
    assert result is not None
    assert result.shard == s.w.shards[0]
    assert result.manifest.hash == s.w.manifest.hash
    rec = result.record.value
    assert (rec.hop, rec.generation, rec.to_peer, rec.from_peer) == (1, 0, s.b.peer, s.a.peer)
    assert result.record.hash == s.b.carrier.held[ShardKey(s.wid, 0)].last.record.hash


def test_a_multi_chunk_shard_arrives_in_order():
    s = carried(payload=bytes(range(256)) * 9000, k=1, n=2)  # 2.2 MiB shards
    run = run_fetch(s.b, s.request())
    assert run.code is None
    datas = [m for _, m in run.frames if isinstance(m, Data)]
    assert [d.offset for d in datas] == [0, MAX_CHUNK_SIZE, 2 * MAX_CHUNK_SIZE]
    assert run.client.result is not None and run.client.result.shard == s.w.shards[0]


def test_the_first_carrier_serves_hop_zero_signed_by_the_owner():
    w = make_wanderer()
    a = make_node(1)
    assert launch(w, 2, a).reject_code is None
    wid = w.manifest.value.wanderer_id
    run = run_fetch(a, make_fetch_request(OWNER_SEED, wid, 2, NOW, nonce(1), carrier=a.peer))
    assert run.code is None and run.client.result.shard == w.shards[2]
    assert run.client.result.record.value.hop == 0


def test_clock_skew_of_exactly_five_minutes_is_accepted():
    s = carried()
    nonces = NonceCache()
    for i, t in enumerate((NOW - SKEW, NOW + SKEW)):
        run = run_fetch(s.b, s.request(now=t, i=i), now=NOW, nonces=nonces)
        assert run.code is None


# ---- the carrier's refusals, one per check ------------------------------------------


def test_a_node_that_does_not_carry_the_shard_says_not_held():
    s = carried()
    run = run_fetch(s.c, s.request(to=s.c))
    assert run.code is RejectCode.NOT_HELD
    assert run.kinds == ["request", "reject"]
    assert run.client.state is FetchClientState.FAILED and run.client.failed_by_peer
    assert run.server.state is FetchServerState.REJECTED
    # Another shard of the same wanderer is not this one either.
    assert run_fetch(s.b, s.request(index=1, i=2)).code is RejectCode.NOT_HELD
    # The previous carrier handed it on: it no longer serves it.
    assert run_fetch(s.a, s.request(to=s.a, i=3)).code is RejectCode.NOT_HELD


def test_a_request_signed_by_another_key_is_unauthorized():
    s = carried()
    good = s.request()
    mallory = Signer(OTHER_SEED)
    # The owner's key in the body, somebody else's signature.
    forged = resigned(good, mallory)
    run = run_fetch(s.b, forged)
    assert run.code is RejectCode.UNAUTHORIZED and run.kinds == ["request", "reject"]
    # Mallory's own key in the body: it does not own that wanderer.
    own_key = resigned(good, mallory, owner_key=mallory.public_key)
    assert run_fetch(s.b, own_key).code is RejectCode.UNAUTHORIZED
    # A carrier's key (the previous carrier knows the manifest) is no better.
    carrier_signed = resigned(good, s.a.signer, owner_key=s.a.peer)
    assert run_fetch(s.b, carrier_signed).code is RejectCode.UNAUTHORIZED


def test_unauthorized_requests_learn_nothing_about_what_a_node_holds():
    """A non-owner gets UNAUTHORIZED from the carrier and from a non-carrier alike."""
    s = carried()
    mallory = Signer(OTHER_SEED)
    for node in (s.b, s.c):
        forged = resigned(s.request(to=node), mallory)
        assert run_fetch(node, forged).code is RejectCode.UNAUTHORIZED


def test_a_bit_flip_in_the_request_is_unauthorized():
    s = carried()
    good = s.request()
    in_nonce = Signed(flip(good.body, len(good.body) - 1), good.signature, good.value)
    in_sig = Signed(good.body, flip(good.signature, 5), good.value)
    for bad in (in_nonce, in_sig):
        raw = pb.FetchMessage(request=pb.Signed(body=bad.body, signature=bad.signature))
        payload = raw.SerializeToString()
        run = run_fetch(s.b, encode_uvarint(len(payload)) + payload)
        assert run.code is RejectCode.UNAUTHORIZED


def test_a_request_for_another_carrier_is_wrong_recipient():
    s = carried()
    run = run_fetch(s.b, s.request(to=s.c))
    assert run.code is RejectCode.WRONG_RECIPIENT


def test_a_stale_or_future_request_is_refused():
    s = carried()
    for t in (NOW - SKEW - 0.001, NOW + SKEW + 0.001, 0.0):
        run = run_fetch(s.b, s.request(now=t))
        assert run.code is RejectCode.STALE_HOP, t
        assert "clock" in run.server.failure.detail


def test_a_replayed_nonce_is_refused():
    s = carried()
    nonces = NonceCache()
    req = s.request()
    assert run_fetch(s.b, req, nonces=nonces).code is None
    again = run_fetch(s.b, req, now=NOW + 1, nonces=nonces)
    assert again.code is RejectCode.STALE_HOP
    assert "nonce" in again.server.failure.detail
    # The same nonce in a freshly signed request is still a replay.
    assert run_fetch(s.b, s.request(now=NOW + 2), nonces=nonces).code is RejectCode.STALE_HOP
    # Once the request could no longer be fresh, the time check refuses it.
    late = run_fetch(s.b, req, now=NOW + SKEW + 1, nonces=nonces)
    assert late.code is RejectCode.STALE_HOP and "clock" in late.server.failure.detail
    assert not nonces.seen(req.value.nonce, int((NOW + SKEW + 1) * 1000)) and len(nonces) == 0


def test_a_not_held_answer_uses_up_the_nonce():
    s = carried()
    nonces = NonceCache()
    req = s.request(to=s.c)
    assert run_fetch(s.c, req, nonces=nonces).code is RejectCode.NOT_HELD
    assert run_fetch(s.c, req, nonces=nonces).code is RejectCode.STALE_HOP


def test_refused_requests_do_not_use_up_nonces():
    s = carried()
    nonces = NonceCache()
    assert run_fetch(s.b, resigned(s.request(), Signer(OTHER_SEED)), nonces=nonces).code is (
        RejectCode.UNAUTHORIZED
    )
    assert run_fetch(s.b, s.request(now=NOW - 2 * SKEW), nonces=nonces).code is (
        RejectCode.STALE_HOP
    )
    assert len(nonces) == 0
    assert run_fetch(s.b, s.request(), nonces=nonces).code is None


def test_checks_run_in_the_specified_order():
    s = carried()
    mallory = Signer(OTHER_SEED)
    nonces = NonceCache()

    def code(req: Signed[FetchRequest], node: Node = s.c) -> RejectCode | None:
        return run_fetch(node, req, nonces=nonces).code

    stale_elsewhere = s.request(to=s.b, now=NOW - 2 * SKEW, i=10)
    # F2/F3 before F4: signed by a stranger, for another carrier, stale -> UNAUTHORIZED
    assert code(resigned(stale_elsewhere, mallory)) is RejectCode.UNAUTHORIZED
    # F4 before F5: for another carrier and stale -> WRONG_RECIPIENT
    assert code(stale_elsewhere) is RejectCode.WRONG_RECIPIENT
    # F5 before F7: stale and not held -> STALE_HOP
    assert code(s.request(to=s.c, now=NOW - 2 * SKEW, i=11)) is RejectCode.STALE_HOP
    # F6 before F7: replayed and not held -> STALE_HOP
    assert code(s.request(to=s.c, i=12)) is RejectCode.NOT_HELD
    assert code(s.request(to=s.c, i=12)) is RejectCode.STALE_HOP


def test_malformed_requests_get_their_decode_code():
    s = carried()
    good = s.request()
    signer = Signer(OWNER_SEED)

    def raw(body: bytes, signature: bytes | None = None) -> bytes:
        sig = signer.sign(FetchRequest.DOMAIN, body) if signature is None else signature
        payload = pb.FetchMessage(request=pb.Signed(body=body, signature=sig)).SerializeToString()
        return encode_uvarint(len(payload)) + payload

    def body(**changes) -> bytes:
        return dataclasses.replace(good.value, **changes).encode()

    cases = [
        (b"\x00", RejectCode.MALFORMED),  # empty message: no kind
        (b"\x03\xff\xff\xff", RejectCode.MALFORMED),  # not protobuf
        (encode_uvarint(MAX_FRAME_SIZE + 1), RejectCode.TOO_LARGE),
        (raw(body(nonce=bytes(15))), RejectCode.MALFORMED),
        (raw(body(carrier=bytes(31))), RejectCode.MALFORMED),
        (raw(body(wanderer_id=b"")), RejectCode.MALFORMED),
        (raw(body(shard_index=256)), RejectCode.MALFORMED),
        (raw(body(version=2)), RejectCode.UNSUPPORTED_VERSION),
        (raw(body(), signature=bytes(63)), RejectCode.MALFORMED),
        (raw(body() + b"\x42\xd0\x01" + bytes(208)), RejectCode.TOO_LARGE),  # body > 256 bytes
        (raw(b"\xff\xff"), RejectCode.MALFORMED),
        (frame(Data(0, b"x")), RejectCode.PROTOCOL_VIOLATION),  # data before a request
        (frame(Done(bytes(32))), RejectCode.PROTOCOL_VIOLATION),
    ]
    for data, want in cases:
        run = run_fetch(s.b, data)
        assert run.code is want, (data[:8].hex(), run.server.failure)
        assert run.server.state is FetchServerState.REJECTED
        sent = [m for d, m in run.frames if d == "s2c"]
        assert sent == [Reject(want, run.server.failure.detail)]


def test_unknown_fields_in_a_request_are_signed_and_ignored():
    s = carried()
    good = s.request()
    body = good.body + b"\xa2\x06\x03abc"  # field 100, bytes
    signed = Signed(body, Signer(OWNER_SEED).sign(FetchRequest.DOMAIN, body), good.value)
    assert run_fetch(s.b, signed).code is None


def test_a_carrier_whose_copy_is_gone_or_damaged_says_not_held():
    s = carried()
    for i, stored in enumerate((lambda k: None, lambda k: flip(s.b.store[k], 0))):
        run = run_fetch(s.b, s.request(i=i), stored=stored)
        assert run.code is RejectCode.NOT_HELD
        assert run.kinds == ["request", "reject"]


# ---- the client's refusals -----------------------------------------------------------


def rewrite(kind: type, fn: Callable[[FetchMessage], FetchMessage | None]):
    """A link that rewrites (or drops) the server's messages of one kind."""

    def link(data: bytes) -> bytes | None:
        msg = decode_fetch_message(data[_prefix_len(data) :])
        if not isinstance(msg, kind):
            return data
        out = fn(msg)
        return None if out is None else frame(out)

    return link


def client_refuses(s: Carried, link, want: RejectCode, **kw) -> FetchRun:
    run = run_fetch(s.b, s.request(), to_client=link, **kw)
    assert run.client.state is FetchClientState.FAILED
    assert run.client.failure.code is want and not run.client.failed_by_peer
    assert run.client.result is None
    assert run.frames[-1] == ("c2s", Reject(want, run.client.failure.detail))
    return run


def test_tampered_data_is_refused_by_the_client():
    s = carried()
    run = client_refuses(
        s, rewrite(Data, lambda d: Data(d.offset, flip(d.chunk, 3))), RejectCode.SHARD_HASH_MISMATCH
    )
    # The carrier sends everything at once; the client refuses at the bad byte count.
    assert run.kinds == ["request", "header", "data", "done", "reject"]


def test_bad_data_framing_is_refused_by_the_client():
    s = carried()
    shifted = rewrite(Data, lambda d: Data(d.offset + 1, d.chunk))
    client_refuses(s, shifted, RejectCode.PROTOCOL_VIOLATION)
    client_refuses(s, rewrite(Data, lambda d: Data(0, d.chunk + b"!")), RejectCode.TOO_LARGE)
    client_refuses(s, rewrite(Data, lambda d: None), RejectCode.PROTOCOL_VIOLATION)  # done early
    client_refuses(s, rewrite(Done, lambda d: Done(bytes(32))), RejectCode.PROTOCOL_VIOLATION)
    client_refuses(s, rewrite(Header, lambda h: Done(bytes(32))), RejectCode.PROTOCOL_VIOLATION)


def test_a_bad_header_is_refused():
    s = carried()
    other = carried(payload=b"another wanderer " * 100)  # same owner: same wanderer id
    w2 = make_wanderer(payload=b"x" * 50)
    mallory = Signer(OTHER_SEED)

    def manifest_sig(h: Header) -> Header:
        m = h.manifest
        return Header(Signed(m.body, flip(m.signature, 0), m.value), h.record)

    def record_sig(h: Header) -> Header:
        r = h.record
        return Header(h.manifest, Signed(r.body, flip(r.signature, 0), r.value))

    def record(h: Header, **changes) -> Header:
        return Header(
            h.manifest, Signed.create(dataclasses.replace(h.record.value, **changes), s.a.signer)
        )

    cases = [
        (manifest_sig, RejectCode.BAD_MANIFEST),
        (lambda h: Header(other.w.manifest, h.record), RejectCode.BAD_MANIFEST),  # expected hash
        (lambda h: Header(resign_manifest(h, mallory), h.record), RejectCode.BAD_MANIFEST),
        (record_sig, RejectCode.BAD_SIGNATURE),
        (lambda h: record(h, shard_index=1), RejectCode.BAD_CHAIN),
        (lambda h: record(h, shard_hash=bytes(32)), RejectCode.BAD_CHAIN),
        (lambda h: record(h, manifest_hash=w2.manifest.hash), RejectCode.BAD_CHAIN),
        (lambda h: record(h, to_peer=s.c.peer), RejectCode.WRONG_SENDER),
    ]
    for fn, want in cases:
        run = client_refuses(s, rewrite(Header, fn), want, expected=s.w.manifest.hash)
        assert run.client.header is None, want  # refused at the header: no byte was taken
    # Without an expected hash, another manifest of the same owner fails the record's fit.
    client_refuses(
        s, rewrite(Header, lambda h: Header(other.w.manifest, h.record)), RejectCode.BAD_CHAIN
    )


def resign_manifest(h: Header, signer: Signer):
    m = h.manifest.value
    value = dataclasses.replace(
        m, owner_key=signer.public_key, wanderer_id=derive_wanderer_id(signer.public_key)
    )
    return Signed.create(value, signer)


def test_check_fetch_header_order_hop_zero_must_come_from_the_owner():
    w = make_wanderer()
    a = make_node(1)
    assert launch(w, 0, a).reject_code is None
    held = a.carrier.held[ShardKey(w.manifest.value.wanderer_id, 0)]
    req = make_fetch_request(
        OWNER_SEED, w.manifest.value.wanderer_id, 0, NOW, nonce(1), carrier=a.peer
    ).value
    check_fetch_header(Header(held.manifest, held.last.record), req, w.manifest.hash)
    forged = Signed.create(
        dataclasses.replace(held.last.record.value, from_peer=Signer(seed(9)).public_key),
        Signer(seed(9)),
    )
    with pytest.raises(ProtocolError) as err:
        check_fetch_header(Header(held.manifest, forged), req)
    assert err.value.code is RejectCode.BAD_CHAIN


# ---- timers, stream loss, odd orders -----------------------------------------------


def test_server_times_out_waiting_for_the_request():
    s = carried()
    server = FetchServerSession(
        local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
    )
    assert server.get_timer() == NOW + FETCH_REQUEST_TIMEOUT
    assert server.handle_timer(NOW + FETCH_REQUEST_TIMEOUT - 0.001) == []
    out = server.handle_timer(NOW + FETCH_REQUEST_TIMEOUT)
    assert isinstance(out[0], Send) and out[0].message.code is RejectCode.TIMEOUT
    assert isinstance(out[-1], Close) and server.state is FetchServerState.REJECTED
    assert server.receive_data(frame(Request(s.request())), NOW) == []  # terminal: ignored


def test_server_load_timeout_and_a_late_load_is_ignored():
    s = carried()
    server = FetchServerSession(
        local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
    )
    (load,) = server.receive_data(frame(Request(s.request())), NOW)
    assert isinstance(load, LoadShard) and server.state is FetchServerState.LOADING
    assert server.get_timer() == NOW + FETCH_LOAD_TIMEOUT
    out = server.handle_timer(NOW + FETCH_LOAD_TIMEOUT)
    assert out[0].message.code is RejectCode.TIMEOUT
    assert server.shard_loaded(s.b.store[load.key], NOW + 30) == []


def test_server_stops_when_the_client_gives_up_while_loading():
    s = carried()
    server = FetchServerSession(
        local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
    )
    (load,) = server.receive_data(frame(Request(s.request())), NOW)
    out = server.receive_data(frame(Reject(RejectCode.TIMEOUT, "bye")), NOW + 1)
    assert out == [Close()] and server.state is FetchServerState.REJECTED
    assert server.failed_by_peer
    assert server.shard_loaded(s.b.store[load.key], NOW + 1) == []
    with pytest.raises(LocalProtocolError):
        FetchServerSession(
            local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
        ).shard_loaded(b"x", NOW)


def test_client_timers_and_stream_loss():
    s = carried()
    client = FetchClientSession(s.request())
    (send,) = client.start(NOW)
    assert isinstance(send.message, Request)
    assert client.get_timer() == NOW + FETCH_RESPONSE_TIMEOUT
    out = client.handle_timer(NOW + FETCH_RESPONSE_TIMEOUT)
    assert out[0].message.code is RejectCode.TIMEOUT and client.state is FetchClientState.FAILED

    # Idle timeout between data messages, re-armed by every message.
    run = run_fetch(s.b, s.request(i=2))
    header = next(m for _, m in run.frames if isinstance(m, Header))
    client = FetchClientSession(s.request(i=3))
    client.start(NOW)
    assert client.receive_data(frame(header), NOW + 1) == []
    assert client.get_timer() == NOW + 1 + FETCH_IDLE_TIMEOUT
    out = client.handle_timer(NOW + 1 + FETCH_IDLE_TIMEOUT)
    assert out[0].message.code is RejectCode.TIMEOUT

    client = FetchClientSession(s.request(i=4))
    client.start(NOW)
    assert client.connection_lost(NOW) == [Close()]
    assert client.state is FetchClientState.FAILED and client.failure.code is RejectCode.TIMEOUT
    with pytest.raises(LocalProtocolError):
        client.start(NOW)


def test_a_carrier_that_trickles_its_data_is_cut_off_at_the_rate_window():
    s = carried()
    run = run_fetch(s.b, s.request(i=5))
    header = next(m for _, m in run.frames if isinstance(m, Header))
    shard = s.w.shards[0]
    client = FetchClientSession(s.request(i=6))
    client.start(NOW)
    client.receive_data(frame(header), NOW)
    out: list = []
    for i, t in enumerate(range(20, 100, 20)):  # a byte every 20 s: never idle for 30 s
        while (at := client.get_timer()) is not None and at <= NOW + t and not client.finished:
            out += client.handle_timer(at)
        if client.finished:
            break
        client.receive_data(frame(Data(i, shard[i : i + 1])), NOW + t)
    assert client.failure is not None and client.failure.code is RejectCode.TIMEOUT
    assert "slower than 64 KiB/s" in client.failure.detail
    assert client.result is None


def test_frames_split_anywhere_give_the_same_result():
    s = carried()
    run = run_fetch(s.b, s.request())
    stream = b"".join(frame(m) for d, m in run.frames if d == "s2c")
    for step in (1, 7, 1000):
        client = FetchClientSession(s.request())
        client.start(NOW)
        for i in range(0, len(stream), step):
            client.receive_data(stream[i : i + step], NOW)
        assert client.result is not None and client.result.shard == s.w.shards[0]


# ---- pieces ----------------------------------------------------------------------------


def test_make_fetch_request_refuses_a_seed_that_does_not_own_the_wanderer():
    s = carried()
    with pytest.raises(LocalProtocolError) as err:
        make_fetch_request(OTHER_SEED, s.wid, 0, NOW, nonce(1), carrier=s.b.peer)
    assert err.value.code is RejectCode.UNAUTHORIZED
    with pytest.raises(LocalProtocolError):
        make_fetch_request(OWNER_SEED, s.wid, 0, NOW, bytes(8), carrier=s.b.peer)


def test_request_round_trips_and_binds_its_fields():
    s = carried()
    req = s.request()
    assert FetchRequest.decode(req.body) == req.value
    assert req.verify(Signer(OWNER_SEED).public_key)
    v = req.value
    assert (v.wanderer_id, v.shard_index, v.carrier, v.nonce) == (s.wid, 0, s.b.peer, nonce(1))
    assert v.time_ms == int(NOW * 1000)


def test_every_message_round_trips_and_new_codes_are_fetch_only():
    s = carried()
    run = run_fetch(s.b, s.request())
    msgs = [m for _, m in run.frames]
    msgs += [Reject(RejectCode.NOT_HELD, "n"), Reject(RejectCode.UNAUTHORIZED, "")]
    for msg in msgs:
        assert decode_fetch_message(encode_fetch_message(msg)) == msg
    # Codes 19 and 20 are fetch codes: a migrate Reject carrying one is MALFORMED.
    for code in (RejectCode.NOT_HELD, RejectCode.UNAUTHORIZED):
        with pytest.raises(ProtocolError) as err:
            decode_message(encode_message(Reject(code, "")))
        assert err.value.code is RejectCode.MALFORMED
    with pytest.raises(ProtocolError) as err:
        decode_fetch_message(pb.FetchMessage(reject=pb.Reject(code=21)).SerializeToString())
    assert err.value.code is RejectCode.MALFORMED
    with pytest.raises(ProtocolError) as err:
        decode_fetch_message(pb.FetchMessage(header=pb.FetchHeader()).SerializeToString())
    assert err.value.code is RejectCode.MALFORMED


def test_nonce_cache_forgets_by_expiry_and_stays_bounded():
    cache = NonceCache(capacity=3, window_ms=1000)
    cache.add(b"a", time_ms=0, now_ms=0)
    cache.add(b"b", time_ms=500, now_ms=0)
    assert cache.seen(b"a", 1000) and not cache.seen(b"a", 1001)
    assert cache.seen(b"b", 1001)
    for n, t in ((b"c", 900), (b"d", 800), (b"e", 950)):
        cache.add(n, time_ms=t, now_ms=1001)
    assert len(cache) == 3
    assert not cache.seen(b"b", 1001)  # full: the one closest to expiry went first
    assert all(cache.seen(n, 1001) for n in (b"c", b"d", b"e"))
    with pytest.raises(ValueError):
        NonceCache(capacity=0)


def test_check_fetch_request_alone():
    s = carried()
    nonces = NonceCache()
    held = check_fetch_request(
        s.request(), local_peer=s.b.peer, lookup=lookup_of(s.b), now=NOW, nonces=nonces
    )
    assert held is s.b.carrier.held[s.request().value.key]
    assert len(nonces) == 1


@pytest.mark.timeout(300)
def test_fetch_decoder_and_sessions_raise_only_protocol_errors():
    s = carried()
    run = run_fetch(s.b, s.request())
    header = next(m for _, m in run.frames if isinstance(m, Header))
    seeds = [encode_fetch_message(m) for _, m in run.frames]
    seeds += [encode_fetch_message(Reject(code, code.name)) for code in RejectCode]
    rng = random.Random(20261125)
    decoded = 0
    for i in range(20_000):
        data = mutate(rng, seeds)
        try:
            decode_fetch_message(data)
            decoded += 1
        except RemoteProtocolError:
            pass
        with contextlib.suppress(RemoteProtocolError):
            Signed.from_bytes(data, FetchRequest)
        if i % 10 == 0:
            framed = encode_frame(data, MAX_FRAME_SIZE) if rng.random() < 0.8 else data
            server = FetchServerSession(
                local_peer=s.b.peer, lookup=lookup_of(s.b), nonces=NonceCache(), now=NOW
            )
            for eff in server.receive_data(framed, NOW):
                if isinstance(eff, LoadShard):
                    server.shard_loaded(s.b.store[eff.key], NOW)
            client = FetchClientSession(s.request())
            client.start(NOW)
            client.receive_data(frame(header), NOW)
            client.receive_data(framed, NOW)
    assert decoded > 100
