"""The owner's building blocks: find a shard's carrier, gather shards, launch a shard.

Each is a small machine that an operation (put, get, check) starts and that
calls back when it is done. They talk to the driver only through requests
made with :meth:`OwnerCore.request`, whose answers come back by tag.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from ..effects import ShardKey
from ..errors import ProtocolError, RejectCode
from ..limits import FETCH_NONCE_SIZE, MAX_GENERATION, MAX_POINTER_FOLLOWS, POINTER_SPAN
from ..locator import locator_dht_key, open_locator, validate_locator
from ..node.effects import FetchEnded, LaunchEnded
from ..objects import HolderInfo, Manifest, Signed
from ..signing import public_key_of
from ..wanderer import Wanderer
from .authority import Authority, fetch_request, launch
from .effects import Cancel, Fetch, Launch, Lookup, OwnerEffect, ReadLocal
from .repair import pick_carriers

if TYPE_CHECKING:
    from .machine import OwnerCore

__all__ = ["Gather", "LaunchJob", "Locate", "Located"]

Effects = list[OwnerEffect]


@dataclass(frozen=True, slots=True)
class Located:
    """A shard's newest locator, opened: its generation and who carries it."""

    generation: int
    holder: HolderInfo


class Locate:
    """Look up a shard's locator in ``generations`` at once; call back with the newest found.

    All generations are asked together: an older generation's locator may
    have expired while a newer one exists. A record whose generation is above
    its key's is a *forward pointer* (spec 9): the shard was repaired since,
    and the owner or a keeper left word of the generation under the
    generation-0 key. It names no carrier to use: the lookups then go on to
    ``POINTER_SPAN`` generations from the one it names (a repair or two may
    have come after it), at most ``MAX_POINTER_FOLLOWS`` times.
    """

    def __init__(
        self,
        owner: OwnerCore,
        ticket: Authority,
        index: int,
        generations: range,
        then: Callable[[Located | None, float], Effects],
        follows: int = 0,
    ) -> None:
        self.owner = owner
        self.ticket = ticket
        self.index = index
        self.then = then
        self.left = len(generations)
        self.found: dict[int, HolderInfo] = {}
        self.pointer = -1  # the highest generation a forward pointer named
        self.generations = generations
        self.follows = follows

    def start(self, now: float) -> Effects:
        if not self.generations:
            return self.then(None, now)
        out: Effects = []
        for generation in self.generations:
            key = public_key_of(self.ticket.locator_seed(self.index, generation))
            dht_key = locator_dht_key(key)
            answer = self._answer(generation, dht_key)
            out.append(self.owner.request(partial(Lookup, dht_key=dht_key), answer))
        return out

    def _answer(self, generation: int, dht_key: str) -> Callable[[object, float], Effects]:
        def answer(value: object, now: float) -> Effects:
            if isinstance(value, bytes):
                try:
                    signed = validate_locator(dht_key, value, int(now * 1000))
                    holder = open_locator(self.ticket.sealing_seed, signed.value)
                except ProtocolError:
                    pass  # not a locator this owner can use: as good as none
                else:
                    if signed.value.generation > generation:
                        self.pointer = max(self.pointer, signed.value.generation)
                    else:
                        self.found[generation] = holder
            return self._done(now)

        return answer

    def _done(self, now: float) -> Effects:
        # Called once per answer; the last one decides.
        self.left -= 1
        if self.left:
            return []
        newest = self._newest()
        if self.pointer > (-1 if newest is None else newest.generation) and (
            self.follows < MAX_POINTER_FOLLOWS
        ):
            ahead = range(self.pointer, min(self.pointer + POINTER_SPAN, MAX_GENERATION + 1))
            return Locate(
                self.owner, self.ticket, self.index, ahead, self._ahead, self.follows + 1
            ).start(now)
        return self.then(newest, now)

    def _newest(self) -> Located | None:
        if not self.found:
            return None
        best = max(self.found)
        return Located(best, self.found[best])

    def _ahead(self, located: Located | None, now: float) -> Effects:
        """What the lookups past a forward pointer found; else what was found before it."""
        return self.then(located if located is not None else self._newest(), now)


@dataclass(slots=True)
class _Shard:
    index: int
    generations: range
    later: range = range(0)  # generations looked up only if these fail (no record of the shard)
    not_held: int = 0  # NOT_HELD answers so far (the carrier had just passed it on)
    tag: int | None = None  # the fetch in flight


