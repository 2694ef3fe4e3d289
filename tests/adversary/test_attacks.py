"""Attacks on one real ``wdp-node``, each bounded in count and time.

For every attack: an honest 4 KiB handoff from another peer completes within
5 s while it runs, the node's local API answers, the node's peak RSS stays
within the budget the attack aims at plus 64 MiB, and every shard the node
held before still verifies afterwards. Slow: each test starts a node process.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from contextlib import AsyncExitStack

import multiaddr
import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.host.exceptions import StreamFailure
from libp2p.records.record import make_put_record

from wdp.core.carrier import CarrierParams
from wdp.core.errors import RejectCode
from wdp.core.framing import encode_uvarint
from wdp.core.limits import KAD_PROTOCOL_ID, MAX_FRAME_SIZE, MAX_SHARD_SIZE
from wdp.core.locator import locator_dht_key
from wdp.core.messages import Accept, Data, Done, Receipt, Reject
from wdp.core.node.budget import StreamBudget
from wdp.core.objects import Locator, Signed
from wdp.core.signing import Signer
from wdp.core.wanderer import create_wanderer, launch_offer
from wdp.node.kadguard import KadLimits
from wdp.node.node import open_node
from wdp.node.streams import STREAM_ERRORS, reset_quietly

from .arena import (
    SLACK,
    Arena,
    arena,
    cpu_seconds,
    forged_launch,
    frame,
    honest_launch,
    in_process_config,
    read_message,
    reset_peak,
    rss,
)

pytestmark = [pytest.mark.slow, pytest.mark.trio]

MiB = 1 << 20
AROUND_THE_BUDGET = 8 * MiB


async def still_serving(a: Arena, before_rss: int, budget: int) -> None:
    """The checks every attack ends with (see the module docstring)."""
    took = await honest_launch(a)
    await a.api_answers()
    _now, peak = rss(a.target.pid)
    print(f"honest handoff {took:.2f} s; RSS {before_rss / MiB:.0f} MiB before, "
          f"peak {peak / MiB:.0f} MiB (budget {budget / MiB:.0f} MiB + 64)")  # fmt: skip
    assert peak <= before_rss + budget + SLACK
    assert a.shards_verify() >= a.seeded


async def test_trickled_offers_get_one_slot_and_lose_it_at_the_rate_window(tmp_path) -> None:
    async with arena(tmp_path) as a:
        before, _ = rss(a.target.pid)
        reset_peak(a.target.pid)
        accepted = []
        answers = []
        for _ in range(8):  # 8 offers of 128 MiB from one peer, as in the table
            stream = await a.open(a.attacker)
            offer = forged_launch(os.urandom(32), a.target_key, MAX_SHARD_SIZE)
            await stream.write(frame(offer))
            answer = await read_message(stream)
            answers.append(type(answer).__name__)
            if isinstance(answer, Accept):
                accepted.append(stream)
        assert len(accepted) == 1, answers  # 128 MiB in flight per peer
        assert answers.count("Reject") == 7
        started = trio.current_time()
        offset = 0
        ended = None
        while trio.current_time() - started < 40:  # a byte every 2 s: never idle
            await accepted[0].write(frame(Data(offset, b"\x00")))
            offset += 1
            await honest_launch(a)  # honest handoffs go on beside it
            with trio.move_on_after(2):
                ended = await read_message(accepted[0], timeout=2)
            if ended is not None:
                break
        assert isinstance(ended, Reject) and "slower than 64 KiB/s" in ended.detail
        assert trio.current_time() - started < 35  # cut at the first 30 s window
        await still_serving(a, before, CarrierParams().max_inflight)


async def test_twelve_idle_kad_streams_leave_lookups_answered(tmp_path) -> None:
    async with arena(tmp_path) as a:
        key, value = locator(1)
        assert a.honest.dht is not None
        raw = key.encode()
        assert await a.honest.dht.value_store._store_at_peer(
            a.target_id, raw, value, make_put_record(raw, value)
        )
        idle = []
        for _ in range(12):
            with contextlib.suppress(StreamFailure):  # reset past the per-peer cap
                idle.append(await a.open(a.attacker, TProtocol(KAD_PROTOCOL_ID)))
        before, _ = rss(a.target.pid)
        started = trio.current_time()
        with trio.fail_after(2.0):
            got = await a.honest.dht.value_store._get_from_peer(a.target_id, raw)
        print(f"GET_VALUE answered in {trio.current_time() - started:.3f} s")
        assert got == value
        for stream in idle:
            await reset_quietly(stream)
        await still_serving(a, before, 0)


async def test_200_partial_frames_from_4_identities_stay_within_their_budget(tmp_path) -> None:
    async with arena(tmp_path) as a:
        budget = StreamBudget().buffered
        partial = encode_uvarint(MAX_FRAME_SIZE) + os.urandom(MAX_FRAME_SIZE - 1)
        before, _ = rss(a.target.pid)
        reset_peak(a.target.pid)
        log_before = a.target.log().count("\n")
        streams = []
        async with AsyncExitStack() as stack:
            identities = [
                await stack.enter_async_context(open_node(in_process_config(enable_dht=False)))
                for _ in range(4)
            ]
            for node in identities:
                await node.connect(multiaddr.Multiaddr(a.target.addrs[0]))
            failed = 0
            for i in range(200):
                try:
                    stream = await a.open(identities[i % 4])
                    streams.append(stream)
                    await stream.write(partial)
                except (*STREAM_ERRORS, StreamFailure):
                    failed += 1  # refused as it opened or as it wrote: the budgets
            await honest_launch(a)
            refusals = a.status()["refusals"]  # BUSY over a budget; TIMEOUT: no offer in 10 s
            refused = refusals.get("handoff BUSY", 0)
            print(f"refusals: {refusals}")
            growth = rss(a.target.pid)[1] - before
            lines = a.target.log().count("\n") - log_before
            print(f"200 partial frames: RSS growth {growth / MiB:.1f} MiB "
                  f"(budget {budget / MiB:.0f}); {refused} refused BUSY, "
                  f"{failed} refused at open; {lines} log lines")  # fmt: skip
            # The budget counts the partial frames and 64 KiB for each open stream; the
            # process adds a little around them (the muxer's buffers of streams being
            # drained after their refusal, the allocator): 57-64 MiB measured, against
            # 87 MiB when refused streams were left unread and 282 MiB with no budget.
            assert growth <= budget + AROUND_THE_BUDGET
            assert lines < 40  # a burst and summaries, not a line per refusal
            for stream in streams:
                await reset_quietly(stream)
        await still_serving(a, before, budget)


async def test_a_128_mib_shard_of_wrong_bytes_is_held_within_the_inflight_budget(tmp_path) -> None:
    async with arena(tmp_path) as a:
        before, _ = rss(a.target.pid)
        reset_peak(a.target.pid)
        stream = await a.open(a.attacker)
        offer = forged_launch(os.urandom(32), a.target_key, MAX_SHARD_SIZE)
        await stream.write(frame(offer))
        assert isinstance(await read_message(stream), Accept)
        chunk = os.urandom(MiB)
        for i in range(MAX_SHARD_SIZE // MiB):
            await stream.write(frame(Data(i * MiB, chunk)))
            if i == 64:
                await honest_launch(a)  # halfway through the attack
        answer = await read_message(stream, timeout=30)
        assert isinstance(answer, Reject) and answer.code.name == "SHARD_HASH_MISMATCH"
        await still_serving(a, before, CarrierParams().max_inflight)


async def test_a_replayed_offer_costs_the_target_little(tmp_path) -> None:
    async with arena(tmp_path) as a:
        seed = os.urandom(32)
        w = create_wanderer(os.urandom(4096), owner_seed=seed, nonce=os.urandom(12),
                            k=1, n=1, epoch_seconds=3600, now=time.time())  # fmt: skip
        offer = launch_offer(w.manifest, 0, owner_seed=seed, to_peer=a.target_key, now=time.time())
        data = frame(offer)
        first = await a.open(a.attacker)  # a real launch the attacker then replays
        await first.write(data)
        assert isinstance(await read_message(first), Accept)
        await first.write(frame(Data(0, w.shards[0])))
        receipt = await read_message(first)
        assert isinstance(receipt, Receipt)
        await first.write(frame(Done(offer.record.hash)))
        before_cpu = cpu_seconds(a.target.pid)
        replays = 100
        answers = []
        for _ in range(replays):
            stream = await a.open(a.attacker)
            await stream.write(data)
            answer = await read_message(stream)
            answers.append("receipt" if answer == receipt else getattr(answer, "code", answer))
            await reset_quietly(stream)
        per = (cpu_seconds(a.target.pid) - before_cpu) / replays
        # Over a fresh libp2p stream each time, multistream and yamux dominate;
        # the core's own cost of a replayed 64-link offer is in tests/core (0.06 ms).
        busy = answers.count(RejectCode.BUSY)
        print(f"replayed offer over a fresh stream: {per * 1e3:.2f} ms of target CPU each; "
              f"{answers.count('receipt')} answered from memory, {busy} refused BUSY")  # fmt: skip
        assert answers.count("receipt") >= StreamBudget().open_burst  # the same receipt
        assert answers.count("receipt") + busy == replays  # and past the rate: BUSY
        before, _ = rss(a.target.pid)
        await still_serving(a, before, 0)


def locator(n: int) -> tuple[str, bytes]:
    signer = Signer((n + 7_000_000).to_bytes(32, "big"))
    body = Locator(generation=0, hop=1, expires_at_ms=int((time.time() + 600) * 1000),
                   sealed_holder=bytes(100))  # fmt: skip
    return locator_dht_key(signer.public_key), Signed.create(body, signer).to_bytes()


async def test_a_locator_flood_over_the_wire_stops_at_the_peers_quota(tmp_path) -> None:
    async with arena(tmp_path) as a:
        assert a.honest.dht is not None and a.attacker.dht is not None
        honest_key, honest_value = locator(0)
        raw = honest_key.encode()
        assert await a.honest.dht.value_store._store_at_peer(
            a.target_id, raw, honest_value, make_put_record(raw, honest_value)
        )
        before, _ = rss(a.target.pid)
        stored = 0
        for n in range(1, 3001):  # 3,000 valid records under the attacker's own keys
            key, value = locator(n)
            k = key.encode()
            stored += await a.attacker.dht.value_store._store_at_peer(
                a.target_id, k, value, make_put_record(k, value)
            )
        print(f"locator flood: {stored} of 3000 stored")
        assert stored == KadLimits().records_per_peer
        got = await a.honest.dht.value_store._get_from_peer(a.target_id, raw)
        assert got == honest_value
        await still_serving(a, before, 0)


async def test_a_deeply_nested_api_request_gets_bad_request(tmp_path) -> None:
    async with arena(tmp_path) as a:
        path = str(a.target.data_dir / "api.sock")

        def ask() -> dict:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(path)
                sock.sendall(b"[" * 30_000 + b"]" * 30_000 + b"\n")
                return json.loads(sock.makefile().readline())

        answer = await trio.to_thread.run_sync(ask)
        assert answer["error"].startswith("bad request: the request nests deeper")
        before, _ = rss(a.target.pid)
        await still_serving(a, before, 0)
        assert "Traceback" not in a.target.log()


async def test_one_stranger_launching_wanderers_gets_only_its_share(tmp_path) -> None:
    async with arena(tmp_path, env={"WDP_CAPACITY": "8MiB"}) as a:
        before, _ = rss(a.target.pid)
        outcomes = []
        for _ in range(6):  # 1 MiB wanderers, each with a fresh owner key
            seed = os.urandom(32)
            w = create_wanderer(os.urandom(MiB), owner_seed=seed, nonce=os.urandom(12),
                                k=1, n=1, epoch_seconds=3600, now=time.time())  # fmt: skip
            result = await a.attacker.launch_shard(w, 0, a.target_id, owner_seed=seed)
            outcomes.append(result.code.name if result.code else "ok")
        print(f"a stranger's six 1 MiB launches: {outcomes}")
        assert outcomes.count("ok") == 1  # its 25 % of 8 MiB: one 1 MiB shard and change
        assert set(outcomes[1:]) == {"CAPACITY"}
        await still_serving(a, before, 0)
