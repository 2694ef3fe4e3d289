"""Hypothesis stateful test: random interleavings, crashes, drops, duplicates, tampering.

Four nodes pass two shards of one wanderer around through the real handoff
machines and carrier cores. The network may deliver frames in any order, drop
them, duplicate them or flip bits; nodes may crash (sessions vanish, the disk
store survives, anything stored without a receipt is discarded on restart);
timers may fire at any point. Whatever happens:

* every shard always has at least one custodian (held by a carrier AND in its store);
* a sender wipes only after a receipt that the receiver really signed, while
  that receiver holds the shard.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wdp.core.effects import (
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    Send,
    StoreShard,
    WipeShard,
)
from wdp.core.handoff import ReceiverSession, SenderSession
from wdp.core.objects import Reason

from .helpers import T0, Node, launch, make_node, make_wanderer

NODES = 4


@dataclass
class Session:
    src: int
    dst: int
    sender: SenderSession
    receiver: ReceiverSession
    pending_store: StoreShard | None = None
    stored: StoreShard | None = None
    sender_alive: bool = True
    receiver_alive: bool = True


@dataclass
class Frame:
    sid: int
    to_receiver: bool
    data: bytes


@dataclass
class World:
    nodes: list[Node]
    sessions: dict[int, Session] = field(default_factory=dict)
    wire: list[Frame] = field(default_factory=list)
    genuine_receipts: set[tuple[bytes, bytes]] = field(default_factory=set)  # made by receivers
    next_sid: int = 0


class CustodyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.w = make_wanderer(payload=b"x" * 300, k=1, n=2)
        nodes = [make_node(i + 1) for i in range(NODES)]
        self.world = World(nodes)
        for index, node in enumerate(nodes[:2]):
            assert launch(self.w, index, node).reject_code is None
        self.keys = sorted({k for n in nodes for k in n.carrier.held}, key=lambda k: k.shard_index)

    # ---- driver ------------------------------------------------------------

    def _apply(self, sid: int, side: str, effects: list[Effect]) -> None:
        s = self.world.sessions[sid]
        if not (s.sender_alive if side == "s" else s.receiver_alive):
            return  # that process crashed: its half of the session is gone
        node = self.world.nodes[s.src if side == "s" else s.dst]
        for eff in effects:
            if isinstance(eff, Send):
                self.world.wire.append(Frame(sid, side == "s", eff.data))
            elif isinstance(eff, StoreShard):
                node.store[eff.key] = eff.shard  # written, but no receipt yet
                s.pending_store = eff
            elif isinstance(eff, WipeShard):
                if side == "s":
                    self._check_wipe(s)
                node.store.pop(eff.key, None)
            elif isinstance(eff, HandoffSucceeded):
                if side == "s":
                    node.carrier.handoff_succeeded(eff.key, self.now)
                else:
                    self.world.genuine_receipts.add(
                        (eff.link.receipt.body, eff.link.receipt.signature)
                    )
                    assert s.stored is not None
                    node.carrier.shard_received(s.stored, eff.link, self.now)
            elif isinstance(eff, HandoffFailed):
                if side == "s":
                    if eff.key is not None:
                        node.carrier.handoff_failed(eff.key, eff.code, self.now, eff.in_doubt)
                else:
                    node.carrier.receive_aborted(s.sender.record.hash)

    def _check_wipe(self, s: Session) -> None:
        receipt = s.sender.receipt
        assert receipt is not None, "wipe without a receipt"
        assert (receipt.body, receipt.signature) in self.world.genuine_receipts, (
            "wipe on a receipt nobody made"
        )
        receiver = self.world.nodes[s.dst]
        assert s.sender.key in receiver.carrier.held and s.sender.key in receiver.store

    # ---- rules ---------------------------------------------------------------

    @rule(
        src=st.integers(0, NODES - 1),
        dst=st.integers(0, NODES - 1),
        shard=st.integers(0, 1),
        reason=st.sampled_from([Reason.TTL, Reason.THREAT, Reason.DRAIN]),
    )
    def start_handoff(self, src: int, dst: int, shard: int, reason: Reason) -> None:
        a, b = self.world.nodes[src], self.world.nodes[dst]
        held = a.carrier.held.get(self.keys[shard])
        if src == dst or held is None or held.in_flight_to is not None:
            return
        offer = a.carrier.next_offer(held, b.peer, reason, self.now)
        held.in_flight_to = b.peer
        sid = self.world.next_sid
        self.world.next_sid += 1
        sender = SenderSession(offer, a.store[held.key])
        receiver = ReceiverSession(b.signer, b.carrier, self.now, remote_peer=a.peer)
        self.world.sessions[sid] = Session(src, dst, sender, receiver)
        self._apply(sid, "s", sender.start(self.now))

    @precondition(lambda self: self.world.wire)
    @rule(i=st.integers(0, 1000))
    def deliver(self, i: int) -> None:
        frame = self.world.wire.pop(i % len(self.world.wire))
        s = self.world.sessions[frame.sid]
        if frame.to_receiver:
            self._apply(frame.sid, "r", s.receiver.receive_data(frame.data, self.now))
        else:
            self._apply(frame.sid, "s", s.sender.receive_data(frame.data, self.now))

    @precondition(lambda self: self.world.wire)
    @rule(i=st.integers(0, 1000))
    def drop(self, i: int) -> None:
        self.world.wire.pop(i % len(self.world.wire))

    @precondition(lambda self: self.world.wire)
    @rule(i=st.integers(0, 1000))
    def duplicate(self, i: int) -> None:
        frame = self.world.wire[i % len(self.world.wire)]
        self.world.wire.append(Frame(frame.sid, frame.to_receiver, frame.data))

    @precondition(lambda self: self.world.wire)
    @rule(i=st.integers(0, 1000), bit=st.integers(0, 1 << 20))
    def flip_bit(self, i: int, bit: int) -> None:
        frame = self.world.wire[i % len(self.world.wire)]
        data = bytearray(frame.data)
        pos = bit % (len(data) * 8)
        data[pos // 8] ^= 1 << (pos % 8)
        frame.data = bytes(data)

    @precondition(lambda self: any(s.pending_store for s in self.world.sessions.values()))
    @rule(i=st.integers(0, 1000), ok=st.booleans())
    def finish_store(self, i: int, ok: bool) -> None:
        pending = [sid for sid, s in self.world.sessions.items() if s.pending_store]
        sid = pending[i % len(pending)]
        s = self.world.sessions[sid]
        s.stored, s.pending_store = s.pending_store, None
        if not ok:
            self.world.nodes[s.dst].store.pop(s.stored.key, None)
        self._apply(sid, "r", s.receiver.store_done(ok, self.now))

    @rule(dt=st.floats(0.0, 120.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        for sid, s in list(self.world.sessions.items()):
            self._apply(sid, "s", s.sender.handle_timer(self.now))
            self._apply(sid, "r", s.receiver.handle_timer(self.now))

    @rule(n=st.integers(0, NODES - 1))
    def crash(self, n: int) -> None:
        """Process restart: sessions vanish, the store survives, receipt-less shards go."""
        node = self.world.nodes[n]
        for sid, s in self.world.sessions.items():
            if s.src == n and s.sender_alive:
                s.sender_alive = False
                self._apply(sid, "r", s.receiver.connection_lost(self.now))
            if s.dst == n and s.receiver_alive:
                s.receiver_alive = False
                s.pending_store = None
                self._apply(sid, "s", s.sender.connection_lost(self.now))
        for held in node.carrier.held.values():
            held.in_flight_to = None
        node.carrier._reserved.clear()
        for key in list(node.store):
            if key not in node.carrier.held:
                del node.store[key]

    # ---- invariants ------------------------------------------------------------

    @invariant()
    def every_shard_has_a_custodian(self) -> None:
        for key in self.keys:
            custodians = [n for n in self.world.nodes if key in n.carrier.held and key in n.store]
            assert custodians, f"shard {key} has no holder"

    @invariant()
    def held_shards_are_intact(self) -> None:
        for node in self.world.nodes:
            for key in node.carrier.held:
                assert node.store[key] == self.w.shards[key.shard_index]

    @invariant()
    def siblings_never_share_a_carrier(self) -> None:
        for node in self.world.nodes:
            assert len(node.carrier.held) <= 1


CustodyMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCustody = CustodyMachine.TestCase


def test_machine_makes_progress() -> None:
    """Guard against a vacuous machine: a plain run moves both shards several hops."""
    rng = random.Random(1)
    m = CustodyMachine()
    hops = 0
    for _ in range(400):
        m.start_handoff(rng.randrange(NODES), rng.randrange(NODES), rng.randrange(2), Reason.TTL)
        while m.world.wire:
            m.deliver(0)
            while any(s.pending_store for s in m.world.sessions.values()):
                m.finish_store(0, True)
        hops = max(h.record.hop for n in m.world.nodes for h in n.carrier.held.values())
        m.every_shard_has_a_custodian()
    assert hops >= 10
