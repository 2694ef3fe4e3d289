"""Where the testbed's nodes are and what their links do: pure data, no I/O.

Node ``i`` of region ``r`` (both from 0) has the address ``10.<r+1>.<i+1>.2``
in its namespace; the router's side of its link is ``10.<r+1>.<i+1>.1``. So a
packet's region is its address's second byte, which is all the router needs.
"""

from __future__ import annotations

import ipaddress
import math
import random
from dataclasses import dataclass, field

from wdp.core.errors import WdpError

MAX_REGIONS = 8
MAX_NODES_PER_REGION = 32


class GeographyError(WdpError, ValueError):
    """The layout asked for cannot be built; the message says why."""


@dataclass(frozen=True)
class Geography:
    """Regions, their nodes, and the round-trip time between any two regions.

    Attributes:
        regions: Names, and how many nodes each has.
        rtt_ms: Round-trip time between two regions (``rtt_ms[a][b]``; symmetric,
            the diagonal is the RTT within a region).
        jitter: Each packet's one-way delay varies by up to this share of it.
        loss: Per region, the probability that a packet from or to it is dropped
            (settable at run time through the router's control socket).
        extra_ms: Per region, round-trip time added to every link from or to it
            (a degrading network before a raid; settable at run time too).
    """

    regions: tuple[tuple[str, int], ...]
    rtt_ms: tuple[tuple[float, ...], ...]
    jitter: float = 0.1
    loss: dict[str, float] = field(default_factory=dict)
    extra_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= len(self.regions) <= MAX_REGIONS:
            raise GeographyError(f"1 to {MAX_REGIONS} regions, not {len(self.regions)}")
        names = [name for name, _ in self.regions]
        if len(set(names)) != len(names):
            raise GeographyError(f"region names repeat: {names}")
        for name, nodes in self.regions:
            if not 1 <= nodes <= MAX_NODES_PER_REGION:
                raise GeographyError(f"region {name}: 1 to {MAX_NODES_PER_REGION} nodes")
        n = len(self.regions)
        if len(self.rtt_ms) != n or any(len(row) != n for row in self.rtt_ms):
            raise GeographyError(f"rtt_ms must be {n} x {n}")
        for a in range(n):
            for b in range(n):
                rtt = self.rtt_ms[a][b]
                if not (0 <= rtt <= 10_000 and math.isfinite(rtt)):
                    raise GeographyError(f"rtt_ms[{a}][{b}] = {rtt} is not in 0..10000")
                if rtt != self.rtt_ms[b][a]:
                    raise GeographyError(f"rtt_ms is not symmetric at [{a}][{b}]")
        if not 0 <= self.jitter < 1:
            raise GeographyError("jitter must be in [0, 1)")
        for region, p in self.loss.items():
            self.check_loss(region, p)
        for region, ms in self.extra_ms.items():
            self.check_extra(region, ms)

    def check_loss(self, region: str, p: float) -> None:
        if region not in self.names:
            raise GeographyError(f"no region {region!r} (regions: {', '.join(self.names)})")
        if not 0 <= p <= 1:
            raise GeographyError(f"loss for {region} must be in [0, 1], not {p}")

    def check_extra(self, region: str, ms: float) -> None:
        if region not in self.names:
            raise GeographyError(f"no region {region!r} (regions: {', '.join(self.names)})")
        if not 0 <= ms <= 10_000:
            raise GeographyError(f"extra_ms for {region} must be in 0..10000, not {ms}")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.regions]

    def nodes(self) -> list[tuple[int, int]]:
        """Every node as ``(region index, index in region)``, region by region."""
        return [(r, i) for r, (_, count) in enumerate(self.regions) for i in range(count)]

    def region_of(self, address: bytes | str) -> int | None:
        """The region index of a testbed address (4 raw bytes or dotted), else None."""
        raw = ipaddress.IPv4Address(address).packed
        r = raw[1] - 1
        if raw[0] != 10 or not 0 <= r < len(self.regions):
            return None
        return r

    def one_way_delay(self, src: int, dst: int, rng: random.Random) -> float:
        """Seconds a packet from region ``src`` to ``dst`` is held."""
        extra = self.extra_ms.get(self.regions[src][0], 0.0)
        if dst != src:
            extra += self.extra_ms.get(self.regions[dst][0], 0.0)
        base = (self.rtt_ms[src][dst] + extra) / 2000
        return base * (1 + self.jitter * (2 * rng.random() - 1))

    def drop(self, src: int, dst: int, rng: random.Random) -> bool:
        p_src = self.loss.get(self.regions[src][0], 0.0)
        p_dst = self.loss.get(self.regions[dst][0], 0.0) if dst != src else 0.0
        return rng.random() >= (1 - p_src) * (1 - p_dst)


def node_address(region: int, index: int) -> str:
    return f"10.{region + 1}.{index + 1}.2"


def router_address(region: int, index: int) -> str:
    return f"10.{region + 1}.{index + 1}.1"


def three_regions(per_region: int = 2) -> Geography:
    """The default testbed: three regions, 20 ms RTT within one, 60 ms between eu and us,
    150 ms from either to asia. (Python's ping and router add 1-3 ms a round trip on a
    busy 2-core machine, so shorter links could not be matched within 20 %.)"""
    return Geography(
        regions=(("eu", per_region), ("us", per_region), ("asia", per_region)),
        rtt_ms=((20.0, 60.0, 150.0), (60.0, 20.0, 150.0), (150.0, 150.0, 20.0)),
    )


def to_json(geo: Geography) -> dict[str, object]:
    return {
        "regions": [list(r) for r in geo.regions], "rtt_ms": [list(r) for r in geo.rtt_ms],
        "jitter": geo.jitter, "loss": dict(geo.loss), "extra_ms": dict(geo.extra_ms),
    }  # fmt: skip


def from_json(data: dict[str, object]) -> Geography:
    try:
        regions = tuple((str(name), int(n)) for name, n in data["regions"])  # type: ignore[attr-defined]
        rtt = tuple(tuple(float(x) for x in row) for row in data["rtt_ms"])  # type: ignore[attr-defined]
        jitter = float(data.get("jitter", 0.1))  # type: ignore[arg-type]
        loss = {str(k): float(v) for k, v in dict(data.get("loss", {})).items()}  # type: ignore[call-overload]
        extra = {str(k): float(v) for k, v in dict(data.get("extra_ms", {})).items()}  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError) as exc:
        raise GeographyError(f"not a geography: {exc}") from None
    return Geography(regions, rtt, jitter, loss, extra)
