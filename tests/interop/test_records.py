"""``/wdp/`` locator records cross the DHT both ways and each side validates them."""

from __future__ import annotations

import os
import time

import multiaddr
import pytest
from libp2p.peer.id import ID

from wdp.core.locator import locator_dht_key, make_locator, open_locator, validate_locator
from wdp.core.objects import HolderInfo
from wdp.core.signing import Signer, public_key_of
from wdp.core.wanderer import locator_seed, sealing_seed

from .pyside import OWNER_SEED, key_of_peer, make_wanderer, py_node

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.trio]


def python_locator(
    secret: bytes, holder: bytes, *, hop: int, expires_in_ms: int
) -> tuple[str, bytes]:
    return make_locator(
        locator_secret=secret, sealing_key=Signer(OWNER_SEED).public_key,
        holder=HolderInfo(holder, (), bytes(32)), generation=0, hop=hop,
        expires_at_ms=int(time.time() * 1000) + expires_in_ms, ephemeral_seed=os.urandom(32),
    )  # fmt: skip


def flip_last_byte(value: bytes) -> bytes:
    """The encoded ``Signed`` ends with its signature: this breaks the signature only."""
    return value[:-1] + bytes([value[-1] ^ 1])


async def test_rust_validates_python_records(rust_peer, transport):
    rust = rust_peer(transport)
    async with py_node() as q:
        assert q.dht is not None
        await q.connect(rust.addr(transport))
        await rust.event("identified", peer=str(q.peer_id))

        # A valid record put by the Python node is validated and stored by Rust.
        key, value = python_locator(os.urandom(32), q.peer_key, hop=3, expires_in_ms=600_000)
        await q.dht.put_value(key, value)
        stored = await rust.event("record_stored", key=key)
        assert stored["from"] == str(q.peer_id)
        assert stored["hop"] == 3
        got = await rust.ask("get_record", key=key)
        # Rust's own copy (from null) and the Python node's answer: the same valid value.
        assert got["values"] and all(v["valid"] for v in got["values"]), got
        assert {v["value"] for v in got["values"]} == {value.hex()}, got

        # Forged records, sent as raw PUT_VALUE (py-libp2p validates its own puts first).
        rust_id = ID.from_base58(rust.peer_id)
        forgeries = {
            "BAD_SIGNATURE": python_locator(
                os.urandom(32), q.peer_key, hop=1, expires_in_ms=600_000
            ),
            "STALE_HOP": python_locator(os.urandom(32), q.peer_key, hop=1, expires_in_ms=-1000),
        }
        for code, (fkey, fvalue) in forgeries.items():
            bad = flip_last_byte(fvalue) if code == "BAD_SIGNATURE" else fvalue
            # rust-libp2p acknowledges every PUT_VALUE before the application sees it
            # (StoreInserts::FilterBoth), so the refusal shows in its store, not on the wire.
            await q.dht.value_store._store_at_peer(rust_id, fkey.encode(), bad)
            refused = await rust.event("record_refused", key=fkey)
            assert refused["code"] == code, refused
            got = await rust.ask("get_record", key=fkey)
            assert got["values"] == [], got
        assert not rust.events("record_stored", key=forgeries["BAD_SIGNATURE"][0])


async def test_python_validates_rust_records(rust_peer, transport):
    rust = rust_peer(transport, epoch=600)
    async with py_node() as q:
        assert q.dht is not None
        await q.connect(rust.addr(transport))
        await rust.event("identified", peer=str(q.peer_id))
        w = make_wanderer()
        result = await q.launch_shard(w, 0, ID.from_base58(rust.peer_id), owner_seed=OWNER_SEED)
        assert result.ok, result
        assert result.link is not None

        # Rust publishes its locator once it carries the shard; the Python node
        # (the only DHT peer) validated it before storing it.
        published = await rust.event("locator_published")
        assert published["ok"], published
        key = published["key"]
        assert key == locator_dht_key(public_key_of(locator_seed(OWNER_SEED, 0, 0)))
        local = q.dht.value_store.get(key.encode())
        assert local is not None
        value = local.value

        # The owner reads it as the reference does: validate, select, open.
        found = await q.lookup_locator(key)
        assert found is not None
        loc = validate_locator(key, found, int(time.time() * 1000))
        assert loc.value.hop == 0 and loc.value.generation == 0
        holder = open_locator(sealing_seed(OWNER_SEED), loc.value)
        assert holder.holder == key_of_peer(rust.peer_id)
        assert holder.record_hash == result.link.record.hash
        port = rust.addr(transport).split("/")[4]
        assert any(port in str(multiaddr.Multiaddr(a)) for a in holder.addrs), holder.addrs

        # A forged copy sent by Rust is refused by the Python node, which keeps the valid one.
        reply = await rust.ask("put_record", key=key, value=flip_last_byte(value).hex())
        assert reply["ok"] is False, reply
        kept = q.dht.value_store.get(key.encode())
        assert kept is not None and kept.value == value
