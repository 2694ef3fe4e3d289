"""The node's use of py-libp2p's Kademlia: finding peers, reading and writing locators.

Locator records are built, validated and chosen by the protocol core
(``wdp.core.locator``); this module only moves them, working around three
habits of py-libp2p 0.8.1: ``get_value`` answers from the local store without
asking the network (and without validating), a walk can stall on dead peers,
and connected peers do not enter the routing table unless they open a kad
stream to us.
"""

from __future__ import annotations

import logging

import trio
from libp2p.abc import IHost
from libp2p.kad_dht.kad_dht import KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from wdp.core.errors import ProtocolError
from wdp.core.limits import KAD_PROTOCOL_ID
from wdp.core.locator import select_locator

__all__ = ["add_dht_peers", "discover", "lookup_locator"]

log = logging.getLogger(__name__)


async def lookup_locator(dht: KadDHT, dht_key: str, now_ms: int, timeout: float) -> bytes | None:
    """The best valid locator value under ``dht_key``, from the network and the local store.

    The local copy is set aside during the network query (so that a stale or
    expired copy cannot hide the current carrier) and the better of the two,
    by the core's select rule, wins. The walk is bounded by ``timeout``: with
    dead peers in the routing table it can stall, and a copy this node holds
    must not be lost to that.
    """
    raw = dht_key.encode()
    local = dht.value_store.get(raw)
    if local is not None:
        dht.value_store.remove(raw)
    found = None
    try:
        with trio.move_on_after(timeout):
            found = await dht.get_value(dht_key)
    except Exception as exc:  # the network lookup is best effort
        log.debug("dht lookup of %s failed: %s", dht_key, exc)
    finally:
        if local is not None and dht.value_store.get(raw) is None:
            dht.value_store.put_record(raw, local)
    values = [v for v in (found, None if local is None else local.value) if v]
    if not values:
        return None
    try:
        return values[select_locator(dht_key, values, now_ms)]
    except ProtocolError:
        return None


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


async def add_dht_peers(host: IHost, dht: KadDHT) -> None:
    """Connected peers that identify says run kad go into the routing table."""
    store = host.get_peerstore()
    for peer_id in host.get_connected_peers():
        try:
            if KAD_PROTOCOL_ID in (store.get_protocols(peer_id) or []):
                await dht.add_peer(peer_id)
        except Exception as exc:  # the peerstore raises for peers it does not know
            log.debug("dht: cannot add %s: %s", peer_id, exc)
