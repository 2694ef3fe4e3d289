"""What a run measures: the cores' reports, bytes by kind, sightings, losses over time.

:class:`Meter` is the runtime's observer. It reads what the node and owner
cores report and the frames they send, and turns them into counters (hops by
reason, failures by code, repairs, drops, ...), bytes by kind, the trace,
the locator sightings an adaptive attacker learns from, and the shards a
hoarder captured. It decides nothing: the one thing it does to a core is
``OwnerCore.forget`` once a wanderer is counted lost (a lost wanderer is no
longer checked, as before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wdp.core.effects import ShardKey
from wdp.core.errors import RejectCode
from wdp.core.messages import Data, Offer
from wdp.core.node import (
    FetchEnded,
    HandoffEnded,
    LaunchEnded,
    NodeEffect,
    PublishLocator,
    SendData,
    ThreatChanged,
    WipeShard,
)
from wdp.core.owner import (
    CheckDone,
    KeepDone,
    NotPlaced,
    OpFailed,
    OwnerEffect,
    PutDone,
    Repaired,
    RepairImpossible,
)
from wdp.core.threat import ThreatLevel
from wdp.core.ticket import Ticket

from .events import Trace
from .runtime import Endpoint, Link, Runtime
from .transport import NetworkTransport

if TYPE_CHECKING:
    from .topology import SimOwner, Topology

__all__ = ["BYTE_KINDS", "Meter", "MeteredTransport", "RunResult"]

BYTE_KINDS = {"hop": "hop", "launch": "launch", "repair": "repair", "fetch": "repair_fetch"}
"""Stream purpose -> the prefix of its byte kinds (``<prefix>_data`` / ``<prefix>_control``).

Owners fetch only to repair, so fetch streams are repair traffic.
"""

DIAL_FAILED = "dial failed"
"""How the node core begins the detail of a stream that could not be opened."""

PANIC = "panic"
"""How the carrier begins the reason of the wipe at the end of a panic's grace period."""


@dataclass
class RunResult:
    """What one run measured."""

    scenario: str
    policy: str
    seed: int
    params: dict[str, Any]
    times: list[float]  # sample times, in epochs
    lost: list[int]  # wanderers lost by each sample time
    bytes_sent: list[int]  # cumulative bytes on migrate streams and fetches, per sample
    wanderers: int
    payload_bytes: int
    counters: dict[str, int]
    bytes_by_kind: dict[str, int]
    trace_digest: str
    trace_events: int
    events: int
    wall_seconds: float
    trace: str = ""

    @property
    def lost_fraction(self) -> list[float]:
        return [x / self.wanderers if self.wanderers else 0.0 for x in self.lost]

    @property
    def sessions_per_second(self) -> float:
        return self.counters.get("sessions", 0) / self.wall_seconds if self.wall_seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "params": self.params,
            "times": self.times,
            "lost": self.lost,
            "bytes_sent": self.bytes_sent,
            "wanderers": self.wanderers,
            "payload_bytes": self.payload_bytes,
            "counters": self.counters,
            "bytes_by_kind": self.bytes_by_kind,
            "trace_digest": self.trace_digest,
            "trace_events": self.trace_events,
            "events": self.events,
            "wall_seconds": self.wall_seconds,
        }


