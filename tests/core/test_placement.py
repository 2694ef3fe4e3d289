"""Tests for wdp.core.placement (choosing the next carrier)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wdp.core.latency import LatencyMap
from wdp.core.placement import Candidate, PlacementParams, _calm, choose_carrier, ipv4_prefix

SELF = b"\x00" * 32
SELF_IP = "10.1.0.1"


def pid(i: int) -> bytes:
    return bytes([i]) * 32


def cand(
    i: int, ip: str | None = None, rtt: float | None = 0.05, healthy: bool = True
) -> Candidate:
    return Candidate(peer=pid(i), ipv4=ip, rtt=rtt, healthy=healthy)


def choices(
    candidates: list[Candidate], seeds: int = 300, **kwargs: object
) -> Counter[bytes | None]:
    out: Counter[bytes | None] = Counter()
    for seed in range(seeds):
        c = choose_carrier(candidates, rng=random.Random(seed), **kwargs)  # type: ignore[arg-type]
        out[None if c is None else c.peer] += 1
    return out


# -- ipv4_prefix ---------------------------------------------------------------


def test_ipv4_prefix() -> None:
    assert ipv4_prefix("10.1.2.3", 16) == (10 << 8) | 1
    assert ipv4_prefix("10.1.2.3") == ipv4_prefix("10.1.200.7")
    assert ipv4_prefix("10.1.2.3", 24) != ipv4_prefix("10.1.3.3", 24)
    assert ipv4_prefix("10.1.2.3", 32) == 0x0A010203
    assert ipv4_prefix("10.1.2.3", 0) == 0
    assert ipv4_prefix("::ffff:10.1.2.3", 16) == ipv4_prefix("10.1.2.3", 16)
    assert ipv4_prefix(None, 16) is None
    assert ipv4_prefix("not an ip", 16) is None
    assert ipv4_prefix("2001:db8::1", 16) is None
    assert ipv4_prefix("10.1.2", 16) is None
    with pytest.raises(ValueError):
        ipv4_prefix("10.1.2.3", 33)


def test_params_defaults_and_validation() -> None:
    p = PlacementParams()
    assert (p.recent_window, p.prefix_bits, p.urgent_slack) == (8, 16, 0.5)
    assert (p.group_first, p.unproven_share, p.anomaly_cluster) == (True, 0.05, 2)
    for bad in (
        {"recent_window": -1}, {"prefix_bits": 33}, {"urgent_slack": 1.0},
        {"unproven_share": 1.5}, {"anomaly_cluster": 0},
    ):  # fmt: skip
        with pytest.raises(ValueError):
            PlacementParams(**bad)  # type: ignore[arg-type]


def test_candidate_from_stats() -> None:
    m = LatencyMap()
    m.peer_seen(pid(1), "10.2.0.1", now=0.0)
    m.ping_ok(pid(1), 0.12, now=1.0)
    stats = m.stats(pid(1))
    assert stats is not None
    assert Candidate.from_stats(stats) == Candidate(pid(1), "10.2.0.1", 0.12, True, srtt=0.12)


# -- hard rules ----------------------------------------------------------------


def test_nothing_acceptable_returns_none() -> None:
    rng = random.Random(0)
    assert choose_carrier([], urgent=False, rng=rng) is None
    only_bad = [cand(1, healthy=False), cand(2), cand(0)]
    assert choose_carrier(only_bad, urgent=True, rng=rng, exclude={pid(2), pid(0)}) is None


def test_never_unhealthy_or_excluded_even_if_furthest() -> None:
    cands = [
        cand(1, "20.0.0.1", rtt=0.9, healthy=False),
        cand(2, "30.0.0.1", rtt=0.8),
        cand(3, "40.0.0.1", rtt=0.01),
    ]
    got = choices(cands, urgent=True, exclude={pid(2)}, self_ipv4=SELF_IP)
    assert got == Counter({pid(3): 300})


# -- urgent (THREAT) hops -----------------------------------------------------


def test_urgent_picks_max_rtt_healthy_peer() -> None:
    cands = [
        cand(1, "20.0.0.1", rtt=0.010),
        cand(2, "30.0.0.1", rtt=0.300, healthy=False),
        cand(3, "40.0.0.1", rtt=0.200),
        cand(4, "50.0.0.1", rtt=None),
        cand(5, "60.0.0.1", rtt=0.0004),
    ]
    got = choices(cands, urgent=True, self_ipv4=SELF_IP)
    assert got == Counter({pid(3): 300})


def test_unknown_rtt_ranks_below_known() -> None:
    cands = [cand(1, "20.0.0.1", rtt=None), cand(2, "30.0.0.1", rtt=0.0001)]
    assert choices(cands, urgent=True) == Counter({pid(2): 300})
    unknown = [cand(1, "20.0.0.1", rtt=None), cand(2, "30.0.0.1", rtt=None)]
    assert set(choices(unknown, urgent=True)) == {pid(1), pid(2)}


STRICT = PlacementParams(urgent_slack=0.0)


def test_urgent_ties_broken_by_rng() -> None:
    cands = [cand(1, "20.0.0.1", rtt=0.2), cand(2, "30.0.0.1", rtt=0.2), cand(3, "40.0.0.1", 0.05)]
    assert set(choices(cands, urgent=True, params=STRICT)) == {pid(1), pid(2)}
    # By default the far half: still never the near peer.
    assert set(choices(cands, urgent=True)) == {pid(1), pid(2)}


def test_urgent_slack_widens_the_choice() -> None:
    cands = [cand(1, "20.0.0.1", rtt=0.20), cand(2, "30.0.0.1", rtt=0.19), cand(3, "40.0.0.1", 0.1)]
    assert set(choices(cands, urgent=True, params=STRICT)) == {pid(1)}
    slack = PlacementParams(urgent_slack=0.1)
    assert set(choices(cands, urgent=True, params=slack)) == {pid(1), pid(2)}
    assert set(choices(cands, urgent=True)) == {pid(1), pid(2), pid(3)}  # the far half


# -- non-urgent hops -----------------------------------------------------------


def test_non_urgent_is_uniform_among_preferred() -> None:
    cands = [cand(i, f"{20 + i}.0.0.1", rtt=0.01 * i) for i in range(1, 5)]
    got = choices(cands, seeds=4000, urgent=False, self_ipv4=SELF_IP)
    assert set(got) == {pid(i) for i in range(1, 5)}
    assert all(850 < n < 1150 for n in got.values()), got


def test_same_seed_same_choice_and_input_order_does_not_matter() -> None:
    cands = [cand(i, f"{20 + i}.0.0.1") for i in range(1, 30)]
    a = choose_carrier(cands, urgent=False, rng=random.Random(99))
    b = choose_carrier(cands, urgent=False, rng=random.Random(99))
    shuffled = list(cands)
    random.Random(5).shuffle(shuffled)
    c = choose_carrier(shuffled, urgent=False, rng=random.Random(99))
    assert a == b == c
    assert len(choices(cands, urgent=False)) > 10


def test_duplicate_candidates_do_not_skew() -> None:
    cands = [cand(1, "20.0.0.1")] * 10 + [cand(2, "30.0.0.1")]
    got = choices(cands, seeds=2000, urgent=False)
    assert 850 < got[pid(1)] < 1150


# -- recent carriers -----------------------------------------------------------


def test_recent_peers_avoided_when_others_exist() -> None:
    cands = [cand(1, "20.0.0.1", rtt=0.9), cand(2, "30.0.0.1", rtt=0.1)]
    for urgent in (False, True):
        assert choices(cands, urgent=urgent, recent=[pid(1)]) == Counter({pid(2): 300})


def test_only_recent_left_goes_back_to_the_oldest_visit() -> None:
    cands = [cand(1, "20.0.0.1"), cand(2, "30.0.0.1"), cand(3, "40.0.0.1")]
    recent = [pid(1), pid(2), pid(3), pid(1)]  # pid(2) was visited longest ago
    for urgent in (False, True):
        assert choices(cands, urgent=urgent, recent=recent) == Counter({pid(2): 300})
    got = choices(cands, urgent=False, recent=recent, exclude={pid(2)})
    assert got == Counter({pid(3): 300})


def test_recent_window_limits_memory() -> None:
    cands = [cand(1, "20.0.0.1"), cand(2, "30.0.0.1")]
    recent = [pid(1)] + [pid(100 + i) for i in range(8)]  # pid(1) is 9 hops back
    got = choices(cands, urgent=False, recent=recent)
    assert set(got) == {pid(1), pid(2)}
    narrow = PlacementParams(recent_window=9)
    assert set(choices(cands, urgent=False, recent=recent, params=narrow)) == {pid(2)}


# -- prefix diversity ------------------------------------------------------------


def test_prefix_diversity_preferred_over_rtt() -> None:
    cands = [
        cand(1, "10.1.9.9", rtt=0.9),  # same /16 as self
        cand(2, "10.2.9.9", rtt=0.8),  # same /16 as a recent carrier
        cand(3, "192.168.1.1", rtt=0.1),
    ]
    recent_ips = {pid(50): "10.2.0.1"}
    for urgent in (False, True):
        got = choices(
            cands,
            urgent=urgent,
            recent=[pid(50)],
            self_ipv4=SELF_IP,
            recent_ipv4=recent_ips,
        )
        assert got == Counter({pid(3): 300})


def test_recent_prefix_taken_from_candidates() -> None:
    # The recent carrier is still a (healthy) candidate: its /16 is avoided.
    cands = [cand(50, "10.2.0.1"), cand(2, "10.2.9.9"), cand(3, "172.16.0.1")]
    assert choices(cands, urgent=False, recent=[pid(50)]) == Counter({pid(3): 300})


def test_recent_prefix_of_an_unhealthy_candidate_still_avoided() -> None:
    cands = [cand(50, "10.2.0.1", healthy=False), cand(2, "10.2.9.9"), cand(3, "172.16.0.1")]
    assert choices(cands, urgent=True, recent=[pid(50)]) == Counter({pid(3): 300})


def test_prefix_fallback_is_gradual() -> None:
    old, new = pid(50), pid(51)
    recent = [old, new]
    recent_ips = {old: "10.2.0.1", new: "10.3.0.1"}
    x = cand(1, "10.2.9.9")  # shares the OLDEST recent carrier's /16
    y = cand(2, "10.3.9.9")  # shares the NEWEST recent carrier's /16
    u = cand(3, None)  # unknown address
    z = cand(4, "10.1.9.9")  # shares self's /16
    kw: dict[str, object] = {
        "urgent": False,
        "recent": recent,
        "self_ipv4": SELF_IP,
        "recent_ipv4": recent_ips,
    }
    assert choices([x, y, u, z], **kw) == Counter({x.peer: 300})
    assert choices([y, u, z], **kw) == Counter({y.peer: 300})
    assert choices([u, z], **kw) == Counter({u.peer: 300})
    assert choices([z], **kw) == Counter({z.peer: 300})


def test_without_self_address_only_recent_prefixes_matter() -> None:
    cands = [cand(1, "10.1.9.9"), cand(2, "10.2.9.9")]
    got = choices(cands, urgent=False, recent_ipv4={pid(50): "10.2.0.1"}, recent=[pid(50)])
    assert got == Counter({pid(1): 300})


# -- invariants ---------------------------------------------------------------

candidate_st = st.builds(
    Candidate,
    peer=st.integers(min_value=0, max_value=15).map(pid),
    ipv4=st.one_of(
        st.none(),
        st.tuples(st.integers(10, 12), st.integers(0, 3)).map(lambda t: f"{t[0]}.{t[1]}.0.1"),
    ),
    rtt=st.one_of(st.none(), st.floats(min_value=0.0, max_value=2.0)),
    healthy=st.booleans(),
)


@given(
    cands=st.lists(candidate_st, max_size=20),
    exclude=st.sets(st.integers(0, 15).map(pid), max_size=8),
    recent=st.lists(st.integers(0, 15).map(pid), max_size=12),
    urgent=st.booleans(),
    seed=st.integers(0, 2**32),
)
@example(  # the only calm peer is a recent carrier: calm wins
    cands=[
        Candidate(pid(0), "10.0.0.1", None, False),
        Candidate(pid(2), "10.0.0.1", None, True),
        Candidate(pid(3), "10.0.0.1", None, False),
        Candidate(pid(1), None, None, True),
    ],
    exclude=set(),
    recent=[pid(1)],
    urgent=True,
    seed=0,
)
def test_never_excluded_or_unhealthy(
    cands: list[Candidate],
    exclude: set[bytes],
    recent: list[bytes],
    urgent: bool,
    seed: int,
) -> None:
    got = choose_carrier(
        cands,
        urgent=urgent,
        rng=random.Random(seed),
        exclude=exclude,
        recent=recent,
        self_ipv4="10.0.0.1",
    )
    # Duplicate peer ids: acceptable only if every entry is healthy.
    first: dict[bytes, Candidate] = {}
    for c in cands:
        first.setdefault(c.peer, c)
    unhealthy = {c.peer for c in cands if not c.healthy}
    acceptable = [c for c in first.values() if c.peer not in unhealthy | exclude]
    if not acceptable:
        assert got is None
        return
    assert got is not None
    assert got in acceptable
    assert got.healthy and got.peer not in exclude
    window = set(recent[-8:])
    # A THREAT hop keeps to calm peers first (no flight into a cluster of anomalies),
    # even if that means a recent carrier: avoiding those is a preference among them.
    pool = (_calm(acceptable, cands, PlacementParams()) or acceptable) if urgent else acceptable
    if any(c.peer not in window for c in pool):
        assert got.peer not in window
    again = choose_carrier(
        cands,
        urgent=urgent,
        rng=random.Random(seed),
        exclude=exclude,
        recent=recent,
        self_ipv4="10.0.0.1",
    )
    assert again == got


# -- defences: group first, trust, calm flight, distance a liar cannot fake ---------------


def test_group_first_gives_a_sybil_crowd_the_share_of_its_groups() -> None:
    honest = [cand(i, f"{20 + i}.1.0.1") for i in range(40)]  # 40 peers in 40 /16s
    sybils = [cand(100 + i, f"66.{i % 4}.0.{i}") for i in range(40)]  # 40 in 4 /16s
    got = choices(honest + sybils, seeds=4000, urgent=False)
    share = sum(n for p, n in got.items() if p is not None and p[0] >= 100) / 4000
    assert 0.05 < share < 0.14  # about 4 groups of 44, not 40 peers of 80
    flat = choices(honest + sybils, seeds=4000, urgent=False,
                   params=PlacementParams(group_first=False))  # fmt: skip
    assert sum(n for p, n in flat.items() if p is not None and p[0] >= 100) / 4000 > 0.4


def test_unproven_peers_get_a_small_share_while_proven_ones_are_acceptable() -> None:
    proven = [Candidate(pid(i), f"{20 + i}.0.0.1", 0.05, True, proven=True) for i in range(5)]
    unproven = [Candidate(pid(50 + i), f"{60 + i}.0.0.1", 0.05, True) for i in range(5)]
    got = choices(proven + unproven, seeds=4000, urgent=False)
    share = sum(n for p, n in got.items() if p is not None and p[0] >= 50) / 4000
    assert 0.03 < share < 0.08
    # Urgent hops go only to proven peers; with none proven, anyone acceptable.
    assert all(p[0] < 50 for p in choices(proven + unproven, urgent=True) if p is not None)
    assert set(choices(unproven, urgent=False)) == {c.peer for c in unproven}


def test_a_patient_hop_waits_rather_than_draw_an_unproven_peer_when_proven_ones_are_taken() -> None:
    # A 10-node swarm: the proven peers all hold siblings, only unknowns are free.
    proven = [Candidate(pid(i), f"{20 + i}.0.0.1", 0.05, True, proven=True) for i in range(5)]
    unproven = [Candidate(pid(50 + i), f"{60 + i}.0.0.1", 0.05, True) for i in range(2)]
    taken = {c.peer for c in proven}

    def pick(seed: int, *, patient: bool) -> Candidate | None:
        return choose_carrier(
            proven + unproven, urgent=False, rng=random.Random(seed), exclude=taken,
            patient=patient,
        )  # fmt: skip

    waited = sum(pick(s, patient=True) is None for s in range(2000)) / 2000
    assert 0.92 < waited < 0.98  # unproven_share (5 %) of the tries still go
    assert all(pick(s, patient=False) is not None for s in range(200))  # drain, repair: go
    # A swarm where nobody is proven yet (a fresh one): hops go on as before.
    assert all(
        choose_carrier(unproven, urgent=False, rng=random.Random(s), patient=True) is not None
        for s in range(200)
    )


def test_threat_hops_avoid_unsteady_peers_and_their_groups() -> None:
    region = [Candidate(pid(i), f"70.1.0.{i}", 0.300, True, steady=False) for i in range(1, 3)]
    neighbour = Candidate(pid(3), "70.1.0.3", 0.290, True, steady=True)  # same /16, looks fine
    far_calm = Candidate(pid(4), "80.1.0.1", 0.150, True)
    near = Candidate(pid(5), "90.1.0.1", 0.010, True)
    got = choices([*region, neighbour, far_calm, near], urgent=True)
    assert set(got) == {pid(4)}  # not into the degraded region, not the near peer
    # Nothing calm: any healthy peer rather than none.
    assert set(choices(region, urgent=True)) == {pid(1), pid(2)}


def test_with_nothing_calm_a_threat_hop_that_may_wait_does_not_move_next_door() -> None:
    # Seen on the WAN testbed: loss on this node's own region makes every peer look
    # unsteady; the far ones held sibling shards, and the shard moved to a neighbour.
    own = [Candidate(pid(i), f"70.1.0.{i}", 0.020, True, steady=False) for i in range(1, 3)]
    far = Candidate(pid(3), "80.1.0.1", 0.150, True, steady=False)
    kw = {"urgent": True, "self_ipv4": "70.1.0.9"}
    assert set(choices([*own, far], may_wait=True, **kw)) == {pid(3)}
    held_far = Candidate(pid(5), "80.1.0.2", 0.150, False)  # elsewhere, but not acceptable now
    assert set(choices([*own, held_far], may_wait=True, **kw)) == {None}  # it waits
    # A node that knows no peer outside its own group (one LAN, 127.0.0.1) has no
    # elsewhere to wait for: its hop still moves.
    assert set(choices(own, may_wait=True, **kw)) == {pid(1), pid(2)}
    assert set(choices(own, **kw)) == {pid(1), pid(2)}  # a panic's hop takes what there is
    # With a calm peer at hand, nothing changes: calm peers first, even next door
    # (one unsteady neighbour does not mark the group).
    calm_neighbour = Candidate(pid(4), "70.1.0.4", 0.020, True)
    assert set(choices([own[0], calm_neighbour], may_wait=True, **kw)) == {pid(4)}


def test_a_peer_that_holds_back_its_pongs_does_not_look_far() -> None:
    m = LatencyMap()
    for t in range(10):  # a near peer (5 ms) that starts delaying its pongs by 500 ms
        m.ping_ok(pid(1), 0.005, now=float(t))
    for t in range(10, 20):
        m.ping_ok(pid(1), 0.505, now=float(t))
    m.ping_ok(pid(2), 0.120, now=19.0)  # an honest peer 120 ms away
    liar, honest = m.stats(pid(1)), m.stats(pid(2))
    assert liar is not None and honest is not None
    assert liar.srtt is not None and liar.srtt > 0.4  # the smoothed RTT is fooled ...
    assert liar.min_rtt == 0.005 and not liar.steady  # ... the windowed minimum is not
    cands = [Candidate.from_stats(liar), Candidate.from_stats(honest)]
    assert set(choices(cands, urgent=True)) == {pid(2)}
