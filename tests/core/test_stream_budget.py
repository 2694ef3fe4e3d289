"""Inbound streams are budgeted per peer and in all: count and bytes of partial frames."""

from __future__ import annotations

import random

from wdp.core.errors import RejectCode
from wdp.core.framing import encode_frame, encode_uvarint
from wdp.core.limits import AUDIT_PROTOCOL_ID, MAX_FRAME_SIZE, MIGRATE_PROTOCOL_ID
from wdp.core.messages import Accept, Reject, encode_message
from wdp.core.node import CloseStream, NodeCore, NodeParams, SendData
from wdp.core.node.budget import STREAM_OVERHEAD, StreamBudget
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer, launch_offer

from .helpers import T0


def node(budget: StreamBudget | None = None) -> NodeCore:
    params = NodeParams(budget=budget or StreamBudget())
    return NodeCore(Signer(b"\x01" * 32), random.Random(1), T0, params)


def peer(n: int) -> bytes:
    return Signer(bytes([n + 10]) * 32).public_key


def refused_busy(effects: list) -> bool:
    """The stream was answered with a BUSY reject and closed."""
    rejects = [e.message for e in effects if isinstance(e, SendData)]
    closed = any(isinstance(e, CloseStream) for e in effects)
    return closed and any(getattr(r, "code", None) is RejectCode.BUSY for r in rejects)


def test_a_peer_gets_busy_past_its_stream_share_and_others_are_unaffected() -> None:
    core = node()
    limit = StreamBudget().streams_per_peer
    for _ in range(limit):
        _sid, effects = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
        assert effects == []
    _sid, effects = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
    assert refused_busy(effects)
    (reject,) = [e.message for e in effects if isinstance(e, SendData)]
    assert isinstance(reject, Reject) and "this peer has 16 streams open" in reject.detail
    _sid, effects = core.accept_stream(AUDIT_PROTOCOL_ID, peer(1), T0)  # every protocol counts
    assert any(isinstance(e, CloseStream) for e in effects)
    _sid, effects = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(2), T0)
    assert effects == []


def test_the_node_wide_stream_limit_holds_against_many_identities() -> None:
    core = node(StreamBudget(streams=20, streams_per_peer=16))
    accepted = sum(
        not core.accept_stream(MIGRATE_PROTOCOL_ID, peer(i % 5), T0)[1] for i in range(40)
    )
    assert accepted == 20


def partial_frame() -> bytes:
    """A length prefix for a maximal frame and all of it but the last byte."""
    return encode_uvarint(MAX_FRAME_SIZE) + b"\x00" * (MAX_FRAME_SIZE - 1)


def test_200_partial_frames_from_4_identities_hold_no_more_than_the_budget() -> None:
    budget = StreamBudget(streams_per_peer=64, open_burst=100)  # only bytes stop them here
    core = node(budget)
    refused = 0
    for i in range(200):
        sid, effects = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(i % 4), T0)
        assert effects == []
        out = core.data_received(sid, partial_frame(), T0)
        refused += refused_busy(out)
        live = [s for s in core._streams.values() if s.session and not s.session.finished]
        held = sum(s.session.buffered + STREAM_OVERHEAD for s in live if s.session)
        assert held <= budget.buffered
        for p in range(4):
            mine = sum(s.session.buffered + STREAM_OVERHEAD for s in live
                       if s.session and s.peer == peer(p))  # fmt: skip
            assert mine <= budget.buffered_per_peer
    kept = 200 - refused
    print(f"200 partial frames from 4 peers: {kept} kept, {refused} refused with BUSY")
    per_stream = MAX_FRAME_SIZE + STREAM_OVERHEAD
    assert 4 * (budget.buffered_per_peer // (2 * per_stream)) <= kept
    assert kept <= 4 * (budget.buffered_per_peer // per_stream)


def test_only_bytes_of_unfinished_frames_count() -> None:
    core = node(StreamBudget(buffered_per_peer=MAX_FRAME_SIZE + MAX_FRAME_SIZE // 2))
    first, _ = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
    assert not refused_busy(core.data_received(first, partial_frame(), T0))
    second, _ = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
    # A whole frame is decoded (and refused for what it says): nothing stays buffered.
    out = core.data_received(second, encode_uvarint(3) + b"\x0a\x01\x00", T0)
    assert not refused_busy(out)
    third, _ = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
    assert refused_busy(core.data_received(third, partial_frame(), T0))


def test_a_refused_replay_does_not_free_the_reservation_of_the_offer_it_copies() -> None:
    """Else replaying an admitted offer and letting it fail lifts every admission limit."""
    core = node()
    w = create_wanderer(b"x" * 3000, owner_seed=b"\x05" * 32, nonce=b"\x01" * 12,
                        k=1, n=1, epoch_seconds=600, now=T0)  # fmt: skip
    offer = launch_offer(w.manifest, 0, owner_seed=b"\x05" * 32, to_peer=core.peer, now=T0)
    data = encode_frame(encode_message(offer), MAX_FRAME_SIZE)
    first, _ = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
    assert any(isinstance(e.message, Accept) for e in core.data_received(first, data, T0)
               if isinstance(e, SendData))  # fmt: skip
    for _ in range(3):
        replay, _ = core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)
        out = core.data_received(replay, data, T0)
        (reject,) = [e.message for e in out if isinstance(e, SendData)]
        assert isinstance(reject, Reject) and reject.code is RejectCode.SIBLING_HELD
    assert core.carrier.used == w.manifest.value.shard_size  # the first still holds its room


def test_a_peer_opening_streams_too_fast_is_refused_before_anything_is_verified() -> None:
    core = node(StreamBudget(streams_per_peer=100, opens_per_second=20.0, open_burst=40))
    opened = [core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0)[1] for _ in range(50)]
    assert sum(1 for effects in opened if not effects) == 40  # the burst
    assert all(refused_busy(effects) for effects in opened[40:])
    (reject,) = [e.message for e in opened[-1] if isinstance(e, SendData)]
    assert "faster than 20 a second" in reject.detail
    assert not core.accept_stream(MIGRATE_PROTOCOL_ID, peer(2), T0)[1]  # others unaffected
    # Tokens come back at 20 a second: half a second later, 10 more streams.
    later = [core.accept_stream(MIGRATE_PROTOCOL_ID, peer(1), T0 + 0.5)[1] for _ in range(12)]
    assert sum(1 for effects in later if not effects) == 10
