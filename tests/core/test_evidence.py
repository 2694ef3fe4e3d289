"""A carrier's own evidence of its peers: spot audits scheduled, retried, counted."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.evidence import PeerEvidence
from wdp.core.merkle import leaf_count

from .helpers import T0, make_wanderer

PEER, OTHER = b"\x01" * 32, b"\x02" * 32
EPOCH = 600.0


def evidence(seed: int = 1) -> PeerEvidence:
    return PeerEvidence(
        random.Random(seed), memory=100, proof_wanderers=2, retry_delay=10.0,
        distrust_time=3600.0,
    )  # fmt: skip


W = make_wanderer(b"spot " * 1000, k=2, n=4)
KEY = ShardKey(W.manifest.value.wanderer_id, 0)


@given(st.integers(0, 2**32))
def test_a_spot_audit_comes_due_within_the_epoch_for_a_random_leaf(seed):
    ev = evidence(seed)
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0)
    due = ev.get_timer()
    assert due is not None and T0 + 0.05 * EPOCH <= due <= T0 + EPOCH
    assert ev.due(due - 0.001) == []
    (audit,) = ev.due(due)
    assert audit.peer == PEER and audit.key == KEY and len(audit.nonce) == 16
    assert 0 <= audit.leaf_index < leaf_count(W.manifest.value.shard_size)
    assert ev.get_timer() is None and ev.due(due + 1) == []  # running, not asked twice


def _run(ev: PeerEvidence, now: float) -> float:
    due = ev.get_timer()
    assert due is not None
    assert len(ev.due(max(now, due))) == 1
    return max(now, due)


@pytest.mark.parametrize(
    "code", [RejectCode.NOT_HELD, RejectCode.UNAUTHORIZED, RejectCode.BAD_PROOF]
)
def test_a_refusal_or_bad_proof_distrusts_the_peer_at_once(code):
    ev = evidence()
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0)
    now = _run(ev, T0)
    assert ev.audited(KEY, PEER, False, code, now) is False
    assert ev.distrusted(now + 3599) == {PEER}
    assert ev.distrusted(now + 3601) == set()  # for distrust_time, not for ever


@pytest.mark.parametrize("code", [RejectCode.TIMEOUT, RejectCode.BUSY])
def test_silence_is_asked_once_more_then_counts(code):
    ev = evidence()
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0)
    now = _run(ev, T0)
    assert ev.audited(KEY, PEER, False, code, now) is None  # not yet
    assert ev.distrusted(now) == set() and ev.get_timer() == now + 10.0
    now = _run(ev, now + 10.0)
    assert ev.audited(KEY, PEER, False, code, now) is False
    assert ev.distrusted(now) == {PEER}


def test_passes_vouch_for_a_peer_until_it_fails_one():
    ev = evidence()
    for key in (KEY, ShardKey(b"\x09" * 32, 0)):  # two wanderers
        ev.schedule(key, PEER, W.manifest, EPOCH, T0)
        assert ev.audited(key, PEER, True, None, _run(ev, T0)) is True
    assert ev.proven(PEER) and not ev.proven(OTHER)
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0 + EPOCH)
    assert ev.audited(KEY, PEER, False, RejectCode.NOT_HELD, _run(ev, T0 + EPOCH)) is False
    assert not ev.proven(PEER)


def test_an_answer_for_an_audit_not_running_is_ignored():
    ev = evidence()
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0)
    assert ev.audited(KEY, PEER, False, RejectCode.NOT_HELD, T0) is None  # not started
    now = _run(ev, T0)
    assert ev.audited(KEY, OTHER, False, RejectCode.NOT_HELD, now) is None  # another peer
    assert ev.distrusted(now) == set()


def test_probation_holds_one_unchecked_hop_per_peer_until_its_audit_passes():
    """A swarm with one wanderer can prove nobody (2 wanderers needed); an honest peer
    still gets hop after hop, each once the last was checked, and a failing one none."""
    ev = evidence()
    ev.put_on_probation(PEER)
    ev.put_on_probation(OTHER)
    ev.schedule(KEY, PEER, W.manifest, EPOCH, T0)
    other_key = ShardKey(KEY.wanderer_id, 1)
    ev.schedule(other_key, OTHER, W.manifest, EPOCH, T0)
    assert ev.on_probation(()) == {PEER, OTHER}
    due = ev.get_timer()
    assert due is not None
    now = T0 + EPOCH
    assert len(ev.due(now)) == 2
    assert ev.audited(KEY, PEER, True, None, now) is True
    assert ev.audited(other_key, OTHER, False, RejectCode.NOT_HELD, now) is False
    assert ev.on_probation(()) == set() and not ev.proven(PEER)  # free for one more hop
    assert ev.distrusted(now) == {OTHER}  # ... the other for none
    assert ev.on_probation([PEER]) == {PEER}  # while that next hop runs
