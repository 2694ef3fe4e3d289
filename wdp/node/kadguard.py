"""Limits around py-libp2p's Kademlia server: no stalled streams, no record floods.

py-libp2p 0.8.1 serves inbound ``/ipfs/kad/1.0.0`` streams under one limiter
of 12 for all peers, and its handler reads with no deadline: 12 idle streams
from one peer make the node reset every other peer's request for as long as
they stay open. Its record store keeps 50,000 records and then evicts the
oldest, so records minted under an attacker's own keys push out honest
locators. Neither has a setting, so this module wraps both from outside:

* :class:`KadGuard` is the kad stream handler: at most ``per_peer`` streams
  of one peer and ``per_ip`` of one IP address at once, each request due
  within ``request_timeout`` of the stream opening or of the last answer
  (a stream idle past it, or dripping bytes, is ended), and a whole stream
  bounded by ``stream_lifetime``. It then calls py-libp2p's own handler.
* :class:`GuardedValueStore` replaces the record store: every record is
  accounted to the peer (and IP) that stored it; one peer holds at most
  ``records_per_peer``, one IP ``records_per_ip``; a full store makes room by
  dropping expired locators, then the newest record of whoever holds the
  most, never a record this node put or fetched itself. A PUT over quota is
  refused before its signature is checked.

The sending peer reaches the validator and the store through a context
variable set by the guard: py-libp2p runs them in the handler's own task.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.kad_dht import KadDHT
from libp2p.kad_dht.pb.kademlia_pb2 import Record
from libp2p.kad_dht.value_store import ValueStore
from libp2p.peer.id import ID

from wdp.core.errors import WdpError
from wdp.core.limits import KAD_PROTOCOL_ID
from wdp.core.objects import Locator, Signed

from .streams import reset_quietly

__all__ = ["KAD_SENDER", "GuardedValueStore", "KadGuard", "KadLimits", "RecordQuotaError"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KadLimits:
    """Limits on what other peers can make this node's DHT do (defaults: README).

    Attributes:
        concurrent: Inbound kad streams served at once, all peers together
            (py-libp2p's own limit is 12; idle streams no longer hold theirs).
        per_peer: Inbound kad streams of one peer at once; more are reset.
        per_ip: ... of one IP address (peer ids cost nothing to make).
        request_timeout: Seconds a request may take to arrive, from the stream
            opening or the previous answer; past it the stream is ended.
        stream_lifetime: Seconds one inbound stream may live in all.
        records: Records this node stores for others in all.
        records_per_peer: Records one peer may have stored here.
        records_per_ip: Records the peers of one IP address may have stored here.
    """

    concurrent: int = 64
    per_peer: int = 4
    per_ip: int = 32
    request_timeout: float = 10.0
    stream_lifetime: float = 60.0
    records: int = 50_000
    records_per_peer: int = 2_000
    records_per_ip: int = 8_000


Sender = tuple[ID, str]
"""The peer that opened a kad stream, and its IP address."""

KAD_SENDER: contextvars.ContextVar[Sender | None] = contextvars.ContextVar(
    "wdp_kad_sender", default=None
)
"""Who sent the request being served (None: this node's own put or lookup)."""


class RecordQuotaError(WdpError, ValueError):
    """A peer would store more records than its share; the PUT is refused."""


def _remote_ip(stream: INetStream) -> str:
    try:
        remote = stream.get_remote_address()
    except Exception:  # not every transport knows it
        remote = None
    if remote is None:
        return "?"
    try:
        return str(ipaddress.ip_address(remote[0]))
    except ValueError:
        return str(remote[0])


class _Deadline:
    """A stream whose reads end (as if the peer closed it) once a request is overdue.

    The deadline moves only when an answer is written: a peer that drips one
    byte at a time cannot keep a request open.
    """

    def __init__(self, stream: INetStream, timeout: float) -> None:
        self._stream = stream
        self._timeout = timeout
        self._due = trio.current_time() + timeout
        self.expired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def read(self, n: int | None = None) -> bytes:
        with trio.move_on_at(self._due):
            return await self._stream.read(n)
        self.expired = True
        return b""  # py-libp2p's handler ends the stream at a clean EOF

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)
        self._due = trio.current_time() + self._timeout


class KadGuard:
    """The kad stream handler in front of py-libp2p's (see the module docstring)."""

    def __init__(self, dht: KadDHT, limits: KadLimits) -> None:
        self.dht = dht
        self.limits = limits
        self.peers: Counter[ID] = Counter()
        self.ips: Counter[str] = Counter()
        self.refused = 0  # streams reset for being over a per-peer or per-IP cap
        self.timed_out = 0  # streams ended for an overdue request or their lifetime
        # Told of every refusal (kind, peer, detail): the node counts and logs them.
        self.on_refused: Callable[[str, str, str], None] = lambda kind, peer, detail: None

    def install(self) -> None:
        """Serve kad streams through this guard (replaces py-libp2p's registration)."""
        self.dht._inbound_limiter.total_tokens = self.limits.concurrent
        self.dht.host.set_stream_handler(TProtocol(KAD_PROTOCOL_ID), self.handle)

    async def handle(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        ip = _remote_ip(stream)
        if self.peers[peer] >= self.limits.per_peer or self.ips[ip] >= self.limits.per_ip:
            self.refused += 1
            self.on_refused("kad stream over cap", str(peer), f"from {ip}")
            await reset_quietly(stream)
            return
        self.peers[peer] += 1
        self.ips[ip] += 1
        token = KAD_SENDER.set((peer, ip))
        guarded = _Deadline(stream, self.limits.request_timeout)
        try:
            with trio.move_on_after(self.limits.stream_lifetime) as lifetime:
                await self.dht.handle_stream(cast(INetStream, guarded))
            if lifetime.cancelled_caught or guarded.expired:
                self.timed_out += 1
                self.on_refused("kad request too slow", str(peer), f"from {ip}")
                await reset_quietly(stream)
        finally:
            KAD_SENDER.reset(token)
            _release(self.peers, peer)
            _release(self.ips, ip)


def _release(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def _expiry_ms(value: bytes) -> int:
    """A stored locator's own expiry (already validated; 0 if it cannot be read)."""
    try:
        return Signed.from_bytes(value, Locator).value.expires_at_ms
    except Exception:
        return 0


class GuardedValueStore(ValueStore):
    """py-libp2p's record store with per-peer accounting (see the module docstring)."""

    def __init__(self, base: ValueStore, limits: KadLimits, clock: Any = time.time) -> None:
        super().__init__(base.host, base.local_peer_id)
        self.store.update(base.store)
        self.local_keys |= base.local_keys
        self.limits = limits
        self.clock = clock
        self.refused = 0  # PUTs refused for a quota or a full store
        self.on_refused: Callable[[str, str, str], None] = lambda kind, peer, detail: None
        self._owner: dict[bytes, Sender | None] = {}
        self._by_peer: dict[ID, OrderedDict[bytes, None]] = {}
        self._by_ip: Counter[str] = Counter()
        self._expires: dict[bytes, int] = {}

    # ---- quotas ----------------------------------------------------------------

    def check_quota(self, key: bytes) -> None:
        """Refuse (RecordQuotaError) a PUT of ``key`` by the current sender over its share.

        Called by the validator before the record's signature is checked.
        """
        sender = KAD_SENDER.get()
        if sender is None or self._owner.get(key) == sender:
            return
        peer, ip = sender
        held = len(self._by_peer.get(peer, ()))
        if held >= self.limits.records_per_peer or self._by_ip[ip] >= self.limits.records_per_ip:
            self.refused += 1
            self.on_refused("kad record over quota", str(peer), f"from {ip}")
            raise RecordQuotaError("this peer has stored its share of records here")

    def _make_room(self, sender: Sender | None) -> None:
        """Free one slot: expired locators first, then the biggest holder's newest record."""
        now_ms = int(self.clock() * 1000)
        expired = [k for k, ms in self._expires.items() if ms <= now_ms]
        for key in expired:
            self.remove(key)
        if len(self.store) < self.limits.records:
            return
        if not self._by_peer:
            raise RecordQuotaError("the record store is full of this node's own records")
        top = max(self._by_peer, key=lambda p: len(self._by_peer[p]))
        mine = 0 if sender is None else len(self._by_peer.get(sender[0], ()))
        if sender is not None and len(self._by_peer[top]) <= mine + 1:
            self.refused += 1
            self.on_refused("kad record store full", str(sender[0]), f"from {sender[1]}")
            raise RecordQuotaError("the record store is full")
        newest = next(reversed(self._by_peer[top]))
        self.remove(newest)

    # ---- the store -------------------------------------------------------------

    def _evict_if_full(self) -> None:
        pass  # room is made in put_record, by the rules above

    def put_record(self, key: bytes, record: Record) -> None:
        sender = KAD_SENDER.get()
        self.check_quota(key)
        if key not in self.store and len(self.store) >= self.limits.records:
            self._make_room(sender)
        self._forget(key)
        super().put_record(key, record)
        self._account(key, sender, record.value)

    def put(self, key: bytes, value: bytes, validity: float = 0.0) -> None:
        if key not in self.store and len(self.store) >= self.limits.records:
            self._make_room(None)
        self._forget(key)
        super().put(key, value, validity)
        self._account(key, None, value)

    def remove(self, key: bytes) -> bool:
        self._forget(key)
        return super().remove(key)

    def cleanup_expired(self) -> int:
        before = set(self.store)
        removed = super().cleanup_expired()
        for key in before - set(self.store):
            self._forget(key)
        return removed

    def _account(self, key: bytes, sender: Sender | None, value: bytes) -> None:
        self._owner[key] = sender
        self._expires[key] = _expiry_ms(value)
        if sender is not None:
            peer, ip = sender
            self._by_peer.setdefault(peer, OrderedDict())[key] = None
            self._by_ip[ip] += 1

    def _forget(self, key: bytes) -> None:
        self._expires.pop(key, None)
        if key not in self._owner:
            return
        sender = self._owner.pop(key)
        if sender is None:
            return
        peer, ip = sender
        keys = self._by_peer.get(peer)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_peer[peer]
        _release(self._by_ip, ip)

    def held_by(self, peer: ID) -> int:
        """Records ``peer`` has stored here."""
        return len(self._by_peer.get(peer, ()))


def guard_dht(dht: KadDHT, limits: KadLimits, clock: Any = time.time) -> KadGuard:
    """Put the guard in front of ``dht``'s handler and the guarded store behind it."""
    store = GuardedValueStore(dht.value_store, limits, clock)
    dht.value_store = store
    guard = KadGuard(dht, limits)
    guard.install()
    store.on_refused = lambda kind, peer, detail: guard.on_refused(kind, peer, detail)
    return guard
