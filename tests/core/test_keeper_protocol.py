"""What a keeper may do with the repair seed and the owner's grant: read a shard, relaunch one.

A keeper holds the repair seed of a version 2 wanderer (never the owner
seed) and the owner's grant to its key. Carriers serve it a shard, and accept
a REPAIR hop 0 it signs; everything else stays the owner's alone.
"""

from __future__ import annotations

import dataclasses

import pytest

from wdp.core.audit.challenge import make_grant
from wdp.core.effects import ShardKey
from wdp.core.errors import LocalProtocolError, RejectCode
from wdp.core.fetch import make_fetch_request
from wdp.core.objects import Reason, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer, launch_offer, repair_seed

from .helpers import OWNER_SEED, T0, make_node, make_wanderer, run_handoff
from .test_fetch import NOW, OTHER_SEED, carried, nonce, resigned, run_fetch

KEEPER_SEED = repair_seed(OWNER_SEED)
KEEPER_KEY = Signer(KEEPER_SEED).public_key


def keeper_request(s, *, grant: bytes | None = None, seed: bytes = KEEPER_SEED, i: int = 1):
    owner_key = Signer(OWNER_SEED).public_key
    if grant is None:
        grant = make_grant(OWNER_SEED, s.wid, Signer(seed).public_key)
    return make_fetch_request(
        seed, s.wid, 0, NOW, nonce(i), carrier=s.b.peer, owner_key=owner_key, grant=grant
    )


# ---- fetch -----------------------------------------------------------------------


def test_a_granted_keeper_reads_the_shard():
    s = carried()
    req = keeper_request(s)
    assert req.value.requester_key == KEEPER_KEY
    assert req.value.owner_key == s.w.manifest.value.owner_key
    run = run_fetch(s.b, req, expected=s.w.manifest.hash)
    assert run.code is None
    assert run.client.result is not None
    assert run.client.result.shard == s.w.shards[0]


def test_any_granted_key_may_read_not_only_the_repair_key():
    s = carried()
    run = run_fetch(s.b, keeper_request(s, seed=bytes([9]) * 32))
    assert run.code is None


def test_the_owners_request_still_carries_no_requester():
    s = carried()
    req = s.request()
    assert (req.value.requester_key, req.value.grant) == (b"", b"")
    assert run_fetch(s.b, req).code is None


@pytest.mark.parametrize(
    "case",
    ["grant_by_another_owner", "grant_to_another_key", "grant_for_another_wanderer", "flipped"],
)
def test_a_keeper_without_the_owners_grant_is_unauthorized(case):
    s = carried()
    other_wid = create_wanderer(
        b"x", owner_seed=OTHER_SEED, nonce=b"\x01" * 12, k=1, n=2, epoch_seconds=600, now=T0
    ).manifest.value.wanderer_id
    grant = {
        "grant_by_another_owner": make_grant(OTHER_SEED, s.wid, KEEPER_KEY),
        "grant_to_another_key": make_grant(OWNER_SEED, s.wid, bytes(32)),
        "grant_for_another_wanderer": make_grant(OWNER_SEED, other_wid, KEEPER_KEY),
        "flipped": bytes([make_grant(OWNER_SEED, s.wid, KEEPER_KEY)[0] ^ 1]) + bytes(63),
    }[case]
    run = run_fetch(s.b, keeper_request(s, grant=grant))
    assert run.code is RejectCode.UNAUTHORIZED
    assert run.client.result is None


def test_a_granted_request_signed_by_another_key_is_unauthorized():
    s = carried()
    req = keeper_request(s)
    forged = resigned(req, Signer(bytes([5]) * 32))  # same body, a stranger's signature
    assert run_fetch(s.b, forged).code is RejectCode.UNAUTHORIZED


def test_a_request_naming_the_owner_as_requester_is_malformed():
    s = carried()
    req = keeper_request(s)
    owner = Signer(OWNER_SEED)
    bad = resigned(req, owner, requester_key=owner.public_key)
    assert run_fetch(s.b, bad).code is RejectCode.MALFORMED


@pytest.mark.parametrize("grant_len", [0, 63, 65])
def test_a_keeper_request_with_a_grant_of_the_wrong_size_is_malformed(grant_len):
    s = carried()
    req = keeper_request(s)
    bad = resigned(req, Signer(KEEPER_SEED), grant=bytes(grant_len))
    assert run_fetch(s.b, bad).code is RejectCode.MALFORMED


def test_an_owner_request_with_a_grant_is_malformed():
    s = carried()
    bad = resigned(s.request(), Signer(OWNER_SEED), grant=bytes(64))
    assert run_fetch(s.b, bad).code is RejectCode.MALFORMED


