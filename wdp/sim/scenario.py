"""Scenarios and storage policies of the simulator, as data (TOML files).

A scenario describes the swarm (size, network, epoch, horizon) and what
happens to it (seizures, packet loss, an adaptive attacker, Sybil nodes,
churn, the owners' nodes seized with keepers or without). A policy
describes how the data is stored (k-of-n, whether shards wander, react
to threats, get repaired). The study crosses the two; the same scenario
and seed give every policy the same swarm and the same random faults.

Example (``wdp/sim/scenarios/seize-30.toml``)::

    name = "seize-30"
    description = "30% of nodes seized at once, carriers included, no warning"

    [swarm]
    nodes = 200
    wanderers = 200

    [[fault]]
    kind = "seize"
    at_epoch = 4
    fraction = 0.3

Every key is optional except ``name``; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wdp.core.errors import WdpError
from wdp.core.limits import MAX_EPOCH_SECONDS

__all__ = [
    "POLICIES",
    "AdaptiveFault",
    "Churn",
    "LossFault",
    "Owners",
    "Policy",
    "Scenario",
    "ScenarioError",
    "SeizeFault",
    "Swarm",
    "Sybil",
    "load_scenario",
    "scenario_dir",
]


class ScenarioError(WdpError):
    """A scenario or policy file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Swarm:
    """The swarm and its network.

    Attributes:
        nodes: Carrier nodes.
        degree: Peers each node connects to (its latency map and placement
            candidates); connections are symmetric, so the mean is about this.
        prefixes: IPv4 /16 networks honest nodes are spread over.
        wanderers: Wanderers stored, one owner each (owners are not carriers
            and are seized only as ``[owners]`` says).
        payload_bytes: Size of each wanderer's payload (real bytes are
            encrypted, erasure-coded, hashed and sent).
        epoch: Seconds between hops (manifest ``epoch_seconds``) for wandering
            policies; static policies use the maximum epoch and never hop.
            Carriers honour it even below a node's default floor of 60 s.
        horizon_epochs: Length of the run in epochs.
        sample_epochs: How often losses and traffic are sampled, in epochs.
        ping_interval: Seconds between ping rounds of a node; 0 turns pings
            off (threat sensing then sees only lost connections).
        ping_timeout: Seconds before an unanswered ping counts as failed.
        pings: How a ping meets packet loss. ``"stream"``, as the node's libp2p
            ping over TCP: a lost packet is sent again after a retransmission
            timeout, so loss shows as a late answer (an RTT anomaly), and a
            ping fails only when its answer comes after ``ping_timeout`` or
            the stream breaks. ``"datagram"``: a lost packet fails the ping
            (the model the durability study was run with so far).
        lost_after: Failed pings in a row before a peer is reported lost.
        detect_delay: Seconds before a dead peer's connections are noticed
            to be gone (used when pings are off, and for open streams).
        dial_timeout: Seconds a dial to a dead peer takes to fail.
        base_loss: Packet loss on every link.
        min_rtt: Smallest round-trip time in seconds (same network).
        max_rtt: Round-trip time across the whole map, in seconds.
        jitter: Relative jitter of each RTT sample.
        bandwidth: Bytes per second of each node's link.
        warmup: Seconds of pings before the first launch.
        crypto: ``"real"`` (Ed25519, sealed locators) or ``"standin"``
            (cheap signatures of the real sizes, plain locators).
        probation: Carriers give an unproven peer one TTL hop until it is
            proven (``CarrierParams.probation``; with the defences only).
        spot_audits: Carriers audit the peer each TTL hop went to
            (``CarrierParams.spot_audits``; with the defences only).
        region_rtt: Round-trip seconds between the /16 networks given outright,
            as a testbed's geography (``region_rtt[a][b]``; the diagonal is
            the RTT within a network; one row per network). Nodes then fill
            the networks in equal blocks, owners and keepers sit in the first,
            and a region fault takes networks from the last. Empty: networks
            at random points of the unit square (``min_rtt`` .. ``max_rtt``).
        threat_min_age: Seconds a peer must be known before it is evidence
            (``ThreatParams.min_age``).
        repair_interval: Seconds between an owner's check rounds at most; 0 is
            one epoch.
    """

    nodes: int = 200
    degree: int = 16
    prefixes: int = 100
    wanderers: int = 200
    payload_bytes: int = 64 * 1024
    epoch: int = 600
    horizon_epochs: float = 24.0
    sample_epochs: float = 0.5
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    pings: Literal["stream", "datagram"] = "stream"
    lost_after: int = 3
    detect_delay: float = 15.0
    dial_timeout: float = 10.0
    base_loss: float = 0.001
    min_rtt: float = 0.002
    max_rtt: float = 0.250
    jitter: float = 0.1
    bandwidth: float = 12.5e6
    warmup: float = 60.0
    crypto: Literal["real", "standin"] = "standin"
    probation: bool = False
    spot_audits: bool = False
    region_rtt: tuple[tuple[float, ...], ...] = ()
    threat_min_age: float = 300.0
    repair_interval: float = 0.0

    def __post_init__(self) -> None:  # a TOML array of arrays arrives as lists
        rows = tuple(tuple(row) for row in self.region_rtt)
        object.__setattr__(self, "region_rtt", rows)

    def check(self) -> None:
        if self.nodes < 2:
            raise ScenarioError("swarm.nodes must be at least 2")
        if not 1 <= self.degree < self.nodes:
            raise ScenarioError("swarm.degree must be in 1 .. nodes - 1")
        if self.prefixes < 1 or self.wanderers < 0 or self.payload_bytes < 0:
            raise ScenarioError("swarm.prefixes >= 1, wanderers >= 0, payload_bytes >= 0")
        if not 1 <= self.epoch <= MAX_EPOCH_SECONDS:
            raise ScenarioError(f"swarm.epoch must be in 1 .. {MAX_EPOCH_SECONDS} seconds")
        if self.horizon_epochs <= 0 or self.sample_epochs <= 0:
            raise ScenarioError("swarm.horizon_epochs and swarm.sample_epochs must be > 0")
        if self.horizon_seconds >= 0.75 * MAX_EPOCH_SECONDS:
            raise ScenarioError(
                "the horizon must stay below 0.75 x 7 days: static policies rely on never hopping"
            )
        if self.ping_interval < 0 or self.lost_after < 1:
            raise ScenarioError("swarm.ping_interval >= 0 and swarm.lost_after >= 1")
        if not 0.0 <= self.base_loss < 1.0:
            raise ScenarioError("swarm.base_loss must be in [0, 1)")
        if self.pings not in ("stream", "datagram"):
            raise ScenarioError('swarm.pings must be "stream" or "datagram"')
        if self.crypto not in ("real", "standin"):
            raise ScenarioError('swarm.crypto must be "real" or "standin"')
        if self.threat_min_age < 0 or self.repair_interval < 0:
            raise ScenarioError("swarm.threat_min_age and swarm.repair_interval must be >= 0")
        self._check_regions()

    def _check_regions(self) -> None:
        rtt = self.region_rtt
        if not rtt:
            return
        n = len(rtt)
        if n != self.prefixes or any(len(row) != n for row in rtt):
            raise ScenarioError("swarm.region_rtt must be prefixes x prefixes")
        for a in range(n):
            for b in range(n):
                v = rtt[a][b]
                if not (isinstance(v, int | float) and 0.0 <= v <= 10.0):
                    raise ScenarioError(f"swarm.region_rtt[{a}][{b}] must be 0 .. 10 seconds")
                if v != rtt[b][a]:
                    raise ScenarioError(f"swarm.region_rtt is not symmetric at [{a}][{b}]")
        if self.nodes < n:
            raise ScenarioError("swarm.region_rtt needs at least one node per network")

    @property
    def horizon_seconds(self) -> float:
        return self.horizon_epochs * self.epoch


