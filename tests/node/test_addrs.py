"""Advertised addresses: wildcard expansion, announce, own IPv4 (pure, no network)."""

from __future__ import annotations

import ipaddress

import pytest
from multiaddr import Multiaddr

from wdp.node.addrs import (
    advertised_addrs,
    expand_wildcards,
    local_ips,
    order_ips,
    parse_announce,
    self_ipv4,
)

IPS = ["127.0.0.1", "192.0.2.7", "::1", "fe80::1%eth0", "2001:db8::5", "10.1.2.3", "0.0.0.0"]


def strs(addrs: list[Multiaddr]) -> list[str]:
    return [str(a) for a in addrs]


def test_order_drops_undialable_and_puts_loopback_last() -> None:
    assert order_ips([*IPS, "192.0.2.7", "not an ip"]) == [
        "192.0.2.7",
        "2001:db8::5",
        "10.1.2.3",
        "127.0.0.1",
        "::1",
    ]


def test_ipv4_wildcard_keeps_port_transport_and_peer_id() -> None:
    pid = "12D3KooWAiBYZVnZyNkoi3YF1PhZJta8KxaCUZuMqv2CrhU7MUuE"
    addrs = [Multiaddr("/ip4/0.0.0.0/tcp/4001"), Multiaddr(f"/ip4/0.0.0.0/tcp/4002/ws/p2p/{pid}")]
    assert strs(expand_wildcards(addrs, IPS)) == [
        "/ip4/192.0.2.7/tcp/4001",
        "/ip4/10.1.2.3/tcp/4001",
        f"/ip4/192.0.2.7/tcp/4002/ws/p2p/{pid}",
        f"/ip4/10.1.2.3/tcp/4002/ws/p2p/{pid}",
        "/ip4/127.0.0.1/tcp/4001",  # loopback after every other address
        f"/ip4/127.0.0.1/tcp/4002/ws/p2p/{pid}",
    ]


def test_ipv6_wildcard_takes_ipv6_addresses_only() -> None:
    assert strs(expand_wildcards([Multiaddr("/ip6/::/tcp/4001")], IPS)) == [
        "/ip6/2001:db8::5/tcp/4001",
        "/ip6/::1/tcp/4001",
    ]


def test_concrete_addresses_are_kept_and_duplicates_dropped() -> None:
    addrs = [
        Multiaddr("/ip4/127.0.0.1/tcp/1"),
        Multiaddr("/ip4/192.0.2.7/tcp/1"),
        Multiaddr("/ip4/0.0.0.0/tcp/1"),
        Multiaddr("/dns4/node.example.org/tcp/1"),
    ]
    assert strs(expand_wildcards(addrs, ["192.0.2.7", "127.0.0.1"])) == [
        "/ip4/192.0.2.7/tcp/1",
        "/dns4/node.example.org/tcp/1",
        "/ip4/127.0.0.1/tcp/1",
    ]


def test_wildcard_without_an_address_of_its_family_is_dropped() -> None:
    assert expand_wildcards([Multiaddr("/ip6/::/tcp/1")], ["192.0.2.7"]) == []


def test_announce_replaces_everything_and_needs_no_interface_list() -> None:
    def no_ips() -> list[str]:
        raise AssertionError("interfaces must not be read when announce is set")

    announce = [Multiaddr("/ip4/203.0.113.5/tcp/4001")]
    got = advertised_addrs([Multiaddr("/ip4/0.0.0.0/tcp/4001")], announce, no_ips)
    assert strs(got) == ["/ip4/203.0.113.5/tcp/4001"]
    concrete = [Multiaddr("/ip4/127.0.0.1/tcp/9")]
    assert advertised_addrs(concrete, None, no_ips) == concrete  # nothing to expand
    assert strs(advertised_addrs([Multiaddr("/ip4/0.0.0.0/tcp/9")], None, lambda: IPS)) == [
        "/ip4/192.0.2.7/tcp/9",
        "/ip4/10.1.2.3/tcp/9",
        "/ip4/127.0.0.1/tcp/9",
    ]


@pytest.mark.parametrize(
    "addrs, expected",
    [
        (["/ip4/127.0.0.1/tcp/1", "/ip4/192.0.2.7/tcp/1"], "192.0.2.7"),
        (["/ip6/2001:db8::5/tcp/1", "/ip4/127.0.0.1/tcp/1"], "127.0.0.1"),
        (["/ip4/0.0.0.0/tcp/1"], None),
        (["/dns4/node.example.org/tcp/1"], None),
    ],
)
def test_self_ipv4_prefers_a_non_loopback_address(addrs: list[str], expected: str | None) -> None:
    assert self_ipv4([Multiaddr(a) for a in addrs]) == expected


@pytest.mark.parametrize(
    "value",
    ["/ip4/203.0.113.5/tcp/4001", "/dns4/n.example.org/tcp/443/ws", "/ip6/2001:db8::1/tcp/1"],
)
def test_announce_accepts_dialable_addresses(value: str) -> None:
    assert str(parse_announce(value)) == value


@pytest.mark.parametrize(
    "value, needle",
    [
        ("203.0.113.5:4001", "not a multiaddr"),
        ("/ip4/203.0.113.5/udp/4001", "must start with"),
        ("/tcp/4001", "must start with"),
        ("/ip4/0.0.0.0/tcp/4001", "wildcard"),
        ("/ip4/203.0.113.5/tcp/0", "port 0"),
    ],
)
def test_bad_announce_says_what_to_write(value: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as exc:
        parse_announce(value)
    assert "\n" not in str(exc.value) and ("e.g." in str(exc.value) or "port" in str(exc.value))


def test_this_machine_has_loopback_last_and_no_wildcard() -> None:
    ips = [ipaddress.ip_address(ip) for ip in local_ips()]
    assert ips and not any(ip.is_unspecified for ip in ips)
    assert ipaddress.ip_address("127.0.0.1") in ips
    flags = [ip.is_loopback for ip in ips]
    assert flags == sorted(flags)  # every non-loopback address before every loopback one
