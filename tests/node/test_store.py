"""Shard stores: two-step put/commit, crash leftovers, wipes."""

from __future__ import annotations

import dataclasses

import pytest

from wdp.core.effects import ShardKey, StoreShard
from wdp.core.objects import CustodyLink, Receipt, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer, launch_offer
from wdp.node.store import DiskStore, MemoryStore, ShardMeta, StoreError

OWNER = bytes(range(32))
CARRIER = Signer(b"\x05" * 32)


def stored(index: int = 0) -> tuple[ShardKey, bytes, ShardMeta, bytes]:
    """A shard as a receiver stores it, its metadata, and the receipt it would sign."""
    w = create_wanderer(
        b"payload " * 100,
        owner_seed=OWNER,
        nonce=b"\x01" * 12,
        k=2,
        n=3,
        epoch_seconds=60,
        now=1_700_000_000.0,
    )
    offer = launch_offer(
        w.manifest, index, owner_seed=OWNER, to_peer=CARRIER.public_key, now=1_700_000_000.0
    )
    rec = offer.record.value
    key = ShardKey(rec.wanderer_id, rec.shard_index)
    eff = StoreShard(
        key, w.shards[index], offer.manifest, offer.chain, offer.record, offer.locator_secret
    )
    receipt = Signed.create(
        Receipt(offer.record.hash, CARRIER.public_key, rec.shard_hash, 1_700_000_000_000), CARRIER
    )
    return key, w.shards[index], ShardMeta.from_store(eff), receipt.to_bytes()


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    return MemoryStore() if request.param == "memory" else DiskStore(tmp_path)


def test_put_commit_get_wipe(store) -> None:
    key, shard, meta, receipt = stored()
    store.put(key, shard, meta)
    got_shard, got_meta = store.get(key)
    assert got_shard == shard and not got_meta.committed
    store.commit(key, receipt)
    got_shard, got_meta = store.get(key)
    assert got_meta.committed and got_meta.receipt == receipt
    links = got_meta.links()
    assert links[-1] == CustodyLink(meta.signed_record(), Signed.from_bytes(receipt, Receipt))
    assert store.keys() == [key]
    with pytest.raises(StoreError):
        store.put(key, shard, meta)  # a committed shard is never overwritten
    store.wipe(key)
    assert store.get(key) is None and store.keys() == []
    store.wipe(key)  # idempotent
    with pytest.raises(StoreError):
        store.commit(key, receipt)


def test_meta_round_trips() -> None:
    _, _, meta, receipt = stored()
    assert ShardMeta.from_bytes(meta.to_bytes()) == meta
    committed = dataclasses.replace(meta, receipt=receipt)
    assert ShardMeta.from_bytes(committed.to_bytes()) == committed
    with pytest.raises(StoreError):
        ShardMeta.from_bytes(b"{not json")


def test_disk_load_keeps_committed_and_drops_the_rest(tmp_path) -> None:
    s = DiskStore(tmp_path)
    k0, shard0, meta0, receipt0 = stored(0)
    k1, shard1, meta1, _ = stored(1)
    k2, shard2, meta2, receipt2 = stored(2)
    s.put(k0, shard0, meta0)
    s.commit(k0, receipt0)
    s.put(k1, shard1, meta1)  # never acknowledged: the sender kept it
    s.put(k2, shard2, meta2)
    s.commit(k2, receipt2)
    (tmp_path / f"{k2.wanderer_id.hex()}-2.shard").write_bytes(b"\x00" * len(shard2))  # rot
    (tmp_path / ".junk.tmp").write_bytes(b"half-written")
    (tmp_path / f"{'ab' * 32}-0.shard").write_bytes(b"orphan shard without metadata")

    reopened = DiskStore(tmp_path)
    assert [k for k, _ in reopened.load()] == [k0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{k0.wanderer_id.hex()}-0.shard", f"{k0.wanderer_id.hex()}-0.meta"]
    )


def test_disk_wipe_overwrites_before_unlinking(tmp_path, monkeypatch) -> None:
    s = DiskStore(tmp_path)
    key, shard, meta, receipt = stored()
    s.put(key, shard, meta)
    s.commit(key, receipt)
    seen: dict[str, bytes] = {}
    from pathlib import Path

    real_unlink = Path.unlink

    def spy(self: Path, missing_ok: bool = False) -> None:
        seen[self.suffix] = self.read_bytes()
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", spy)
    s.wipe(key)
    assert seen[".shard"] == bytes(len(shard))
    assert set(seen[".meta"]) == {0}
    assert list(tmp_path.iterdir()) == []


def test_memory_wipe_zeroes_its_buffer() -> None:
    s = MemoryStore()
    key, shard, meta, _ = stored()
    s.put(key, shard, meta)
    buf = s._shards[key][0]
    s.wipe(key)
    assert buf == bytes(len(shard))