class Meter:
    """Counters, bytes, sightings and losses of one run (the runtime's observer)."""

    def __init__(self, topology: Topology, trace: Trace) -> None:
        self.topology = topology
        self.trace = trace
        self.runtime: Runtime | None = None
        self.counters: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.sightings: dict[ShardKey, list[tuple[float, int]]] = {}
        self._published: set[bytes] = set()  # record hashes whose first locator was seen
        self.captured: set[tuple[bytes, int]] = set()
        self.times: list[float] = []
        self.lost_series: list[int] = []
        self.bytes_series: list[int] = []
        self._owners: dict[int, SimOwner] = {}
        self._keepers: dict[int, SimOwner] = {}  # keeper endpoint -> the owner it keeps for
        self.on_stored: Callable[[SimOwner, Ticket], None] = lambda owner, ticket: None

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def watch(self, owner: SimOwner) -> None:
        self._owners[owner.endpoint] = owner
        self._keepers.update(dict.fromkeys(owner.keepers, owner))

    def _now(self) -> float:
        assert self.runtime is not None
        return self.runtime.q.now

    def _peer_name(self, peer: bytes) -> str:
        assert self.runtime is not None
        index = self.runtime.by_peer.get(peer)
        return "?" if index is None else self.topology.name(index)

    # ---- the node cores' reports ---------------------------------------------------------

    def node_report(self, ep: Endpoint, effect: NodeEffect) -> None:
        now = self._now()
        match effect:
            case HandoffEnded(ok=True, inbound=True, link=link) if link is not None:
                rec = link.record.value
                self.count("hops")
                self.count(f"hops_{rec.reason.name}")
                shard = f"{rec.wanderer_id.hex()[:8]}/{rec.shard_index}"
                self.trace(
                    now, "hop", shard, rec.generation, rec.hop, rec.reason.name,
                    self._peer_name(effect.peer), self.topology.name(ep.index),
                )  # fmt: skip
                if ep.kind == "drop":
                    self.count("dropped")
                elif ep.kind in ("hoard", "churn"):
                    self.captured.add((rec.wanderer_id, rec.shard_index))
            case HandoffEnded(ok=False, inbound=False) | LaunchEnded(ok=False):
                self._failed(effect.code, effect.detail)
            case LaunchEnded(ok=True):
                owner = self._owners.get(ep.index)
                if owner is not None and owner.outcome is None:
                    owner.placed += 1
            case FetchEnded():
                self.count("fetches")
                if effect.result is None:
                    self.count("fetch_failures")
            case PublishLocator():
                self.count("locator_puts")
                if effect.record_hash not in self._published:  # a new hop, not a refresh
                    self._published.add(effect.record_hash)
                    self.sightings.setdefault(effect.key, []).append((now, ep.index))
            case WipeShard() if effect.reason.startswith(PANIC):
                self.count("panic_wipes")
                self.trace(now, "wipe", self.topology.name(ep.index), effect.key)
            case ThreatChanged():
                self.trace(now, "threat", self.topology.name(ep.index), effect.level)
                if effect.level >= ThreatLevel.CRITICAL:
                    self.count("threat_critical")
            case _:
                pass

    def _failed(self, code: RejectCode | None, detail: str) -> None:
        """A hop or launch that failed: its dial, or its session (ending with ``code``)."""
        if detail.startswith(DIAL_FAILED):
            self.count("dial_failures")
        elif code is not None:
            self.count(f"failed_{code.name}")

    # ---- the owner cores' reports ----------------------------------------------------------

    def owner_report(self, ep: Endpoint, effect: OwnerEffect) -> None:
        if ep.index in self._keepers:
            self._keeper_report(self._keepers[ep.index], effect)
            return
        owner = self._owners[ep.index]
        now = self._now()
        wid8 = owner.wid.hex()[:8] if owner.wid is not None else "?"
        match effect:
            case PutDone():
                owner.outcome = "stored"
                self.on_stored(owner, effect.ticket)
            case OpFailed():
                owner.outcome = "failed"
                self.count("put_failures")
                self.count("launch_failures", self.topology.policy.n - owner.placed)
            case NotPlaced():
                if effect.generation == 0:
                    self.count("launch_failures")
                else:
                    owner.repair_activity = True
                    self.count("repair_launch_failures")
            case Repaired():
                owner.repair_activity = True
                self.count("repairs")
                self.trace(now, "repaired", f"{wid8}/{effect.index}", effect.generation)
            case RepairImpossible():
                owner.repair_activity = True
                self.count("repair_impossible")
                self.trace(now, "repair-impossible", wid8, effect.found)
            case CheckDone():
                self.count("checks")
                if owner.repair_activity:
                    self.count("repair_rounds")
                    owner.repair_activity = False
            case _:
                pass

    def _keeper_report(self, owner: SimOwner, effect: OwnerEffect) -> None:
        """What a keeper's owner core reports (its repairs are counted apart as well)."""
        wid8 = owner.wid.hex()[:8] if owner.wid is not None else "?"
        match effect:
            case KeepDone():
                self.count("keeps")
            case CheckDone():
                self.count("keeper_checks")
            case OpFailed():
                self.count("keep_failures")
            case Repaired():
                self.count("repairs")
                self.count("keeper_repairs")
                self.trace(self._now(), "kept", f"{wid8}/{effect.index}", effect.generation)
            case RepairImpossible():
                self.count("repair_impossible")
            case NotPlaced() if effect.generation > 0:
                self.count("repair_launch_failures")
            case _:
                pass

    def _forget(self, owner: SimOwner) -> None:
        """A lost wanderer is no longer checked, by its owner or its keepers."""
        assert self.runtime is not None and owner.wid is not None
        for index in (owner.endpoint, *owner.keepers):
            core = self.runtime.endpoints[index].owner
            if core is not None:
                core.forget(owner.wid)

    # ---- bytes -----------------------------------------------------------------------------

    def sent(self, ep: Endpoint, link: Link, effect: SendData) -> None:
        kind = "data" if isinstance(effect.message, Data) else "control"
        name = f"{BYTE_KINDS.get(link.purpose, link.purpose)}_{kind}"
        self.bytes[name] = self.bytes.get(name, 0) + len(effect.data)
        if isinstance(effect.message, Offer):
            self.count("sessions")

    # ---- losses over time ------------------------------------------------------------------

    def sample(self) -> None:
        """Count the wanderers lost so far: fewer than k distinct shards on live carriers."""
        assert self.runtime is not None
        now = self._now()
        topo = self.topology
        have: dict[bytes, set[int]] = {}
        for i in topo.alive:
            core = topo.nodes[i].core
            if core is not None:
                for key in core.held:
                    have.setdefault(key.wanderer_id, set()).add(key.shard_index)
        k = topo.policy.k
        lost = 0
        for owner in topo.owners:
            held = 0 if owner.wid is None else len(have.get(owner.wid, ()))
            if owner.lost_at is None and owner.started and held < k:
                owner.lost_at = now
                self.trace(now, "lost", owner.wid.hex()[:8] if owner.wid else "?")
                if owner.wid is not None:
                    self._forget(owner)
            lost += owner.lost_at is not None
        self.times.append(now / topo.sc.swarm.epoch)
        self.lost_series.append(lost)
        self.bytes_series.append(sum(self.bytes.values()))

    def captured_wanderers(self) -> int:
        """Wanderers of which a hoarder captured at least k distinct shards."""
        per: dict[bytes, int] = {}
        for wid, _ in self.captured:
            per[wid] = per.get(wid, 0) + 1
        return sum(1 for c in per.values() if c >= self.topology.policy.k)


class MeteredTransport(NetworkTransport):
    """The modelled network, counting the streams it breaks (``streams_broken``)."""

    def __init__(self, meter: Meter, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter

    def arrival(self, link: Link, side: int, size: int, now: float) -> float | None:
        at = super().arrival(link, side, size, now)
        if at is None:
            self.meter.count("streams_broken")
        return at