@dataclass(slots=True)
class GatherResult:
    """What a gather found: verified shards by index, why others failed, the manifest."""

    shards: dict[int, bytes] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    manifest: Signed[Manifest] | None = None


class Gather:
    """Fetch verified shards of one wanderer until ``want`` are in hand.

    Up to ``parallel`` shards are looked up and fetched at once, in index
    order, and no more than ``max(want, parallel)`` are in hand or in flight
    (a fetch that fails frees its place; one that succeeds does not start
    another); a shard this node carries itself is read from its own store. A
    carrier that answers NOT_HELD has just passed the shard on: its locator is
    looked up again after a pause, a few times. A shard still not in hand
    ``get_hedge`` seconds after it was started (its carrier may be paused or
    far) widens the window by one, so the next shard is asked for beside it.
    Once ``want`` shards are in hand, fetches still running are cancelled.
    """

    def __init__(
        self,
        owner: OwnerCore,
        ticket: Authority,
        want: int,
        then: Callable[[GatherResult, float], Effects],
        *,
        skip: Collection[int] = (),
        generations: list[int] | None = None,
        found: GatherResult | None = None,
        on_shard: Callable[[int], Effects] | None = None,
        known: dict[int, bytes] | None = None,
    ) -> None:
        self.owner = owner
        self.ticket = ticket
        self.want = want
        self.then = then
        self.on_shard = on_shard
        self.known = known or {}  # carriers a check round just heard from, by shard
        self.result = found if found is not None else GatherResult()
        # Without a record of the shards' generations, generation 0 first (a shard has a
        # later one only if it was repaired), the next ones at once if that fails.
        probed = owner.params.generations_probed
        self.queue = [
            _Shard(i, range(generations[i], generations[i] + 1))
            if generations is not None
            else _Shard(i, range(1), range(1, probed))
            for i in range(ticket.n)
            if i not in skip and i not in self.result.shards
        ]
        self.active: dict[int, _Shard] = {}
        self.finished = False
        self.extra = 0  # shards asked for beyond the window, one per slow shard

    def start(self, now: float) -> Effects:
        return self._fill(now)

    @property
    def enough(self) -> bool:
        return len(self.result.shards) >= self.want

    def _fill(self, now: float) -> Effects:
        out: Effects = []
        parallel = self.owner.params.get_parallel + self.extra
        # In hand + in flight: the shards wanted, or the window, and one more per slow shard.
        window = max(self.want, self.owner.params.get_parallel) + self.extra
        while (
            self.queue
            and not self.enough
            and len(self.active) < parallel
            and len(self.result.shards) + len(self.active) < window
        ):
            shard = self.queue.pop(0)
            self.active[shard.index] = shard
            self.owner.after(now + self.owner.params.get_hedge, partial(self._hedge, shard))
            out += self._locate(shard, now)
        if self.enough or not (self.active or self.queue):
            out += self._finish(now)  # cancels what is still in flight
        return out

    def _hedge(self, shard: _Shard, now: float) -> Effects:
        if self.finished or self.enough or self.active.get(shard.index) is not shard:
            return []
        self.extra += 1
        return self._fill(now)

    def _key(self, index: int) -> ShardKey:
        return ShardKey(self.ticket.wanderer_id, index)

    def _locate(self, shard: _Shard, now: float) -> Effects:
        if self.owner.view.carried(self._key(shard.index)) is not None:
            return self._read_local(shard)
        return Locate(
            self.owner, self.ticket, shard.index, shard.generations,
            lambda located, t: self._located(shard, located, t),
        ).start(now)  # fmt: skip

    def _located(self, shard: _Shard, located: Located | None, now: float) -> Effects:
        if self.finished:
            return []
        if located is None and shard.index in self.known:
            # The check round that called this heard from the carrier (an audit
            # answered) even though its locator is gone from the DHT: ask it.
            located = Located(shard.generations.start, HolderInfo(self.known[shard.index], (), b""))
        if located is None:
            return self._failed(shard, f"shard {shard.index}: no locator in the DHT", now)
        holder = located.holder
        if holder.holder == self.owner.view.peer:
            return self._read_local(shard)
        nonce = self.owner.rng.randbytes(FETCH_NONCE_SIZE)
        request = fetch_request(self.ticket, shard.index, now, nonce, holder.holder)
        effect = self.owner.request(
            lambda tag: Fetch(tag, request, self.ticket.manifest_hash, holder.addrs),
            lambda report, t: self._fetched(shard, report, t),
        )
        assert isinstance(effect, Fetch)
        shard.tag = effect.tag
        return [effect]

    def _read_local(self, shard: _Shard) -> Effects:
        return [
            self.owner.request(
                lambda tag: ReadLocal(tag, self._key(shard.index)),
                lambda data, t: self._local(shard, data, t),
            )
        ]

    def _local(self, shard: _Shard, data: object, now: float) -> Effects:
        if self.finished:
            return []
        held = self.owner.view.carried(self._key(shard.index))
        if not isinstance(data, bytes) or held is None:
            return self._failed(shard, f"shard {shard.index}: this node's locator is stale", now)
        if held.manifest.hash != self.ticket.manifest_hash:
            why = f"shard {shard.index}: the manifest held here is not the ticket's"
            return self._failed(shard, why, now)
        return self._got(shard, held.manifest, data, now)

    def _fetched(self, shard: _Shard, report: object, now: float) -> Effects:
        shard.tag = None
        if self.finished:
            return []
        assert isinstance(report, FetchEnded)
        if report.result is not None:
            return self._got(shard, report.result.manifest, report.result.shard, now)
        assert report.code is not None
        who = "carrier" if report.by_peer else "fetch"
        if report.code is RejectCode.NOT_HELD:
            shard.not_held += 1
            if shard.not_held < self.owner.params.not_held_retries:
                at = now + self.owner.params.not_held_delay
                self.owner.after(at, lambda t: [] if self.finished else self._locate(shard, t))
                return []
        return self._failed(shard, f"{who} {report.code.name}: {report.detail}", now)

    def _got(self, shard: _Shard, manifest: Signed[Manifest], data: bytes, now: float) -> Effects:
        self.result.shards[shard.index] = data
        if self.result.manifest is None:
            self.result.manifest = manifest
        del self.active[shard.index]
        out = self.on_shard(len(self.result.shards)) if self.on_shard is not None else []
        return out + self._fill(now)

    def _failed(self, shard: _Shard, why: str, now: float) -> Effects:
        if shard.later:  # generation 0 gave nothing: look for a later one (a repair)
            shard.generations, shard.later = shard.later, range(0)
            shard.not_held = 0
            return self._locate(shard, now)
        self.result.errors[shard.index] = why
        del self.active[shard.index]
        return self._fill(now)

    def _finish(self, now: float) -> Effects:
        if self.finished:
            return []
        self.finished = True
        out: Effects = []
        for shard in self.active.values():  # enough in hand: stop the others
            if shard.tag is not None:
                self.owner.drop(shard.tag)
                out.append(Cancel(shard.tag))
        self.active.clear()
        return out + self.then(self.result, now)


