"""``HOST:PORT`` addresses: the one parser for every option that takes one.

``--metrics``, ``--api-listen`` (``api_listen``) and the client's ``--api``
all go through :func:`parse_hostport`, so they accept the same forms and
refuse mistakes with the same message. No dependencies: the ``wdp`` client
imports this module without pulling in the node.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["format_hostport", "parse_hostport"]

_HOST = re.compile(r"[A-Za-z0-9_.-]+")  # a host name or an IPv4 address
_PORT = re.compile(r"[0-9]{1,5}")


def parse_hostport(
    value: str, *, example: str = "127.0.0.1:5080", listening: bool = True
) -> tuple[str, int]:
    """``"127.0.0.1:5080"`` -> ``("127.0.0.1", 5080)``; ``"[::1]:5080"`` -> ``("::1", 5080)``.

    The host is a name, an IPv4 address or a bracketed IPv6 address; the port
    is 0..65535, where 0 (any free port) is only for addresses to listen on
    (``listening``). Raises ValueError: ``'<value>' must be HOST:PORT, e.g.
    <example> ...``; callers put the option's name in front.
    """
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ipv6(host):
            host = ""  # brackets hold an IPv6 address and nothing else
    elif not _HOST.fullmatch(host):
        host = ""  # also an IPv6 address without brackets: its port would be ambiguous
    lowest = 0 if listening else 1
    if not sep or not host or not _PORT.fullmatch(port) or not lowest <= int(port) <= 65535:
        raise ValueError(
            f"{value!r} must be HOST:PORT, e.g. {example} ([::1]:PORT for IPv6; "
            f"port {lowest}-65535)"
        )
    return host, int(port)


def format_hostport(host: str, port: int) -> str:
    """The inverse of :func:`parse_hostport`: IPv6 addresses get their brackets back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
