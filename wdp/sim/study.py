"""The durability study: every scenario under every storage policy, plots and tables.

``wdp sim study`` (``make study``) runs the matrix described by
``wdp/sim/studies/durability.toml``, writes every run's measurements to
``docs/durability/results.json``, draws the PNG plots next to it, and
rewrites the generated part of ``docs/durability.md`` (between the
``<!-- study:begin -->`` and ``<!-- study:end -->`` markers) with the
parameters and the numbers. Same configuration, same numbers: every run is
seeded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scenario import POLICIES, Scenario, ScenarioError, load_scenario
from .world import RunResult, simulate

__all__ = ["Check", "StudyConfig", "keeper_table", "load_study", "run_study", "verdict"]

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"
DAY = 86400.0


@dataclass(frozen=True)
class StudyConfig:
    """What ``durability.toml`` describes (see the file for each key)."""

    scenarios: tuple[str, ...]
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    swarm: dict[str, Any] = field(default_factory=dict)
    attacks: tuple[str, ...] = ()
    attack_policies: tuple[str, ...] = ("static-repair", "wdp", "wdp-off")
    single_seed: tuple[str, ...] = ("wdp-off",)
    sybil_fractions: tuple[float, ...] = (0.1, 0.2, 0.33)
    sybil_seeds: tuple[int, ...] = (1,)
    sybil_policies: tuple[str, ...] = ("wdp", "wdp-off", "static-repair")
    margin: float = 0.01
    must_beat: tuple[str, ...] = ()
    under_one_percent: tuple[str, ...] = ()
    keeper_scenarios: tuple[str, ...] = ()
    keeper_counts: tuple[int, ...] = (0, 1, 2)
    keeper_single_seed: tuple[int, ...] = ()
    owners_seized_at_epoch: float = 2.0

    @property
    def all_scenarios(self) -> tuple[str, ...]:
        return self.scenarios + tuple(a for a in self.attacks if a not in self.scenarios)

    def policies_of(self, scenario: str) -> tuple[str, ...]:
        return self.policies if scenario in self.scenarios else self.attack_policies


def study_dir() -> Path:
    return Path(__file__).resolve().parent / "studies"


_TUPLES: dict[str, Callable[[Any], Any]] = {
    "scenarios": str,
    "policies": str,
    "seeds": int,
    "attacks": str,
    "attack_policies": str,
    "single_seed": str,
    "sybil_fractions": float,
    "sybil_seeds": int,
    "sybil_policies": str,
    "must_beat": str,
    "under_one_percent": str,
    "keeper_scenarios": str,
    "keeper_counts": int,
    "keeper_single_seed": int,
}


def load_study(path: str | Path | None = None) -> StudyConfig:
    p = Path(path) if path is not None else study_dir() / "durability.toml"
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"no study file {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p} is not valid TOML: {exc}") from None
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{p}: unknown key(s) {', '.join(unknown)}")
    missing = [key for key in ("scenarios", "policies", "seeds") if key not in data]
    if missing:
        raise ScenarioError(f"{p}: missing key(s) {', '.join(missing)}")
    try:
        values: dict[str, Any] = {
            key: tuple(cast(x) for x in data[key]) for key, cast in _TUPLES.items() if key in data
        }
        cfg = StudyConfig(
            **values,
            swarm=dict(data.get("swarm", {})),
            margin=float(data.get("margin", 0.01)),
            owners_seized_at_epoch=float(data.get("owners_seized_at_epoch", 2.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{p}: {exc}") from None
    for name in (*cfg.policies, *cfg.attack_policies, *cfg.sybil_policies):
        if name not in POLICIES:
            raise ScenarioError(f"{p}: unknown policy {name} (known: {', '.join(POLICIES)})")
    for name in (*cfg.must_beat, *cfg.under_one_percent):
        if name not in cfg.all_scenarios:
            raise ScenarioError(f"{p}: {name} is checked but not run")
    for name in cfg.keeper_scenarios:
        if "wdp" not in (cfg.policies_of(name) if name in cfg.all_scenarios else ()):
            raise ScenarioError(f"{p}: keeper scenario {name} is not run under wdp in the matrix")
    if cfg.keeper_scenarios and (1 not in cfg.keeper_counts or min(cfg.keeper_counts) < 0):
        raise ScenarioError(f"{p}: keeper_counts must be >= 0 and include 1 (the study checks it)")
    if not set(cfg.keeper_single_seed) <= set(cfg.keeper_counts):
        raise ScenarioError(f"{p}: keeper_single_seed names a count not in keeper_counts")
    return cfg


QUICK = {"nodes": 40, "wanderers": 10, "horizon_epochs": 8.0}


@dataclass(frozen=True)
class Job:
    group: str  # "matrix", "sybil" or "keepers"
    scenario: Scenario
    policy: str
    seed: int


def _jobs(cfg: StudyConfig, quick: bool) -> list[Job]:
    swarm = {**cfg.swarm, **(QUICK if quick else {})}
    seeds = cfg.seeds[:1] if quick else cfg.seeds
    jobs: list[Job] = []
    for name in cfg.all_scenarios:
        sc = load_scenario(name).with_swarm(**swarm)
        for policy in cfg.policies_of(name):
            for seed in seeds[:1] if policy in cfg.single_seed else seeds:
                jobs.append(Job("matrix", sc, policy, seed))
    fractions = cfg.sybil_fractions[:1] if quick else cfg.sybil_fractions
    sweep: list[tuple[str, bool]] = [("drop", False), ("drop", True), ("hoard", False)]
    for behaviour, spread in sweep:
        base = load_scenario(f"sybil-{behaviour}-20").with_swarm(**swarm)
        for fraction in fractions:
            layout = "-spread" if spread else ""
            sc = base.replace(
                name=f"sybil-{behaviour}-{round(fraction * 100)}{layout}",
                sybil=dataclasses.replace(base.sybil, fraction=fraction, spread=spread),
            )  # fmt: skip
            if sc.name in cfg.all_scenarios:
                continue  # run in the matrix already
            for policy in cfg.sybil_policies:
                for seed in cfg.sybil_seeds:
                    jobs.append(Job("sybil", sc, policy, seed))
    for name in cfg.keeper_scenarios:
        base = load_scenario(name).with_swarm(**swarm)
        for count in cfg.keeper_counts:
            owners = dataclasses.replace(
                base.owners, keepers=count, seized_at_epoch=cfg.owners_seized_at_epoch
            )
            for seed in seeds[:1] if count in cfg.keeper_single_seed else seeds:
                jobs.append(Job("keepers", base.replace(owners=owners), "wdp", seed))
    return jobs


def _run(job: Job) -> tuple[Job, dict[str, Any]]:
    result = simulate(job.scenario, POLICIES[job.policy], job.seed)
    data = result.as_json()
    data["group"] = job.group
    return job, data


def run_jobs(
    jobs: list[Job], workers: int, progress: Callable[[int, int, dict[str, Any]], None]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if workers <= 1:
        for i, job in enumerate(jobs):
            _, data = _run(job)
            out.append(data)
            progress(i + 1, len(jobs), data)
        return out
    # Longest runs first keeps both cores busy to the end.
    order = sorted(range(len(jobs)), key=lambda i: POLICIES[jobs[i].policy].wander, reverse=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, (_, data) in enumerate(pool.map(_run, [jobs[i] for i in order])):
            out.append(data)
            progress(i + 1, len(jobs), data)
    return out


# ---- aggregation ---------------------------------------------------------------------------


def _mean(xs: Iterable[float]) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def _key(r: dict[str, Any]) -> tuple[str, str]:
    return r["scenario"], r["policy"]


def _upkeep(runs: list[dict[str, Any]]) -> dict[str, int]:
    """Bytes sent by kind to keep the data stored: the first upload (the same under every
    policy) is left out."""
    by_kind: dict[str, int] = {}
    for r in runs:
        for kind, n in r["bytes_by_kind"].items():
            if not kind.startswith("launch_"):
                by_kind[kind] = by_kind.get(kind, 0) + n
    return by_kind


def upkeep_per_byte_day(runs: list[dict[str, Any]]) -> float:
    """Bytes sent to keep the data stored, per stored payload byte per day of the runs."""
    days = runs[0]["params"]["horizon_epochs"] * runs[0]["params"]["epoch"] / DAY
    stored = sum(r["wanderers"] * r["payload_bytes"] for r in runs)
    return sum(_upkeep(runs).values()) / stored / days if stored else 0.0


def aggregate(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if r["group"] == "matrix":
            groups.setdefault(_key(r), []).append(r)
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for key, runs in groups.items():
        runs.sort(key=lambda r: r["seed"])
        trials = sum(r["wanderers"] for r in runs)
        times = runs[0]["times"]
        lost = [sum(r["lost"][i] for r in runs) / trials for i in range(len(times))]
        upkeep = _upkeep(runs)
        total = sum(upkeep.values())
        control = sum(n for k, n in upkeep.items() if k.endswith("_control"))
        agg[key] = {
            "runs": len(runs),
            "trials": trials,
            "times": times,
            "p_loss": lost,
            "p_loss_final": lost[-1],
            "lost_final": sum(r["lost"][-1] for r in runs),
            "bw_per_byte_day": upkeep_per_byte_day(runs),
            "bw_control_share": control / total if total else 0.0,
            "hops": sum(r["counters"].get("hops", 0) for r in runs),
            "threat_hops": sum(r["counters"].get("hops_THREAT", 0) for r in runs),
            "repairs": sum(r["counters"].get("repairs", 0) for r in runs),
            "seen": sum(r["counters"].get("captured_shards", 0) for r in runs)
            / sum(r["wanderers"] * r["params"]["n"] for r in runs),
            "hoarders": runs[0]["params"]["sybil_behaviour"] == "hoard"
            and runs[0]["params"]["sybil_fraction"] > 0,
            "wall": sum(r["wall_seconds"] for r in runs),
        }
    return agg


def _plain_sybil(r: dict[str, Any]) -> bool:
    """A run whose only attack is a plain Sybil (no turncoats, late joiners, churn, faults)."""
    return bool(r["params"]["sybil_fraction"] > 0 and r["params"].get("sybil_plain", False))


def sybil_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, float, bool, str], list[dict[str, Any]]] = {}
    for r in results:
        if r["group"] == "sybil" or (r["group"] == "matrix" and _plain_sybil(r)):
            p = r["params"]
            key = (p["sybil_behaviour"], p["sybil_fraction"], p["sybil_spread"], r["policy"])
            rows.setdefault(key, []).append(r)
    out = []
    for (behaviour, fraction, spread, policy), runs in sorted(rows.items()):
        n = runs[0]["params"]["n"]
        shards = sum(r["wanderers"] * n for r in runs)
        wanderers = sum(r["wanderers"] for r in runs)
        hops = sum(r["counters"].get("hops", 0) for r in runs)
        out.append(
            {
                "behaviour": behaviour,
                "fraction": fraction,
                "spread": spread,
                "policy": policy,
                "seeds": len(runs),
                "captured_shards": sum(r["counters"].get("captured_shards", 0) for r in runs)
                / shards,
                "captured_wanderers": sum(r["counters"].get("captured_wanderers", 0) for r in runs)
                / wanderers,
                "dropped_per_hop": sum(r["counters"].get("dropped", 0) for r in runs) / hops
                if hops
                else 0.0,
                "lost_wanderers": sum(r["lost"][-1] for r in runs) / wanderers,
                "repairs": sum(r["counters"].get("repairs", 0) for r in runs),
            }
        )
    return out


def keeper_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keeper runs (owners' nodes seized): loss and repairs by scenario and keepers."""
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in results:
        if r["group"] == "keepers":
            rows.setdefault((r["scenario"], r["params"]["keepers"]), []).append(r)
    out = []
    for (name, keepers), runs in sorted(rows.items()):
        trials = sum(r["wanderers"] for r in runs)
        lost = sum(r["lost"][-1] for r in runs)
        out.append(
            {
                "scenario": name,
                "keepers": keepers,
                "seeds": len(runs),
                "lost_final": lost,
                "p_loss_final": lost / trials if trials else 0.0,
                "repairs": sum(r["counters"].get("repairs", 0) for r in runs),
                "keeper_repairs": sum(r["counters"].get("keeper_repairs", 0) for r in runs),
                "keeps": sum(r["counters"].get("keeps", 0) for r in runs),
                "to_keep": keepers
                * sum(r["wanderers"] - r["counters"].get("put_failures", 0) for r in runs),
            }
        )
    return out


