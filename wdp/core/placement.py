"""Choosing the next carrier of a shard.

Every hop hands a shard to a new peer, and every handoff is a chance for a
hoarder (the Vanish lesson). So destinations are chosen with diversity limits:
never back to where the shard just was when avoidable, and preferably outside
the network neighbourhoods (IPv4 /16, as go-libp2p's DHT groups peers) of this
node and of the shard's recent carriers, so one operator or one seized data
centre sees few hops of the same shard.

Hard rules (never relaxed): the peer is healthy and not in ``exclude`` (self,
holders of sibling shards, peers that just rejected). A peer listed more than
once is acceptable only if every entry says healthy.

Preference tiers, tried in order; the first non-empty tier is used. ``R`` is
the last ``recent_window`` entries of ``recent`` (oldest first), ``S`` is
self's prefix, ``P(x)`` a peer's ``prefix_bits`` prefix:

====  ===============  ================================================
tier  recent peers?    prefix condition
====  ===============  ================================================
0     not in R         P known, not S, not P of any peer in R
1..r  not in R         P known, not S, not P of the newest r-k peers in R
                       (the oldest recent prefixes are forgiven first)
r+1   not in R         P unknown (no IPv4; cannot judge diversity)
r+2   not in R         any (same prefix as self or as recent carriers)
r+3   in R             the acceptable recent peer visited longest ago
====  ===============  ================================================

(With ``r = len(R)``; when self has no IPv4, ``S`` is simply absent; tier
``1..r`` with ``k = r`` only avoids ``S``.)

Before the tiers, two filters on the acceptable peers:

* **Trust.** A peer this node has evidence for (it handed shards on, in
  verified custody chains: ``Candidate.proven``) is preferred; unproven peers
  get only ``unproven_share`` of non-urgent hops (and no urgent hop while a
  proven one is acceptable), so a black hole that never forwards earns little.
* **Calm, for urgent hops.** A THREAT hop goes only to a *steady* peer (no
  recent ping failure, RTT not risen above its own minimum) outside any
  network group where ``anomaly_cluster`` or more peers are not steady: loss
  or delay that precedes a raid marks the region, and fleeing into it is
  what must not happen. If no such peer is acceptable, any healthy one is,
  except, for a hop that may wait (``may_wait``: the detector's THREAT hop,
  not a panic's), a peer in this node's own network group: when every peer
  looks unsteady the trouble is most likely here, and a neighbour shares it,
  so the shard waits for the next attempt rather than move next door. A node
  that knows no peer outside its own group (a swarm on one LAN) has nowhere
  else to wait for, and moves within it.

Within the chosen tier the choice is **group first**: a network group (IPv4
prefix; a peer without one is a group of its own) uniformly at random, then a
peer in it uniformly, so 40 Sybils in 4 /16 networks get the hops of 4
groups, not of 40 peers. A non-urgent hop (TTL, DRAIN, REPAIR) chooses among
all of the tier, so the route cannot be predicted; an urgent hop (THREAT)
among the *far* peers only, those at least ``(1 - urgent_slack)`` of the
largest distance (``Candidate.rtt``: the windowed minimum RTT, which a peer
cannot inflate by holding back its pongs for long): still the furthest peers
by measured latency, the best cheap proxy for "outside the blast radius", but
not one single peer that anyone could make look furthest. Peers with unknown
RTT rank below any known RTT. Candidates are sorted by peer id first, so the
result depends only on the input set and the rng state, not on input order.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .latency import PeerStats
from .rng import Rng

__all__ = ["Candidate", "PlacementParams", "choose_carrier", "ipv4_prefix"]


@dataclass(frozen=True, slots=True)
class PlacementParams:
    """Tuning of carrier choice.

    Attributes:
        recent_window: How many of the shard's latest carriers to avoid.
        prefix_bits: Length of the IPv4 prefix that defines a neighbourhood
            (16 as in go-libp2p's DHT diversity filter; Storj uses /24).
        urgent_slack: Urgent hops choose at random among peers whose distance is
            at least ``(1 - urgent_slack) * max`` of the tier. 0.0 means
            strictly the furthest (which a peer that delays its pongs could
            make itself); 0.5 the far half.
        group_first: Choose a network group first, then a peer in it.
        unproven_share: Share of non-urgent hops that may go to peers without
            evidence of honest forwarding while proven peers are acceptable.
        anomaly_cluster: Peers that are not steady in one network group that
            make urgent hops avoid the whole group.
        robust_flight: Urgent hops use the windowed minimum RTT as distance and
            keep to calm peers. False is the old rule, kept to measure the
            defence: the smoothed RTT and no calm filter (with
            ``urgent_slack`` 0, strictly the furthest peer).
    """

    recent_window: int = 8
    prefix_bits: int = 16
    urgent_slack: float = 0.5
    group_first: bool = True
    unproven_share: float = 0.05
    anomaly_cluster: int = 2
    robust_flight: bool = True

    def __post_init__(self) -> None:
        if self.recent_window < 0:
            raise ValueError("recent_window must be >= 0")
        if not 0 <= self.prefix_bits <= 32:
            raise ValueError("prefix_bits must be in [0, 32]")
        if not 0.0 <= self.urgent_slack < 1.0:
            raise ValueError("urgent_slack must be in [0, 1)")
        if not 0.0 <= self.unproven_share <= 1.0:
            raise ValueError("unproven_share must be in [0, 1]")
        if self.anomaly_cluster < 1:
            raise ValueError("anomaly_cluster must be >= 1")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A peer that could receive the shard, as this node sees it.

    ``rtt`` is its distance (the windowed minimum RTT when known); ``steady``
    whether it is fit for a THREAT hop; ``proven`` whether this node has
    evidence that it hands shards on.
    """

    peer: bytes
    ipv4: str | None
    rtt: float | None
    healthy: bool
    steady: bool = True
    proven: bool = False
    srtt: float | None = None  # the smoothed RTT (distance when robust_flight is off)

    @classmethod
    def from_stats(cls, stats: PeerStats, *, proven: bool = False) -> Candidate:
        """Build a candidate from a latency-map snapshot (minimum RTT as distance)."""
        rtt = stats.min_rtt if stats.min_rtt is not None else stats.srtt
        return cls(stats.peer, stats.ipv4, rtt, stats.healthy, stats.steady, proven, stats.srtt)


@functools.lru_cache(maxsize=65536)
def ipv4_prefix(addr: str | None, bits: int = 16) -> int | None:
    """Return the top ``bits`` bits of an IPv4 address, or ``None``.

    ``None`` for a missing or unparsable address and for IPv6 (except
    IPv4-mapped addresses, which are unwrapped). Memoized: placement asks
    for the same few addresses at every hop.
    """
    if not 0 <= bits <= 32:
        raise ValueError("bits must be in [0, 32]")
    if addr is None:
        return None
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return None
        ip = ip.ipv4_mapped
    return int(ip) >> (32 - bits)


def choose_carrier(
    candidates: Sequence[Candidate],
    *,
    urgent: bool,
    rng: Rng,
    exclude: Collection[bytes] = (),
    recent: Sequence[bytes] = (),
    self_ipv4: str | None = None,
    params: PlacementParams | None = None,
    recent_ipv4: Mapping[bytes, str | None] | None = None,
    patient: bool = False,
    may_wait: bool = False,
) -> Candidate | None:
    """Pick the next carrier per the tier table in the module docstring.

    ``patient``: the hop may wait (a TTL hop). When this node knows proven
    peers but none is acceptable now (they hold siblings, were tried, or are
    busy), a patient hop goes to an unproven peer only with probability
    ``unproven_share`` and otherwise returns ``None``: the shard stays with
    its carrier rather than take a draw on an unknown peer.

    ``may_wait``: an urgent hop that may stay (not a panic's): with no calm
    peer acceptable, it does not take a peer of this node's own network group.

    ``recent_ipv4`` supplies addresses of recent carriers that may no longer
    be candidates (their prefixes are still avoided); addresses of recent
    carriers that are candidates (healthy or not) are taken from the
    candidates, and ``recent_ipv4`` wins when both give one. Returns
    ``None`` when no healthy, non-excluded candidate exists.
    """
    p = params if params is not None else PlacementParams()
    excluded = set(exclude)
    pool: dict[bytes, Candidate] = {}
    for c in candidates:  # a peer listed twice counts once; any unhealthy entry wins
        if c.healthy and c.peer not in excluded:
            pool.setdefault(c.peer, c)
        else:
            excluded.add(c.peer)
    for peer in excluded:
        pool.pop(peer, None)
    if not pool:
        return None
    acceptable = [pool[k] for k in sorted(pool)]
    if urgent and p.robust_flight:
        calm = _calm(acceptable, candidates, p)
        if calm:
            acceptable = calm
        elif may_wait:
            acceptable = _away(acceptable, candidates, self_ipv4, p.prefix_bits)
    acceptable = _trusted(
        acceptable, urgent=urgent, rng=rng, share=p.unproven_share,
        hold_back=patient and any(c.proven for c in candidates),
    )  # fmt: skip
    if not acceptable:
        return None

    window = list(recent[-p.recent_window :]) if p.recent_window else []
    last_visit = {peer: i for i, peer in enumerate(window)}  # later visit wins

    addresses = {c.peer: c.ipv4 for c in reversed(candidates) if c.ipv4 is not None}
    if recent_ipv4 is not None:
        addresses.update((k, v) for k, v in recent_ipv4.items() if v is not None)

    for tier in _tiers(acceptable, window, last_visit, self_ipv4, p.prefix_bits, addresses):
        if tier:
            return _pick(tier, urgent=urgent, rng=rng, params=p)
    # Only recent peers remain: go back to the one visited longest ago.
    return min(acceptable, key=lambda c: last_visit[c.peer])


def _tiers(
    acceptable: list[Candidate],
    window: list[bytes],
    last_visit: Mapping[bytes, int],
    self_ipv4: str | None,
    bits: int,
    addresses: Mapping[bytes, str],
) -> list[list[Candidate]]:
    """Build tiers 0..r+2 of the table (tier r+3 is handled by the caller)."""
    fresh = [c for c in acceptable if c.peer not in last_visit]
    if not fresh:
        return []

    own = ipv4_prefix(self_ipv4, bits)
    # Prefixes of recent carriers, newest first; None where unknown.
    recent_prefixes = [ipv4_prefix(addresses.get(peer), bits) for peer in reversed(window)]
    fresh_prefix = {c.peer: ipv4_prefix(c.ipv4, bits) for c in fresh}
    tiers: list[list[Candidate]] = []
    for keep in range(len(window), -1, -1):  # newest `keep` recent prefixes avoided
        avoid = {x for x in recent_prefixes[:keep] if x is not None}
        if own is not None:
            avoid.add(own)
        tiers.append(
            [c for c in fresh if (x := fresh_prefix[c.peer]) is not None and x not in avoid]
        )
    tiers.append([c for c in fresh if fresh_prefix[c.peer] is None])
    tiers.append(fresh)
    return tiers


def _calm(
    acceptable: list[Candidate], candidates: Sequence[Candidate], p: PlacementParams
) -> list[Candidate]:
    """Steady peers outside network groups where unsteady peers cluster (urgent hops)."""
    unsteady: dict[int, set[bytes]] = {}
    for c in candidates:
        group = ipv4_prefix(c.ipv4, p.prefix_bits)
        if group is not None and not (c.healthy and c.steady):
            unsteady.setdefault(group, set()).add(c.peer)
    marked = {g for g, peers in unsteady.items() if len(peers) >= p.anomaly_cluster}
    return [
        c for c in acceptable
        if c.steady and ipv4_prefix(c.ipv4, p.prefix_bits) not in marked
    ]  # fmt: skip


def _away(
    acceptable: list[Candidate], candidates: Sequence[Candidate], self_ipv4: str | None, bits: int
) -> list[Candidate]:
    """The peers outside this node's own network group, if it knows any peer there.

    Waiting is for a peer elsewhere to become acceptable; when every known peer
    (acceptable or not) shares this node's group there is no elsewhere, and
    the acceptable peers are returned as they are.
    """
    own = ipv4_prefix(self_ipv4, bits)
    if own is None or all(ipv4_prefix(c.ipv4, bits) == own for c in candidates):
        return acceptable
    return [c for c in acceptable if ipv4_prefix(c.ipv4, bits) != own]


def _trusted(
    acceptable: list[Candidate], *, urgent: bool, rng: Rng, share: float, hold_back: bool
) -> list[Candidate]:
    """Proven peers, but for ``share`` of non-urgent hops.

    With no proven peer acceptable: every peer, unless ``hold_back`` (a hop
    that may wait, on a node that knows proven peers), where it is every peer
    for ``share`` of the tries and none otherwise.
    """
    proven = [c for c in acceptable if c.proven]
    unproven = [c for c in acceptable if not c.proven]
    if not proven and unproven and hold_back and not urgent:
        return unproven if rng.random() < share else []
    if not proven or not unproven:
        return acceptable
    if not urgent and rng.random() < share:
        return unproven
    return proven


def _distance(c: Candidate, params: PlacementParams) -> float | None:
    return c.rtt if params.robust_flight or c.srtt is None else c.srtt


def _pick(tier: list[Candidate], *, urgent: bool, rng: Rng, params: PlacementParams) -> Candidate:
    if urgent:
        far = {c.peer: d for c in tier if (d := _distance(c, params)) is not None}
        if far:
            top = max(far.values())
            floor = top * (1.0 - params.urgent_slack)
            tier = [c for c in tier if c.peer in far and far[c.peer] >= floor]
    if not params.group_first:
        return tier[rng.randrange(len(tier))]
    groups: dict[object, list[Candidate]] = {}
    for c in tier:  # tier is sorted by peer id, so groups and their members are too
        prefix = ipv4_prefix(c.ipv4, params.prefix_bits)
        groups.setdefault(("net", prefix) if prefix is not None else ("peer", c.peer), []).append(c)
    members = list(groups.values())[rng.randrange(len(groups))]
    return members[rng.randrange(len(members))]
