"""The testbed's router and geography without a network: delays, order, loss."""

from __future__ import annotations

import contextlib
import os
import random
import struct

import pytest

from wdp.ops.wan.geography import Geography, GeographyError, from_json, three_regions, to_json
from wdp.ops.wan.router import Router


def packet(src: str, dst: str, body: bytes = b"") -> bytes:
    def raw(address: str) -> bytes:
        return bytes(int(x) for x in address.split("."))

    header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 0, 0, 64, 6, 0)
    return header + raw(src) + raw(dst) + body


def drained(fd: int) -> list[bytes]:
    """The packets the router wrote to the pipe so far, split by their length field."""
    os.set_blocking(fd, False)
    out = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            out += chunk
    packets = []
    while out:
        (length,) = struct.unpack("!H", out[2:4])
        packets.append(out[:length])
        out = out[length:]
    return packets


def test_packets_are_held_for_their_region_pairs_delay_and_keep_their_order() -> None:
    geo = three_regions()
    r, w = os.pipe()
    router = Router(geo, w, seed=1)
    eu, asia = "10.1.1.2", "10.3.2.2"
    for i in range(50):
        router.take(packet(eu, asia, bytes([i])), now=0.0)
    router.take(packet(eu, "10.1.2.2", b"near"), now=0.0)
    router.release(0.0089)
    assert drained(r) == []  # 20 ms RTT within a region: 10 ms one way, jitter 10 %
    router.release(0.0111)
    assert len(drained(r)) == 1
    router.release(0.0674)
    assert drained(r) == []  # 150 ms RTT: at least 67.5 ms one way
    router.release(0.0826)
    got = drained(r)
    assert len(got) == 50 and [p[-1] for p in got] == list(range(50))  # in order
    assert router.counts["forwarded"] == 51


def test_loss_drops_its_share_and_foreign_packets_are_not_forwarded() -> None:
    geo = Geography(regions=(("a", 1), ("b", 1)), rtt_ms=((0.0, 0.0), (0.0, 0.0)),
                    loss={"a": 0.4})  # fmt: skip
    rng = random.Random(3)
    dropped = sum(geo.drop(0, 1, rng) for _ in range(20_000))
    assert 0.38 < dropped / 20_000 < 0.42
    assert not any(geo.drop(1, 1, rng) for _ in range(1000))
    _, w = os.pipe()
    router = Router(geo, w)
    router.take(packet("192.168.1.1", "10.1.1.2"), now=0.0)
    router.take(b"\x60" + bytes(39), now=0.0)  # IPv6
    router.take(b"\x45", now=0.0)
    assert router.counts["not_ours"] == 3 and not router.held


def test_a_geography_says_what_is_wrong_with_it() -> None:
    with pytest.raises(GeographyError, match="not symmetric"):
        Geography(regions=(("a", 1), ("b", 1)), rtt_ms=((1.0, 2.0), (3.0, 1.0)))
    with pytest.raises(GeographyError, match="no region 'mars'"):
        three_regions().check_loss("mars", 0.1)
    with pytest.raises(GeographyError, match="must be in"):
        three_regions().check_loss("eu", 1.5)
    with pytest.raises(GeographyError, match="not a geography"):
        from_json({"regions": 3})
    geo = three_regions(3)
    assert from_json(to_json(geo)) == geo and len(geo.nodes()) == 9


def test_extra_delay_on_a_region_lengthens_its_links_only() -> None:
    geo = three_regions()
    rng = random.Random(5)
    slow = Geography(geo.regions, geo.rtt_ms, jitter=0.0, extra_ms={"eu": 300.0})
    assert slow.one_way_delay(0, 1, rng) == pytest.approx((60 + 300) / 2000)
    assert slow.one_way_delay(0, 0, rng) == pytest.approx((20 + 300) / 2000)
    assert slow.one_way_delay(1, 2, rng) == pytest.approx(150 / 2000)
    with pytest.raises(GeographyError, match="extra_ms for eu"):
        slow.check_extra("eu", -1)
    assert from_json(to_json(slow)) == slow