@dataclass(frozen=True)
class Check:
    """One line of the study's verdict: what must hold, and whether it did."""

    what: str
    ok: bool


def verdict(
    agg: dict[tuple[str, str], dict[str, Any]],
    cfg: StudyConfig,
    keepers: Iterable[dict[str, Any]] = (),
) -> list[Check]:
    """The study's own pass/fail lines (``make study`` fails if one does not hold).

    * In every scenario WDP loses no more wanderers than static 3-of-8 with
      repair, within ``margin``;
    * strictly fewer in ``must_beat``;
    * fewer than 1 % in ``under_one_percent``;
    * with one keeper, after every owner's node is seized, within ``margin``
      of what it loses with its owner online, in every keeper scenario.
    """
    checks: list[Check] = []
    for name in cfg.all_scenarios:
        wdp, static = agg.get((name, "wdp")), agg.get((name, "static-repair"))
        if wdp is None or static is None:
            continue
        a, b = wdp["p_loss_final"], static["p_loss_final"]
        if name in cfg.must_beat:
            what = f"{name}: WDP loses fewer ({_pct(a)}) than static+repair ({_pct(b)})"
            checks.append(Check(what, wdp["lost_final"] < static["lost_final"]))
        else:
            what = f"{name}: WDP loses {_pct(a)} <= static+repair {_pct(b)} + {_pct(cfg.margin)}"
            checks.append(Check(what, a <= b + cfg.margin + 1e-12))
        if name in cfg.under_one_percent:
            checks.append(Check(f"{name}: WDP loses {_pct(a)} < 1.0%", a < 0.01))
    for row in keepers:
        online = agg.get((row["scenario"], "wdp"))
        if row["keepers"] == 1 and online is not None:
            a, b = row["p_loss_final"], online["p_loss_final"]
            what = (
                f"{row['scenario']}: owners seized, 1 keeper: WDP loses {_pct(a)} <= "
                f"{_pct(b)} with owners online + {_pct(cfg.margin)}; every stored wanderer "
                f"kept ({row['keeps']} of {row['to_keep']})"
            )
            ok = a <= b + cfg.margin + 1e-12 and row["keeps"] == row["to_keep"]
            checks.append(Check(what, ok))
    return checks


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_doc(doc: Path, block: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the generated section between ``begin`` and ``end`` (appended if missing)."""
    text = doc.read_text() if doc.exists() else f"# Durability study\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        text = text.rstrip() + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(head + block + tail)


def run_study(
    *,
    config: str | Path | None = None,
    docs: Path = Path("docs"),
    quick: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] = lambda i, n, r: None,
) -> dict[str, Any]:
    """Run the study and write results, plots and the generated doc section."""
    from .study_report import markdown, plot

    cfg = load_study(config)
    jobs = _jobs(cfg, quick)
    results = run_jobs(jobs, workers or min(2, os.cpu_count() or 1), progress)
    results.sort(key=lambda r: (r["group"], r["scenario"], r["policy"], r["seed"]))
    out = docs / "durability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    agg = aggregate(results)
    syb = sybil_table(results)
    kept = keeper_table(results)
    checks = verdict(agg, cfg, kept)
    plot(agg, syb, cfg, out)
    write_doc(docs / "durability.md", markdown(agg, syb, cfg, results, quick, checks, kept))
    return {"runs": len(results), "out": str(out), "checks": checks}


def result_from_json(data: dict[str, Any]) -> RunResult:
    fields = {f.name for f in dataclasses.fields(RunResult)}
    return RunResult(**{k: v for k, v in data.items() if k in fields})
