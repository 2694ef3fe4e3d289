"""Files of any size, streamed: segments put as they are read, got as they are written.

The rules (seeds, the index, what a reader checks) are in
:mod:`wdp.core.segments`; this module only moves bytes. A put reads one
segment from the client, stores it as a wanderer through :class:`Owner`,
and only then reads the next, so the client's socket paces the upload and the
node holds one segment (with its shards) at a time. A get fetches the next
segment while the current one is written to the client, so it holds two.
A file that fits in one segment is one wanderer with a version 2 ticket, as
before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from wdp.core.capability import CapabilityError, RepairCapability
from wdp.core.crypto import wanderer_id
from wdp.core.errors import ProtocolError
from wdp.core.limits import MAX_FILE_SIZE
from wdp.core.segments import (
    FileWriter,
    SegmentIndex,
    check_index,
    check_plan,
    check_segment,
    index_ticket,
    segment_ticket,
)
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket

from .owner import Owner, OwnerError, ProgressFn

__all__ = ["MAX_FILE_SIZE", "get_file", "keep_file", "put_file"]

log = logging.getLogger(__name__)

Read = Callable[[int], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]


async def put_file(
    owner: Owner,
    read: Read,
    size: int,
    *,
    name: str,
    k: int,
    n: int,
    epoch: int,
    segment_size: int,
    progress: ProgressFn,
) -> Ticket:
    """Store ``size`` bytes that ``read`` yields; returns the ticket (raises OwnerError).

    If a segment cannot be stored, the segments already stored are forgotten
    (no longer checked or repaired here) and no ticket is made.
    """
    if size <= segment_size:
        payload = await read(size)
        return await owner.put(payload, name=name, k=k, n=n, epoch=epoch, progress=progress)
    try:
        check_plan(size, segment_size)
    except ValueError as exc:
        raise OwnerError(str(exc)) from None
    writer = FileWriter(owner.node.rng.randbytes(32), size, segment_size)
    index_id = wanderer_id(public_key_of(writer.index_seed))
    count = len(writer.sizes)
    stored: list[bytes] = []
    done = 0
    progress("storing", 0, size)
    try:
        for i, part in enumerate(writer.sizes):
            payload = await read(part)
            ticket = await owner.put(
                payload, name=f"{name} [{i + 1}/{count}]", k=k, n=n, epoch=epoch,
                owner_seed=writer.seed(i), part_of=index_id, settle=False,
            )  # fmt: skip
            del payload
            stored.append(ticket.wanderer_id)
            writer.stored(i, ticket.manifest_hash)
            done += part
            progress("storing", done, size)
        return await owner.put(
            writer.index().encode(), name=name, k=k, n=n, epoch=epoch,
            owner_seed=writer.index_seed, file_seed=writer.file_seed,
        )  # fmt: skip
    except BaseException:
        if stored:
            log.info("put of %s stopped after %d of %d segments; forgetting them",
                     name, len(stored), count)  # fmt: skip
            owner.forget(stored)
        raise


async def get_file(owner: Owner, ticket: Ticket, write: Write, progress: ProgressFn) -> int:
    """Write the ticket's bytes through ``write`` as they are verified; returns how many.

    Every byte written has passed its segment's authentication (shard hashes
    pinned by the manifest, the manifest by the index, the index by the
    ticket, then the AEAD tag), so a bad segment stops the get before any of
    its bytes are written.
    """
    if not ticket.is_file:
        data = await owner.get(ticket, progress)
        await write(data)
        return len(data)
    try:
        index = SegmentIndex.decode(await owner.get(index_ticket(ticket), progress))
        check_index(ticket, index)
    except ProtocolError as exc:
        raise OwnerError(f"the file's index cannot be used: {exc.detail}") from None
    total = index.file_size
    progress("fetching", 0, total)
    send, receive = trio.open_memory_channel[bytes](0)
    failed: list[OwnerError] = []

    async def fetch() -> None:
        count = len(index.sizes)
        async with send:
            for i in range(count):
                try:
                    t = segment_ticket(ticket, index, i)
                    data = await owner.get(t)
                    check_segment(index, i, len(data))
                except ProtocolError as exc:
                    failed.append(OwnerError(f"segment {i + 1} of {count}: {exc.detail}"))
                    return
                except OwnerError as exc:
                    failed.append(OwnerError(f"segment {i + 1} of {count}: {exc}"))
                    return
                await send.send(data)

    written = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        async with receive:
            async for data in receive:
                await write(data)
                written += len(data)
                progress("fetching", written, total)
    if failed:
        raise failed[0]
    return written


async def keep_file(
    owner: Owner,
    capability: RepairCapability,
    *,
    name: str,
    repair_delay: float,
    progress: ProgressFn,
) -> int:
    """Keep a wanderer, or every segment of a file and its index (spec 16.1); returns
    how many wanderers this node now keeps for it (raises OwnerError).

    A file's keeper reads the index as the index wanderer's owner (its seed derives
    from the file's repair seed) and keeps each segment with the capability the
    index gives. If one cannot be kept, those kept so far are forgotten.
    """
    if not capability.is_file:
        await owner.keep(capability, name=name, repair_delay=repair_delay, progress=progress)
        return 1
    index_ticket_ = capability.index_ticket()
    try:
        index = SegmentIndex.decode(await owner.get(index_ticket_, progress))
        parts = [capability.segment(index, i) for i in range(len(index.sizes))]
    except ProtocolError as exc:
        raise OwnerError(f"the file's index cannot be used: {exc.detail}") from None
    except CapabilityError as exc:
        raise OwnerError(str(exc)) from None
    index_id = index_ticket_.wanderer_id
    kept: list[bytes] = []
    count = len(parts)
    progress("keeping segments", 0, count)
    try:
        for i, part in enumerate(parts):
            await owner.keep(part, name=f"{name} [{i + 1}/{count}]", repair_delay=repair_delay,
                             part_of=index_id)  # fmt: skip
            kept.append(part.wanderer_id)
            progress("keeping segments", i + 1, count)
        index_cap = RepairCapability.of_ticket(index_ticket_)
        await owner.keep(index_cap, name=name, repair_delay=repair_delay)
    except BaseException:
        if kept:
            owner.forget(kept)
        raise
    return count + 1
