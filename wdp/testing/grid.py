"""An in-process grid of WDP nodes: the real cores, no sockets, no processes, virtual time.

WDP's answer to Tahoe-LAFS's no-network grid: every node is a real
:class:`~wdp.core.node.NodeCore` with a real
:class:`~wdp.core.owner.OwnerCore`, performed by the simulator's runtime
(:mod:`wdp.sim.runtime`) over a perfect in-memory link, with real Ed25519
and real erasure coding. Time is virtual, so epochs pass in milliseconds:

    grid = Grid(10)
    ticket = grid.put(0, b"secret")
    grid.run(3 * 600)                    # three epochs of hops
    grid.seize(*grid.carriers(ticket)[:3])
    assert grid.get(1, ticket) == b"secret"

Faults: :meth:`Grid.seize` (a node and its memory store are gone; its peers
notice at once), :meth:`Grid.drop_frames` (frames matching a predicate are
lost and break that direction of their stream), :meth:`Grid.pause` (nodes
that send nothing more, as under SIGSTOP).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wdp.core.capability import RepairCapability
from wdp.core.effects import ShardKey
from wdp.core.errors import WdpError
from wdp.core.messages import Message
from wdp.core.node import HandoffEnded, NodeCore, NodeEffect, NodeParams, SendData
from wdp.core.owner import (
    GetDone,
    KeepDone,
    OpFailed,
    OwnerCore,
    OwnerEffect,
    OwnerParams,
    PutDone,
)
from wdp.core.signing import Signer
from wdp.core.ticket import Ticket
from wdp.sim.attackers import Dropper
from wdp.sim.events import EventQueue
from wdp.sim.runtime import Endpoint, Link, Runtime
from wdp.sim.transport import PerfectLink

__all__ = ["T0", "Grid", "GridError"]

T0 = 1_700_000_000.0
"""Virtual time at which a grid starts (seconds; looks like a wall clock)."""

OP_TIMEOUT = 3600.0
"""Virtual seconds a put or get may take before the grid gives up on it."""


class GridError(WdpError):
    """A grid operation failed (the owner core's message), or never finished."""


@dataclass
class Recorder:
    """Everything the grid's nodes reported, in order."""

    node: list[tuple[int, NodeEffect]] = field(default_factory=list)
    owner: list[tuple[int, OwnerEffect]] = field(default_factory=list)
    outcomes: dict[tuple[int, int], OwnerEffect] = field(default_factory=dict)
    frames: int = 0
    bytes: int = 0

    def hops(self) -> list[HandoffEnded]:
        """Custody that passed, as the receivers reported it."""
        return [e for _, e in self.node if isinstance(e, HandoffEnded) and e.inbound and e.ok]


class Grid:
    """``nodes`` in-process nodes, all connected, each with a distinct /16 and RTT."""

    def __init__(
        self,
        nodes: int = 10,
        *,
        seed: int = 1,
        node_params: NodeParams | None = None,
        owner_params: OwnerParams | None = None,
        black_holes: Sequence[int] = (),
    ) -> None:
        """``black_holes``: nodes that sign receipts and discard every shard (the
        simulator's :class:`~wdp.sim.attackers.Dropper`)."""
        self.q = EventQueue()
        self.q.now = T0
        self.seed = seed
        self.record = Recorder()
        self._drop: Callable[[Message | object], bool] | None = None
        self._paused: set[int] = set()
        self.runtime = Runtime(self.q, PerfectLink(), self)
        self.node_params = node_params
        self.owner_params = owner_params
        self.black_holes = frozenset(black_holes)
        for i in range(nodes):
            signer = Signer(self._seed("node", i))
            ep = self.runtime.add(Endpoint(i, signer, f"10.{i}.0.1"))
            self._start(ep)
        for ep in self.endpoints:
            for other in self.endpoints:
                if other is not ep:
                    self._introduce(ep, other)

    def _seed(self, *parts: object) -> bytes:
        return hashlib.sha256("/".join(map(str, ("wdp-grid", self.seed, *parts))).encode()).digest()

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(self._seed(*parts))

    def _start(self, ep: Endpoint) -> None:
        kind = Dropper if ep.index in self.black_holes else NodeCore
        core = kind(
            ep.signer,
            self._rng("core", ep.index, ep.inc),
            self.q.now,
            self.node_params,
            self_ipv4=ep.ipv4,
            addrs=(f"/ip4/{ep.ipv4}/tcp/4001".encode(),),
        )
        owner = OwnerCore(core, self._rng("owner", ep.index, ep.inc), self.owner_params)
        self.runtime.start(ep, core, owner)

    def _introduce(self, ep: Endpoint, other: Endpoint) -> None:
        """``ep`` connects to ``other`` and measures one round trip (grids do not ping)."""
        if ep.core is None:
            return
        now = self.q.now
        rtt = 0.001 * (1 + abs(ep.index - other.index))  # farther by index, for THREAT hops
        self.runtime.perform(ep, ep.core.peer_connected(other.peer, other.ipv4, now))
        if ep.core is not None:
            self.runtime.perform(ep, ep.core.ping_ok(other.peer, rtt, now))

    # ---- Observer ---------------------------------------------------------------------

    def node_report(self, ep: Endpoint, effect: NodeEffect) -> None:
        self.record.node.append((ep.index, effect))

    def owner_report(self, ep: Endpoint, effect: OwnerEffect) -> None:
        self.record.owner.append((ep.index, effect))
        if isinstance(effect, PutDone | GetDone | KeepDone | OpFailed):
            self.record.outcomes[(ep.index, effect.op)] = effect

    def sent(self, ep: Endpoint, link: Link, effect: SendData) -> None:
        self.record.frames += 1
        self.record.bytes += len(effect.data)
        if ep.index in self._paused or (self._drop is not None and self._drop(effect.message)):
            side = 0 if link.ends[0][0] == ep.index else 1
            link.broken[side] = True  # this frame and what follows it on that side are lost

    # ---- the grid's API --------------------------------------------------------------------

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.runtime.endpoints

    @property
    def now(self) -> float:
        return self.q.now

    def core(self, node: int) -> NodeCore:
        core = self.endpoints[node].core
        if core is None:
            raise GridError(f"node {node} is down")
        return core

    def owner(self, node: int) -> OwnerCore:
        owner = self.endpoints[node].owner
        if owner is None:
            raise GridError(f"node {node} is down")
        return owner

    def run(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass."""
        self.q.run(self.q.now + seconds)

    def _operation(self, node: int, start: tuple[int, list[OwnerEffect]]) -> OwnerEffect:
        op, effects = start
        ep = self.endpoints[node]
        self.runtime.perform_owner(ep, effects)
        key = (node, op)
        if not self.q.run_until(lambda: key in self.record.outcomes, self.q.now + OP_TIMEOUT):
            raise GridError(f"operation {op} on node {node} did not finish")
        outcome = self.record.outcomes[key]
        if isinstance(outcome, OpFailed):
            raise GridError(outcome.message)
        return outcome

    def put(
        self,
        node: int,
        payload: bytes,
        *,
        k: int = 3,
        n: int = 8,
        epoch: int = 600,
        name: str = "",
        settle: bool = False,
    ) -> Ticket:
        """Put ``payload`` through ``node``; returns the ticket (or raises GridError)."""
        now = self.q.now
        start = self.owner(node).put(
            payload, name=name, k=k, n=n, epoch=epoch, now=now, settle=settle
        )
        outcome = self._operation(node, start)
        assert isinstance(outcome, PutDone)
        return outcome.ticket

    def keep(self, node: int, capability: RepairCapability, repair_delay: float = 0.0) -> None:
        """Make ``node`` a keeper of the capability's wanderer (or raise GridError)."""
        start = self.owner(node).keep(capability, self.q.now, repair_delay=repair_delay)
        assert isinstance(self._operation(node, start), KeepDone)

    def get(self, node: int, ticket: Ticket) -> bytes:
        """Get a ticket's payload through ``node`` (or raise GridError)."""
        outcome = self._operation(node, self.owner(node).get(ticket, self.q.now))
        assert isinstance(outcome, GetDone)
        return outcome.payload

    def seize(self, *nodes: int) -> None:
        """Take ``nodes`` away now: their memory stores are gone; every peer notices at once."""
        for node in nodes:
            ep = self.endpoints[node]
            if ep.alive:
                self.runtime.down(ep, 0.0)
        for node in nodes:
            gone = self.endpoints[node]
            for ep in self.endpoints:
                if ep.core is not None:
                    self.runtime.perform(ep, ep.core.peer_disconnected(gone.peer, self.q.now))

    def drop_frames(self, match: Callable[[Message | object], bool] | None) -> None:
        """Lose every frame whose message ``match``es (and the rest of that side); None: stop."""
        self._drop = match

    def pause(self, *nodes: int) -> None:
        """SIGSTOP ``nodes``: streams to them open, but nothing they send arrives (and
        their peers do not notice); ``pause()`` with no nodes resumes them all."""
        self._paused = set(nodes)

    def holders(self, ticket: Ticket) -> dict[int, list[int]]:
        """Shard index -> the live nodes that carry it (committed custody)."""
        out: dict[int, list[int]] = {}
        for ep in self.endpoints:
            if ep.core is None:
                continue
            for key in ep.core.held:
                if key.wanderer_id == ticket.wanderer_id:
                    out.setdefault(key.shard_index, []).append(ep.index)
        return {i: sorted(v) for i, v in sorted(out.items())}

    def carriers(self, ticket: Ticket) -> list[int]:
        """Every live node carrying at least one of the ticket's shards."""
        return sorted({node for nodes in self.holders(ticket).values() for node in nodes})

    def stored(self, node: int, key: ShardKey) -> bytes | None:
        """The bytes ``node``'s store has for ``key``."""
        item = self.endpoints[node].store.get(key)
        return None if item is None else item[0]
