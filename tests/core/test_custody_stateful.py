"""Hypothesis stateful test of the node core: interleavings, crashes, drops, duplicates, tampering.

Four nodes, each a real :class:`~wdp.core.node.NodeCore` with a "disk" that
survives crashes, pass two shards of one wanderer around on their own
schedule (short epochs). The test is every driver at once, and a hostile one:
dials succeed or fail, frames are delivered in any order, dropped,
duplicated or bit-flipped, the store answers late, out of order or with a
failure, and nodes crash (the core and its pending answers vanish; a new core
takes back what the disk holds committed, as the daemon does on restart).
Whatever happens:

* every shard always has a custodian: a live core that holds it, with the
  bytes and its receipt on that node's disk;
* a sender wipes its copy only together with a receipt a receiver really
  signed, while that receiver holds the shard committed;
* held bytes are intact, and no node carries two shards of the wanderer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wdp.core.effects import ShardKey
from wdp.core.node import (
    CloseStream,
    HandoffEnded,
    LoadShard,
    NodeCore,
    NodeEffect,
    OpenStream,
    PersistReceipt,
    ResetStream,
    SendData,
    StoreShard,
    WipeShard,
)
from wdp.core.signing import Signer
from wdp.core.stored import ShardMeta
from wdp.core.wanderer import create_wanderer, launch_offer

from .helpers import OWNER_SEED, T0, seed

NODES = 4
EPOCH = 60


@dataclass
class Node:
    index: int
    signer: Signer
    core: NodeCore
    disk: dict[ShardKey, tuple[bytes, ShardMeta]] = field(default_factory=dict)
    life: int = 0

    @property
    def peer(self) -> bytes:
        return self.signer.public_key

    def committed(self, key: ShardKey) -> bool:
        item = self.disk.get(key)
        return item is not None and item[1].committed


@dataclass
class Pending:
    """An answer a node's core is owed: by the store, or by a dial."""

    node: int
    life: int
    effect: NodeEffect


@dataclass
class Frame:
    node: int  # the receiving end
    life: int
    sid: int
    data: bytes | None  # None: the other end closed


def new_core(n: int, now: float, life: int) -> NodeCore:
    return NodeCore(Signer(seed(n + 1)), random.Random(n * 100 + life), now)


class CustodyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.w = create_wanderer(
            b"x" * 300, owner_seed=OWNER_SEED, nonce=b"\x07" * 12, k=1, n=2,
            epoch_seconds=EPOCH, now=T0,
        )  # fmt: skip
        self.nodes = [Node(i, Signer(seed(i + 1)), new_core(i, T0, 0)) for i in range(NODES)]
        self.owner = NodeCore(Signer(seed(200)), random.Random(200), T0)  # launches only
        self.pending: list[Pending] = []
        self.wire: list[Frame] = []
        self.ends: dict[tuple[int, int, int], tuple[int, int, int]] = {}  # (node, life, sid) pairs
        self.genuine: set[bytes] = set()  # receipts receivers really signed
        self.keys = [ShardKey(self.w.manifest.value.wanderer_id, i) for i in range(2)]
        for node in self.nodes:
            self._connect(node)
        for index in range(2):
            offer = launch_offer(
                self.w.manifest, index, owner_seed=OWNER_SEED, to_peer=self.nodes[index].peer,
                now=T0,
            )  # fmt: skip
            self._perform(-1, self.owner.launch(offer, self.w.shards[index], index, T0))
        self._settle()
        assert all(any(k in n.core.held for n in self.nodes) for k in self.keys)

    # ---- the driver ----------------------------------------------------------------

    def _core(self, index: int) -> NodeCore:
        return self.owner if index < 0 else self.nodes[index].core

    def _life(self, index: int) -> int:
        return 0 if index < 0 else self.nodes[index].life

    def _connect(self, node: Node) -> None:
        for other in self.nodes:
            if other is not node:
                rtt = 0.001 * (1 + abs(node.index - other.index))
                self._perform(node.index, node.core.peer_connected(other.peer, None, self.now))
                self._perform(node.index, node.core.ping_ok(other.peer, rtt, self.now))

    def _perform(self, index: int, effects: list[NodeEffect]) -> None:
        life = self._life(index)
        wiped: set[ShardKey] = set()
        for eff in effects:
            match eff:
                case OpenStream() | StoreShard() | PersistReceipt() | LoadShard():
                    self.pending.append(Pending(index, life, eff))
                case SendData():
                    other = self.ends.get((index, life, eff.sid))
                    if other is not None:
                        self.wire.append(Frame(other[0], other[1], other[2], eff.data))
                case CloseStream() | ResetStream():
                    other = self.ends.pop((index, life, eff.sid), None)
                    if other is not None:
                        self.wire.append(Frame(other[0], other[1], other[2], None))
                case WipeShard():
                    if index >= 0:
                        self.nodes[index].disk.pop(eff.key, None)
                    if eff.reason.startswith("custody passed"):
                        wiped.add(eff.key)
                case HandoffEnded() if eff.ok and eff.link is not None:
                    receipt = eff.link.receipt
                    if eff.inbound:
                        self.genuine.add(receipt.to_bytes())
                    else:
                        self._check_passed(eff, receipt.to_bytes())
                        wiped.discard(eff.key)  # type: ignore[arg-type]
                case _:
                    pass
        assert not wiped, f"{wiped} wiped without a receipt-backed handoff in the same step"

    def _check_passed(self, eff: HandoffEnded, receipt: bytes) -> None:
        assert receipt in self.genuine, "a sender wiped on a receipt nobody signed"
        receiver = next(n for n in self.nodes if n.peer == eff.peer)
        assert eff.key is not None
        assert eff.key in receiver.core.held and receiver.committed(eff.key), (
            "a sender wiped while its receiver does not hold the shard committed"
        )

    def _answer(self, p: Pending, ok: bool) -> None:
        core = self._core(p.node)
        node = None if p.node < 0 else self.nodes[p.node]
        eff = p.effect
        match eff:
            case OpenStream():
                target = next((n for n in self.nodes if n.peer == eff.peer), None)
                if not ok or target is None:
                    self._perform(p.node, core.stream_failed(eff.sid, self.now))
                    return
                rsid, first = target.core.accept_stream(eff.protocol, self._peer(p.node), self.now)
                a, b = (p.node, p.life, eff.sid), (target.index, target.life, rsid)
                self.ends[a], self.ends[b] = b, a
                self._perform(target.index, first)
                self._perform(p.node, core.stream_opened(eff.sid, self.now))
            case StoreShard():
                assert node is not None
                if ok:
                    node.disk[eff.key] = (eff.shard, eff.meta)
                self._perform(p.node, core.shard_stored(eff.sid, ok, self.now))
            case PersistReceipt():
                assert node is not None
                item = node.disk.get(eff.key)
                ok = ok and item is not None
                if ok and item is not None:
                    node.disk[eff.key] = (item[0], replace(item[1], receipt=eff.receipt))
                self._perform(p.node, core.receipt_persisted(eff.sid, ok, self.now))
            case LoadShard():
                if not ok:
                    self._perform(p.node, core.load_failed(eff.sid, self.now, "disk error"))
                    return
                item = None if node is None else node.disk.get(eff.key)
                data = None if item is None else item[0]
                self._perform(p.node, core.shard_loaded(eff.sid, data, self.now))

    def _peer(self, index: int) -> bytes:
        return self.owner.peer if index < 0 else self.nodes[index].peer

    def _settle(self) -> None:
        """Deliver everything and answer everything with success (used to set up and to probe)."""
        for _ in range(10_000):
            if self.wire:
                self.deliver(0)
            elif self.pending:
                self.answer(0, True)
            else:
                return
        raise AssertionError("the world did not settle")

    # ---- rules ---------------------------------------------------------------------

    @precondition(lambda self: self.pending)
    @rule(i=st.integers(0, 1000), ok=st.booleans())
    def answer(self, i: int, ok: bool) -> None:
        p = self.pending.pop(i % len(self.pending))
        if p.life == self._life(p.node):  # answers for a crashed process are gone with it
            self._answer(p, ok)

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 1000))
    def deliver(self, i: int) -> None:
        frame = self.wire.pop(i % len(self.wire))
        if frame.life != self._life(frame.node):
            return
        core = self._core(frame.node)
        if frame.data is None:
            self.ends.pop((frame.node, frame.life, frame.sid), None)
            self._perform(frame.node, core.stream_lost(frame.sid, self.now))
        else:
            self._perform(frame.node, core.data_received(frame.sid, frame.data, self.now))

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 1000))
    def drop(self, i: int) -> None:
        self.wire.pop(i % len(self.wire))

    @precondition(lambda self: self.wire)
    @rule(i=st.integers(0, 1000))
    def duplicate(self, i: int) -> None:
        frame = self.wire[i % len(self.wire)]
        self.wire.append(replace(frame))

    @precondition(lambda self: any(f.data for f in self.wire))
    @rule(i=st.integers(0, 1000), bit=st.integers(0, 1 << 20))
    def flip_bit(self, i: int, bit: int) -> None:
        frames = [f for f in self.wire if f.data]
        frame = frames[i % len(frames)]
        assert frame.data is not None
        data = bytearray(frame.data)
        pos = bit % (len(data) * 8)
        data[pos // 8] ^= 1 << (pos % 8)
        frame.data = bytes(data)

    @rule(dt=st.floats(0.0, 2.0 * EPOCH))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        for node in self.nodes:
            self._perform(node.index, node.core.handle_timer(self.now))
        self._perform(-1, self.owner.handle_timer(self.now))

    @rule(n=st.integers(0, NODES - 1))
    def crash(self, n: int) -> None:
        """Process restart: the core and what it was owed vanish; the disk survives."""
        node = self.nodes[n]
        for mine, other in list(self.ends.items()):
            if mine[0] == n and mine[1] == node.life:
                del self.ends[mine]
                self.wire.append(Frame(other[0], other[1], other[2], None))
        node.life += 1
        node.core = new_core(n, self.now, node.life)
        for key in [k for k, (_, meta) in node.disk.items() if not meta.committed]:
            del node.disk[key]  # the disk store drops what was never acknowledged
        stored = sorted(((k, meta) for k, (_, meta) in node.disk.items()), key=lambda i: str(i[0]))
        self._perform(n, node.core.restore(stored, self.now))
        self._connect(node)
        for other in self.nodes:
            if other is not node:
                self._perform(other.index, other.core.peer_disconnected(node.peer, self.now))
                self._perform(other.index, other.core.peer_connected(node.peer, None, self.now))

    # ---- invariants ------------------------------------------------------------------

    @invariant()
    def every_shard_has_a_custodian(self) -> None:
        for key in self.keys:
            custodians = [n for n in self.nodes if key in n.core.held and n.committed(key)]
            assert custodians, f"shard {key} has no holder"

    @invariant()
    def held_shards_are_intact(self) -> None:
        for node in self.nodes:
            for key in node.core.held:
                assert node.disk[key][0] == self.w.shards[key.shard_index]

    @invariant()
    def siblings_never_share_a_carrier(self) -> None:
        for node in self.nodes:
            assert len(node.core.held) <= 1


CustodyMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCustody = CustodyMachine.TestCase


def test_machine_makes_progress() -> None:
    """Guard against a vacuous machine: a fair run moves both shards several hops."""
    m = CustodyMachine()
    for _ in range(20):
        m.time_passes(EPOCH)
        m._settle()
        m.every_shard_has_a_custodian()
    hops = max(h.record.hop for n in m.nodes for h in n.core.held.values())
    assert hops >= 10


def test_a_crash_after_the_receipt_keeps_the_shard() -> None:
    """The receiver crashes right after persisting its receipt: the restart takes it back."""
    m = CustodyMachine()
    m.time_passes(1.5 * EPOCH)  # every shard starts its first TTL hop
    for _ in range(1000):
        persist = [p for p in m.pending if isinstance(p.effect, PersistReceipt)]
        if persist:
            break
        if m.wire:
            m.deliver(0)
        else:
            m.answer(0, True)
    p = persist[0]
    m.pending.remove(p)
    m._answer(p, True)  # the receipt is durable (and queued on the wire) ...
    m.crash(p.node)  # ... and the receiver's process dies
    assert isinstance(p.effect, PersistReceipt)
    assert p.effect.key in m.nodes[p.node].core.held  # taken back from the disk
    m._settle()
    m.every_shard_has_a_custodian()
