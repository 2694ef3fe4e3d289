"""The libp2p side of a WDP node: identity, host, Kademlia DHT and bootstrap.

One Ed25519 key is both the libp2p identity and the WDP peer key that custody
records name, so a receiver can compare a record's ``from_peer`` with the
authenticated remote PeerId (:func:`peer_key_of`). Security is Noise only:
py-libp2p's ``new_host()`` also offers plaintext and secio unless told
otherwise, so the security options are always passed explicitly. The muxer is
Yamux only (py-libp2p adds Mplex as a fallback by default).

The DHT runs in server mode with strict validation: only the ``/wdp/``
namespace is accepted, checked by :class:`LocatorValidator`, which wraps the
core's ``validate_locator`` and ``select_locator``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import multiaddr
import multihash
from libp2p import new_host
from libp2p.abc import IHost, ISecureTransport
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.serialization import deserialize_public_key
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TMuxerOptions, TProtocol
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.records.validator import NamespacedValidator, Validator
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from wdp.core.errors import WdpError
from wdp.core.limits import DHT_NAMESPACE, KEY_SIZE, MIGRATE_PROTOCOL_ID
from wdp.core.locator import select_locator, validate_locator

from .addrs import LocalIps, advertised_addrs, local_ips
from .kadguard import GuardedValueStore, KadGuard, KadLimits, guard_dht

__all__ = [
    "MIGRATE_PROTOCOL",
    "PING_PROTOCOL",
    "Clock",
    "LocatorValidator",
    "NotEd25519PeerError",
    "bootstrap",
    "ensure_ports_free",
    "identity_keypair",
    "ipv4_of",
    "listen_addrs_for",
    "muxer_options",
    "new_dht",
    "new_wdp_host",
    "peer_id_of_key",
    "peer_key_of",
    "remote_ipv4",
    "security_options",
]

log = logging.getLogger(__name__)

MIGRATE_PROTOCOL = TProtocol(MIGRATE_PROTOCOL_ID)
Clock = Callable[[], float]
"""Wall-clock seconds, ``time.time()`` style; injected so tests can move time."""

_IDENTITY_MULTIHASH = 0x00


class NotEd25519PeerError(WdpError):
    """A PeerId that does not inline an Ed25519 public key (RSA, secp256k1, hashed ids)."""


# ---- identity ---------------------------------------------------------------


def identity_keypair(seed: bytes) -> KeyPair:
    """The libp2p key pair of a 32-byte Ed25519 seed (the same key as ``Signer(seed)``)."""
    if len(seed) != KEY_SIZE:
        raise ValueError(f"identity seed must be {KEY_SIZE} bytes, got {len(seed)}")
    private = Ed25519PrivateKey.from_bytes(seed)
    return KeyPair(private, private.get_public_key())


def peer_id_of_key(public_key: bytes) -> ID:
    """The PeerId of a 32-byte Ed25519 public key (identity multihash)."""
    if len(public_key) != KEY_SIZE:
        raise ValueError(f"Ed25519 public key must be {KEY_SIZE} bytes")
    from libp2p.crypto.ed25519 import Ed25519PublicKey

    return ID.from_pubkey(Ed25519PublicKey.from_bytes(public_key))


def peer_key_of(peer_id: ID) -> bytes:
    """The 32-byte Ed25519 public key inlined in ``peer_id``.

    Raises :class:`NotEd25519PeerError` for any other kind of id: a WDP peer
    key must be recoverable from the authenticated PeerId.
    """
    try:
        decoded = multihash.decode(peer_id.to_bytes())
    except Exception as exc:
        raise NotEd25519PeerError(f"peer id is not a multihash: {exc}") from None
    if decoded.func != _IDENTITY_MULTIHASH:
        raise NotEd25519PeerError("peer id is a hashed key, not an inlined Ed25519 key")
    try:
        key = deserialize_public_key(decoded.digest)
    except Exception as exc:
        raise NotEd25519PeerError(f"peer id does not hold a public key: {exc}") from None
    if key.get_type() != KeyType.Ed25519:
        raise NotEd25519PeerError(f"peer id holds a {key.get_type().name} key, not Ed25519")
    raw = key.to_bytes()
    if len(raw) != KEY_SIZE:
        raise NotEd25519PeerError("Ed25519 key in peer id has the wrong length")
    return raw


# ---- host -----------------------------------------------------------------------


def security_options(key_pair: KeyPair) -> dict[TProtocol, ISecureTransport]:
    """Noise and nothing else (no plaintext, no secio, no TLS)."""
    return {
        NOISE_PROTOCOL_ID: NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    }


def muxer_options() -> TMuxerOptions:
    """Yamux only, with window updates batched (see ``BATCHED_WINDOW_UPDATES``)."""
    os.environ.setdefault(*BATCHED_WINDOW_UPDATES)
    return cast(TMuxerOptions, {YAMUX_PROTOCOL_ID: Yamux})


BATCHED_WINDOW_UPDATES = ("PY_YAMUX_RELEASE_ON_READ", "0")
"""py-libp2p's own Yamux setting (read at each read): by default it sends a window
update after every read; with this, as go-yamux does, once half the window is
consumed. Fewer frames each way: a 256 MiB put on ten local nodes took 16.0-17.7 s
instead of 16.6-18.8 s, a 4 GiB get 244 s instead of 477 s (README, Benchmarks).
The sender still has at least half a window, so nothing waits on it. Credit is
then given ahead of reads, so a stream this node has closed is drained, not
left holding its peer's bytes (``StreamPump.run``). An operator's own
``PY_YAMUX_RELEASE_ON_READ`` wins."""


def listen_addrs_for(
    ip: str = "127.0.0.1", tcp_port: int | None = 0, ws_port: int | None = 0
) -> list[multiaddr.Multiaddr]:
    """TCP and WebSocket listen addresses (``None`` leaves a transport out).

    Port 0 for both means one OS-chosen port shared by TCP and WebSocket
    (py-libp2p demultiplexes them).
    """
    addrs = []
    if tcp_port is not None:
        addrs.append(multiaddr.Multiaddr(f"/ip4/{ip}/tcp/{tcp_port}"))
    if ws_port is not None:
        addrs.append(multiaddr.Multiaddr(f"/ip4/{ip}/tcp/{ws_port}/ws"))
    if not addrs:
        raise ValueError("listen on TCP, WebSocket or both")
    return addrs


def new_wdp_host(
    seed: bytes,
    listen_addrs: Sequence[multiaddr.Multiaddr],
    announce: Sequence[multiaddr.Multiaddr] | None = None,
    ips: LocalIps = local_ips,
) -> IHost:
    """A py-libp2p host with the node's identity, Noise-only security and Yamux.

    ``host.get_addrs()`` (what identify sends and what the node advertises)
    is ``announce`` if given, else the listen addresses with wildcards expanded
    into this machine's interface addresses (:mod:`wdp.node.addrs`).
    Identify and ping (``/ipfs/ping/1.0.0``) are py-libp2p's default protocols.
    Start it with ``async with host.run(listen_addrs):``.
    """
    key_pair = identity_keypair(seed)
    fixed = list(announce) if announce else None

    def advertise(candidates: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
        return advertised_addrs(candidates, fixed, ips)

    host = new_host(
        key_pair=key_pair,
        sec_opt=security_options(key_pair),
        muxer_opt=muxer_options(),
        listen_addrs=list(listen_addrs),
        addrs_factory=advertise,
    )
    offered = list(host.get_network().upgrader.security_multistream.transports)  # type: ignore[attr-defined]
    if offered != [NOISE_PROTOCOL_ID]:  # pragma: no cover - guards a library change
        raise RuntimeError(f"host offers security {offered}, expected Noise only")
    return host


def ensure_ports_free(addrs: Iterable[multiaddr.Multiaddr]) -> None:
    """Raise ``OSError(EADDRINUSE)`` if a fixed TCP port in ``addrs`` is already taken.

    py-libp2p opens TCP listeners with SO_REUSEPORT (for hole punching), so a
    second process binds the same port without error and the kernel splits
    incoming connections between the two. A plain bind without SO_REUSEPORT
    detects the clash. (Port 0 is always free; a tiny race remains.)
    """
    seen: set[tuple[str, int]] = set()
    for addr in addrs:
        try:
            port = int(addr.value_for_protocol("tcp"))
            ip = str(addr.value_for_protocol("ip4"))
        except Exception:
            continue
        if port == 0 or (ip, port) in seen:
            continue
        seen.add((ip, port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((ip, port))
            except OSError as exc:
                raise OSError(exc.errno, f"{ip}:{port}: {exc.strerror}") from None


def ipv4_of(addrs: Iterable[multiaddr.Multiaddr]) -> str | None:
    """The first IPv4 address among ``addrs``, or None."""
    for addr in addrs:
        try:
            value = addr.value_for_protocol("ip4")
        except Exception:
            continue
        if value:
            return str(value)
    return None


def remote_ipv4(conn: Any) -> str | None:
    """The remote IPv4 address of a libp2p connection (``INetConn``), if it has one.

    py-libp2p records transport addresses for TCP connections but not for
    WebSocket ones, so this falls back to walking down to the raw stream
    (``get_remote_address()``, or trio-websocket's ``remote`` endpoint).
    """
    try:
        ip = ipv4_of(conn.get_transport_addresses())
    except Exception:
        ip = None
    if ip is not None:
        return ip
    obj: Any = getattr(conn, "muxed_conn", None)
    for _ in range(8):
        if obj is None:
            return None
        getter = getattr(obj, "get_remote_address", None)
        if callable(getter):
            try:
                addr = getter()
            except Exception:
                addr = None
            if isinstance(addr, tuple) and addr:
                return _as_ipv4(str(addr[0]))
        endpoint = getattr(getattr(obj, "_ws", None), "remote", None)
        if endpoint is not None and hasattr(endpoint, "address"):
            return _as_ipv4(str(endpoint.address))
        obj = next(
            (getattr(obj, n) for n in ("secured_conn", "conn", "stream") if hasattr(obj, n)),
            None,
        )
    return None


def _as_ipv4(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped  # type: ignore[assignment]
    return None if ip is None else str(ip)


# ---- DHT ----------------------------------------------------------------------


class LocatorValidator(Validator):
    """The ``/wdp/`` namespace: locator records checked by the protocol core.

    Raises :class:`~wdp.core.errors.ProtocolError` for a bad record (kad treats
    any exception as "invalid"); ``select`` prefers the newest hop.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        # Refuses a peer's PUT over its share before the signature is checked.
        self.check_quota: Callable[[bytes], None] | None = None

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def validate(self, key: str, value: bytes) -> None:
        if self.check_quota is not None:
            self.check_quota(key.encode())
        validate_locator(key, value, self._now_ms())

    def select(self, key: str, values: list[bytes]) -> int:
        return select_locator(key, values, self._now_ms())


def new_dht(
    host: IHost, clock: Clock = time.time, limits: KadLimits | None = None
) -> tuple[KadDHT, KadGuard]:
    """Kademlia in server mode, strict validation, the ``wdp`` namespace only, guarded.

    ``validator_changed=True`` keeps py-libp2p from adding its ``pk``/``ipns``
    validators: a WDP node stores nothing but locators. The guard
    (:mod:`wdp.node.kadguard`) bounds what other peers can make it do.
    """
    locators = LocatorValidator(clock)
    validator = NamespacedValidator({DHT_NAMESPACE: locators}, strict_validation=True)
    dht = KadDHT(
        host,
        DHTMode.SERVER,
        validator=validator,
        validator_changed=True,
        strict_validation=True,
    )
    guard = guard_dht(dht, limits or KadLimits(), clock)
    store = dht.value_store
    assert isinstance(store, GuardedValueStore)
    locators.check_quota = store.check_quota
    return dht, guard


async def bootstrap(
    host: IHost, dht: KadDHT | None, addrs: Iterable[multiaddr.Multiaddr | str]
) -> list[ID]:
    """Connect to each ``/.../p2p/<id>`` address and add the peer to the routing table.

    py-libp2p adds a peer to the routing table only when it opens a kad stream
    to us, so after ``connect`` the peer is added here. Unreachable peers are
    logged and skipped; the ids that connected are returned.
    """
    connected: list[ID] = []
    for raw in addrs:
        addr = multiaddr.Multiaddr(raw) if isinstance(raw, str) else raw
        try:
            info = info_from_p2p_addr(addr)
            await host.connect(info)
        except Exception as exc:
            log.warning("bootstrap: cannot connect to %s: %s", addr, exc)
            continue
        if dht is not None:
            await dht.routing_table.add_peer(info, skip_server_mode_check=True)
        connected.append(info.peer_id)
    return connected
