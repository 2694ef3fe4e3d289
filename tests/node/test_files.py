"""Files of several segments through the node's driver (wdp.node.files), on an owner that
keeps each wanderer's shards in memory: real encryption, erasure coding, manifests and
tickets, no network. What crosses a network is tests/swarm/test_large_file.py."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from typer.testing import CliRunner

from wdp.client.api import ApiClient
from wdp.client.cli import app as wdp_app
from wdp.core.capability import RepairCapability
from wdp.core.errors import ProtocolError
from wdp.core.limits import MIN_SEGMENT_SIZE, SEGMENT_SIZE
from wdp.core.objects import Manifest, Signed
from wdp.core.owner import OwnedWanderer
from wdp.core.segments import (
    SegmentIndex,
    epoch_that_fits,
    index_ticket,
    moved_per_day,
    segment_ticket,
)
from wdp.core.ticket import Ticket
from wdp.core.wanderer import create_wanderer, rebuild
from wdp.node.api import API_SOCKET, LocalApi
from wdp.node.files import get_file, keep_file, put_file
from wdp.node.owner import OwnerError

from .test_api_tcp import TOKEN, api_node, raw_exchange

pytestmark = pytest.mark.trio

SEG = MIN_SEGMENT_SIZE
K, N = 2, 4


@dataclass
class _Node:
    rng: random.Random = field(default_factory=lambda: random.Random(7))


class MemoryOwner:
    """Owner.put/get/forget over real wanderers kept in a dict (by wanderer id)."""

    def __init__(self, fail_put_at: int | None = None) -> None:
        self.node = _Node()
        self.stored: dict[bytes, tuple[Signed[Manifest], list[bytes], bytes]] = {}
        self.forgotten: list[bytes] = []
        self.puts = 0
        self.fail_put_at = fail_put_at
        self.kept: list[tuple[RepairCapability, bytes]] = []
        self.fail_keep_at: int | None = None

    async def put(self, payload: bytes, *, owner_seed: bytes | None = None, k: int, n: int,
                  epoch: int, **_: Any) -> Ticket:  # fmt: skip
        self.puts += 1
        if self.puts == self.fail_put_at:
            raise OwnerError("only 1 of 4 shards found a carrier")
        seed = owner_seed or self.node.rng.randbytes(32)
        w = create_wanderer(payload, owner_seed=seed, nonce=bytes(12), k=k, n=n,
                            epoch_seconds=epoch, now=0.0)  # fmt: skip
        ticket = Ticket(seed, w.manifest.hash, k, n, 2)
        self.stored[ticket.wanderer_id] = (w.manifest, list(w.shards), seed)
        if _.get("file_seed"):
            return Ticket(_["file_seed"], w.manifest.hash, k, n, 3)
        return ticket

    async def get(self, ticket: Ticket, progress: Any = None) -> bytes:
        await trio.lowlevel.checkpoint()
        manifest, shards, _seed = self.stored[ticket.wanderer_id]
        if manifest.hash != ticket.manifest_hash:  # as GetOp refuses a manifest not pinned
            raise OwnerError("the manifest found does not match the ticket")
        try:
            return rebuild(manifest.value, dict(enumerate(shards)), ticket.owner_seed)
        except ProtocolError as exc:
            raise OwnerError(exc.detail) from None

    def forget(self, ids: list[bytes]) -> None:
        self.forgotten += ids

    async def keep(self, cap: RepairCapability, *, part_of: bytes = b"", **_: Any) -> None:
        await trio.lowlevel.checkpoint()
        if len(self.kept) == self.fail_keep_at:
            raise OwnerError("no shard of that wanderer can be found")
        self.kept.append((cap, part_of))


def _reader(data: bytes, log: list[int]) -> Any:
    pos = 0

    async def read(count: int) -> bytes:
        nonlocal pos
        log.append(count)
        await trio.lowlevel.checkpoint()
        out = data[pos : pos + count]
        pos += count
        return out

    return read


async def _put(owner: MemoryOwner, data: bytes, reads: list[int] | None = None) -> Ticket:
    read = _reader(data, reads if reads is not None else [])
    return await put_file(owner, read, len(data), name="f", k=K, n=N, epoch=600,  # type: ignore[arg-type]
                          segment_size=SEG, progress=lambda *a: None)  # fmt: skip


async def _get(owner: MemoryOwner, ticket: Ticket) -> tuple[bytes, list[int]]:
    out = bytearray()
    blocks: list[int] = []

    async def write(data: bytes) -> None:
        blocks.append(len(data))
        out.extend(data)

    await get_file(owner, ticket, write, lambda *a: None)  # type: ignore[arg-type]
    return bytes(out), blocks


async def test_a_file_of_several_segments_comes_back_whole_a_segment_at_a_time() -> None:
    data = random.Random(1).randbytes(3 * SEG + 12345)
    owner = MemoryOwner()
    reads: list[int] = []
    ticket = await _put(owner, data, reads)
    assert ticket.is_file and ticket.version == 3
    assert reads == [SEG, SEG, SEG, 12345]  # read as it is stored, one segment at a time
    assert len(owner.stored) == 5  # four segments and the index
    got, blocks = await _get(owner, Ticket.decode(ticket.encode()))
    assert got == data
    assert blocks == [SEG, SEG, SEG, 12345]


async def test_a_files_keeper_keeps_every_segment_and_the_index_without_its_seed() -> None:
    data = random.Random(2).randbytes(2 * SEG + 99)
    owner = MemoryOwner()
    ticket = await _put(owner, data)
    cap = RepairCapability.of_ticket(ticket)
    count = await keep_file(owner, cap, name="f", repair_delay=60,  # type: ignore[arg-type]
                            progress=lambda *a: None)  # fmt: skip
    assert count == 4
    index = SegmentIndex.decode(await owner.get(index_ticket(ticket)))
    index_id = index_ticket(ticket).wanderer_id
    expected = [(RepairCapability.of_ticket(segment_ticket(ticket, index, i)), index_id)
                for i in range(3)]  # fmt: skip
    assert owner.kept == [*expected, (RepairCapability.of_ticket(index_ticket(ticket)), b"")]
    # A keep that fails part-way forgets the segments it kept.
    failing = MemoryOwner()
    failing.stored, failing.fail_keep_at = owner.stored, 2
    with pytest.raises(OwnerError, match="no shard"):
        await keep_file(failing, cap, name="f", repair_delay=60,  # type: ignore[arg-type]
                        progress=lambda *a: None)  # fmt: skip
    assert failing.forgotten == [c.wanderer_id for c, _ in expected[:2]]


async def test_a_file_that_fits_one_segment_is_one_wanderer_with_a_version_2_ticket() -> None:
    data = b"x" * SEG
    owner = MemoryOwner()
    ticket = await _put(owner, data)
    assert ticket.version == 2 and len(owner.stored) == 1
    assert (await _get(owner, ticket))[0] == data


async def test_a_tampered_segment_stops_the_get_before_any_of_its_bytes_are_written() -> None:
    data = random.Random(2).randbytes(3 * SEG)
    owner = MemoryOwner()
    ticket = await _put(owner, data)
    index = SegmentIndex.decode(await owner.get(index_ticket(ticket)))
    # Segment 2 (the second): every shard flipped, so no k of them rebuild it.
    seg2 = next(w for w in owner.stored.values() if w[0].hash == index.manifest_hashes[1])
    seg2[1][:] = [bytes([s[0] ^ 1]) + s[1:] for s in seg2[1]]
    out = bytearray()

    async def write(block: bytes) -> None:
        out.extend(block)

    with pytest.raises(OwnerError, match="segment 2 of 3"):
        await get_file(owner, ticket, write, lambda *a: None)  # type: ignore[arg-type]
    assert bytes(out) == data[:SEG]  # segment 1, verified; nothing of segment 2


async def test_reordered_segments_are_refused() -> None:
    data = random.Random(3).randbytes(2 * SEG + 1)
    owner = MemoryOwner()
    ticket = await _put(owner, data)
    index = SegmentIndex.decode(await owner.get(index_ticket(ticket)))
    h = index.manifest_hashes
    swapped = SegmentIndex(index.file_size, index.segment_size, (h[1], h[0], h[2]),
                           index.repair_seeds, index.repair_grants)  # fmt: skip
    # Whoever could write an index (only the owner) swaps two segments: the seeds do
    # not match the manifests, so the first segment is refused and nothing is written.
    idx = owner.stored[index_ticket(ticket).wanderer_id]
    w = create_wanderer(swapped.encode(), owner_seed=idx[2], nonce=bytes(12), k=K, n=N,
                        epoch_seconds=600, now=0.0)  # fmt: skip
    owner.stored[index_ticket(ticket).wanderer_id] = (w.manifest, list(w.shards), idx[2])
    forged = Ticket(ticket.owner_seed, w.manifest.hash, K, N, 3)
    out = bytearray()

    async def write(block: bytes) -> None:
        out.extend(block)

    with pytest.raises(OwnerError, match="segment 1 of 3: the manifest found does not match"):
        await get_file(owner, forged, write, lambda *a: None)  # type: ignore[arg-type]
    assert out == b""


async def test_a_put_that_fails_midway_forgets_its_segments_and_makes_no_ticket() -> None:
    owner = MemoryOwner(fail_put_at=3)
    with pytest.raises(OwnerError, match="found a carrier"):
        await _put(owner, random.Random(4).randbytes(4 * SEG))
    assert len(owner.forgotten) == 2


async def test_a_put_over_the_daily_move_budget_is_refused_with_the_epoch_that_fits(
    tmp_path: Path,
) -> None:
    async with api_node(tmp_path) as (_node, api):
        line = json.dumps({"op": "put", "name": "big", "size": 1 << 30, "epoch": 60,
                           "token": TOKEN}).encode() + b"\n"  # fmt: skip
        answers = await trio.to_thread.run_sync(raw_exchange, api.tcp_port, line)
    # 1 GiB at 2-of-3 is 1.5 GiB of shards (plus the index), moved 1,440 times a day.
    fit = epoch_that_fits(1 << 30, 2, 3, 1 << 40, SEGMENT_SIZE)
    assert 60 < fit < 200
    assert json.loads(answers[-1])["error"] == (
        "this put would make the swarm move 2.1 TiB a day (every shard hops every 60 s), "
        f"over this node's daily_move_budget of 1.0 TiB: put it with --epoch {fit} or more"
    )
    assert moved_per_day(1 << 30, 2, 3, fit, SEGMENT_SIZE) <= 1 << 40
    assert moved_per_day(1 << 30, 2, 3, fit - 1, SEGMENT_SIZE) > 1 << 40


class ListedOwner:
    """An owner with records only: a file of two segments and one plain wanderer."""

    def __init__(self) -> None:
        def record(seed: bytes, size: int, **kw: Any) -> OwnedWanderer:
            w = create_wanderer(b"x", owner_seed=seed, nonce=bytes(12), k=K, n=N,
                                epoch_seconds=600, now=0.0)  # fmt: skip
            ticket = Ticket(seed, w.manifest.hash, K, N, 2).encode()
            return OwnedWanderer(
                name=kw.pop("name", ""), ticket=ticket, manifest=w.manifest.to_bytes().hex(),
                size=size, created_at=kw.pop("at", 1.0), generations=[0] * N, **kw,
            )  # fmt: skip

        file_ticket = Ticket(b"\x09" * 32, b"\x08" * 32, K, N, 3).encode()
        index = record(b"\x01" * 32, 150, name="big.bin", at=3.0, file_ticket=file_ticket)
        index_id = index.wanderer_id.hex()
        parts = [record(bytes([2 + i]) * 32, 2 * SEG if i else SEG, part_of=index_id, at=2.0)
                 for i in range(2)]  # fmt: skip
        parts[1].generations[3] = 1
        plain = record(b"\x07" * 32, 10, name="small.txt", at=4.0)
        self.items = {r.wanderer_id.hex(): r for r in (index, *parts, plain)}


async def test_ls_lists_a_file_once_with_its_segments(tmp_path: Path) -> None:
    api = LocalApi(None, ListedOwner(), tmp_path / API_SOCKET, {"k": K, "n": N, "epoch": 60})  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(api.serve)
        client = ApiClient(tmp_path / API_SOCKET)
        answer, _ = await trio.to_thread.run_sync(
            lambda: client.call({"op": "ls", "tickets": True})
        )
        nursery.cancel_scope.cancel()
    listed = {w["name"]: w for w in answer["wanderers"]}
    assert list(listed) == ["big.bin", "small.txt"]
    big = listed["big.bin"]
    assert (big["size"], big["segments"]) == (3 * SEG, 2)
    assert sum(big["generations"]) == 1  # the repair of one segment's shard counts for the file
    assert Ticket.decode(big["ticket"]).is_file
    assert listed["small.txt"]["segments"] == 1


async def test_wdp_get_that_fails_midway_leaves_no_file_and_says_why(tmp_path: Path) -> None:
    owner = MemoryOwner()
    data = random.Random(5).randbytes(3 * SEG)
    ticket = await _put(owner, data)
    index = SegmentIndex.decode(await owner.get(index_ticket(ticket)))
    last = next(w for w in owner.stored.values() if w[0].hash == index.manifest_hashes[2])
    last[1][:] = [bytes([s[0] ^ 1]) + s[1:] for s in last[1]]  # segment 3 cannot be rebuilt
    out = tmp_path / "back.bin"
    api = LocalApi(None, owner, tmp_path / API_SOCKET, {"k": K, "n": N, "epoch": 60})  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(api.serve)
        args = ["get", ticket.encode(), "-o", str(out), "--data-dir", str(tmp_path)]
        result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(wdp_app, args))
        nursery.cancel_scope.cancel()
    assert result.exit_code == 1
    assert result.output.startswith("wdp: error: segment 3 of 3: ")
    # Two segments reached the client, verified, before the third failed: nothing is kept.
    assert not out.exists() and not (tmp_path / "back.bin.part").exists()
