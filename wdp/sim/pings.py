"""Connections and pings between neighbours, as a network phenomenon.

Each node is connected to its live neighbours. With pings on, it pings every
neighbour once per ``ping_interval``: a ping's fate is the network's. Over a
stream (``swarm.pings = "stream"``, as libp2p's ping over TCP), a lost packet
is sent again after a retransmission timeout
(:meth:`~wdp.sim.network.Network.retransmissions`), so the answer comes late
with a long RTT, and only an answer later than ``ping_timeout`` or a broken
stream fails the ping; as a datagram (``"datagram"``,
:meth:`~wdp.sim.network.Network.ping_fails`) a lost packet fails it. An
answer goes to the core as ``ping_ok`` with its RTT (at once, or when it
arrives if it was retransmitted), a failure as ``ping_failed`` once
``ping_timeout`` has passed. How many failures make a peer lost is the
core's rule: a neighbour the core reports lost (``is_lost``) counts as
disconnected here, and is dialled again on later rounds (a dial that gets
through: ``peer_connected``); the simulator asks ``is_lost`` after every
failed ping it reports, and never counts failures itself. With pings off, a
node's connections carry one RTT sample when they come up, and a
neighbour's disappearance is noticed ``detect_delay`` seconds later
(``peer_disconnected``); a graceful stop is noticed at once either way.

Droppers never hop anything, so they neither ping nor track connections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wdp.core.node import NodeEffect

from .runtime import Endpoint

if TYPE_CHECKING:
    from .world import Simulation

__all__ = ["Pings"]


class Pings:
    """Every node's connections to its neighbours, and its ping rounds."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        sw = sim.sw
        self.on = sim.policy.threat and sw.ping_interval > 0
        self.datagram = sw.pings == "datagram"
        self.connected: list[set[int]] = [set() for _ in sim.topology.nodes]

    def _takes_part(self, ep: Endpoint) -> bool:
        return ep.alive and ep.core is not None and ep.kind != "drop"

    def connect(self, ep: Endpoint, first: bool) -> None:
        """A node (re)starts: it connects to its live neighbours, and they to it."""
        sim = self.sim
        topo, now = sim.topology, sim.q.now
        self.connected[ep.index] = set()
        if not self._takes_part(ep):
            return
        core = ep.core
        assert core is not None
        effects: list[NodeEffect] = []
        for j in topo.neighbours[ep.index]:
            other = topo.nodes[j]
            if not other.alive:  # down, or not yet online (nodes start in index order)
                continue
            self.connected[ep.index].add(j)
            effects += core.peer_connected(other.peer, other.ipv4, now)
            if not self.on:  # the connection's own round trip: one RTT sample
                effects += core.ping_ok(other.peer, self._rtt(ep.index, j), now)
        sim.runtime.perform(ep, effects)
        if self.on:
            phase = sim.rng("pings", ep.index, ep.inc).uniform(0.0, sim.sw.ping_interval)
            sim.q.after(phase, self._round, ep, ep.inc)
        elif not first:  # its neighbours reconnect to it
            for j in topo.neighbours[ep.index]:
                other = topo.nodes[j]
                if self._takes_part(other) and other.core is not None:
                    self.connected[j].add(ep.index)
                    sim.runtime.perform(other, other.core.peer_connected(ep.peer, ep.ipv4, now))

    def _rtt(self, i: int, j: int) -> float:
        """A round trip from ``i`` to ``j``, with the pong delay ``j`` may add on purpose."""
        return self.sim.topology.net.sample_rtt(i, j) + self.sim.topology.pong_delay[j]

    def _is_connected(self, ep: Endpoint, j: int) -> bool:
        """Connected, as far as ``ep`` knows: dialled, and not reported lost by its core since.

        ``connected`` follows the core's verdict (it drops a neighbour once the
        core reports it lost), so this needs no question to the core.
        """
        return j in self.connected[ep.index]

    def _round(self, ep: Endpoint, inc: int) -> None:
        if ep.inc != inc or not self._takes_part(ep):
            return
        sim = self.sim
        topo, net, now, i = sim.topology, sim.topology.net, sim.q.now, ep.index
        core = ep.core
        assert core is not None
        failed: list[int] = []
        effects: list[NodeEffect] = []
        for j in topo.neighbours[i]:
            other = topo.nodes[j]
            if not self._is_connected(ep, j):  # not connected: dial it again
                if other.alive and not net.ping_fails(i, j):
                    self.connected[i].add(j)
                    effects += core.peer_connected(other.peer, other.ipv4, now)
                continue
            if not other.alive:
                failed.append(j)
            elif self.datagram:
                if net.ping_fails(i, j):
                    failed.append(j)
                else:
                    effects += core.ping_ok(other.peer, self._rtt(i, j), now)
            else:
                waited = net.retransmissions(i, j)
                rtt = None if waited is None else self._rtt(i, j) + waited
                if rtt is None or rtt > sim.sw.ping_timeout:
                    failed.append(j)
                elif waited:  # the answer comes when it comes
                    sim.q.after(rtt, self._late, ep, inc, j, rtt)
                else:
                    effects += core.ping_ok(other.peer, rtt, now)
        sim.meter.count("pings", len(topo.neighbours[i]))
        sim.runtime.perform(ep, effects)
        if failed:
            sim.q.after(sim.sw.ping_timeout, self._failed, ep, inc, failed)
        sim.q.after(sim.sw.ping_interval, self._round, ep, inc)

    def _late(self, ep: Endpoint, inc: int, j: int, rtt: float) -> None:
        """An answer that needed retransmissions arrives."""
        if ep.inc != inc or not self._takes_part(ep) or not self._is_connected(ep, j):
            return
        assert ep.core is not None
        peer = self.sim.topology.nodes[j].peer
        self.sim.runtime.perform(ep, ep.core.ping_ok(peer, rtt, self.sim.q.now))

    def _failed(self, ep: Endpoint, inc: int, failed: list[int]) -> None:
        if ep.inc != inc or not self._takes_part(ep):
            return
        core = ep.core
        assert core is not None
        now = self.sim.q.now
        effects: list[NodeEffect] = []
        for j in failed:
            if not self._is_connected(ep, j):
                continue
            peer = self.sim.topology.nodes[j].peer
            effects += core.ping_failed(peer, now)
            if core.is_lost(peer):
                self.connected[ep.index].discard(j)
        self.sim.runtime.perform(ep, effects)

    def gone(self, ep: Endpoint, *, graceful: bool) -> None:
        """``ep`` went down: without pings (or when it said goodbye) neighbours notice."""
        if not (graceful or not self.on):
            return
        delay = 0.0 if graceful else self.sim.sw.detect_delay
        for j in self.sim.topology.neighbours[ep.index]:
            other = self.sim.topology.nodes[j]
            self.sim.q.after(delay, self._noticed, other, other.inc, ep)

    def _noticed(self, ep: Endpoint, inc: int, gone: Endpoint) -> None:
        if ep.inc != inc or not self._takes_part(ep) or not self._is_connected(ep, gone.index):
            return
        assert ep.core is not None
        self.connected[ep.index].discard(gone.index)
        self.sim.runtime.perform(ep, ep.core.peer_disconnected(gone.peer, self.sim.q.now))
