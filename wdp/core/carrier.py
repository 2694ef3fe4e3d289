"""The carrier: custody of every shard a node holds, and when and where each moves.

This is the node-level machine both drivers share (the libp2p daemon and the
simulator). It decides; the driver moves bytes:

* ``handle_timer(now)`` -> TTL hops that are due (epoch with jitter), retries,
  and the wipe that ends a panic;
* ``observe(obs)`` -> the latency map and the threat detector; at CRITICAL
  every shard flees to the furthest healthy peer, at PANIC too, and whatever
  is still here after ``panic_grace`` is wiped;
* ``drain(now)`` -> every shard leaves (DRAIN); ``drained`` says when done;
* as a :class:`~wdp.core.migrate.ReceiverPolicy`, it admits or refuses offers.

A shard stays in ``held`` until a handoff for it succeeds; a failed handoff
only schedules another attempt.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from .effects import (
    CarrierEffect,
    PublishLocator,
    ShardKey,
    StartHandoff,
    StoreShard,
    ThreatChanged,
    WipeShard,
)
from .errors import LocalProtocolError, ProtocolError, RejectCode
from .evidence import PeerEvidence
from .latency import LatencyMap
from .limits import MAX_CHAIN_LINKS
from .messages import Offer
from .objects import CustodyLink, CustodyRecord, Manifest, Reason, Signed, time_ms
from .objects import Receipt as ReceiptBody
from .placement import Candidate, PlacementParams, choose_carrier
from .rng import Rng
from .schedule import ScheduleParams, next_hop_at
from .signing import Signer
from .stored import ShardMeta, StoreError
from .threat import (
    Observation,
    OperatorPanic,
    PeerLost,
    PeerSeen,
    PingFailed,
    PingOk,
    ThreatDetector,
    ThreatLevel,
    ThreatParams,
)


@dataclass(frozen=True, slots=True)
class CarrierParams:
    """Tuning of a carrier; every default is documented in the README.

    Attributes:
        capacity: Bytes of shards this node agrees to hold at once.
        max_inbound: Concurrent incoming handoffs before refusing with BUSY.
        retry_delay: Seconds before retrying a failed TTL or DRAIN hop.
        urgent_retry_delay: Seconds before retrying a failed THREAT hop.
        peer_backoff: Seconds a peer that failed a handoff is not chosen again
            for the same shard.
        busy_backoff: Seconds a peer that answered BUSY is not chosen again for
            that shard (at least until the next attempt): long enough that a
            peer which is always busy for THREAT hops cannot pin an evacuation.
        panic_grace: Seconds a panic waits for evacuations before wiping.
        seen_memory: Shards whose highest seen hop is remembered (replay guard);
            also the number of peers whose forwarding evidence is remembered.
        proof_wanderers: Distinct wanderers a peer must have handed on (in
            verified chains this node received) to count as proven.
        max_inflight: Bytes of admitted shards arriving at once (held in memory
            until each is whole and verified); more are refused with BUSY.
        max_inflight_per_peer: ... of those from one sending peer (for a launch:
            one owner key), so one stranger cannot take them all.
        launch_share: The share of ``capacity`` that shards one peer launched
            here (hop 0) may take while they stay, so one stranger cannot fill
            the node with its own wanderers (peer ids cost nothing to make:
            this bounds one identity, not a Sybil).
        verified_offers: Offers (by the SHA-256 of their frame) remembered as
            having passed every stateless check, so the same bytes offered
            again cost a lookup, not up to 129 signature checks.
        min_epoch: The shortest epoch this carrier honours, in seconds: a shard
            whose manifest asks for less stays here at least this long (and its
            locator lives as long), so nobody can make the swarm move their
            bytes every second (the manifest allows 1 s).
        probation: A peer this node handed a shard to on a TTL hop while it was
            unproven gets no other TTL hop from this node until it is proven
            (seen handing shards on) or, with ``spot_audits``, that hop's spot
            audit passes: one unchecked draw per carrier, so a black hole
            that signs and drops takes one shard from each, not a stream (and
            in a small swarm, where honest peers hold siblings and refuse,
            it is not the only place left to go). Off by default: the
            durability study has not cleared it (README, "Limits").
        spot_audits: After a TTL hop, challenge the new carrier for a random
            leaf at a random time within the shard's epoch (spec 18.4 A3, the
            previous carrier's audit); a peer that fails gets nothing more from
            this node for ``distrust_time`` (``wdp.core.evidence``).
        spot_audit_retry: Seconds before a spot audit that timed out or met
            BUSY is asked once more.
        distrust_time: Seconds a peer that failed this node's spot audit is
            left out of its placements.
        handed_on_epochs: Epochs (of the shard's manifest, at most a day) for
            which this node remembers the hop by which it handed a shard on, to
            show an auditor where it went (spec 18); ``seen_memory`` such hops
            at most.
    """

    capacity: int = 1 << 30
    max_inbound: int = 8
    retry_delay: float = 5.0
    urgent_retry_delay: float = 0.5
    peer_backoff: float = 60.0
    busy_backoff: float = 10.0
    panic_grace: float = 5.0
    seen_memory: int = 100_000
    proof_wanderers: int = 2
    probation: bool = False
    spot_audits: bool = False
    spot_audit_retry: float = 10.0
    distrust_time: float = 86_400.0
    handed_on_epochs: float = 2.0
    min_epoch: float = 60.0
    verified_offers: int = 1024
    launch_share: float = 0.25
    max_inflight: int = 256 << 20
    max_inflight_per_peer: int = 128 << 20
    schedule: ScheduleParams = field(default_factory=ScheduleParams)
    placement: PlacementParams = field(default_factory=PlacementParams)
    threat: ThreatParams = field(default_factory=ThreatParams)


class _Arrival(NamedTuple):
    """An admitted inbound handoff: its shard, size, sending peer, and for a launch its peer."""

    key: ShardKey
    size: int
    peer: bytes
    launcher: bytes  # the remote peer of a hop 0, else b""


@dataclass(slots=True)
class HeldShard:
    """What a carrier knows of one shard it holds (the bytes live in the driver's store)."""

    key: ShardKey
    manifest: Signed[Manifest]
    chain: tuple[CustodyLink, ...]
    locator_secret: bytes
    size: int
    acquired_at: float
    next_hop_at: float
    reason: Reason = Reason.TTL  # why the next hop happens
    in_flight_to: bytes | None = None  # a handoff is running to this peer
    in_flight: Offer | None = None  # ... with this offer
    retry: Offer | None = None  # an offer whose receipt went missing: ask that peer again first
    failed_peers: dict[bytes, float] = field(default_factory=dict)  # peer -> until
    launcher: bytes = b""  # the peer that launched it here (hop 0), counted in its share

    @property
    def last(self) -> CustodyLink:
        return self.chain[-1]

    @property
    def record(self) -> CustodyRecord:
        return self.last.record.value


class Carrier:
    """Custody, schedule, placement and threat response of one node."""

    def __init__(
        self,
        signer: Signer,
        rng: Rng,
        now: float,
        params: CarrierParams | None = None,
        self_ipv4: str | None = None,
    ) -> None:
        self.signer = signer
        self.peer = signer.public_key
        self.rng = rng
        self.params = params or CarrierParams()
        self.self_ipv4 = self_ipv4
        self.latency = LatencyMap()
        self.threat = ThreatDetector(self.params.threat)
        self.held: dict[ShardKey, HeldShard] = {}
        self.draining = False
        self._panic_wipe_at: float | None = None
        # record hash -> each admitted inbound handoff, until it ends
        self._reserved: dict[bytes, _Arrival] = {}
        self._seen: OrderedDict[ShardKey, tuple[int, int]] = OrderedDict()
        # wanderer -> {peer: until}: peers that answered SIBLING_HELD. Siblings
        # wander too, so the answer holds for one epoch of that wanderer only.
        self._sibling_holders: OrderedDict[bytes, dict[bytes, float]] = OrderedDict()
        self.evidence = PeerEvidence(
            rng,
            memory=self.params.seen_memory,
            proof_wanderers=self.params.proof_wanderers,
            retry_delay=self.params.spot_audit_retry,
            distrust_time=self.params.distrust_time,
        )
        # shard -> (the hop that handed it on, remembered until, the peer it came from)
        self._handed_on: OrderedDict[ShardKey, tuple[CustodyLink, float, bytes]] = OrderedDict()
        self._verified: OrderedDict[bytes, Offer] = OrderedDict()  # offer frame digest -> offer
        self._now = now

    # ---- state queries ---------------------------------------------------

    @property
    def level(self) -> ThreatLevel:
        return self.threat.level

    @property
    def leaving(self) -> bool:
        """Draining or panicking: every shard leaves and none is taken in.

        A CRITICAL threat level alone does not refuse offers. Signals such as
        many peers vanishing are seen by the whole swarm at once; if every node
        that saw them refused shards, nobody could take the shards that flee.
        Under threat each held shard flees once, and shards that fled here stay.
        """
        return self.draining or self._panic_wipe_at is not None

    @property
    def drained(self) -> bool:
        return self.draining and not self.held

    @property
    def used(self) -> int:
        held = sum(h.size for h in self.held.values())
        return held + sum(a.size for a in self._reserved.values())

    # ---- ReceiverPolicy --------------------------------------------------

    def admit(self, offer: Offer, remote_peer: bytes = b"") -> ProtocolError | None:
        """Local refusals, checked after the stateless offer checks, in spec order.

        ``remote_peer`` is the stream's authenticated peer: the sender of a
        carrier hop, the owner's node for a launch (hop 0). Budgets and shares
        are counted per remote peer.
        """
        rec = offer.record.value
        key = ShardKey(rec.wanderer_id, rec.shard_index)
        seen = self._seen.get(key)
        if seen is not None and (rec.generation, rec.hop) <= seen:
            return ProtocolError(
                RejectCode.STALE_HOP,
                f"hop {rec.hop} of generation {rec.generation} is not newer than {seen}",
            )
        if self.leaving:
            return ProtocolError(RejectCode.SHUTTING_DOWN, "this node is shutting down")
        if len(self._reserved) >= self.params.max_inbound:
            return ProtocolError(RejectCode.BUSY, "too many handoffs in progress")
        size = offer.manifest.value.shard_size
        peer = remote_peer or rec.from_peer
        busy = self._over_inflight(peer, size)
        if busy is not None:
            return ProtocolError(RejectCode.BUSY, busy)
        if self.used + size > self.params.capacity:
            return ProtocolError(
                RejectCode.CAPACITY,
                f"{size} bytes do not fit: {self.used} of {self.params.capacity} in use",
            )
        launcher = peer if rec.hop == 0 else b""
        if launcher:
            theirs = sum(h.size for h in self.held.values() if h.launcher == launcher)
            theirs += sum(a.size for a in self._reserved.values() if a.launcher == launcher)
            share = int(self.params.capacity * self.params.launch_share)
            if theirs + size > share:
                return ProtocolError(
                    RejectCode.CAPACITY,
                    f"shards this peer launched would take {theirs + size} bytes here; "
                    f"its share is {share}",
                )
        incoming = [a.key for a in self._reserved.values()]
        if any(k.wanderer_id == rec.wanderer_id for k in (*self.held, *incoming)):
            return ProtocolError(RejectCode.SIBLING_HELD, "this node holds a shard of it already")
        self._reserved[offer.record.hash] = _Arrival(key, size, peer, launcher)
        return None

    def _over_inflight(self, peer: bytes, size: int) -> str | None:
        """Why one more shard of ``size`` from ``peer`` would not fit the in-flight budget.

        An admitted shard is held in memory until its last byte arrives and
        hashes right, so the bytes admitted at once are bounded, in all and
        per sending peer (a launch counts against the owner key).
        """
        total = sum(a.size for a in self._reserved.values())
        if total + size > self.params.max_inflight:
            return f"{total} bytes already arriving; the limit is {self.params.max_inflight}"
        mine = sum(a.size for a in self._reserved.values() if a.peer == peer)
        if mine + size > self.params.max_inflight_per_peer:
            return f"this peer already has {mine} bytes arriving here"
        return None

    def verified_offer(self, digest: bytes) -> Offer | None:
        found = self._verified.get(digest)
        if found is not None:
            self._verified.move_to_end(digest)
        return found

    def offer_verified(self, digest: bytes, offer: Offer) -> None:
        self._verified[digest] = offer
        self._verified.move_to_end(digest)
        while len(self._verified) > self.params.verified_offers:
            self._verified.popitem(last=False)

    def receipt_for(self, offer: Offer) -> Signed[ReceiptBody] | None:
        """The receipt already given for this very hop, while this node still holds the shard."""
        rec = offer.record.value
        held = self.held.get(ShardKey(rec.wanderer_id, rec.shard_index))
        if held is not None and held.last.record.hash == offer.record.hash:
            return held.last.receipt
        return None

    # ---- inbound ---------------------------------------------------------

    def receive_aborted(self, record_hash: bytes) -> None:
        """An admitted handoff ended without a stored shard: free its reservation."""
        self._reserved.pop(record_hash, None)

    def shard_received(
        self, store: StoreShard, link: CustodyLink, now: float
    ) -> list[CarrierEffect]:
        """The shard is stored and the receipt sent: take custody, schedule its next hop."""
        self._now = now
        arrival = self._reserved.pop(link.record.hash, None)
        rec = link.record.value
        self.remember_seen(store.key, (rec.generation, rec.hop))
        chain = (*store.chain, link)[-MAX_CHAIN_LINKS:]
        self.evidence.note_chain(chain)
        self.held[store.key] = HeldShard(
            launcher=arrival.launcher if arrival is not None else b"",
            key=store.key,
            manifest=store.manifest,
            chain=chain,
            locator_secret=store.locator_secret,
            size=len(store.shard),
            acquired_at=now,
            next_hop_at=self._hop_time(store.manifest.value, now),
        )
        effects: list[CarrierEffect] = [
            PublishLocator(
                key=store.key,
                locator_secret=store.locator_secret,
                owner_key=store.manifest.value.owner_key,
                generation=rec.generation,
                hop=rec.hop,
                record_hash=link.record.hash,
            )
        ]
        if self.leaving:  # arrived just as the node began to leave: pass it straight on
            effects += self._start(
                self.held[store.key], Reason.DRAIN if self.draining else Reason.THREAT, now
            )
        elif self.level >= ThreatLevel.CRITICAL and rec.reason is not Reason.THREAT:
            # Under threat every shard flees once; one that fled here stays.
            effects += self._start(self.held[store.key], Reason.THREAT, now)
        return effects

    def restore(self, key: ShardKey, meta: ShardMeta, now: float) -> list[CarrierEffect]:
        """Take back a committed shard a previous run left in the store (after a restart).

        Raises :class:`StoreError` when the metadata does not show that this
        node's identity received the shard (unreadable, or another key's).
        """
        self._now = now
        try:
            links = meta.links()
            manifest = meta.signed_manifest()
        except (StoreError, ProtocolError) as exc:
            raise StoreError(f"unreadable metadata: {exc}") from None
        last = links[-1]
        if last.record.value.to_peer != self.peer or not last.receipt.verify(self.peer):
            raise StoreError("not received by this identity")
        rec = last.record.value
        self.remember_seen(key, (rec.generation, rec.hop))
        self.held[key] = HeldShard(
            key=key,
            manifest=manifest,
            chain=links[-MAX_CHAIN_LINKS:],
            locator_secret=meta.locator_secret,
            size=manifest.value.shard_size,
            acquired_at=now,
            next_hop_at=self._hop_time(manifest.value, now),
        )
        return [
            PublishLocator(
                key=key,
                locator_secret=meta.locator_secret,
                owner_key=manifest.value.owner_key,
                generation=rec.generation,
                hop=rec.hop,
                record_hash=last.record.hash,
            )
        ]

    def store_lost(self, key: ShardKey) -> None:
        """The store no longer has this shard's bytes: custody of it is over."""
        self.held.pop(key, None)

    def proven(self, peer: bytes) -> bool:
        """By this node's own checks, ``peer`` kept shards of enough distinct wanderers."""
        return self.evidence.proven(peer)

    def remember_seen(self, key: ShardKey, gen_hop: tuple[int, int]) -> None:
        """Note that this shard reached (generation, hop): older hops are replays from now on."""
        old = self._seen.get(key)
        if old is None or gen_hop > old:
            self._seen[key] = gen_hop
        self._seen.move_to_end(key)
        while len(self._seen) > self.params.seen_memory:
            self._seen.popitem(last=False)

    # ---- outbound --------------------------------------------------------

    def candidates(self, urgent: bool = False) -> list[Candidate]:
        """Peers that may receive a shard, with this node's evidence of each.

        Under threat a peer whose last ping failed counts as unhealthy: a peer
        that has just gone quiet still shows its old (often inflated) RTT and
        would otherwise look like the "furthest" refuge.
        """
        out = []
        for s in self.latency.peers():
            c = Candidate.from_stats(s, proven=self.proven(s.peer))
            if urgent and s.consecutive_failures > 0:
                c = dataclasses.replace(c, healthy=False)
            out.append(c)
        return out

    def _start(self, held: HeldShard, reason: Reason, now: float) -> list[CarrierEffect]:
        """Choose a peer and build the next record; on no peer, retry later."""
        if held.in_flight_to is not None:
            return []
        if held.retry is not None:  # first learn whether that peer took it
            offer, held.retry = held.retry, None
            held.in_flight_to, held.in_flight = offer.record.value.to_peer, offer
            return [StartHandoff(held.key, held.in_flight_to, offer)]
        held.reason = reason
        held.failed_peers = {p: t for p, t in held.failed_peers.items() if t > now}
        siblings = self._sibling_holders.get(held.key.wanderer_id, {})
        recent = [
            peer
            for link in held.chain
            for peer in (link.record.value.from_peer, link.record.value.to_peer)
        ]
        exclude = {
            self.peer,
            *held.failed_peers,
            *(peer for peer, until in siblings.items() if until > now),
            *self._saturated_peers(),
            *self.evidence.distrusted(now),
        }
        if reason is Reason.TTL:
            exclude |= self._probation_peers()
        urgent = reason is Reason.THREAT
        candidates = self.candidates(urgent)
        choice = choose_carrier(
            candidates,
            urgent=urgent,
            rng=self.rng,
            exclude=exclude,
            recent=recent,
            self_ipv4=self.self_ipv4,
            params=self.params.placement,
            patient=reason is Reason.TTL,
            may_wait=urgent and self._panic_wipe_at is None,
        )
        if choice is None:
            held.next_hop_at = now + self._retry_delay(reason)
            open_peers = any(c.healthy and c.peer not in exclude for c in candidates)
            if reason is Reason.TTL and open_peers:
                # Held back: only unproven peers would take it. Stay one more epoch.
                held.next_hop_at = now + self.epoch_of(held.manifest.value)
            return []
        offer = self.next_offer(held, choice.peer, reason, now)
        held.in_flight_to, held.in_flight = choice.peer, offer
        return [StartHandoff(held.key, choice.peer, offer)]

    def epoch_of(self, manifest: Manifest) -> float:
        """The epoch this carrier keeps for ``manifest``: its own, but not below ``min_epoch``."""
        return max(float(manifest.epoch_seconds), self.params.min_epoch)

    def _hop_time(self, manifest: Manifest, now: float) -> float:
        """When a shard that arrived ``now`` hops on: jittered, never before ``min_epoch``."""
        at = next_hop_at(now, self.epoch_of(manifest), self.rng, self.params.schedule)
        return max(at, now + self.params.min_epoch)

    def _probation_peers(self) -> set[bytes]:
        """Unproven peers this node gave a TTL hop, or is giving one now (``probation``)."""
        if not self.params.probation:
            return set()
        return self.evidence.on_probation(
            h.in_flight_to
            for h in self.held.values()
            if h.in_flight_to is not None and h.reason is Reason.TTL
        )

    def _saturated_peers(self) -> set[bytes]:
        """Peers this node already has ``max_inbound`` handoffs running to.

        A receiver admits that many at once; offering more only earns BUSY. This
        matters when many shards leave together (panic, drain, evacuation) and
        placement would send them all to the same furthest peer.
        """
        counts: dict[bytes, int] = {}
        for h in self.held.values():
            if h.in_flight_to is not None:
                counts[h.in_flight_to] = counts.get(h.in_flight_to, 0) + 1
        return {peer for peer, n in counts.items() if n >= self.params.max_inbound}

    def _retry_delay(self, reason: Reason) -> float:
        return (
            self.params.urgent_retry_delay if reason is Reason.THREAT else self.params.retry_delay
        )

    def next_offer(self, held: HeldShard, to_peer: bytes, reason: Reason, now: float) -> Offer:
        """The offer for the next hop of ``held``, signed by this node."""
        last = held.last.record
        prev = last.value
        if prev.to_peer != self.peer:
            raise LocalProtocolError(RejectCode.BAD_CHAIN, "this node is not the shard's carrier")
        record = CustodyRecord(
            wanderer_id=prev.wanderer_id,
            shard_index=prev.shard_index,
            generation=prev.generation,
            hop=prev.hop + 1,
            from_peer=self.peer,
            to_peer=to_peer,
            shard_hash=prev.shard_hash,
            manifest_hash=prev.manifest_hash,
            locator_key=prev.locator_key,
            reason=reason,
            time_ms=time_ms(now),
            prev_record_hash=last.hash,
        )
        return Offer(
            held.manifest,
            held.chain[-MAX_CHAIN_LINKS:],
            Signed.create(record, self.signer),
            held.locator_secret,
        )

    def handoff_succeeded(
        self, key: ShardKey, now: float, link: CustodyLink | None = None
    ) -> list[CarrierEffect]:
        """A valid receipt came back (the session already asked for the wipe).

        ``link`` (the record this node signed and the receipt it got) is kept
        for a while, so an auditor can be shown where the shard went.
        """
        self._now = now
        held = self.held.pop(key, None)
        if held is not None:
            self.remember_seen(key, (held.record.generation, held.record.hop + 1))
            to = held.in_flight_to
            epoch = self.epoch_of(held.manifest.value)
            if held.reason is Reason.TTL and to is not None:
                if self.params.probation:
                    self.evidence.put_on_probation(to)
                if self.params.spot_audits:
                    self.evidence.schedule(key, to, held.manifest, epoch, now)
            if link is not None:
                keep = min(self.params.handed_on_epochs * epoch, 86_400.0)
                self._handed_on[key] = (link, now + keep, held.record.from_peer)
                self._handed_on.move_to_end(key)
                while len(self._handed_on) > self.params.seen_memory:
                    self._handed_on.popitem(last=False)
        return []

    def handed_on(self, key: ShardKey) -> CustodyLink | None:
        """The hop by which this node recently handed ``key`` on, if it remembers one."""
        found = None if key in self.held else self._remembered(key)
        return None if found is None else found[0]

    def _remembered(self, key: ShardKey) -> tuple[CustodyLink, float, bytes] | None:
        """The handed-on entry of ``key`` while it lasts (an expired one is dropped)."""
        found = self._handed_on.get(key)
        if found is not None and found[1] < self._now:
            del self._handed_on[key]
            return None
        return found

    def received_from(self, key: ShardKey) -> bytes | None:
        """The peer that handed this node ``key``, which it carries or recently handed on.

        That peer may audit this node for the shard without the owner's grant
        (spec 18.4 A3): it knows where the shard went already.
        """
        held = self.held.get(key)
        if held is not None:
            return held.record.from_peer
        found = self._remembered(key)
        return None if found is None else found[2]

    def spot_audited(
        self, key: ShardKey, peer: bytes, passed: bool, code: RejectCode | None, now: float
    ) -> bool | None:
        """A spot audit this node ran ended: True/False once it counts (``PeerEvidence``)."""
        self._now = now
        return self.evidence.audited(key, peer, passed, code, now)

    def handoff_failed(
        self, key: ShardKey, code: RejectCode, now: float, in_doubt: bool = False
    ) -> list[CarrierEffect]:
        """The handoff ended without custody passing: keep the shard, try again later.

        ``in_doubt``: the sender had sent all data and then timed out or lost the
        stream, so the receiver may have stored the shard and signed a receipt
        that never arrived. The same offer then
        goes to the same peer once more: a receiver that took it answers with the
        same receipt, so the shard does not end up with two carriers.
        """
        self._now = now
        held = self.held.get(key)
        if held is None or held.in_flight_to is None:
            return []
        peer, offer = held.in_flight_to, held.in_flight
        held.in_flight_to = held.in_flight = None
        if in_doubt and offer is not None:
            held.retry = offer
        elif code is RejectCode.SIBLING_HELD:
            known = self._sibling_holders.get(key.wanderer_id, {})
            holders = {p: until for p, until in known.items() if until > now}
            self._sibling_holders[key.wanderer_id] = holders
            holders[peer] = now + self.epoch_of(held.manifest.value)
            self._sibling_holders.move_to_end(key.wanderer_id)
            while len(self._sibling_holders) > self.params.seen_memory:
                self._sibling_holders.popitem(last=False)
        elif code is RejectCode.BUSY:
            # Busy is momentary (many shards arriving at once, as in a panic),
            # but a peer that is busy every time must not hold a shard back.
            wait = max(self._retry_delay(held.reason), self.params.busy_backoff)
            held.failed_peers[peer] = now + wait
        else:
            held.failed_peers[peer] = now + self.params.peer_backoff
        held.next_hop_at = now + self._retry_delay(held.reason)
        return []

    # ---- time, threat, drain, panic ----------------------------------------

    def get_timer(self) -> float | None:
        times = [h.next_hop_at for h in self.held.values() if h.in_flight_to is None]
        for t in (self.threat.get_timer(), self._panic_wipe_at, self.evidence.get_timer()):
            if t is not None:
                times.append(t)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[CarrierEffect]:
        self._now = now
        effects: list[CarrierEffect] = []
        before = self.threat.level
        changed = self.threat.handle_timer(now)
        if changed is not None:
            effects += self._level_changed(before, changed, now)
        if self._panic_wipe_at is not None and now >= self._panic_wipe_at:
            return effects + self._wipe_all("panic: evacuation time is up")
        effects += self.evidence.due(now)
        for held in sorted(self.held.values(), key=lambda h: h.next_hop_at):
            if held.in_flight_to is None and held.next_hop_at <= now:
                # A shard whose THREAT or DRAIN hop failed keeps that reason until it leaves.
                effects += self._start(held, held.reason, now)
        return effects

    def observe(self, obs: Observation) -> list[CarrierEffect]:
        """Feed a network observation to the latency map and the threat detector."""
        self._now = obs.now
        match obs:
            case PingOk():
                self.latency.ping_ok(obs.peer, obs.rtt, obs.now)
            case PingFailed():
                self.latency.ping_failed(obs.peer, obs.now)
            case PeerLost():
                self.latency.peer_lost(obs.peer, obs.now)
            case PeerSeen():
                self.latency.peer_seen(obs.peer, obs.ipv4, obs.now)
            case OperatorPanic():
                pass
        before = self.threat.level
        changed = self.threat.observe(obs)
        if changed is None:
            return []
        return self._level_changed(before, changed, obs.now)

    def _level_changed(
        self, before: ThreatLevel, level: ThreatLevel, now: float
    ) -> list[CarrierEffect]:
        """The threat level moved (by an observation or by time): act on it the same way.

        Reaching CRITICAL sends every held shard away once; reaching PANIC
        sends away everything still here (shards that fled here too) before
        the grace period ends and the rest is wiped.
        """
        effects: list[CarrierEffect] = [ThreatChanged(int(level), self.threat.reasons)]
        if level >= ThreatLevel.PANIC and self._panic_wipe_at is None:
            self._panic_wipe_at = now + self.params.panic_grace
        if level >= ThreatLevel.PANIC > before or level >= ThreatLevel.CRITICAL > before:
            effects += self._evacuate(Reason.THREAT, now)
        return effects

    def _evacuate(self, reason: Reason, now: float) -> list[CarrierEffect]:
        effects: list[CarrierEffect] = []
        for held in sorted(
            self.held.values(), key=lambda h: (h.key.wanderer_id, h.key.shard_index)
        ):
            held.reason = reason
            held.next_hop_at = now
            effects += self._start(held, reason, now)
        return effects

    def drain(self, now: float) -> list[CarrierEffect]:
        """Shutting down: hand every shard to another peer (SIGTERM)."""
        self.draining = True
        return self._evacuate(Reason.DRAIN, now)

    def panic(self, now: float) -> list[CarrierEffect]:
        """The operator's panic: evacuate at once, wipe what is left after ``panic_grace``."""
        return self.observe(OperatorPanic(now))

    def _wipe_all(self, why: str) -> list[CarrierEffect]:
        effects: list[CarrierEffect] = [WipeShard(key, why) for key in sorted(self.held, key=str)]
        self.held.clear()
        self._panic_wipe_at = None
        return effects
