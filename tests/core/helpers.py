"""An in-memory link between two cores: the smallest driver of the handoff machines."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from wdp.core.carrier import Carrier, CarrierParams
from wdp.core.effects import (
    Close,
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    PersistReceipt,
    Send,
    ShardKey,
    StoreShard,
    WipeShard,
)
from wdp.core.errors import RejectCode
from wdp.core.messages import Offer
from wdp.core.migrate import ReceiverSession, SenderSession
from wdp.core.signing import Signer
from wdp.core.wanderer import Wanderer, create_wanderer, launch_offer

OWNER_SEED = bytes(range(32))
OWNER_NODE_KEY = Signer(bytes([200]) * 32).public_key  # the node that launches hop 0
T0 = 1_700_000_000.0


def seed(n: int) -> bytes:
    return bytes([n]) * 32


@dataclass
class Node:
    """A node as the tests see it: a signer, a carrier core and a dict store."""

    name: str
    signer: Signer
    carrier: Carrier
    store: dict[ShardKey, bytes] = field(default_factory=dict)

    @property
    def peer(self) -> bytes:
        return self.signer.public_key


def make_node(n: int, params: CarrierParams | None = None) -> Node:
    signer = Signer(seed(n))
    return Node(f"n{n}", signer, Carrier(signer, random.Random(n), T0, params))


def make_wanderer(payload: bytes = b"wanderer payload " * 64, k: int = 3, n: int = 8) -> Wanderer:
    return create_wanderer(
        payload, owner_seed=OWNER_SEED, nonce=b"\x07" * 12, k=k, n=n, epoch_seconds=600, now=T0
    )


@dataclass
class Outcome:
    sender: SenderSession
    receiver: ReceiverSession
    sender_effects: list[Effect]
    receiver_effects: list[Effect]

    @property
    def reject_code(self) -> RejectCode | None:
        for eff in self.receiver_effects + self.sender_effects:
            if isinstance(eff, HandoffFailed):
                return eff.code
        return None


def run_handoff(
    sender_node: Node | None,
    receiver: Node,
    offer: Offer,
    shard: bytes,
    *,
    now: float = T0,
    remote_peer: bytes | None = None,
    to_receiver=None,
    to_sender=None,
    store_ok: bool = True,
) -> Outcome:
    """Run one handoff to completion over a perfect in-memory link.

    ``to_receiver``/``to_sender`` may rewrite (or drop, by returning None) each
    frame in flight, to inject faults. ``sender_node`` None means the owner's
    node launching hop 0 (no carrier core on that side).
    """
    sender = SenderSession(offer, shard)
    if remote_peer is None:
        remote_peer = sender_node.peer if sender_node is not None else OWNER_NODE_KEY
    recv = ReceiverSession(receiver.signer, receiver.carrier, now, remote_peer=remote_peer)
    s_effects: list[Effect] = []
    r_effects: list[Effect] = []
    q: deque[tuple[str, bytes]] = deque()

    def on_sender(effects: list[Effect]) -> None:
        for eff in effects:
            s_effects.append(eff)
            if isinstance(eff, Send):
                data = to_receiver(eff.data) if to_receiver else eff.data
                if data is not None:
                    q.append(("r", data))
            elif isinstance(eff, WipeShard) and sender_node is not None:
                sender_node.store.pop(eff.key, None)
            elif isinstance(eff, HandoffSucceeded) and sender_node is not None:
                sender_node.carrier.handoff_succeeded(eff.key, now, eff.link)
            elif isinstance(eff, HandoffFailed) and sender_node is not None and eff.key:
                sender_node.carrier.handoff_failed(eff.key, eff.code, now, eff.in_doubt)

    pending_store: list[StoreShard] = []

    def on_receiver(effects: list[Effect]) -> None:
        for eff in effects:
            r_effects.append(eff)
            if isinstance(eff, Send):
                data = to_sender(eff.data) if to_sender else eff.data
                if data is not None:
                    q.append(("s", data))
            elif isinstance(eff, StoreShard):
                if store_ok:
                    receiver.store[eff.key] = eff.shard
                pending_store.append(eff)
                on_receiver(recv.store_done(store_ok, now))
            elif isinstance(eff, PersistReceipt):
                on_receiver(recv.receipt_persisted(True, now))
            elif isinstance(eff, WipeShard):
                receiver.store.pop(eff.key, None)
            elif isinstance(eff, HandoffSucceeded):
                receiver.carrier.shard_received(pending_store[-1], eff.link, now)
            elif isinstance(eff, HandoffFailed):
                receiver.carrier.receive_aborted(offer.record.hash)
            elif isinstance(eff, Close):
                pass

    on_sender(sender.start(now))
    steps = 0
    while q:
        steps += 1
        assert steps < 10_000, "handoff did not converge"
        side, data = q.popleft()
        if side == "r":
            on_receiver(recv.receive_data(data, now))
        else:
            on_sender(sender.receive_data(data, now))
    return Outcome(sender, recv, s_effects, r_effects)


def launch(w: Wanderer, index: int, receiver: Node, now: float = T0) -> Outcome:
    offer = launch_offer(w.manifest, index, owner_seed=OWNER_SEED, to_peer=receiver.peer, now=now)
    return run_handoff(None, receiver, offer, w.shards[index], now=now)
