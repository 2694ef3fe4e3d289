"""Evacuation under threat: every shard leaves, whichever way danger arrives.

Three defects found by reading the carrier as an attacker would; each test
failed before the fix:

* CRITICAL reached inside ``handle_timer`` (old good pings ageing out of the
  window) raised the level but sent no THREAT hop;
* a panic on a node that was already CRITICAL wiped what it held without
  trying to move it, and a shard arriving by a TTL hop at a CRITICAL node
  stayed there;
* a furthest peer answering BUSY to every THREAT hop pinned the evacuation:
  BUSY skipped it only until the next attempt 0.5 s later.
"""

from __future__ import annotations

from wdp.core.carrier import CarrierParams
from wdp.core.effects import StartHandoff, WipeShard
from wdp.core.errors import RejectCode
from wdp.core.objects import Reason
from wdp.core.threat import PeerLost, PeerSeen, PingFailed, PingOk, ThreatLevel, ThreatParams

from .helpers import T0, Node, launch, make_node, make_wanderer, seed

PEERS = [seed(100 + i)[:32] for i in range(4)]
RTTS = [0.001, 0.002, 0.003, 0.090]  # PEERS[3] is the furthest


def carrying(*, shard: bool = True) -> tuple[Node, list[bytes]]:
    """A node that carries one shard (or none) and knows four peers, the last the furthest."""
    # Peers count as evidence once established; these have been known long enough.
    node = make_node(1, CarrierParams(threat=ThreatParams(min_age=0.0)))
    if shard:
        assert launch(make_wanderer(k=1, n=2), 0, node).reject_code is None
    for i, peer in enumerate(PEERS):
        node.carrier.observe(PeerSeen(peer, T0, f"10.{i}.0.1"))
        for k in range(3):
            node.carrier.observe(PingOk(peer, RTTS[i], T0 + k))
    return node, PEERS


def threat_hops(effects: list) -> list[StartHandoff]:
    return [
        e for e in effects
        if isinstance(e, StartHandoff) and e.offer.record.value.reason is Reason.THREAT
    ]  # fmt: skip


def test_critical_reached_by_the_timer_evacuates() -> None:
    node, peers = carrying()
    c = node.carrier
    t = T0 + 10
    for k in range(10):  # a window full of good pings...
        c.observe(PingOk(peers[k % 3], 0.001, t))
    for k in range(7):  # ...then failures, not yet half of the window
        c.observe(PingFailed(peers[k % 3], t + 20))
    assert c.level is ThreatLevel.ELEVATED
    # The good pings age out of the 30 s window: loss is now 7/7, CRITICAL, in handle_timer.
    effects = c.handle_timer(t + 30.5)
    assert c.level is ThreatLevel.CRITICAL
    assert len(threat_hops(effects)) == 1


def test_a_panic_on_a_critical_node_moves_what_it_holds_before_wiping() -> None:
    node, peers = carrying()
    c = node.carrier
    for peer in peers[:2]:  # half the peers vanish: a seizure pattern, CRITICAL
        c.observe(PeerLost(peer, T0 + 5))
    assert c.level is ThreatLevel.CRITICAL
    (key,) = c.held
    first = c.held[key].in_flight_to
    assert first is not None  # it tried to flee ...
    c.handoff_failed(key, RejectCode.TIMEOUT, T0 + 6)  # ... and failed
    effects = c.panic(T0 + 6)
    assert c.level is ThreatLevel.PANIC
    assert threat_hops(effects), "the panic must try to move the shard before the wipe"
    assert not [e for e in effects if isinstance(e, WipeShard)]


def test_a_shard_arriving_by_ttl_at_a_critical_node_flees() -> None:
    node, peers = carrying(shard=False)
    c = node.carrier
    for peer in peers[:2]:
        c.observe(PeerLost(peer, T0 + 5))
    assert c.level is ThreatLevel.CRITICAL
    w = make_wanderer(k=1, n=2)
    outcome = launch(w, 0, node, now=T0 + 6)  # a GENESIS hop arrives at a node under threat
    assert outcome.reject_code is None
    (held,) = c.held.values()
    assert held.in_flight_to is not None and held.reason is Reason.THREAT


def test_a_peer_that_answers_busy_to_threat_hops_does_not_pin_the_evacuation() -> None:
    node, peers = carrying()
    c = node.carrier
    c.observe(PeerLost(peers[0], T0 + 5))
    c.observe(PeerLost(peers[1], T0 + 5))
    (key,) = c.held
    tried = []
    t = T0 + 5
    for _ in range(20):  # 10 s of attempts, every 0.5 s
        held = c.held[key]
        if held.in_flight_to is None:
            threat_hops(c.handle_timer(t))
        if c.held[key].in_flight_to is not None:
            tried.append(c.held[key].in_flight_to)
            c.handoff_failed(key, RejectCode.BUSY, t)  # the furthest peer always says BUSY
        t += 0.5
    assert tried[0] == peers[3]  # the furthest healthy peer first
    assert tried.count(peers[3]) <= 2, "BUSY must not pin the evacuation to one peer"
    assert set(tried) > {peers[3]}


def test_with_no_calm_peer_a_shard_does_not_flee_next_door_but_a_panic_moves_it() -> None:
    # Seen on the WAN testbed: loss on this node's own region leaves no peer steady,
    # the far peers hold sibling shards, and the one left is a neighbour in this node's
    # own network group. Fleeing there gains nothing; a panic (a wipe follows) does.
    node, peers = carrying()
    c = node.carrier
    c.self_ipv4 = "10.3.0.9"  # PEERS[3]'s network group
    others = [seed(110 + i)[:32] for i in range(2)]
    for i, peer in enumerate(others):
        c.observe(PeerSeen(peer, T0, f"10.{4 + i}.0.1"))
        for k in range(3):
            c.observe(PingOk(peer, 0.05, T0 + k))
    for i, peer in enumerate(peers):  # every remaining peer missed a ping: none is steady
        c.observe(PingFailed(peer, T0 + 4))
        c.observe(PingOk(peer, RTTS[i], T0 + 4.5))
    (key,) = c.held
    tried = []
    effects = [e for peer in others for e in c.observe(PeerLost(peer, T0 + 5))]
    assert c.level is ThreatLevel.CRITICAL
    t = T0 + 5
    while hops := threat_hops(effects):
        (hop,) = hops
        tried.append(hop.to_peer)
        t += 1
        effects = c.handoff_failed(key, RejectCode.SIBLING_HELD, t) + c.handle_timer(t + 0.6)
    assert sorted(tried) == sorted(peers[:3])  # the far peers, each refused: then it waits
    assert not threat_hops(c.handle_timer(t + 5))
    effects = c.panic(t + 6)
    assert [h.to_peer for h in threat_hops(effects)] == [peers[3]]
