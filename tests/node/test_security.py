"""What a node refuses: insecure transports, malformed frames, forged offers, foreign ids."""

from __future__ import annotations

import dataclasses
import errno

import multihash
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519_key_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as new_secp256k1_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.secio.transport import ID as SECIO_PROTOCOL_ID
from libp2p.security.secio.transport import Transport as SecioTransport

from wdp.core.errors import RejectCode
from wdp.core.framing import FrameDecoder, encode_frame, encode_uvarint
from wdp.core.limits import MAX_FRAME_SIZE
from wdp.core.messages import Offer, Reject, decode_message, encode_message
from wdp.core.objects import Reason, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer, launch_offer
from wdp.node.host import (
    MIGRATE_PROTOCOL,
    NotEd25519PeerError,
    identity_keypair,
    listen_addrs_for,
    muxer_options,
    new_wdp_host,
    peer_id_of_key,
    peer_key_of,
)
from wdp.node.node import Node, NodeConfig
from wdp.node.streams import STREAM_ERRORS

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, nodes, seed

OTHER_OWNER = bytes(range(100, 132))


# ---- identity ---------------------------------------------------------------


def test_peer_key_is_the_wdp_key() -> None:
    s = seed(42)
    peer_id = ID.from_pubkey(identity_keypair(s).public_key)
    assert peer_key_of(peer_id) == Signer(s).public_key
    assert peer_id_of_key(Signer(s).public_key) == peer_id


def test_peer_key_of_refuses_other_key_types() -> None:
    secp = ID.from_pubkey(new_secp256k1_key_pair().public_key)
    with pytest.raises(NotEd25519PeerError, match="Secp256k1"):
        peer_key_of(secp)
    hashed = ID(multihash.encode(b"\x01" * 32, "sha2-256"))
    with pytest.raises(NotEd25519PeerError, match="hashed"):
        peer_key_of(hashed)
    with pytest.raises(NotEd25519PeerError):
        peer_key_of(ID(b"\xff\xff not a multihash"))


def test_host_offers_noise_only() -> None:
    host = new_wdp_host(seed(1), listen_addrs_for())
    upgrader = host.get_network().upgrader
    assert list(upgrader.security_multistream.transports) == ["/noise"]
    assert list(upgrader.muxer_multistream.transports) == ["/yamux/1.0.0"]


# ---- (b) insecure transports --------------------------------------------------


def insecure_host(kind: str):
    kp = new_ed25519_key_pair()
    sec = (
        {PLAINTEXT_PROTOCOL_ID: InsecureTransport(kp)}
        if kind == "plaintext"
        else {TProtocol(SECIO_PROTOCOL_ID): SecioTransport(kp)}
    )
    addrs = listen_addrs_for(ws_port=None)
    return new_host(key_pair=kp, sec_opt=sec, muxer_opt=muxer_options(), listen_addrs=addrs), addrs


@pytest.mark.trio
@pytest.mark.parametrize("kind", ["plaintext", "secio"])
async def test_insecure_peer_cannot_connect(kind: str) -> None:
    clock = MovableClock()
    async with nodes(clock, 1) as (node,):
        intruder, addrs = insecure_host(kind)
        async with intruder.run(addrs):
            with trio.fail_after(DEADLINE), pytest.raises(Exception):  # noqa: B017
                await intruder.connect(info_from_p2p_addr(node.addrs[0]))
            assert intruder.get_id() not in node.host.get_connected_peers()
            assert node.host.get_id() not in intruder.get_connected_peers()
            with trio.fail_after(DEADLINE), pytest.raises(Exception):  # noqa: B017
                await intruder.new_stream(node.peer_id, [MIGRATE_PROTOCOL])
            # Nor can the node be tricked into dialling out insecurely.
            intruder_addr = intruder.get_addrs()[0]
            with trio.fail_after(DEADLINE), pytest.raises(ConnectionError):
                await node.connect(intruder_addr)
            assert node.carrier.latency.stats(peer_key_of(intruder.get_id())) is None


# ---- (c) malformed and forged input on a raw stream -----------------------------


async def exchange(host, peer_id: ID, data: bytes) -> list:
    """Write raw bytes on a fresh migrate stream; return every message read until it closes."""
    stream = await host.new_stream(peer_id, [MIGRATE_PROTOCOL])
    await stream.write(data)
    decoder = FrameDecoder(MAX_FRAME_SIZE)
    messages = []
    with trio.fail_after(DEADLINE):
        while True:
            try:
                chunk = await stream.read(65536)
            except STREAM_ERRORS:
                break
            if not chunk:
                break
            messages += [decode_message(f) for f in decoder.feed(chunk)]
    return messages


def frame(msg) -> bytes:
    return encode_frame(encode_message(msg), MAX_FRAME_SIZE)


def resign(signed: Signed, signer: Signer, **changes) -> Signed:
    return Signed.create(dataclasses.replace(signed.value, **changes), signer)


