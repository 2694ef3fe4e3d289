"""/wdp/fetch/1.0 between in-process py-libp2p nodes over real streams."""

from __future__ import annotations

import dataclasses
import os

import pytest
import trio

from wdp.core.effects import ShardKey
from wdp.core.errors import LocalProtocolError, RejectCode
from wdp.core.fetch import FetchResult, make_fetch_request
from wdp.core.limits import FETCH_PROTOCOL_ID, MAX_CHUNK_SIZE
from wdp.core.node import FetchServed, NodeEffect
from wdp.core.objects import Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer
from wdp.node.node import FetchError, Node

from .helpers import DEADLINE, OWNER_SEED, MovableClock, make_wanderer, nodes

OTHER_SEED = bytes([77]) * 32


async def launched(clock: MovableClock, owner: Node, carrier: Node, w=None):
    """The owner's node launches shard 0 to ``carrier``."""
    w = w or make_wanderer(clock)
    with trio.fail_after(DEADLINE):
        result = await owner.launch_shard(w, 0, carrier.peer_id, owner_seed=OWNER_SEED)
    assert result.ok, result
    key = ShardKey(w.manifest.value.wanderer_id, 0)
    assert key in carrier.carrier.held
    return w, key


def request_to(carrier: Node, key: ShardKey, index: int, when: float, seed: bytes = OWNER_SEED):
    return make_fetch_request(
        seed, key.wanderer_id, index, when, os.urandom(16), carrier=carrier.peer_key
    )


async def fetch(
    a: Node, b: Node, key: ShardKey, index: int = 0, expected: bytes | None = None
) -> FetchResult:
    with trio.fail_after(DEADLINE):
        return await a.fetch_result(
            request_to(b, key, index, a.clock()), expected_manifest=expected
        )


def watch(node: Node) -> list[NodeEffect]:
    """Record every effect the node's core asks its driver to perform."""
    seen: list[NodeEffect] = []
    perform = node.perform

    def recording(effects: list[NodeEffect]) -> None:
        seen.extend(effects)
        perform(effects)

    node.perform = recording  # type: ignore[method-assign]
    return seen


@pytest.mark.trio
async def test_the_owner_fetches_a_shard_its_carrier_holds() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w, key = await launched(clock, a, b)
        result = await fetch(a, b, key, expected=w.manifest.hash)
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
            os.urandom(3 * MAX_CHUNK_SIZE), owner_seed=OWNER_SEED, nonce=b"\x07" * 12,
            k=1, n=2, epoch_seconds=600, now=clock(),
        )  # fmt: skip
        _, key = await launched(clock, a, b, w)
        result = await fetch(a, b, key)
        assert result.shard == w.shards[0] and len(result.shard) > 3 * MAX_CHUNK_SIZE


@pytest.mark.trio
async def test_a_fetch_signed_by_another_key_is_refused_and_the_shard_stays() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w, key = await launched(clock, a, b)
        served = watch(b)
        good = request_to(b, key, 0, clock())
        forged = Signed.create(good.value, Signer(OTHER_SEED))
        own_key = Signed.create(
            dataclasses.replace(good.value, owner_key=Signer(OTHER_SEED).public_key),
            Signer(OTHER_SEED),
        )
        for request in (forged, own_key):
            with trio.fail_after(DEADLINE):
                ended = await a.fetch(request)
            assert ended.result is None and ended.code is RejectCode.UNAUTHORIZED and ended.by_peer
        refusals = [e for e in served if isinstance(e, FetchServed)]
        assert [(e.ok, e.code) for e in refusals] == [(False, RejectCode.UNAUTHORIZED)] * 2

        # The carrier still holds the shard, intact, and the owner can still read it.
        assert key in b.carrier.held and b.store.get(key)[0] == w.shards[0]
        assert (await fetch(a, b, key)).shard == w.shards[0]


@pytest.mark.trio
async def test_refusals_over_the_network_carry_their_codes() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        _, key = await launched(clock, a, b)

        # A shard this node does not carry.
        with pytest.raises(FetchError) as err:
            await fetch(a, b, key, index=1)
        assert err.value.code is RejectCode.NOT_HELD and err.value.by_peer

        # The same signed request twice: the replay is refused.
        request = request_to(b, key, 0, clock())
        codes = []
        for _ in range(2):
            with trio.fail_after(DEADLINE):
                codes.append((await a.fetch(request)).code)
        assert codes == [None, RejectCode.STALE_HOP]

        # The owner's clock five minutes and a second ahead of the carrier's.
        with trio.fail_after(DEADLINE):
            ahead = await a.fetch(request_to(b, key, 0, clock() + 301))
        assert ahead.code is RejectCode.STALE_HOP

        # A manifest other than the ticket's is refused by the owner's side.
        with pytest.raises(FetchError) as err:
            await fetch(a, b, key, expected=bytes(32))
        assert err.value.code is RejectCode.BAD_MANIFEST and not err.value.by_peer


@pytest.mark.trio
async def test_a_peer_without_the_fetch_protocol_fails_cleanly() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        a.host.remove_stream_handler(FETCH_PROTOCOL_ID)  # a serves no fetches
        key = ShardKey(make_wanderer(clock).manifest.value.wanderer_id, 0)
        with pytest.raises(FetchError) as err:
            await fetch(b, a, key)
        assert err.value.code is RejectCode.TIMEOUT
        # A seed that does not own the wanderer never signs a request.
        with pytest.raises(LocalProtocolError) as refused:
            request_to(a, key, 0, clock(), seed=OTHER_SEED)
        assert refused.value.code is RejectCode.UNAUTHORIZED


@pytest.mark.trio
async def test_a_client_that_refuses_mid_transfer_frees_the_carrier_at_once() -> None:
    clock = MovableClock()
    async with nodes(clock, 1, 2) as (a, b):
        w = create_wanderer(
            os.urandom(8 * MAX_CHUNK_SIZE), owner_seed=OWNER_SEED, nonce=b"\x07" * 12,
            k=1, n=2, epoch_seconds=600, now=clock(),
        )  # fmt: skip
        _, key = await launched(clock, a, b, w)
        with trio.fail_after(DEADLINE):
            await b.wait_until(lambda: b.open_streams == 0)
        with pytest.raises(FetchError) as err:
            await fetch(a, b, key, expected=bytes(32))
        assert err.value.code is RejectCode.BAD_MANIFEST
        # The client reset the stream: the carrier stops writing the 8 MiB at once,
        # not after its 30 s write timeout.
        with trio.fail_after(2.0):
            await b.wait_until(lambda: b.open_streams == 0)
        assert key in b.carrier.held
