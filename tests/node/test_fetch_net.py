"""/wdp/fetch/1.0 between in-process py-libp2p nodes over real streams."""

from __future__ import annotations

import dataclasses
import os

import pytest
import trio

from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.fetch import FetchServerState, NonceCache, make_fetch_request
from wdp.core.limits import MAX_CHUNK_SIZE
from wdp.core.objects import Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer
from wdp.node.fetch import (
    FETCH_PROTOCOL,
    FetchError,
    fetch_shard,
    register_fetch,
    run_fetch_client,
    serve_fetch,
)
from wdp.node.node import Node

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, nodes

OTHER_SEED = bytes([77]) * 32


async def launched(clock: MovableClock, owner: Node, carrier: Node, w=None):
    """The owner's node launches shard 0 to ``carrier``; both serve fetches."""
    w = w or make_wanderer(clock)
    for node in (owner, carrier):
        register_fetch(node)
    with trio.fail_after(DEADLINE):
        result = await owner.launch(w, 0, carrier.peer_id, owner_seed=OWNER_SEED)
    assert result.ok, result
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    assert key in carrier.carrier.held
    return w, key


@pytest.mark.trio
async def test_the_owner_fetches_a_shard_its_carrier_holds() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w, key = await launched(clock, a, b)
        with trio.fail_after(DEADLINE):
            result = await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=0,
                clock=clock,
                expected_manifest_hash=w.manifest.hash,
            )
        assert result.shard == w.shards[0]
        assert result.manifest.hash == w.manifest.hash
        rec = result.record.value
        assert (rec.hop, rec.generation, rec.to_peer) == (0, 0, b.peer_key)
        # Reading does not move custody.
        assert key in b.carrier.held and b.store.get(key)[0] == w.shards[0]


@pytest.mark.trio
async def test_a_multi_chunk_shard_over_a_real_stream() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w = create_wanderer(
            os.urandom(3 * MAX_CHUNK_SIZE),
            owner_seed=OWNER_SEED,
            nonce=b"\x07" * 12,
            k=1,
            n=2,
            epoch_seconds=600,
            now=clock(),
        )
        _, key = await launched(clock, a, b, w)
        with trio.fail_after(DEADLINE):
            result = await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=0,
                clock=clock,
            )
        assert result.shard == w.shards[0] and len(result.shard) > 3 * MAX_CHUNK_SIZE


@pytest.mark.trio
async def test_a_fetch_signed_by_another_key_is_refused_and_the_shard_stays() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w, key = await launched(clock, a, b)
        good = make_fetch_request(
            OWNER_SEED, key.wanderer_id, 0, clock(), os.urandom(16), carrier=b.peer_key
        )
        forged = Signed.create(good.value, Signer(OTHER_SEED))
        own_key = Signed.create(
            dataclasses.replace(good.value, owner_key=Signer(OTHER_SEED).public_key),
            Signer(OTHER_SEED),
        )
        for request in (forged, own_key):
            with trio.fail_after(DEADLINE):
                stream = await a.host.new_stream(b.peer_id, [FETCH_PROTOCOL])
                session = await run_fetch_client(stream, request, clock=clock)
            assert session.result is None and session.failure is not None
            assert session.failure.code is RejectCode.UNAUTHORIZED and session.failed_by_peer
            assert session.header is None  # not a byte of the manifest or shard went out

        # The carrier still holds the shard, intact, and the owner can still read it.
        assert key in b.carrier.held and b.store.get(key)[0] == w.shards[0]
        with trio.fail_after(DEADLINE):
            result = await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=0,
                clock=clock,
            )
        assert result.shard == w.shards[0]


@pytest.mark.trio
async def test_refusals_over_the_network_carry_their_codes() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        _, key = await launched(clock, a, b)

        # A shard this node does not carry.
        with trio.fail_after(DEADLINE), pytest.raises(FetchError) as err:
            await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=1,
                clock=clock,
            )
        assert err.value.code is RejectCode.NOT_HELD and err.value.by_peer

        # The same signed request twice: the replay is refused.
        request = make_fetch_request(
            OWNER_SEED, key.wanderer_id, 0, clock(), os.urandom(16), carrier=b.peer_key
        )
        codes = []
        for _ in range(2):
            with trio.fail_after(DEADLINE):
                stream = await a.host.new_stream(b.peer_id, [FETCH_PROTOCOL])
                session = await run_fetch_client(stream, request, clock=clock)
            codes.append(None if session.failure is None else session.failure.code)
        assert codes == [None, RejectCode.STALE_HOP]

        # The owner's clock five minutes and a second ahead of the carrier's.
        ahead = make_fetch_request(
            OWNER_SEED, key.wanderer_id, 0, clock() + 301, os.urandom(16), carrier=b.peer_key
        )
        with trio.fail_after(DEADLINE):
            stream = await a.host.new_stream(b.peer_id, [FETCH_PROTOCOL])
            session = await run_fetch_client(stream, ahead, clock=clock)
        assert session.failure is not None and session.failure.code is RejectCode.STALE_HOP

        # A manifest other than the ticket's is refused by the owner's side.
        with trio.fail_after(DEADLINE), pytest.raises(FetchError) as err:
            await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=0,
                clock=clock,
                expected_manifest_hash=bytes(32),
            )
        assert err.value.code is RejectCode.BAD_MANIFEST and not err.value.by_peer


@pytest.mark.trio
async def test_a_peer_without_the_fetch_protocol_fails_cleanly() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        register_fetch(b)  # a does not serve fetches
        wid = make_wanderer(clock).manifest.value.wanderer_id
        with trio.fail_after(DEADLINE), pytest.raises(FetchError) as err:
            await fetch_shard(
                b.host,
                a.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=wid,
                shard_index=0,
                clock=clock,
            )
        assert err.value.code is RejectCode.TIMEOUT
        # A seed that does not own the wanderer never leaves this node.
        with pytest.raises(FetchError) as err:
            await fetch_shard(
                b.host,
                a.peer_id,
                owner_seed=OTHER_SEED,
                wanderer_id=wid,
                shard_index=0,
                clock=clock,
            )
        assert err.value.code is RejectCode.UNAUTHORIZED


@pytest.mark.trio
async def test_a_client_that_refuses_mid_transfer_frees_the_carrier_at_once() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w = create_wanderer(
            os.urandom(8 * MAX_CHUNK_SIZE),
            owner_seed=OWNER_SEED,
            nonce=b"\x07" * 12,
            k=1,
            n=2,
            epoch_seconds=600,
            now=clock(),
        )
        _, key = await launched(clock, a, b, w)
        served = []
        done = trio.Event()
        nonces = NonceCache()

        async def handler(stream) -> None:
            session = await serve_fetch(
                stream, carrier=b.carrier, store=b.store, clock=clock, nonces=nonces
            )
            served.append(session)
            done.set()

        b.host.set_stream_handler(FETCH_PROTOCOL, handler)
        with trio.fail_after(DEADLINE), pytest.raises(FetchError) as err:
            await fetch_shard(
                a.host,
                b.peer_id,
                owner_seed=OWNER_SEED,
                wanderer_id=key.wanderer_id,
                shard_index=0,
                clock=clock,
                expected_manifest_hash=bytes(32),
            )
        assert err.value.code is RejectCode.BAD_MANIFEST
        # The client reset the stream: the carrier stops writing the 8 MiB at once,
        # not after its 30 s idle timeout.
        with trio.fail_after(2.0):
            await done.wait()
        assert served[0].state is FetchServerState.DONE
        assert key in b.carrier.held