@dataclass(frozen=True)
class SeizeFault:
    """Nodes are seized: they vanish for good with the shards they hold.

    Attributes:
        at_epoch: When the seizure starts.
        fraction: Share of all nodes seized (carriers included: victims are
            drawn without looking at what they hold).
        select: ``"random"`` nodes, or a ``"region"``: whole /16 networks
            nearest to a random point, as a raid of neighbouring data centres.
        spread_seconds: 0 seizes every victim at once; otherwise victims fall
            one after another over this many seconds.
        warning_seconds: Each victim's links degrade this long before it is
            taken (0: no warning signs).
        warning_loss: Packet loss on a victim's links while degraded.
        warning_rtt: Extra round-trip seconds on a victim's links while degraded.
    """

    kind: Literal["seize"] = "seize"
    at_epoch: float = 4.0
    fraction: float = 0.3
    select: Literal["random", "region"] = "random"
    spread_seconds: float = 0.0
    warning_seconds: float = 0.0
    warning_loss: float = 0.6
    warning_rtt: float = 0.3


@dataclass(frozen=True)
class LossFault:
    """Packet loss (and added latency) on some nodes' links for a while.

    ``select = "region"`` picks the same region a later region seizure with
    the same ``fraction`` takes (the region is drawn once per run), so a
    loss wave can announce a raid.
    """

    kind: Literal["loss"] = "loss"
    at_epoch: float = 4.0
    duration_seconds: float = 300.0
    fraction: float = 1.0
    select: Literal["random", "region"] = "random"
    loss: float = 0.3
    extra_rtt: float = 0.1


