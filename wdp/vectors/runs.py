"""In-memory runs of the reference sessions over a perfect link, recording every frame."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wdp.core.carrier import Carrier, HeldShard
from wdp.core.effects import (
    Effect,
    HandoffSucceeded,
    PersistReceipt,
    Send,
    ShardKey,
    StoreShard,
    WipeShard,
)
from wdp.core.fetch import (
    FetchClientSession,
    FetchEffect,
    FetchLookup,
    FetchMessage,
    FetchRequest,
    FetchServerSession,
    LoadShard,
    NonceCache,
)
from wdp.core.messages import Data, Offer
from wdp.core.migrate import ReceiverSession, SenderSession
from wdp.core.objects import CustodyLink, Signed
from wdp.core.signing import Signer
from wdp.vectors.carriers import carrier_from_state
from wdp.vectors.common import now_s, seed
from wdp.vectors.frames import decode_fetch_frame, decode_frame, fetch_frame, frame_of
from wdp.vectors.render import message_kind

if TYPE_CHECKING:
    from wdp.vectors.scenario import Scenario


# ---- a handoff between two reference sessions ------------------------------------


@dataclasses.dataclass
class Transcript:
    """Every frame of one handoff as (direction, frame), the sessions, what it produced."""

    frames: list[tuple[str, bytes]]
    sender: SenderSession
    receiver: ReceiverSession
    link: CustodyLink | None = None
    store: StoreShard | None = None


def run_handoff(
    offer: Offer,
    shard: bytes,
    receiver_signer: Signer,
    receiver_carrier: Carrier,
    now_ms: int,
    *,
    remote_peer: bytes,
    sender_carrier: Carrier | None = None,
    rechunk: Callable[[bytes], list[bytes]] | None = None,
) -> Transcript:
    """Run one handoff between real sessions over a perfect link, recording every frame.

    ``rechunk`` rewrites each sender frame into the frames actually delivered (used to
    split Data; the receiver accepts any in-order chunking).
    """
    now = now_s(now_ms)
    sender = SenderSession(offer, shard)
    receiver = ReceiverSession(receiver_signer, receiver_carrier, now, remote_peer=remote_peer)
    out = Transcript([], sender, receiver)
    queue: deque[tuple[str, bytes]] = deque()

    def on_sender(effects: list[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                for data in rechunk(eff.data) if rechunk else [eff.data]:
                    out.frames.append(("s2r", data))
                    queue.append(("r", data))
            elif isinstance(eff, HandoffSucceeded) and sender_carrier is not None:
                sender_carrier.handoff_succeeded(eff.key, now, eff.link)

    def on_receiver(effects: list[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                out.frames.append(("r2s", eff.data))
                queue.append(("s", eff.data))
            elif isinstance(eff, StoreShard):
                out.store = eff
                on_receiver(receiver.store_done(True, now))
            elif isinstance(eff, PersistReceipt):
                on_receiver(receiver.receipt_persisted(True, now))
            elif isinstance(eff, HandoffSucceeded):
                assert out.store is not None
                out.link = eff.link
                receiver_carrier.shard_received(out.store, eff.link, now)

    on_sender(sender.start(now))
    while queue:
        side, data = queue.popleft()
        if side == "r":
            on_receiver(receiver.receive_data(data, now))
        else:
            on_sender(sender.receive_data(data, now))
    return out


def split_data(parts: Sequence[int]) -> Callable[[bytes], list[bytes]]:
    """A link that delivers each Data frame as several Data frames of the given sizes."""

    def rechunk(frame: bytes) -> list[bytes]:
        msg = decode_frame(frame)
        if not isinstance(msg, Data):
            return [frame]
        out, off = [], 0
        for size in [*parts, len(msg.chunk)]:
            chunk = msg.chunk[off : off + size]
            if chunk:
                out.append(frame_of(Data(msg.offset + off, chunk)))
            off += len(chunk)
        return out

    return rechunk


# ---- one reference session facing a script ---------------------------------------


Event = tuple[str, bytes | int]  # ("frame", bytes from the scripted side) or ("timer", at_ms)


def timer_fires(session: ReceiverSession | SenderSession, at_ms: int) -> list[Effect]:
    """The session's timer, checked to fire at ``at_ms`` and not one millisecond earlier."""
    if session.handle_timer(now_s(at_ms - 1)):
        raise AssertionError(f"a timer fired before {at_ms}")
    return session.handle_timer(now_s(at_ms))


