"""Build and remove the testbed's network: one namespace per node, one router.

Names start with a prefix (``wdp<pid>``, or one given), so several testbeds can
run side by side and :func:`remove` finds everything one made, also after a
crash. Needs root (``ip netns``) and iproute2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess

from wdp.core.errors import WdpError

from .geography import Geography, node_address, router_address

ROUTE_TABLE = 100  # the router's table that sends nodes' packets into the TUN device
MTU = 16000  # fewer, larger packets through the userspace router


class NetnsError(WdpError, RuntimeError):
    """The network could not be built; the message says which command failed and why."""


def ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")


def sysctl(netns: str, setting: str) -> None:
    done = subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", setting],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    if done.returncode != 0:
        raise NetnsError(f"sysctl {setting} in {netns}: {done.stderr.strip()}")


def check_host() -> None:
    """Fail with one line if this machine cannot run the testbed."""
    if os.geteuid() != 0:
        raise NetnsError("the WAN testbed needs root (network namespaces and a TUN device)")
    if shutil.which("ip") is None:
        raise NetnsError("the WAN testbed needs iproute2 (apt-get install iproute2)")


def router_ns(prefix: str) -> str:
    return f"{prefix}r"


def node_ns(prefix: str, region: int, index: int) -> str:
    return f"{prefix}n{region}x{index}"


def build(geo: Geography, prefix: str) -> None:
    """The namespaces, links, addresses and routes (the TUN route comes with the router)."""
    check_host()
    remove(prefix)
    router = router_ns(prefix)
    ip("netns", "add", router)
    ip("link", "set", "lo", "up", netns=router)
    for region, index in geo.nodes():
        ns = node_ns(prefix, region, index)
        link = f"r{region}x{index}"
        ip("netns", "add", ns)
        ip("link", "add", link, "netns", router, "mtu", str(MTU), "type", "veth",
           "peer", "name", "eth0", "netns", ns, "mtu", str(MTU))  # fmt: skip
        ip("addr", "add", f"{node_address(region, index)}/24", "dev", "eth0", netns=ns)
        ip("link", "set", "lo", "up", netns=ns)
        ip("link", "set", "eth0", "up", netns=ns)
        ip("route", "add", "default", "via", router_address(region, index), netns=ns)
        ip("addr", "add", f"{router_address(region, index)}/24", "dev", link, netns=router)
        ip("link", "set", link, "up", netns=router)
        ip("rule", "add", "iif", link, "lookup", str(ROUTE_TABLE), netns=router)
    for setting in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0"):  # fmt: skip
        sysctl(router, setting)


def route_through_tun(prefix: str, tun: str) -> None:
    """Once the router has made its TUN device: up, and the nodes' packets go into it."""
    router = router_ns(prefix)
    ip("link", "set", tun, "mtu", str(MTU), "up", netns=router)
    sysctl(router, f"net.ipv4.conf.{tun}.rp_filter=0")
    ip("route", "add", "default", "dev", tun, "table", str(ROUTE_TABLE), netns=router)


def remove(prefix: str) -> list[str]:
    """Delete every namespace whose name starts with ``prefix`` (their links go with them)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    gone = [n for n in names if n.startswith(prefix)]
    for name in gone:  # what still runs inside first, so nothing outlives its network
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                              timeout=30).stdout.split()  # fmt: skip
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
    return gone


def exec_prefix(netns: str) -> list[str]:
    """Run a command inside ``netns``."""
    return ["ip", "netns", "exec", netns]