@dataclass(frozen=True)
class AdaptiveFault:
    """An attacker who learns where shards are with a lag, then seizes those nodes.

    It sees every locator publication (it runs DHT nodes near the keys, or
    was a carrier), so it knows who carried each shard ``lag_epochs`` ago.
    Each wave it takes wanderers in random order and seizes the carriers it
    knows of, up to ``fraction_per_wave`` of the nodes.
    """

    kind: Literal["adaptive"] = "adaptive"
    at_epoch: float = 4.0
    lag_epochs: float = 1.0
    every_epochs: float = 2.0
    waves: int = 3
    fraction_per_wave: float = 0.1


Fault = SeizeFault | LossFault | AdaptiveFault
_FAULTS: dict[str, type[SeizeFault] | type[LossFault] | type[AdaptiveFault]] = {
    "seize": SeizeFault,
    "loss": LossFault,
    "adaptive": AdaptiveFault,
}


@dataclass(frozen=True)
class Sybil:
    """Nodes of one attacker.

    ``drop``: accept every shard (siblings too), sign the receipt, delete it.
    ``hoard``: behave as an honest carrier but keep a copy of everything, and
    accept sibling shards. Sybil nodes sit in ``prefixes`` /16 networks of
    their own (an attacker's address space is limited), or each in a /16 of
    its own when ``spread``.

    Attacks on the defences themselves:

    * ``honest_epochs``: droppers carry honestly (and earn trust) until then,
      then discard everything they hold and every shard they are given.
    * ``join_epoch``: the Sybil nodes come online only then (late joiners).
    * ``pong_delay``: seconds added to every ping answer (hoarders that look
      far away, to attract THREAT hops).
    * ``churners``: a further share of nodes that an attacker runs to provoke
      flight: each wave they come online with fresh identities, linked to
      ``churn_links`` honest nodes each, stay ``churn_stay`` seconds, and
      all leave at once; a wave every ``churn_every`` epochs from
      ``churn_from`` on.
    """

    fraction: float = 0.0
    behaviour: Literal["drop", "hoard"] = "drop"
    prefixes: int = 4
    spread: bool = False
    honest_epochs: float = 0.0
    join_epoch: float = 0.0
    pong_delay: float = 0.0
    churners: float = 0.0
    churn_links: int = 0
    churn_stay: float = 120.0
    churn_every: float = 1.0
    churn_from: float = 2.0


@dataclass(frozen=True)
class Churn:
    """Ordinary churn: nodes go offline and come back (memory store: empty)."""

    session_hours: float = 0.0  # mean time online; 0 = no churn
    downtime_hours: float = 1.0
    graceful: float = 0.5  # share of departures that drain first (SIGTERM)
    drain_seconds: float = 60.0


@dataclass(frozen=True)
class Owners:
    """The owners' nodes and the keepers of their wanderers (spec 16.1).

    Attributes:
        keepers: Nodes per wanderer that keep it: each gets the wanderer's
            repair capability once its put is done and then checks, audits
            and repairs it as the owner does. Like owners, keepers are not
            carriers and are never seized.
        seized_at_epoch: When every owner's node is seized (its records go
            with it, and only keepers repair from then on); 0: never. After
            every put has started; a put the seizure cuts short counts as
            failed (its wanderer is lost unless k shards made it out).
        keeper_delay: Seconds the first keeper waits before it repairs a lost
            shard; the second waits twice as long, and so on.
    """

    keepers: int = 0
    seized_at_epoch: float = 0.0
    keeper_delay: float = 60.0


@dataclass(frozen=True)
class Placement:
    """Sender-side Sybil defences (wdp.core.placement.PlacementParams)."""

    prefix_bits: int = 16
    recent_window: int = 8


