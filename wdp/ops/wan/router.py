"""The testbed's link emulator: a TUN device in the router namespace.

Policy routing (set up by :mod:`.netns`) sends every packet that arrives from a
node's link into ``tun0``; this process reads it, holds it for its region
pair's one-way delay, or drops it with the regions' loss, and writes it back
into ``tun0``, from where the kernel forwards it to the destination node's link.
Packets of one flow (source, destination) leave in the order they came, so
jitter never reorders a TCP stream.

A Unix socket takes one JSON line per connection and answers one:
``{"loss": {"eu": 0.4}}`` sets loss at run time, ``{"extra_ms": {"eu": 300}}``
adds round-trip time to every link of a region; ``{}`` only reports the
counters. Run it as ``python -m wdp.ops.wan.router GEOGRAPHY.json
CONTROL.sock`` inside the router namespace (root: it opens ``/dev/net/tun``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import json
import os
import random
import struct
import sys
from pathlib import Path

import trio

from .geography import Geography, GeographyError, from_json

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
TUN_NAME = "tun0"
MAX_PACKET = 65536
MAX_HELD = 100_000  # packets in flight at once; beyond, a packet is dropped (as a full queue)
MAX_CONTROL = 4096


def open_tun(name: str = TUN_NAME) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Router:
    def __init__(self, geo: Geography, fd: int, seed: int = 0) -> None:
        self.geo = geo
        self.fd = fd
        self.rng = random.Random(seed)
        self.held: list[tuple[float, int, bytes]] = []
        self.last: dict[tuple[bytes, bytes], float] = {}  # flow -> when its last packet leaves
        self.seq = 0
        self.counts = {"forwarded": 0, "dropped_loss": 0, "dropped_full": 0, "not_ours": 0}

    def take(self, packet: bytes, now: float) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.counts["not_ours"] += 1  # IPv6 or garbage: the testbed is IPv4 only
            return
        src, dst = packet[12:16], packet[16:20]
        a, b = self.geo.region_of(src), self.geo.region_of(dst)
        if a is None or b is None:
            self.counts["not_ours"] += 1
            return
        if self.geo.drop(a, b, self.rng):
            self.counts["dropped_loss"] += 1
            return
        if len(self.held) >= MAX_HELD:
            self.counts["dropped_full"] += 1
            return
        at = max(now + self.geo.one_way_delay(a, b, self.rng), self.last.get((src, dst), 0.0))
        self.last[(src, dst)] = at
        self.seq += 1
        heapq.heappush(self.held, (at, self.seq, packet))

    def release(self, now: float) -> None:
        while self.held and self.held[0][0] <= now:
            _, _, packet = heapq.heappop(self.held)
            try:
                os.write(self.fd, packet)
                self.counts["forwarded"] += 1
            except BlockingIOError:
                self.counts["dropped_full"] += 1

    async def run(self) -> None:
        while True:
            deadline = self.held[0][0] if self.held else float("inf")
            with trio.move_on_at(deadline):
                await trio.lowlevel.wait_readable(self.fd)
            now = trio.current_time()
            while True:
                try:
                    packet = os.read(self.fd, MAX_PACKET)
                except BlockingIOError:
                    break
                self.take(packet, now)
            self.release(trio.current_time())

    async def control(self, stream: trio.SocketStream) -> None:
        async with stream:
            data = b""
            with trio.move_on_after(5):
                while b"\n" not in data and len(data) < MAX_CONTROL:
                    chunk = await stream.receive_some(MAX_CONTROL)
                    if not chunk:
                        break
                    data += chunk
            try:
                request = json.loads(data or b"{}")
                loss = {k: float(v) for k, v in dict(request.get("loss", {})).items()}
                extra = {k: float(v) for k, v in dict(request.get("extra_ms", {})).items()}
                for region, p in loss.items():
                    self.geo.check_loss(region, p)
                for region, ms in extra.items():
                    self.geo.check_extra(region, ms)
                self.geo = dataclasses.replace(
                    self.geo, loss={**self.geo.loss, **loss},
                    extra_ms={**self.geo.extra_ms, **extra},
                )  # fmt: skip
                answer = {"ok": True, "loss": self.geo.loss, "extra_ms": self.geo.extra_ms,
                          **self.counts}  # fmt: skip
            except (ValueError, TypeError, AttributeError, GeographyError) as exc:
                answer = {"ok": False, "error": f"bad control request: {exc}"}
            await stream.send_all(json.dumps(answer).encode() + b"\n")


async def serve(geo: Geography, control: Path) -> None:
    router = Router(geo, open_tun())
    control.unlink(missing_ok=True)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(str(control))
    sock.listen(8)
    print("ready", flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(router.run)
        nursery.start_soon(trio.serve_listeners, router.control, [trio.SocketListener(sock)])


def main() -> None:
    geo = from_json(json.loads(Path(sys.argv[1]).read_text()))
    trio.run(serve, geo, Path(sys.argv[2]))


if __name__ == "__main__":
    main()