def test_make_fetch_request_refuses_a_keeper_without_a_grant_and_an_owner_with_one():
    s = carried()
    owner_key = Signer(OWNER_SEED).public_key
    with pytest.raises(LocalProtocolError):
        make_fetch_request(
            KEEPER_SEED, s.wid, 0, NOW, nonce(1), carrier=s.b.peer, owner_key=owner_key
        )
    with pytest.raises(LocalProtocolError):
        make_fetch_request(OWNER_SEED, s.wid, 0, NOW, nonce(1), carrier=s.b.peer, grant=bytes(64))
    with pytest.raises(LocalProtocolError):  # an owner key that does not own the wanderer
        make_fetch_request(
            KEEPER_SEED,
            s.wid,
            0,
            NOW,
            nonce(1),
            carrier=s.b.peer,
            owner_key=KEEPER_KEY,
            grant=bytes(64),
        )


# ---- relaunch --------------------------------------------------------------------


def test_a_keeper_relaunches_a_later_generation_and_the_chain_goes_on():
    w = make_wanderer(k=2, n=3)
    a, b = make_node(1), make_node(2)
    offer = launch_offer(
        w.manifest, 1, keeper_seed=KEEPER_SEED, to_peer=a.peer, now=T0, generation=1
    )
    rec = offer.record.value
    assert (rec.hop, rec.reason, rec.generation, rec.from_peer) == (0, Reason.REPAIR, 1, KEEPER_KEY)
    assert run_handoff(None, a, offer, w.shards[1], now=T0).reject_code is None
    (held,) = a.carrier.held.values()
    nxt = a.carrier.next_offer(held, b.peer, held.reason, T0 + 1)
    held.in_flight_to = b.peer
    assert run_handoff(a, b, nxt, w.shards[1], now=T0 + 1).reject_code is None
    assert b.carrier.held[ShardKey(w.manifest.value.wanderer_id, 1)].last.record.value.hop == 1


def test_the_keepers_locator_seed_is_the_owners():
    w = make_wanderer(k=2, n=3)
    a = make_node(1)
    by_keeper = launch_offer(
        w.manifest, 2, keeper_seed=KEEPER_SEED, to_peer=a.peer, now=T0, generation=3
    )
    by_owner = launch_offer(
        w.manifest, 2, owner_seed=OWNER_SEED, to_peer=a.peer, now=T0, generation=3
    )
    assert by_keeper.locator_secret == by_owner.locator_secret


def test_a_repair_key_may_not_start_a_genesis():
    w = make_wanderer(k=2, n=3)
    a = make_node(1)
    offer = launch_offer(
        w.manifest, 0, keeper_seed=KEEPER_SEED, to_peer=a.peer, now=T0, generation=1
    )
    rec = dataclasses.replace(offer.record.value, reason=Reason.GENESIS, generation=0)
    forged = dataclasses.replace(offer, record=Signed.create(rec, Signer(KEEPER_SEED)))
    assert run_handoff(None, a, forged, w.shards[0], now=T0).reject_code is RejectCode.BAD_CHAIN


def test_a_version_1_wanderer_has_no_keeper():
    w = create_wanderer(
        b"old" * 100,
        owner_seed=OWNER_SEED,
        nonce=b"\x07" * 12,
        k=2,
        n=3,
        epoch_seconds=600,
        now=T0,
        version=1,
    )
    a = make_node(1)
    with pytest.raises(ValueError):
        launch_offer(w.manifest, 0, keeper_seed=KEEPER_SEED, to_peer=a.peer, now=T0, generation=1)
    # and a REPAIR hop 0 signed by the would-be repair key is refused by the carrier
    good = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=a.peer, now=T0, generation=1)
    rec = dataclasses.replace(good.record.value, from_peer=KEEPER_KEY)
    forged = dataclasses.replace(good, record=Signed.create(rec, Signer(KEEPER_SEED)))
    assert run_handoff(None, a, forged, w.shards[0], now=T0).reject_code is RejectCode.BAD_CHAIN


def test_a_stranger_cannot_start_a_repair():
    w = make_wanderer(k=2, n=3)
    a = make_node(1)
    stranger = Signer(bytes([3]) * 32)
    good = launch_offer(
        w.manifest, 0, keeper_seed=KEEPER_SEED, to_peer=a.peer, now=T0, generation=1
    )
    rec = dataclasses.replace(good.record.value, from_peer=stranger.public_key)
    forged = dataclasses.replace(good, record=Signed.create(rec, stranger))
    assert run_handoff(None, a, forged, w.shards[0], now=T0).reject_code is RejectCode.BAD_CHAIN
    with pytest.raises(ValueError):
        launch_offer(
            w.manifest, 0, keeper_seed=bytes([3]) * 32, to_peer=a.peer, now=T0, generation=1
        )


def test_a_keeper_cannot_pass_for_the_owner():
    s = carried()
    owner_style = resigned(s.request(), Signer(KEEPER_SEED))  # no requester_key: "I am the owner"
    assert run_fetch(s.b, owner_style).code is RejectCode.UNAUTHORIZED
    with pytest.raises(LocalProtocolError):  # nor can it build one: its key owns nothing
        make_fetch_request(KEEPER_SEED, s.wid, 0, NOW, nonce(1), carrier=s.b.peer)
