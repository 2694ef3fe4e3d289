"""What a node needs to start: its identity, addresses, store, tuning and clock."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import multiaddr

from wdp.core.carrier import CarrierParams
from wdp.core.node.budget import StreamBudget
from wdp.core.rng import Rng

from .addrs import LocalIps, local_ips
from .host import Clock, listen_addrs_for
from .kadguard import KadLimits
from .store import Store

__all__ = ["NodeConfig"]


@dataclass
class NodeConfig:
    """Everything a node needs to start.

    Attributes:
        seed: 32-byte Ed25519 seed: the libp2p identity and the WDP peer key.
        listen_addrs: Multiaddrs to listen on (TCP and/or ``/ws``).
        bootstrap: ``.../p2p/<id>`` multiaddrs to connect to at start.
        store: Shard store; a :class:`MemoryStore` if None.
        carrier_params: Carrier tuning (README defaults if None).
        clock: Wall-clock seconds (``time.time`` style).
        rng: Randomness for the cores (``random.SystemRandom()`` if None).
        ping_interval: Seconds between ping rounds (``math.inf``: no ping loop).
        ping_timeout: Seconds one ping may take.
        lost_after: Failed pings in a row before a peer is reported lost.
        dial_timeout: Seconds to dial a peer and open a stream.
        enable_dht: Run the Kademlia DHT (locator records).
        announce_addrs: Addresses to advertise (locators, identify) instead of the
            listen addresses, e.g. a NAT's public address or a published port.
        local_ips: This machine's interface addresses; wildcard listen addresses
            (``0.0.0.0``, ``::``) are advertised as one address per entry.
        discovery_interval: Seconds between Kademlia lookups for new peers (lookups
            that find nobody new back off, up to 8 times as long).
        max_peers: Connections beyond which discovery dials no more peers.
        kad_limits: What other peers can make the DHT do (streams, records).
        stream_budget: What other peers' migrate, fetch and audit streams may
            take (how many, bytes of partial frames).
    """

    seed: bytes
    listen_addrs: Sequence[multiaddr.Multiaddr] = field(default_factory=listen_addrs_for)
    bootstrap: Sequence[multiaddr.Multiaddr | str] = ()
    store: Store | None = None
    carrier_params: CarrierParams | None = None
    clock: Clock = time.time
    rng: Rng | None = None
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    lost_after: int = 3
    dial_timeout: float = 10.0
    enable_dht: bool = True
    announce_addrs: Sequence[multiaddr.Multiaddr] | None = None
    local_ips: LocalIps = local_ips
    discovery_interval: float = 30.0
    max_peers: int = 64
    kad_limits: KadLimits = field(default_factory=KadLimits)
    stream_budget: StreamBudget = field(default_factory=StreamBudget)
