"""The addresses a node advertises, as opposed to the ones it listens on.

A node listening on ``/ip4/0.0.0.0/tcp/4001`` accepts connections on every
interface, but ``0.0.0.0`` is no address anyone can dial: a peer that reads it
from a locator or from identify dials itself. So wildcard listen addresses
(``0.0.0.0``, ``::``) are expanded into one address per interface address of
the machine, keeping the rest of the multiaddr (port, ``/ws``, ``/p2p``), with
loopback last (it only reaches this machine). Behind NAT or a published
container port the operator names the addresses instead (``announce``), and
those are advertised as they are.

The interface list is injectable (:data:`LocalIps`) so the pure parts are
tested without depending on the machine's network.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence

import multiaddr

__all__ = [
    "LocalIps",
    "advertised_addrs",
    "expand_wildcards",
    "local_ips",
    "order_ips",
    "parse_announce",
    "self_ipv4",
]

log = logging.getLogger(__name__)

LocalIps = Callable[[], Sequence[str]]
"""Returns this machine's interface addresses (IPv4 and IPv6, as text)."""

_WILDCARDS = {"ip4": ipaddress.ip_address("0.0.0.0"), "ip6": ipaddress.ip_address("::")}
_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")
ANNOUNCE_EXAMPLE = "/ip4/203.0.113.5/tcp/4001 or /dns4/node.example.org/tcp/4001/ws"


def order_ips(ips: Iterable[str]) -> list[str]:
    """Usable interface addresses, duplicates and undialable ones dropped, loopback last.

    Dropped: unspecified addresses, and IPv6 link-local ones (they need a
    zone id, which multiaddrs do not carry). The order is otherwise kept.
    """
    seen: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    outer: list[str] = []
    loopback: list[str] = []
    for text in ips:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if ip in seen or ip.is_unspecified or (ip.version == 6 and ip.is_link_local):
            continue
        seen.add(ip)
        (loopback if ip.is_loopback else outer).append(str(ip))
    return outer + loopback


def local_ips() -> list[str]:
    """The addresses of this machine's interfaces that are up, loopback last.

    Uses psutil (a dependency of ``multiaddr``, portable across Linux, macOS
    and Windows); if it cannot answer, falls back to the host name's addresses
    plus loopback.
    """
    try:
        import psutil

        stats = psutil.net_if_stats()
        found = [
            entry.address
            for name, entries in psutil.net_if_addrs().items()
            if name not in stats or stats[name].isup
            for entry in entries
            if entry.family in (socket.AF_INET, socket.AF_INET6)
        ]
    except Exception as exc:  # pragma: no cover - depends on the platform
        log.debug("cannot list interfaces (%r); using the host name's addresses", exc)
        found = _hostname_ips()
    return order_ips(found) or ["127.0.0.1"]


def _hostname_ips() -> list[str]:
    found: list[str] = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        found.append(str(sockaddr[0]))
    return [*found, "127.0.0.1", "::1"]


def _wildcard_family(addr: multiaddr.Multiaddr) -> int | None:
    """4 or 6 if ``addr`` starts with a wildcard IP, else None."""
    protocols = list(addr.protocols())
    if not protocols or protocols[0].name not in _WILDCARDS:
        return None
    name = protocols[0].name
    try:
        ip = ipaddress.ip_address(str(addr.value_for_protocol(name)))
    except ValueError:
        return None
    return ip.version if ip == _WILDCARDS[name] else None


def expand_wildcards(
    addrs: Iterable[multiaddr.Multiaddr], ips: Sequence[str]
) -> list[multiaddr.Multiaddr]:
    """Each wildcard address becomes one address per interface IP of its family.

    ``/ip4/0.0.0.0/tcp/4001/ws`` with ips ``["192.0.2.7", "127.0.0.1"]`` gives
    ``/ip4/192.0.2.7/tcp/4001/ws`` and ``/ip4/127.0.0.1/tcp/4001/ws``. Other
    addresses are kept. Duplicates are dropped and loopback addresses come
    after all others. A wildcard with no interface IP of its family is dropped.
    """
    usable = order_ips(ips)
    outer: list[multiaddr.Multiaddr] = []
    loopback: list[multiaddr.Multiaddr] = []
    seen: set[str] = set()

    def add(addr: multiaddr.Multiaddr, is_loopback: bool) -> None:
        if str(addr) not in seen:
            seen.add(str(addr))
            (loopback if is_loopback else outer).append(addr)

    for addr in addrs:
        family = _wildcard_family(addr)
        if family is None:
            add(addr, _is_loopback(addr))
            continue
        rest = addr.split(1)[1:]  # everything after the IP part
        for text in usable:
            ip = ipaddress.ip_address(text)
            if ip.version != family:
                continue
            expanded = multiaddr.Multiaddr(f"/ip{family}/{ip}")
            for part in rest:
                expanded = expanded.encapsulate(part)
            add(expanded, ip.is_loopback)
    return outer + loopback


def _is_loopback(addr: multiaddr.Multiaddr) -> bool:
    for name in ("ip4", "ip6"):
        try:
            return ipaddress.ip_address(str(addr.value_for_protocol(name))).is_loopback
        except Exception:
            continue
    return False


def advertised_addrs(
    candidates: Iterable[multiaddr.Multiaddr],
    announce: Sequence[multiaddr.Multiaddr] | None,
    ips: LocalIps = local_ips,
) -> list[multiaddr.Multiaddr]:
    """What the node tells others to dial: ``announce`` if given, else the expanded candidates."""
    if announce:
        return list(announce)
    candidates = list(candidates)
    if not any(_wildcard_family(a) for a in candidates):
        return candidates
    return expand_wildcards(candidates, ips())


def self_ipv4(addrs: Iterable[multiaddr.Multiaddr]) -> str | None:
    """The node's own IPv4 for placement: the first non-loopback one, else loopback, else None.

    Wildcards are never an answer (expand them first).
    """
    fallback = None
    for addr in addrs:
        try:
            ip = ipaddress.ip_address(str(addr.value_for_protocol("ip4")))
        except Exception:
            continue
        if ip.is_unspecified:
            continue
        if not ip.is_loopback:
            return str(ip)
        fallback = fallback or str(ip)
    return fallback


def parse_announce(value: str) -> multiaddr.Multiaddr:
    """One ``announce`` address, checked: an IP or DNS name, then ``/tcp/<port>``.

    Raises ValueError whose message says what to write instead.
    """
    hint = f"write an address others can dial, e.g. {ANNOUNCE_EXAMPLE}"
    try:
        addr = multiaddr.Multiaddr(value)
        names = [p.name for p in addr.protocols()]
    except Exception:  # multiaddr raises several unrelated types
        raise ValueError(f"announce {value!r} is not a multiaddr: {hint}") from None
    if len(names) < 2 or names[0] not in _HOST_PROTOCOLS or names[1] != "tcp":
        raise ValueError(f"announce {value!r} must start with /ip4|/ip6|/dns*/.../tcp/PORT: {hint}")
    if _wildcard_family(addr) is not None:
        raise ValueError(f"announce {value!r} is a wildcard that nobody can dial: {hint}")
    if int(addr.value_for_protocol("tcp")) == 0:
        raise ValueError(f"announce {value!r} has port 0: give the port others connect to")
    return addr
