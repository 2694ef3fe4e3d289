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

Within the chosen tier: a non-urgent hop (TTL, DRAIN, REPAIR) picks uniformly
at random, so the route cannot be predicted; an urgent hop (THREAT) picks the
furthest peer by measured RTT, since distance in latency is the best cheap
proxy for "outside the blast radius". Peers with unknown RTT rank below any
known RTT; ties (and peers within ``urgent_slack`` of the maximum) are broken
by the rng. Candidates are sorted by peer id first, so the result depends only
on the input set and the rng state, not on input order.
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
        urgent_slack: Urgent hops choose at random among peers whose RTT is at
            least ``(1 - urgent_slack) * max RTT`` of the tier. 0.0 means
            strictly the furthest; a little slack makes the destination less
            predictable to a peer that inflates its own RTT to attract
            emergency hops.
    """

    recent_window: int = 8
    prefix_bits: int = 16
    urgent_slack: float = 0.0

    def __post_init__(self) -> None:
        if self.recent_window < 0:
            raise ValueError("recent_window must be >= 0")
        if not 0 <= self.prefix_bits <= 32:
            raise ValueError("prefix_bits must be in [0, 32]")
        if not 0.0 <= self.urgent_slack < 1.0:
            raise ValueError("urgent_slack must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A peer that could receive the shard, as the latency map sees it."""

    peer: bytes
    ipv4: str | None
    rtt: float | None
    healthy: bool

    @classmethod
    def from_stats(cls, stats: PeerStats) -> Candidate:
        """Build a candidate from a latency-map snapshot (SRTT as RTT)."""
        return cls(peer=stats.peer, ipv4=stats.ipv4, rtt=stats.srtt, healthy=stats.healthy)


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
) -> Candidate | None:
    """Pick the next carrier per the tier table in the module docstring.

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

    window = list(recent[-p.recent_window :]) if p.recent_window else []
    last_visit = {peer: i for i, peer in enumerate(window)}  # later visit wins

    addresses = {c.peer: c.ipv4 for c in reversed(candidates) if c.ipv4 is not None}
    if recent_ipv4 is not None:
        addresses.update((k, v) for k, v in recent_ipv4.items() if v is not None)

    for tier in _tiers(acceptable, window, last_visit, self_ipv4, p.prefix_bits, addresses):
        if tier:
            return _pick(tier, urgent=urgent, rng=rng, slack=p.urgent_slack)
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


def _pick(tier: list[Candidate], *, urgent: bool, rng: Rng, slack: float) -> Candidate:
    if urgent:
        known = [c for c in tier if c.rtt is not None]
        if known:
            top = max(c.rtt for c in known if c.rtt is not None)
            floor = top * (1.0 - slack)
            tier = [c for c in known if c.rtt is not None and c.rtt >= floor]
    return tier[rng.randrange(len(tier))]
