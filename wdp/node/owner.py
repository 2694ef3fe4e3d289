"""The owner's side inside a node: put, get, and repair of the wanderers it launched.

* **put** encrypts and erasure-codes a payload (``wdp.core.wanderer``), hands
  each shard to a different healthy peer (hop 0, GENESIS) and returns the
  ticket. The node remembers what it launched (with the ticket) so it can
  repair it; with ``--store memory`` that memory is lost on restart.
* **get** needs only a ticket: for each shard it looks up the locator in the
  DHT (trying the first few generations), opens the sealed holder, fetches
  the shard over ``/wdp/fetch/1.0`` and stops at k verified shards.
* **repair** runs every epoch: a shard whose locator is missing or whose
  carrier cannot be reached twice in a row is rebuilt from any k others and
  relaunched as hop 0 of the next generation (REPAIR).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from wdp.core import erasure
from wdp.core.effects import ShardKey
from wdp.core.errors import ProtocolError, RejectCode, WdpError
from wdp.core.limits import TAG_SIZE
from wdp.core.locator import open_locator
from wdp.core.objects import HolderInfo, Manifest, Signed
from wdp.core.placement import Candidate
from wdp.core.repair import LAUNCH_ATTEMPTS, RepairTracker, pick_carriers
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket
from wdp.core.wanderer import Wanderer, create_wanderer, locator_seed, rebuild

from .fetch import FetchError, fetch_shard
from .host import peer_id_of_key
from .migrate import store_call

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)

MAX_GENERATIONS_PROBED = 8  # a getter without the owner's records tries generations 0..7
NOT_HELD_RETRIES = 3  # a carrier that moved the shard on: look the locator up again
GET_ROUNDS = 3  # rounds of lookups before a get reports what is missing
GET_RETRY_DELAY = 2.0
Progress = Callable[[str, int, int], None]  # (what, done, total)


def _no_progress(what: str, done: int, total: int) -> None:
    pass


class OwnerError(WdpError):
    """A put or get that cannot be done; the message is meant for the user."""


@dataclass
class OwnedWanderer:
    """What a node remembers of a wanderer it launched (to list and repair it)."""

    name: str
    ticket: str
    manifest: str  # hex of the Signed manifest bytes
    size: int
    created_at: float
    generations: list[int]
    stale: list[int] = field(default_factory=list)  # consecutive failed checks per shard

    def signed_manifest(self) -> Signed[Manifest]:
        return Signed.from_bytes(bytes.fromhex(self.manifest), Manifest)


class OwnerRegistry:
    """The wanderers this node launched; on disk (mode 0600) or in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.items: dict[str, OwnedWanderer] = {}  # wanderer id hex -> record
        if path is not None and path.exists():
            for wid, raw in json.loads(path.read_text()).items():
                self.items[wid] = OwnedWanderer(**raw)

    def add(self, wid: bytes, item: OwnedWanderer) -> None:
        self.items[wid.hex()] = item
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({k: asdict(v) for k, v in self.items.items()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class Located:
    generation: int
    holder: HolderInfo


class Owner:
    """Put, get and repair on top of a running :class:`~wdp.node.node.Node`."""

    def __init__(self, node: Node, registry: OwnerRegistry) -> None:
        self.node = node
        self.registry = registry

    # ---- put -------------------------------------------------------------

    def _carriers(
        self, n: int, exclude: frozenset[bytes] | set[bytes] = frozenset()
    ) -> list[bytes]:
        """Up to n distinct healthy peers not in ``exclude`` (the shared placement rules)."""
        candidates = [Candidate.from_stats(s) for s in self.node.carrier.latency.peers()]
        return pick_carriers(
            candidates,
            n,
            rng=self.node.rng,
            exclude={self.node.peer_key, *exclude},
            self_ipv4=self.node.carrier.self_ipv4,
        )

    async def put(
        self,
        payload: bytes,
        *,
        name: str,
        k: int,
        n: int,
        epoch: int,
        progress: Progress = _no_progress,
    ) -> Ticket:
        healthy = len(self._carriers(n + LAUNCH_ATTEMPTS))
        if healthy < n:
            raise OwnerError(
                f"this node knows {healthy} healthy peer(s) but needs {n} (one per shard): "
                "wait for more peers to join, or put with a smaller n"
            )
        owner_seed = os.urandom(32)
        try:
            w = create_wanderer(
                payload,
                owner_seed=owner_seed,
                nonce=os.urandom(12),
                k=k,
                n=n,
                epoch_seconds=epoch,
                now=self.node.clock(),
            )
        except ValueError as exc:
            raise OwnerError(str(exc)) from None
        ticket = Ticket(owner_seed, w.manifest.hash, k, n)
        taken: set[bytes] = set()
        failed: list[int] = []
        done = 0
        progress("launching shards", 0, n)

        async def launch(index: int) -> None:
            nonlocal done
            if await self._launch(w, index, owner_seed, 0, taken) is None:
                failed.append(index)
            done += 1
            progress("launching shards", done, n)

        async with trio.open_nursery() as nursery:
            for index in range(n):
                nursery.start_soon(launch, index)
        if len(failed) > n - k:
            raise OwnerError(
                f"only {n - len(failed)} of {n} shards found a carrier (at least {k} needed); "
                "nothing usable was stored"
            )
        self.registry.add(
            w.manifest.value.wanderer_id,
            OwnedWanderer(
                name=name,
                ticket=ticket.encode(),
                manifest=w.manifest.to_bytes().hex(),
                size=len(payload),
                created_at=self.node.clock(),
                generations=[0] * n,
                stale=[0] * n,
            ),
        )
        if failed:
            log.warning("put %s: shards %s found no carrier; repair will retry", name, failed)
        return ticket

    async def _launch(
        self, w: Wanderer, index: int, owner_seed: bytes, generation: int, taken: set[bytes]
    ) -> bytes | None:
        """Hand shard ``index`` to a peer not in ``taken``; returns the peer's key."""
        for _ in range(LAUNCH_ATTEMPTS):
            choice = self._carriers(1, exclude=taken)
            if not choice:
                return None
            peer = choice[0]
            taken.add(peer)
            result = await self.node.launch(
                w, index, peer_id_of_key(peer), owner_seed=owner_seed, generation=generation
            )
            if result.ok:
                return peer
            log.info("launch of shard %d to %s failed: %s", index, peer.hex()[:12], result.code)
        return None

    # ---- locate and fetch --------------------------------------------------

    async def locate(self, ticket: Ticket, index: int, generations: range) -> Located | None:
        """The newest locator of shard ``index`` among ``generations``, opened.

        All generations are looked up at once: an older generation's locator
        may have expired while a newer one exists.
        """
        found: dict[int, Located] = {}

        async def probe(generation: int) -> None:
            key = public_key_of(locator_seed(ticket.owner_seed, index, generation))
            try:
                with trio.move_on_after(2 * self.node.config.dial_timeout):
                    signed = await self.node.get_locator(key)
                    if signed is not None:
                        holder = open_locator(ticket.owner_seed, signed.value)
                        found[generation] = Located(generation, holder)
            except ProtocolError as exc:
                log.warning("locator of shard %d does not open: %s", index, exc)
            except Exception as exc:  # the DHT is best effort
                log.debug("locator lookup failed: %s", exc)

        async with trio.open_nursery() as nursery:
            for generation in generations:
                nursery.start_soon(probe, generation)
        return found[max(found)] if found else None

    async def _connect(self, holder: HolderInfo) -> ID:
        peer_id = peer_id_of_key(holder.holder)
        addrs = []
        for raw in holder.addrs:
            try:
                addrs.append(multiaddr.Multiaddr(raw))
            except Exception:
                continue
        # A verified locator is fresh news that the holder is there: forget a
        # dial that failed earlier (py-libp2p refuses to redial for 60 s).
        self.node.host.get_network().unblock_peer(peer_id)
        with trio.fail_after(self.node.config.dial_timeout):
            await self.node.host.connect(PeerInfo(peer_id, addrs))
        return peer_id

    async def fetch(
        self, ticket: Ticket, index: int, generations: range
    ) -> tuple[Signed[Manifest], bytes]:
        """One verified shard with its manifest, or an exception saying why not.

        A carrier that answers NOT_HELD has just passed the shard on: the new
        carrier's locator is looked up again, a few times.
        """
        for attempt in range(NOT_HELD_RETRIES):
            try:
                return await self._fetch_once(ticket, index, generations)
            except FetchError as exc:
                if exc.code is not RejectCode.NOT_HELD or attempt == NOT_HELD_RETRIES - 1:
                    raise
                await trio.sleep(1.0)
        raise AssertionError("unreachable")

    async def _fetch_once(
        self, ticket: Ticket, index: int, generations: range
    ) -> tuple[Signed[Manifest], bytes]:
        own = ShardKey(ticket.wanderer_id, index) in self.node.carrier.held
        located = None if own else await self.locate(ticket, index, generations)
        if located is None and not own:
            raise OwnerError(f"shard {index}: no locator in the DHT")
        if own or (located is not None and located.holder.holder == self.node.peer_key):
            got = await store_call(
                self.node.store, self.node.store.get, ShardKey(ticket.wanderer_id, index)
            )
            if got is None:
                raise OwnerError(f"shard {index}: this node's locator is stale")
            manifest = got[1].signed_manifest()
            if manifest.hash != ticket.manifest_hash:
                raise OwnerError(f"shard {index}: the manifest held here is not the ticket's")
            return manifest, got[0]
        peer_id = await self._connect(located.holder)
        result = await fetch_shard(
            self.node.host,
            peer_id,
            owner_seed=ticket.owner_seed,
            wanderer_id=ticket.wanderer_id,
            shard_index=index,
            clock=self.node.clock,
            expected_manifest_hash=ticket.manifest_hash,
        )
        return result.manifest, result.shard

    async def gather(
        self,
        ticket: Ticket,
        want: int,
        *,
        skip: frozenset[int] = frozenset(),
        generations: list[int] | None = None,
        progress: Progress = _no_progress,
    ) -> tuple[dict[int, bytes], dict[int, str], Signed[Manifest] | None]:
        """Fetch shards until ``want`` are in hand: the shards, why others failed, the manifest."""
        shards: dict[int, bytes] = {}
        errors: dict[int, str] = {}
        manifests: list[Signed[Manifest]] = []
        limiter = trio.CapacityLimiter(4)

        async def one(index: int, cancel: trio.CancelScope) -> None:
            gens = (
                range(generations[index], generations[index] + 1)
                if generations is not None
                else range(MAX_GENERATIONS_PROBED)
            )
            async with limiter:
                if len(shards) >= want:
                    return
                try:
                    manifest, shards[index] = await self.fetch(ticket, index, gens)
                    manifests.append(manifest)
                    progress("fetching shards", len(shards), want)
                except (OwnerError, FetchError, OSError, trio.TooSlowError) as exc:
                    errors[index] = str(exc)
                except Exception as exc:  # a peer's failure must not end the get
                    errors[index] = f"{type(exc).__name__}: {exc}"
            if len(shards) >= want:
                cancel.cancel()

        async with trio.open_nursery() as nursery:
            for index in range(ticket.n):
                if index not in skip:
                    nursery.start_soon(one, index, nursery.cancel_scope)
        return shards, errors, (manifests[0] if manifests else None)

    async def get(self, ticket: Ticket, progress: Progress = _no_progress) -> bytes:
        progress("fetching shards", 0, ticket.k)
        item = self.registry.items.get(ticket.wanderer_id.hex())
        for attempt in range(GET_ROUNDS):
            # Right after a seizure the swarm is still moving shards and the DHT
            # still names dead carriers: a get that falls short tries again.
            shards, errors, manifest = await self.gather(
                ticket,
                ticket.k,
                generations=item.generations if item is not None else None,
                progress=progress,
            )
            if manifest is not None and len(shards) >= ticket.k:
                break
            if attempt < GET_ROUNDS - 1:
                await trio.sleep(GET_RETRY_DELAY)
        if manifest is None or len(shards) < ticket.k:
            reasons = "; ".join(f"{e}" for _, e in sorted(errors.items())[:3])
            raise OwnerError(
                f"cannot rebuild: found {len(shards)} of the {ticket.k} shards needed "
                f"({ticket.n} were made; {ticket.n - len(shards)} unreachable or lost). "
                f"First problems: {reasons}"
            )
        try:
            return rebuild(manifest.value, shards, ticket.owner_seed)
        except ProtocolError as exc:
            raise OwnerError(str(exc)) from None

    # ---- repair ------------------------------------------------------------

    async def check_and_repair(self) -> int:
        """One repair round over every owned wanderer; returns shards relaunched."""
        relaunched = 0
        for wid, item in list(self.registry.items.items()):
            ticket = Ticket.decode(item.ticket)
            tracker = RepairTracker(ticket.k, ticket.n, item.generations, item.stale)
            holders: dict[int, bytes] = {}

            async def check(index: int, ticket: Ticket = ticket, tracker: RepairTracker = tracker,
                            holders: dict[int, bytes] = holders) -> None:  # fmt: skip
                holder = await self._alive(ticket, index, tracker.generations[index])
                tracker.observe(index, holder is not None)
                if holder is not None:
                    holders[index] = holder

            async with trio.open_nursery() as nursery:
                for index in range(ticket.n):
                    nursery.start_soon(check, index)
            item.generations, item.stale = tracker.generations, tracker.stale
            lost = tracker.lost()
            if lost:
                relaunched += await self._repair(ticket, item, lost, set(holders.values()))
            self.registry.save()
            log.debug("repair check %s: stale %s", wid[:12], item.stale)
        return relaunched

    async def _alive(self, ticket: Ticket, index: int, generation: int) -> bytes | None:
        """The key of the shard's reachable carrier, or None if it looks lost."""
        if ShardKey(ticket.wanderer_id, index) in self.node.carrier.held:
            return self.node.peer_key  # this node carries it (a shard fled here)
        located = await self.locate(ticket, index, range(generation, generation + 1))
        if located is None:
            return None
        if located.holder.holder != self.node.peer_key:
            try:
                await self._connect(located.holder)
            except Exception:
                return None
        return located.holder.holder

    async def _repair(
        self, ticket: Ticket, item: OwnedWanderer, lost: list[int], holders: set[bytes]
    ) -> int:
        manifest = item.signed_manifest()
        m = manifest.value
        shards, _errors, _ = await self.gather(
            ticket, m.k, skip=frozenset(lost), generations=item.generations
        )
        if len(shards) < m.k:
            log.error(
                "cannot repair %s: %d of the %d shards needed are reachable",
                item.name, len(shards), m.k,
            )  # fmt: skip
            return 0
        ciphertext = erasure.decode(shards, m.k, m.n, m.payload_size + TAG_SIZE)
        rebuilt = erasure.encode(ciphertext, m.k, m.n)
        w = Wanderer(manifest, tuple(rebuilt))
        tracker = RepairTracker(ticket.k, ticket.n, item.generations, item.stale)  # edits in place
        relaunched = 0
        for index in lost:
            generation = tracker.next_generation(index)
            peer = await self._launch(w, index, ticket.owner_seed, generation, holders)
            if peer is None:
                log.warning("repair of %s shard %d found no carrier", item.name, index)
                continue
            tracker.repaired(index)
            relaunched += 1
            log.info("repaired %s shard %d (generation %d)", item.name, index, generation)
        return relaunched

    async def repair_loop(self, interval: Callable[[], float]) -> None:
        while True:
            await trio.sleep(interval())
            try:
                await self.check_and_repair()
            except Exception:
                log.exception("repair round failed")

    def repair_interval(self) -> float:
        epochs = [i.signed_manifest().value.epoch_seconds for i in self.registry.items.values()]
        return float(min(epochs, default=60))


__all__ = ["OwnedWanderer", "Owner", "OwnerError", "OwnerRegistry"]
