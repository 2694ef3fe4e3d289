"""The owner's side of a node: the driver of one :class:`~wdp.core.owner.OwnerCore`.

The core decides how a put places shards, how a get finds them and when a
shard counts as lost and is rebuilt; this module performs its effects on the
running :class:`~wdp.node.node.Node`: launches and fetches go to the node's
core, lookups to the DHT, probes to the dialer, local reads to the store.
It also keeps the owned wanderers on disk (``owned.json``, mode 0600, with
``--store disk``; in memory only otherwise) and turns each user operation
into an awaitable: :meth:`Owner.put` returns the ticket, :meth:`Owner.get`
the payload, and a failure raises :class:`OwnerError` with one plain line.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

import trio

from wdp.core.capability import RepairCapability
from wdp.core.errors import WdpError
from wdp.core.node import AuditEnded, FetchEnded, LaunchEnded
from wdp.core.owner import (
    Audit,
    Cancel,
    CheckDone,
    Fetch,
    GetDone,
    KeepDone,
    Launch,
    Lookup,
    NotPlaced,
    OpFailed,
    OwnedWanderer,
    OwnerCore,
    OwnerEffect,
    OwnerParams,
    Probe,
    Progress,
    PublishPointer,
    PutDone,
    ReadLocal,
    Repaired,
    RepairImpossible,
    SaveOwned,
)
from wdp.core.ticket import Ticket
from wdp.core.wanderer import create_wanderer

if TYPE_CHECKING:
    from .node import Node

__all__ = ["OwnedWanderer", "Owner", "OwnerError", "OwnerRegistry", "Progress"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


def _no_progress(what: str, done: int, total: int) -> None:
    pass


class OwnerError(WdpError):
    """A put or get that cannot be done; the message is meant for the user."""


class OwnerRegistry:
    """Where the owned wanderers are kept: a 0600 JSON file, or nowhere (memory store)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> list[OwnedWanderer]:
        if self.path is None or not self.path.exists():
            return []
        return [OwnedWanderer(**raw) for raw in json.loads(self.path.read_text()).values()]

    def save(self, records: Sequence[OwnedWanderer]) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({r.wanderer_id.hex(): asdict(r) for r in records}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


@dataclass
class _Operation:
    progress: ProgressFn
    done: trio.Event = field(default_factory=trio.Event)
    outcome: PutDone | GetDone | KeepDone | OpFailed | None = None


class Owner:
    """Put, get and repair on a running :class:`~wdp.node.node.Node` (see module docstring)."""

    def __init__(
        self, node: Node, registry: OwnerRegistry, params: OwnerParams | None = None
    ) -> None:
        self.node = node
        self.registry = registry
        self.core = OwnerCore(node.core, node.rng, params)
        self.core.restore(registry.load(), node.clock())
        self._ops: dict[int, _Operation] = {}
        self._changed = trio.Event()
        self.last_check: dict[bytes, float] = {}  # wanderer id -> when its last check ended
        node.owner = self

    @property
    def items(self) -> dict[str, OwnedWanderer]:
        """The owned wanderers by wanderer id (hex)."""
        return {wid.hex(): record for wid, record in self.core.owned.items()}

    def _name(self, wanderer_id: bytes) -> str:
        record = self.core.owned.get(wanderer_id)
        return record.name if record is not None and record.name else wanderer_id.hex()[:12]

    # ---- the node's reports ------------------------------------------------------------

    def launch_ended(self, report: LaunchEnded) -> None:
        self.perform(self.core.launch_ended(report, self.node.clock()))

    def fetch_ended(self, report: FetchEnded) -> None:
        if report.result is None:
            log.info("fetch failed: %s %s", report.code and report.code.name, report.detail)
        self.perform(self.core.fetch_ended(report, self.node.clock()))

    def audit_ended(self, report: AuditEnded) -> None:
        if report.result is None:
            log.info("audit of %s at %s failed: %s %s", report.key, report.carrier.hex()[:16],
                     report.code and report.code.name, report.detail)  # fmt: skip
        self.perform(self.core.audit_ended(report, self.node.clock()))

    # ---- performing the core's effects ----------------------------------------------------

    def perform(self, effects: list[OwnerEffect]) -> None:
        node, core = self.node, self.node.core
        for eff in effects:
            now = node.clock()
            match eff:
                case Launch():
                    node.perform(core.launch(eff.offer, eff.shard, eff.tag, now))
                case Fetch():
                    node.perform(core.fetch(
                        eff.request, eff.tag, now,
                        expected_manifest=eff.expected_manifest, addrs=eff.addrs,
                    ))  # fmt: skip
                case Audit():
                    node.perform(core.audit(
                        eff.challenge, eff.manifest, eff.tag, now, addrs=eff.addrs
                    ))  # fmt: skip
                case Cancel():
                    node.perform(core.cancel(eff.tag, now))
                case Lookup():
                    node.spawn(self._lookup, eff)
                case PublishPointer():
                    node.spawn(self._publish_pointer, eff)
                case Probe():
                    node.spawn(self._probe, eff)
                case ReadLocal():
                    node.spawn(self._read_local, eff)
                case Progress():
                    op = self._ops.get(eff.op)
                    if op is not None:
                        op.progress(eff.what, eff.done, eff.total)
                case PutDone() | GetDone() | KeepDone() | OpFailed():
                    op = self._ops.pop(eff.op, None)
                    if op is not None:
                        op.outcome = eff
                        op.done.set()
                case SaveOwned():
                    self.registry.save(eff.records)
                case CheckDone():
                    self.last_check[eff.wanderer_id] = self.node.clock()
                    log.debug("check of %s: stale %s", self._name(eff.wanderer_id), eff.stale)
                case Repaired():
                    log.info("repaired %s shard %d (generation %d)",
                             self._name(eff.wanderer_id), eff.index, eff.generation)  # fmt: skip
                case RepairImpossible():
                    log.error("cannot repair %s: %d of the %d shards needed are reachable",
                              self._name(eff.wanderer_id), eff.found, eff.needed)  # fmt: skip
                case NotPlaced():
                    log.warning("%s shard %d (generation %d) found no carrier; repair will retry",
                                self._name(eff.wanderer_id), eff.index, eff.generation)  # fmt: skip
                case _:
                    assert_never(eff)
        self._wake()

    async def _lookup(self, eff: Lookup) -> None:
        started = self.node.clock()
        value = await self.node.lookup_locator(eff.dht_key)
        log.debug("lookup of %s: %s in %.2f s", eff.dht_key, "found" if value else "none",
                  self.node.clock() - started)  # fmt: skip
        self.perform(self.core.locator_found(eff.tag, value, self.node.clock()))

    async def _publish_pointer(self, eff: PublishPointer) -> None:
        try:
            stored = await self.node.publish_record(eff.dht_key, eff.value)
        except (ValueError, LookupError) as exc:  # a newer pointer is there; nobody took it
            log.info("forward pointer to generation %d under %s not stored: %s",
                     eff.generation, eff.dht_key, exc)  # fmt: skip
        else:
            log.debug("forward pointer to generation %d under %s stored at %d peers",
                      eff.generation, eff.dht_key, stored)  # fmt: skip

    async def _probe(self, eff: Probe) -> None:
        ok = await self.node.probe(eff.peer, eff.addrs)
        self.perform(self.core.probe_ended(eff.tag, ok, self.node.clock()))

    async def _read_local(self, eff: ReadLocal) -> None:
        try:
            shard = await self.node.read_shard(eff.key)
        except Exception as exc:
            log.warning("cannot read %s from the store: %s", eff.key, exc)
            shard = None
        self.perform(self.core.local_read(eff.tag, shard, self.node.clock()))

    # ---- time --------------------------------------------------------------------------------

    def _wake(self) -> None:
        ev, self._changed = self._changed, trio.Event()
        ev.set()

    async def run(self) -> None:
        """The owner core's timer: retries of gets, and check rounds (repair)."""
        while True:
            ev = self._changed
            deadline = self.core.get_timer()
            delay = math.inf if deadline is None else max(0.0, deadline - self.node.clock())
            if delay > 0:
                with trio.move_on_after(delay):
                    await ev.wait()
            else:
                await trio.lowlevel.checkpoint()
            self.perform(self.core.handle_timer(self.node.clock()))

    # ---- the user's operations ----------------------------------------------------------------

    def forget(self, wanderer_ids: list[bytes]) -> None:
        """Stop checking and repairing these wanderers, and forget them here."""
        for wid in wanderer_ids:
            self.core.forget(wid)
        self.registry.save(tuple(self.core.owned.values()))

    async def _run(self, start: tuple[int, list[OwnerEffect]], progress: ProgressFn) -> object:
        op_id, effects = start
        op = self._ops[op_id] = _Operation(progress)
        self.perform(effects)
        await op.done.wait()
        if isinstance(op.outcome, OpFailed):
            raise OwnerError(op.outcome.message)
        return op.outcome

    async def put(
        self,
        payload: bytes,
        *,
        name: str,
        k: int,
        n: int,
        epoch: int,
        progress: ProgressFn = _no_progress,
        owner_seed: bytes | None = None,
        part_of: bytes = b"",
        file_seed: bytes | None = None,
        settle: bool = True,
    ) -> Ticket:
        """Store ``payload`` as a new wanderer; returns its ticket (raises OwnerError).

        ``owner_seed``, ``part_of`` and ``file_seed`` are for the segments and the
        index of a file (:mod:`.files`). With ``settle`` the ticket comes once its
        shards can be found from any node (see :meth:`OwnerCore.put`); a file's
        segments skip that, since the file is found through its index.
        """
        # Encryption, erasure coding and hashing release the GIL: they run in a thread,
        # so the node keeps answering pings and streams meanwhile.
        seed = owner_seed if owner_seed is not None else self.node.rng.randbytes(32)
        make = partial(
            create_wanderer, payload, owner_seed=seed, nonce=self.node.rng.randbytes(12),
            k=k, n=n, epoch_seconds=epoch, now=self.node.clock(),
        )  # fmt: skip
        try:
            wanderer = await trio.to_thread.run_sync(make)
        except ValueError as exc:
            raise OwnerError(str(exc)) from None
        del payload
        start = self.core.put(
            wanderer, name=name, k=k, n=n, epoch=epoch, now=self.node.clock(),
            owner_seed=seed, part_of=part_of, file_seed=file_seed, settle=settle,
        )  # fmt: skip
        outcome = await self._run(start, progress)
        assert isinstance(outcome, PutDone)
        return outcome.ticket

    async def keep(
        self,
        capability: RepairCapability,
        *,
        name: str,
        repair_delay: float,
        part_of: bytes = b"",
        progress: ProgressFn = _no_progress,
    ) -> None:
        """Keep a wanderer for its owner: find it, then check and repair it from now on
        (raises OwnerError). A node that already owns or keeps it says so."""
        start = self.core.keep(
            capability, self.node.clock(), name=name, repair_delay=repair_delay, part_of=part_of
        )
        assert isinstance(await self._run(start, progress), KeepDone)

    async def get(self, ticket: Ticket, progress: ProgressFn = _no_progress) -> bytes:
        """Rebuild a ticket's payload from any k shards (raises OwnerError)."""
        outcome = await self._run(self.core.get(ticket, self.node.clock()), progress)
        assert isinstance(outcome, GetDone)
        return outcome.payload