def script_receiver(
    local: int,
    remote: bytes,
    state: dict[str, Any] | None,
    now_ms: int,
    events: list[Event],
    *,
    late_store: bool = False,
) -> tuple[list[dict[str, Any]], ReceiverSession]:
    """A real receiver answering a scripted sender; every frame and timer in order.

    ``late_store``: the store succeeds only after the last event; the receiver,
    no longer storing by then, must drop that copy and send nothing.
    """
    now = now_s(now_ms)
    signer = Signer(seed(local))
    recv = ReceiverSession(signer, carrier_from_state(seed(local), state, now_ms), now, remote)
    out: list[dict[str, Any]] = []
    pending: list[StoreShard] = []

    def take(effects: list[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                out.append(frame_entry("r2s", eff.data))
            elif isinstance(eff, StoreShard) and late_store:
                pending.append(eff)
            elif isinstance(eff, StoreShard):
                take(recv.store_done(True, now))
            elif isinstance(eff, PersistReceipt):
                take(recv.receipt_persisted(True, now))

    for what, value in events:
        if what == "frame":
            assert isinstance(value, bytes)
            out.append(frame_entry("s2r", value))
            take(recv.receive_data(value, now))
        else:
            assert isinstance(value, int)
            out.append({"dir": "timer", "side": "receiver", "at_ms": value})
            take(timer_fires(recv, value))
    if late_store:
        if len(pending) != 1:
            raise AssertionError("a late store needs exactly one store request")
        effects = recv.store_done(True, now)
        if [type(e) for e in effects] != [WipeShard]:
            raise AssertionError(f"a late store must only be wiped, got {effects}")
    return out, recv


def script_sender(
    offer: Offer, shard: bytes, now_ms: int, events: list[Event]
) -> tuple[list[dict[str, Any]], SenderSession]:
    """A real sender facing a scripted receiver; every frame and timer in order."""
    now = now_s(now_ms)
    sender = SenderSession(offer, shard)
    out: list[dict[str, Any]] = []

    def take(effects: list[Effect]) -> None:
        out.extend(frame_entry("s2r", e.data) for e in effects if isinstance(e, Send))

    take(sender.start(now))
    for what, value in events:
        if what == "frame":
            assert isinstance(value, bytes)
            out.append(frame_entry("r2s", value))
            take(sender.receive_data(value, now))
        else:
            assert isinstance(value, int)
            out.append({"dir": "timer", "side": "sender", "at_ms": value})
            take(timer_fires(sender, value))
    return out, sender


def frame_entry(direction: str, frame: bytes) -> dict[str, Any]:
    return {"dir": direction, "frame": frame.hex(), "message": message_kind(decode_frame(frame))}


# ---- a fetch between the reference client and carrier ----------------------------


@dataclasses.dataclass
class FetchRun:
    """Every frame of one fetch as (direction, frame), and both sessions."""

    frames: list[tuple[str, bytes]]
    client: FetchClientSession
    server: FetchServerSession


def _lookup(scenario: Scenario, node: int) -> FetchLookup:
    carrier = scenario.carriers[node]

    def lookup(key: ShardKey) -> HeldShard | None:
        return carrier.held.get(key)

    return lookup


def run_fetch(
    scenario: Scenario,
    node: int,
    request: Signed[FetchRequest],
    now_ms: int,
    *,
    first_frame: bytes | None = None,
    seen: Sequence[tuple[bytes, int]] = (),
    expected_manifest_hash: bytes | None = None,
    tamper: Callable[[FetchMessage], FetchMessage] | None = None,
    rechunk: Callable[[bytes], list[bytes]] | None = None,
) -> FetchRun:
    """One fetch between real sessions over a perfect link, recording every frame.

    The carrier writes its whole answer before it reads again, so a client's Reject
    comes after the carrier's last frame. ``first_frame`` replaces the client's
    request on the wire; ``tamper`` rewrites the carrier's messages; ``rechunk`` splits
    the carrier's frames as they are delivered.
    """
    now = now_s(now_ms)
    nonces = NonceCache()
    for nonce, time_ms in seen:
        nonces.add(nonce, time_ms, now_ms)
    shard = scenario.wanderer.shards[0]
    server = FetchServerSession(
        local_peer=scenario.carriers[node].peer,
        lookup=_lookup(scenario, node),
        nonces=nonces,
        now=now,
    )
    client = FetchClientSession(request, expected_manifest_hash=expected_manifest_hash)
    out = FetchRun([], client, server)
    queue: deque[tuple[str, bytes]] = deque()

    def on_client(effects: list[FetchEffect]) -> None:
        for eff in effects:
            if isinstance(eff, Send):
                data = eff.data if first_frame is None or out.frames else first_frame
                out.frames.append(("c2s", data))
                queue.append(("s", data))

    def on_server(effects: list[FetchEffect]) -> None:
        for eff in effects:
            if isinstance(eff, LoadShard):
                stored = shard if eff.key == ShardKey(request.value.wanderer_id, 0) else None
                on_server(server.shard_loaded(stored, now))
            elif isinstance(eff, Send):
                data = eff.data
                if tamper is not None:
                    data = fetch_frame(tamper(decode_fetch_frame(data)))
                for part in rechunk(data) if rechunk else [data]:
                    out.frames.append(("s2c", part))
                    queue.append(("c", part))

    on_client(client.start(now))
    while queue:
        side, data = queue.popleft()
        if side == "s":
            on_server(server.receive_data(data, now))
        else:
            on_client(client.receive_data(data, now))
    return out


def split_fetch_data(parts: Sequence[int]) -> Callable[[bytes], list[bytes]]:
    def rechunk(frame: bytes) -> list[bytes]:
        msg = decode_fetch_frame(frame)
        if not isinstance(msg, Data):
            return [frame]
        out, off = [], 0
        for size in [*parts, len(msg.chunk)]:
            chunk = msg.chunk[off : off + size]
            if chunk:
                out.append(fetch_frame(Data(msg.offset + off, chunk)))
            off += len(chunk)
        return out

    return rechunk
