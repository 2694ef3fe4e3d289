"""The node's use of py-libp2p's Kademlia: finding peers, reading and writing locators.

Locator records are built, validated and chosen by the protocol core
(``wdp.core.locator``); this module only moves them, working around five habits
of py-libp2p 0.8.1: ``get_value`` answers from the local store without asking
the network (and without validating), its walk is slow (FIND_NODE to the 20
closest peers, then GET_VALUE to each of them) and can stall on dead peers, a
query to a peer that cannot be dialled looks like an empty answer, and
connected peers do not enter the routing table unless they open a kad stream
to us.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import weakref
from collections.abc import AsyncIterator, Callable

import trio
from libp2p.abc import IHost
from libp2p.kad_dht.kad_dht import KadDHT
from libp2p.kad_dht.routing_table import peer_id_to_key
from libp2p.kad_dht.utils import xor_distance
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from wdp.core.errors import ProtocolError
from wdp.core.limits import KAD_PROTOCOL_ID
from wdp.core.locator import select_locator

from .kadguard import KadLimits

__all__ = ["add_dht_peers", "discover", "lookup_locator", "publish_locator"]

log = logging.getLogger(__name__)


LOOKUP_ALPHA = 3  # GET_VALUE queries in flight per lookup
LOOKUP_CLOSEST = 3  # a lookup ends once the closest peers that answer have all answered
QUERY_TIMEOUT = 2.0  # one GET_VALUE to one peer
# A query or PUT cancelled on its timeout leaves its stream open (py-libp2p does not close
# it), and the peer counts it against this node's share of its kad streams until its own
# request deadline: the place in _peer_slot stays taken that long, so a burst of lookups
# does not open more streams than the peer serves.
ABANDONED_HOLD = KadLimits().request_timeout
QUERY_HEDGE = 0.3  # seconds without any answer before one more peer is asked
PUBLISH_REPLICAS = 5  # a locator is PUT to this many of the closest peers (readers ask 3)
PUBLISH_WALK_TIMEOUT = 10.0  # the walk that finds them; then each PUT has QUERY_TIMEOUT
PEER_QUERIES = KadLimits().per_peer - 1  # our queries in flight to one peer: under what it serves


Spawn = Callable[..., None]  # starts ``fn(*args)`` in a nursery that outlives the call


async def lookup_locator(
    dht: KadDHT, dht_key: str, now_ms: int, timeout: float, spawn: Spawn
) -> bytes | None:
    """The best valid locator value under ``dht_key``, from the network and the local store.

    A Kademlia GET walk of its own, not py-libp2p's ``get_value`` (which first
    walks FIND_NODE to the 20 closest peers and then asks each of them, about a
    second per lookup even on ten local nodes): it asks the closest peers the
    routing table knows, ``LOOKUP_ALPHA`` at a time, follows the closer peers
    they name, and ends when the ``LOOKUP_CLOSEST`` closest peers it has heard
    of have all answered, or at ``timeout`` (a walk can stall on dead peers).
    The local copy counts as one more answer; the core's select rule picks the
    best of all of them, so a stale copy cannot hide the current carrier.

    The queries run in ``spawn``'s nursery and are never cancelled: a query cut
    off mid-way leaves its stream open in py-libp2p (its ``finally: close()``
    is cancelled too), and enough of those exhaust a connection's streams. A
    query still running when the walk ends finishes on its own, within
    ``QUERY_TIMEOUT``, and closes its stream.
    """
    raw = dht_key.encode()
    local = dht.value_store.get(raw)
    values = [] if local is None else [local.value]
    send, receive = trio.open_memory_channel[tuple[ID, object]](math.inf)
    with trio.move_on_after(timeout):
        values += await _walk(dht, raw, spawn, send, receive)
    receive.close()  # answers still to come are dropped
    values = [v for v in values if v]
    if not values:
        return None
    try:
        return values[select_locator(dht_key, values, now_ms)]
    except ProtocolError:
        return None


_slots: weakref.WeakKeyDictionary[KadDHT, dict[ID, trio.Semaphore]] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _peer_slot(dht: KadDHT, peer: ID) -> AsyncIterator[None]:
    """One of ``PEER_QUERIES`` places for a query or PUT of this node to ``peer``.

    Peers serve a few kad streams of one peer at once and reset the rest
    (``KadLimits.per_peer``), so a burst of lookups (a keeper probing every
    generation of every shard at once) would be refused by the very peers it
    asks. Queries wait their turn here instead; a wait counts toward the
    query's timeout.
    """
    slots = _slots.setdefault(dht, {})
    sem = slots.setdefault(peer, trio.Semaphore(PEER_QUERIES))
    try:
        async with sem:
            yield
    finally:
        if sem.value == PEER_QUERIES and not sem.statistics().tasks_waiting:
            slots.pop(peer, None)


async def _reachable(dht: KadDHT, peer: ID) -> bool:
    """Whether ``peer`` is connected or can be dialled now.

    py-libp2p's GET_VALUE query swallows a failed dial and returns what an
    empty answer returns, so without this a walk counts a dead peer as one of
    the closest that answered, and a publish sends its PUTs to dead peers
    (after churn, every one of them). A peer that cannot be dialled leaves the
    routing table; ``add_dht_peers`` puts it back if it connects again.
    """
    host = dht.host
    if host.get_network().get_connections(peer):
        return True
    try:
        await host.connect(PeerInfo(peer, host.get_peerstore().addrs(peer)))
    except Exception as exc:
        log.debug("dht: %s is unreachable, out of the routing table: %s", peer, exc)
        dht.routing_table.remove_peer(peer)
        return False
    return True


async def _query(
    dht: KadDHT, peer: ID, key: bytes, send: trio.MemorySendChannel[tuple[ID, object]]
) -> None:
    got: object = None
    opened = False
    async with contextlib.AsyncExitStack() as stack:
        with trio.move_on_after(QUERY_TIMEOUT) as waited:  # as py-libp2p's own walk bounds one
            await stack.enter_async_context(_peer_slot(dht, peer))
            if await _reachable(dht, peer):
                opened = True
                got = await dht.value_store._get_from_peer(
                    peer, key, return_record=True, return_closer_peers=True
                )
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            send.send_nowait((peer, got))  # unless the walk is over
        if opened and waited.cancelled_caught:
            await trio.sleep(ABANDONED_HOLD)


async def _walk(
    dht: KadDHT,
    key: bytes,
    spawn: Spawn,
    send: trio.MemorySendChannel[tuple[ID, object]],
    receive: trio.MemoryReceiveChannel[tuple[ID, object]],
    closest_count: int = LOOKUP_CLOSEST,
    answered: set[ID] | None = None,
) -> list[bytes]:
    """The values the closest peers hold for ``key`` (see :func:`lookup_locator`).

    ``LOOKUP_ALPHA`` queries are kept in flight, closest first. When none answers
    within ``QUERY_HEDGE``, the ones pending count as slow and one more peer is
    asked, so a paused or dead peer costs a fraction of a second, not a timeout;
    a slow peer that answers later still counts. The walk ends once the
    ``closest_count`` closest peers heard of have answered; ``answered``
    collects every peer that did.
    """
    target = hashlib.sha256(key).digest()
    me = dht.host.get_id()

    def distance(peer: ID) -> int:
        return xor_distance(peer_id_to_key(peer), target)

    known = {p for p in dht.routing_table.find_local_closest_peers(key, 20) if p != me}
    asked: set[ID] = set()
    pending: set[ID] = set()
    answered = set() if answered is None else answered
    slow: set[ID] = set()
    values: list[bytes] = []

    def launch(count: int) -> None:
        for peer in sorted(known - asked, key=distance)[: max(0, count)]:
            asked.add(peer)
            pending.add(peer)
            spawn(_query, dht, peer, key, send)

    launch(LOOKUP_ALPHA)
    while pending:
        closest = sorted(known - slow, key=distance)[:closest_count]
        if closest and all(p in answered for p in closest):
            break
        with trio.move_on_after(QUERY_HEDGE) as waited:
            peer, got = await receive.receive()
        if waited.cancelled_caught:
            slow.update(pending)
            launch(1)
            continue
        pending.discard(peer)
        if isinstance(got, tuple):
            record, closer = got
            answered.add(peer)
            slow.discard(peer)
            if record is not None and not isinstance(record, bytes) and record.value:
                values.append(bytes(record.value))
            known.update(p for p in closer if p != me)
        else:
            slow.add(peer)  # it failed or timed out: never among the closest
        launch(LOOKUP_ALPHA - len(pending - slow))
    return values


async def publish_locator(
    dht: KadDHT, dht_key: str, value: bytes, spawn: Spawn, timeout: float = PUBLISH_WALK_TIMEOUT
) -> int:
    """Store a locator here and at the ``PUBLISH_REPLICAS`` closest peers; how many took it.

    Instead of py-libp2p's ``put_value`` (a FIND_NODE walk to the 20 closest
    peers, then a PUT to each: about 18 streams a locator on ten nodes), the
    closest peers are found by the same GET walk a reader makes, so the record
    lands where :func:`lookup_locator` looks, and only the closest that answered
    are sent the PUT. Raises ``ValueError`` for a record the validator refuses
    or that is older than the one stored here, and ``LookupError`` if peers were
    known but none acknowledged (the caller retries).
    """
    raw, validator = dht_key.encode(), dht.validator
    if validator is None:
        raise ValueError("the DHT has no validator for locators")
    validator.validate(dht_key, value)
    old = dht.value_store.get(raw)
    if old is not None and old.value != value and validator.select(dht_key, [value, old.value]):
        raise ValueError("the locator stored here is newer")
    dht.value_store.put(raw, value)
    send, receive = trio.open_memory_channel[tuple[ID, object]](math.inf)
    answered: set[ID] = set()
    with trio.move_on_after(timeout):
        await _walk(dht, raw, spawn, send, receive, PUBLISH_REPLICAS, answered)
    receive.close()
    target = hashlib.sha256(raw).digest()
    peers = sorted(answered, key=lambda p: xor_distance(peer_id_to_key(p), target))
    peers = peers[:PUBLISH_REPLICAS]
    if not peers:
        return 0
    acks, took = trio.open_memory_channel[bool](math.inf)
    for peer in peers:
        spawn(_store, dht, peer, raw, value, acks)
    stored = 0
    with trio.move_on_after(QUERY_TIMEOUT + 1.0):
        for _ in peers:
            stored += await took.receive()
    took.close()
    if not stored:
        raise LookupError(f"none of the {len(peers)} closest peers acknowledged the locator")
    return stored


async def _store(
    dht: KadDHT, peer: ID, key: bytes, value: bytes, acks: trio.MemorySendChannel[bool]
) -> None:
    ok = opened = False
    async with contextlib.AsyncExitStack() as stack:
        with trio.move_on_after(QUERY_TIMEOUT) as waited:  # as py-libp2p's put_value bounds one
            await stack.enter_async_context(_peer_slot(dht, peer))
            opened = True
            ok = await dht.value_store._store_at_peer(peer, key, value)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            acks.send_nowait(ok)
        if opened and waited.cancelled_caught:
            await trio.sleep(ABANDONED_HOLD)


async def discover(host: IHost, dht: KadDHT, *, max_peers: int, dial_timeout: float) -> int:
    """Find peers beyond the bootstrap nodes: a Kademlia lookup of our own id.

    Connects to the closest peers it returns (up to ``max_peers``
    connections) so they can be pinged and chosen as carriers. Returns how
    many were new.
    """
    me = host.get_id()
    found: list[ID] = []
    with trio.move_on_after(dial_timeout):
        try:
            found = await dht.peer_routing.find_closest_peers_network(me.to_bytes())
        except Exception as exc:  # a lookup is best effort; the next round retries
            log.debug("discovery lookup failed: %s", exc)
    connected = set(host.get_connected_peers())
    store = host.get_peerstore()
    new = 0
    for peer_id in found:
        if len(connected) >= max_peers:
            break
        if peer_id == me or peer_id in connected:
            continue
        try:
            addrs = store.addrs(peer_id)
        except Exception:
            continue
        with trio.move_on_after(dial_timeout):
            try:
                await host.connect(PeerInfo(peer_id, addrs))
            except Exception as exc:
                log.debug("discovery: cannot reach %s: %s", peer_id, exc)
                continue
            connected.add(peer_id)
            new += 1
    if new:
        log.info("discovered %d new peer(s); %d connected", new, len(connected))
    return new


DISCOVERY_BACKOFF = 8
"""A lookup that finds nobody new doubles the wait, up to this many intervals."""


def discovery_wait(last: float, found: int, interval: float) -> float:
    """Seconds until the next discovery lookup.

    A settled swarm has nobody new to find, and a lookup costs every peer it
    asks some CPU; so quiet rounds back off, and any new peer resets the pace.
    """
    if found:
        return interval
    return min(last * 2, interval * DISCOVERY_BACKOFF)


async def add_dht_peers(host: IHost, dht: KadDHT) -> None:
    """Connected peers that identify says run kad go into the routing table."""
    store = host.get_peerstore()
    for peer_id in host.get_connected_peers():
        try:
            if KAD_PROTOCOL_ID in (store.get_protocols(peer_id) or []):
                await dht.add_peer(peer_id)
        except Exception as exc:  # the peerstore raises for peers it does not know
            log.debug("dht: cannot add %s: %s", peer_id, exc)
