"""Manifest version 2: the repair key, per-shard Merkle roots, and what derives from them."""

from __future__ import annotations

import dataclasses

import pytest

from wdp.core import crypto, merkle
from wdp.core.errors import RejectCode, RemoteProtocolError
from wdp.core.locator import make_locator, open_locator
from wdp.core.objects import HolderInfo, Locator, Manifest, Signed
from wdp.core.proto import wdp_pb2 as pb
from wdp.core.signing import Signer, public_key_of
from wdp.core.ticket import Ticket, TicketError
from wdp.core.wanderer import create_wanderer, launch_offer, locator_seed, repair_seed, sealing_seed

from .helpers import OWNER_SEED, T0, make_node, make_wanderer, run_handoff


def _resigned(manifest: Manifest, **changes: object) -> bytes:
    """The body of ``manifest`` with ``changes`` made to the protobuf fields."""
    msg = pb.ManifestBody.FromString(manifest.encode())
    for name, value in changes.items():
        if isinstance(value, list):
            del getattr(msg, name)[:]
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg.SerializeToString(deterministic=True)


def test_a_new_wanderer_is_version_2_with_repair_key_and_roots():
    w = make_wanderer(k=2, n=4)
    m = w.manifest.value
    assert m.version == 2 and m.auditable
    assert m.repair_key == public_key_of(repair_seed(OWNER_SEED)) != m.owner_key
    assert m.sealing_key == m.repair_key
    assert m.shard_roots == tuple(merkle.merkle_root(s) for s in w.shards)
    assert Manifest.decode(w.manifest.body) == m


def test_version_1_is_still_made_and_read_without_the_new_fields():
    w = create_wanderer(
        b"old",
        owner_seed=OWNER_SEED,
        nonce=bytes(12),
        k=1,
        n=2,
        epoch_seconds=60,
        now=T0,
        version=1,
    )
    m = w.manifest.value
    assert (m.version, m.repair_key, m.shard_roots, m.auditable) == (1, b"", (), False)
    assert m.sealing_key == m.owner_key
    # A v1 body that carries fields 13 and 14 anyway: v1 knows nothing of them and ignores them.
    body = _resigned(m, repair_key=b"\x01" * 32, shard_roots=[b"\x02" * 32] * 2)
    assert Manifest.decode(body).shard_roots == ()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"repair_key": b""}, RejectCode.BAD_MANIFEST),
        ({"repair_key": b"\x01" * 31}, RejectCode.BAD_MANIFEST),
        ({"shard_roots": [b"\x01" * 32] * 3}, RejectCode.BAD_MANIFEST),  # n = 4
        ({"shard_roots": [b"\x01" * 32] * 5}, RejectCode.BAD_MANIFEST),
        ({"shard_roots": [b"\x01" * 32] * 3 + [b"\x01" * 33]}, RejectCode.BAD_MANIFEST),
        ({"version": 3}, RejectCode.UNSUPPORTED_VERSION),
    ],
)
def test_a_v2_manifest_is_refused_without_its_fields(changes, code):
    m = make_wanderer(k=2, n=4).manifest.value
    with pytest.raises(RemoteProtocolError) as err:
        Manifest.decode(_resigned(m, **changes))
    assert err.value.code is code


def test_v2_locator_seeds_derive_from_the_repair_seed_alone():
    rs = repair_seed(OWNER_SEED)
    assert rs == crypto.derive_repair_seed(OWNER_SEED)
    v2 = locator_seed(OWNER_SEED, 3, 1, version=2)
    assert v2 == crypto.derive_locator_seed_v2(rs, 3, 1)
    assert v2 != locator_seed(OWNER_SEED, 3, 1, version=1)
    assert locator_seed(OWNER_SEED, 3, 1, version=1) == crypto.derive_locator_seed(OWNER_SEED, 3, 1)
    assert len({locator_seed(OWNER_SEED, i, g) for i in range(3) for g in range(3)}) == 9


def test_v2_locators_open_with_the_repair_seed_not_the_owner_seed():
    w = make_wanderer(k=2, n=4)
    holder = HolderInfo(b"\x05" * 32, (b"\x04\x7f\x00\x00\x01",), b"\x06" * 32)
    _, value = make_locator(
        locator_secret=locator_seed(OWNER_SEED, 0, 0),
        sealing_key=w.manifest.value.sealing_key,
        holder=holder,
        generation=0,
        hop=1,
        expires_at_ms=int(T0 * 1000) + 60_000,
        ephemeral_seed=b"\x09" * 32,
    )
    loc = Signed.from_bytes(value, Locator).value
    assert open_locator(sealing_seed(OWNER_SEED, 2), loc) == holder
    with pytest.raises(RemoteProtocolError):
        open_locator(OWNER_SEED, loc)


def test_launch_uses_the_v2_locator_key():
    w = make_wanderer(k=2, n=4)
    offer = launch_offer(w.manifest, 1, owner_seed=OWNER_SEED, to_peer=b"\x08" * 32, now=T0)
    assert offer.locator_secret == locator_seed(OWNER_SEED, 1, 0, version=2)
    assert offer.record.value.locator_key == public_key_of(offer.locator_secret)


def test_ticket_carries_the_version_and_derives_by_it():
    for version in (1, 2):
        t = Ticket(OWNER_SEED, b"\x02" * 32, 3, 8, version)
        back = Ticket.decode(t.encode())
        assert back == t and back.version == version
        assert back.locator_seed(2, 0) == locator_seed(OWNER_SEED, 2, 0, version)
        assert back.sealing_seed == sealing_seed(OWNER_SEED, version)
    with pytest.raises(TicketError, match="version 4"):
        Ticket(OWNER_SEED, b"\x02" * 32, 3, 8, 4)  # 3 is a file of segments (core/segments)


def test_a_receiver_refuses_a_shard_that_does_not_have_its_signed_root():
    # The owner signs roots that do not match the shards: every byte still
    # hashes right, but the carrier could never answer an audit, so it refuses.
    w = make_wanderer(k=2, n=4)
    m = w.manifest.value
    wrong = dataclasses.replace(m, shard_roots=tuple(b"\x00" * 32 for _ in m.shard_roots))
    manifest = Signed.create(wrong, Signer(OWNER_SEED))
    b = make_node(2)
    offer = launch_offer(manifest, 0, owner_seed=OWNER_SEED, to_peer=b.peer, now=T0)
    out = run_handoff(None, b, offer, w.shards[0])
    assert out.reject_code is RejectCode.SHARD_HASH_MISMATCH
    assert not b.store and not b.carrier.held
    # The same shard under the honest manifest is taken.
    honest = launch_offer(w.manifest, 0, owner_seed=OWNER_SEED, to_peer=b.peer, now=T0)
    assert run_handoff(None, b, honest, w.shards[0]).reject_code is None
    assert b.carrier.held