@dataclass(frozen=True)
class Policy:
    """How data is stored: k-of-n, and whether it wanders, flees and is repaired."""

    name: str
    k: int
    n: int
    wander: bool
    threat: bool
    repair: bool
    label: str = ""
    defences: bool = True  # audits, earned trust, group-first placement, robust flight

    def check(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ScenarioError(f"policy {self.name}: need 1 <= k <= n")

    @property
    def overhead(self) -> float:
        return self.n / self.k


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("poc", 1, 1, True, True, False, "(a) single copy, migrating (proof of concept)"),
        Policy("replication", 1, 3, False, False, False, "(b) static 3x replication"),
        Policy("static", 3, 8, False, False, False, "(c) static 3-of-8, no repair"),
        Policy("static-repair", 3, 8, False, False, True, "(d) static 3-of-8 with repair"),
        Policy("wdp", 3, 8, True, True, True, "(e) WDP: wandering 3-of-8, threat, repair"),
        Policy(
            "wdp-off",
            3,
            8,
            True,
            True,
            True,
            "(f) WDP with the defences off (no audits, earned trust, group-first, robust flight)",
            defences=False,
        ),
    )
}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    swarm: Swarm = field(default_factory=Swarm)
    faults: tuple[Fault, ...] = ()
    sybil: Sybil = field(default_factory=Sybil)
    churn: Churn = field(default_factory=Churn)
    placement: Placement = field(default_factory=Placement)
    owners: Owners = field(default_factory=Owners)

    def check(self) -> None:
        self.swarm.check()
        if self.owners.keepers < 0 or self.owners.seized_at_epoch < 0:
            raise ScenarioError("owners.keepers and owners.seized_at_epoch must be >= 0")
        if self.owners.keeper_delay <= 0:
            raise ScenarioError("owners.keeper_delay must be > 0")
        if (
            0
            < self.owners.seized_at_epoch * self.swarm.epoch
            <= self.swarm.warmup + self.swarm.epoch
        ):
            raise ScenarioError(
                "owners.seized_at_epoch must fall after every owner has started its put "
                "(past swarm.warmup plus one epoch)"
            )
        for f in self.faults:
            if isinstance(f, SeizeFault | LossFault) and not 0.0 <= f.fraction <= 1.0:
                raise ScenarioError(f"{f.kind}: fraction must be in [0, 1]")
        if not 0.0 <= self.sybil.fraction < 1.0:
            raise ScenarioError("sybil.fraction must be in [0, 1)")
        if self.sybil.behaviour not in ("drop", "hoard"):
            raise ScenarioError('sybil.behaviour must be "drop" or "hoard"')
        if not 0.0 <= self.sybil.churners < 1.0 - self.sybil.fraction:
            raise ScenarioError("sybil.churners must be in [0, 1 - sybil.fraction)")
        if self.sybil.churners and (self.sybil.churn_every <= 0 or self.sybil.churn_stay <= 0):
            raise ScenarioError("sybil.churn_every and sybil.churn_stay must be > 0")
        if self.swarm.region_rtt and (self.sybil.fraction or self.sybil.churners):
            raise ScenarioError("swarm.region_rtt does not combine with Sybils (their networks)")
        if self.sybil.pong_delay < 0 or self.sybil.churn_links < 0:
            raise ScenarioError("sybil.pong_delay and sybil.churn_links must be >= 0")

    def replace(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)

    def with_swarm(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, swarm=dataclasses.replace(self.swarm, **changes))


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where} must be a table")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build a scenario from parsed TOML; raises ScenarioError with the offending key."""
    top = {"name", "description", "swarm", "fault", "sybil", "churn", "placement", "owners"}
    unknown = sorted(set(data) - top)
    if unknown:
        raise ScenarioError(f"unknown top-level key(s) {', '.join(unknown)}")
    if "name" not in data:
        raise ScenarioError("a scenario needs a name")
    faults: list[Fault] = []
    for i, f in enumerate(data.get("fault", [])):
        kind = f.get("kind") if isinstance(f, Mapping) else None
        if kind not in _FAULTS:
            raise ScenarioError(f"fault {i + 1}: kind must be one of {', '.join(_FAULTS)}")
        faults.append(_build(_FAULTS[kind], f, f"fault {i + 1} ({kind})"))
    sc = Scenario(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        swarm=_build(Swarm, data.get("swarm", {}), "[swarm]"),
        faults=tuple(faults),
        sybil=_build(Sybil, data.get("sybil", {}), "[sybil]"),
        churn=_build(Churn, data.get("churn", {}), "[churn]"),
        placement=_build(Placement, data.get("placement", {}), "[placement]"),
        owners=_build(Owners, data.get("owners", {}), "[owners]"),
    )
    sc.check()
    return sc


def scenario_dir() -> Path:
    """The scenario files that come with the simulator."""
    return Path(__file__).resolve().parent / "scenarios"


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario file, or a bundled one by name (``seize-30``)."""
    path = Path(path_or_name)
    if not path.exists() and path.suffix != ".toml":
        path = scenario_dir() / f"{path_or_name}.toml"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in scenario_dir().glob("*.toml")))
        raise ScenarioError(f"no scenario file {path_or_name!s} (bundled: {names})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ScenarioError(f"cannot read the scenario file {path}: {why}") from None
    return scenario_from_dict(data)