def forged_offers(victim_key: bytes, intruder_key: bytes, clock: MovableClock) -> list:
    """(bytes on the wire, expected reject code) for a peer that is not the owner."""
    w = create_wanderer(
        b"x" * 500,
        owner_seed=OTHER_OWNER,
        nonce=b"\x01" * 12,
        k=1,
        n=2,
        epoch_seconds=60,
        now=clock(),
    )
    good = launch_offer(w.manifest, 0, owner_seed=OTHER_OWNER, to_peer=victim_key, now=clock())
    flipped = bytes([good.record.signature[0] ^ 1]) + good.record.signature[1:]
    bad_record_sig = dataclasses.replace(
        good, record=Signed(good.record.body, flipped, good.record.value)
    )
    bad_manifest_sig = dataclasses.replace(
        good,
        manifest=Signed(good.manifest.body, bytes(64), good.manifest.value),
    )
    # Hop 1 signed by a third key, sent by the intruder: the stream's peer is not the sender.
    third = Signer(seed(77))
    hop1 = resign(
        good.record,
        third,
        hop=1,
        from_peer=third.public_key,
        reason=Reason.TTL,
        prev_record_hash=good.record.hash,
    )
    wrong_sender = Offer(good.manifest, (), hop1, good.locator_secret)
    to_other = dataclasses.replace(
        good, record=resign(good.record, Signer(OTHER_OWNER), to_peer=intruder_key)
    )
    return [
        (encode_frame(b"\xff\xff\xff\xff", MAX_FRAME_SIZE), RejectCode.MALFORMED),
        (encode_uvarint(MAX_FRAME_SIZE + 1), RejectCode.TOO_LARGE),
        (frame(bad_record_sig), RejectCode.BAD_SIGNATURE),
        (frame(bad_manifest_sig), RejectCode.BAD_MANIFEST),
        (frame(wrong_sender), RejectCode.WRONG_SENDER),
        (frame(to_other), RejectCode.WRONG_RECIPIENT),
        (frame(Reject(RejectCode.BUSY)), RejectCode.PROTOCOL_VIOLATION),
    ]


@pytest.mark.trio
async def test_bad_input_gets_the_right_reject_and_the_node_stays_up() -> None:
    clock = MovableClock()
    async with nodes(clock, 2, 3) as (victim, owner_node):
        w = make_wanderer(clock, epoch=3600)
        assert (await owner_node.launch_shard(w, 0, victim.peer_id, owner_seed=OWNER_SEED)).ok
        held_before = dict(victim.carrier.held)
        stored_before = victim.store.keys()

        intruder = new_wdp_host(seed(99), listen_addrs_for(ws_port=None))
        async with intruder.run(listen_addrs_for(ws_port=None)):
            await intruder.connect(info_from_p2p_addr(victim.addrs[0]))
            for data, code in forged_offers(victim.peer_key, peer_key_of(intruder.get_id()), clock):
                replies = await exchange(intruder, victim.peer_id, data)
                assert replies == [Reject(code, replies[0].detail)], (code, replies)

        # Custody untouched, no reservation left behind, and the node still serves.
        assert victim.carrier.held == held_before and victim.store.keys() == stored_before
        assert victim.carrier.used == w.manifest.value.shard_size
        w2 = create_wanderer(
            b"y" * 300,
            owner_seed=OTHER_OWNER,
            nonce=b"\x02" * 12,
            k=1,
            n=2,
            epoch_seconds=60,
            now=clock(),
        )
        result = await owner_node.launch_shard(w2, 1, victim.peer_id, owner_seed=OTHER_OWNER)
        assert result.ok
        assert len(victim.carrier.held) == 2


@pytest.mark.trio
async def test_a_taken_port_is_reported_not_shared() -> None:
    # py-libp2p listens with SO_REUSEPORT: without the check a second node
    # would silently share the port and receive half of the first one's peers.
    clock = MovableClock()
    async with nodes(clock, 4) as (first,):
        port = int(first.addrs[0].value_for_protocol("tcp"))
        second = Node(NodeConfig(seed=seed(5), listen_addrs=listen_addrs_for(tcp_port=port)))
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError) as err:
                await nursery.start(second.run)
        assert err.value.errno == errno.EADDRINUSE


@pytest.mark.trio
async def test_a_replayed_hop_number_gets_stale_hop_and_harms_nothing() -> None:
    clock = MovableClock()
    async with nodes(clock, 4, 5) as (victim, owner_node):
        w = make_wanderer(clock, epoch=3600)
        assert (await owner_node.launch_shard(w, 0, victim.peer_id, owner_seed=OWNER_SEED)).ok
        key = next(iter(victim.carrier.held))
        shard_before = victim.store.get(key)
        # The same hop again, freshly signed (a new time): not a retry of the hop
        # the victim took, but a second hop 0 for a shard it already saw at hop 0.
        replay = launch_offer(
            w.manifest, 0, owner_seed=OWNER_SEED, to_peer=victim.peer_key, now=clock() + 5
        )
        intruder = new_wdp_host(seed(98), listen_addrs_for(ws_port=None))
        async with intruder.run(listen_addrs_for(ws_port=None)):
            await intruder.connect(info_from_p2p_addr(victim.addrs[0]))
            replies = await exchange(intruder, victim.peer_id, frame(replay))
        assert [r.code for r in replies] == [RejectCode.STALE_HOP]
        assert victim.store.get(key) == shard_before and key in victim.carrier.held


def test_yamux_batches_window_updates_unless_the_operator_says_otherwise(monkeypatch):
    """A window update per half window, not per read (fewer frames; README, Benchmarks).

    The predicate is py-libp2p's own: if it is renamed, the setting no longer
    reaches the muxer and this test says so.
    """
    from libp2p.stream_muxer.yamux import yamux

    monkeypatch.delenv("PY_YAMUX_RELEASE_ON_READ", raising=False)
    assert yamux._yamux_release_on_read()  # py-libp2p's default: an update after every read
    muxer_options()
    assert not yamux._yamux_release_on_read()
    monkeypatch.setenv("PY_YAMUX_RELEASE_ON_READ", "1")
    muxer_options()
    assert yamux._yamux_release_on_read()