class LaunchJob:
    """Hop 0 of one shard (GENESIS, or REPAIR for a rebuilt one), to a peer not in ``taken``.

    Up to ``launch_attempts`` peers are tried, chosen by the placement rules;
    every peer tried joins ``taken`` (shared by the jobs of one wanderer, so its
    shards go to different peers). Calls back with the peer that took it, or None.
    """

    def __init__(
        self,
        owner: OwnerCore,
        wanderer: Wanderer,
        authority: Authority,
        index: int,
        generation: int,
        taken: set[bytes],
        then: Callable[[bytes | None, float], Effects],
    ) -> None:
        self.owner = owner
        self.wanderer = wanderer
        self.authority = authority
        self.index = index
        self.generation = generation
        self.taken = taken
        self.then = then
        self.attempts = owner.params.launch_attempts

    def start(self, now: float) -> Effects:
        if self.attempts <= 0:
            return self.then(None, now)
        view = self.owner.view
        picks = pick_carriers(
            view.candidates(now),
            1,
            rng=self.owner.rng,
            exclude={view.peer, *self.taken, *self.owner.evidence.excluded()},
            self_ipv4=view.self_ipv4,
            params=self.owner.params.placement,
        )
        if not picks:
            return self.then(None, now)
        self.attempts -= 1
        peer = picks[0]
        self.taken.add(peer)
        offer = launch(
            self.authority,
            self.wanderer.manifest,
            self.index,
            to_peer=peer,
            now=now,
            generation=self.generation,
        )
        shard = self.wanderer.shards[self.index]
        return [
            self.owner.request(
                lambda tag: Launch(tag, offer, shard),
                lambda report, t: self._ended(peer, report, t),
            )
        ]

    def _ended(self, peer: bytes, report: object, now: float) -> Effects:
        assert isinstance(report, LaunchEnded)
        if report.ok:
            return self.then(peer, now)
        return self.start(now)
