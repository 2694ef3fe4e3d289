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

from .scenario import POLICIES, Placement, Scenario, ScenarioError, Sybil, load_scenario
from .world import RunResult, simulate

__all__ = ["StudyConfig", "load_study", "run_study"]

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"
DAY = 86400.0


@dataclass(frozen=True)
class StudyConfig:
    scenarios: tuple[str, ...]
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    swarm: dict[str, Any] = field(default_factory=dict)
    sybil_fractions: tuple[float, ...] = (0.1, 0.2, 0.33)
    sybil_seeds: tuple[int, ...] = (1,)
    sybil_policies: tuple[str, ...] = ("wdp", "static-repair")


def study_dir() -> Path:
    return Path(__file__).resolve().parent / "studies"


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
        cfg = StudyConfig(
            scenarios=tuple(data["scenarios"]),
            policies=tuple(data["policies"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            swarm=dict(data.get("swarm", {})),
            sybil_fractions=tuple(float(f) for f in data.get("sybil_fractions", (0.1, 0.2, 0.33))),
            sybil_seeds=tuple(int(s) for s in data.get("sybil_seeds", (1,))),
            sybil_policies=tuple(data.get("sybil_policies", ("wdp", "static-repair"))),
        )
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{p}: {exc}") from None
    for name in (*cfg.policies, *cfg.sybil_policies):
        if name not in POLICIES:
            raise ScenarioError(f"{p}: unknown policy {name} (known: {', '.join(POLICIES)})")
    return cfg


QUICK = {"nodes": 40, "wanderers": 10, "horizon_epochs": 8.0}


@dataclass(frozen=True)
class Job:
    group: str  # "matrix" or "sybil"
    scenario: Scenario
    policy: str
    seed: int
    defences: bool = True


def _jobs(cfg: StudyConfig, quick: bool) -> list[Job]:
    swarm = {**cfg.swarm, **(QUICK if quick else {})}
    seeds = cfg.seeds[:1] if quick else cfg.seeds
    jobs: list[Job] = []
    for name in cfg.scenarios:
        sc = load_scenario(name).with_swarm(**swarm)
        for policy in cfg.policies:
            for seed in seeds:
                jobs.append(Job("matrix", sc, policy, seed))
    fractions = cfg.sybil_fractions[:1] if quick else cfg.sybil_fractions
    for behaviour in ("drop", "hoard"):
        base = load_scenario(f"sybil-{behaviour}-20").with_swarm(**swarm)
        for fraction in fractions:
            for defences in (True, False):
                placement = Placement() if defences else Placement(prefix_bits=0, recent_window=0)
                sc = base.replace(
                    name=f"sybil-{behaviour}-{round(fraction * 100)}",
                    sybil=Sybil(
                        fraction=fraction, behaviour=behaviour, prefixes=base.sybil.prefixes
                    ),
                    placement=placement,
                )
                for policy in cfg.sybil_policies:
                    if policy != "wdp" and not defences:
                        continue  # static placement happens once: the defences barely apply
                    for seed in cfg.sybil_seeds:
                        jobs.append(Job("sybil", sc, policy, seed, defences))
    return jobs


def _run(job: Job) -> tuple[Job, dict[str, Any]]:
    result = simulate(job.scenario, POLICIES[job.policy], job.seed)
    data = result.as_json()
    data["group"] = job.group
    data["defences"] = job.defences
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
        days = runs[0]["params"]["horizon_epochs"] * runs[0]["params"]["epoch"] / DAY
        stored = sum(r["wanderers"] * r["payload_bytes"] for r in runs)
        by_kind: dict[str, int] = {}
        for r in runs:
            for kind, n in r["bytes_by_kind"].items():
                by_kind[kind] = by_kind.get(kind, 0) + n
        upkeep = {k: n for k, n in by_kind.items() if not k.startswith("launch_")}
        total = sum(upkeep.values())  # the first upload is the same for every policy: left out
        control = sum(n for k, n in upkeep.items() if k.endswith("_control"))
        agg[key] = {
            "runs": len(runs),
            "trials": trials,
            "times": times,
            "p_loss": lost,
            "p_loss_final": lost[-1],
            "lost_final": sum(r["lost"][-1] for r in runs),
            "bw_per_byte_day": total / stored / days if stored else 0.0,
            "bw_control_share": control / total if total else 0.0,
            "hops": sum(r["counters"].get("hops", 0) for r in runs),
            "threat_hops": sum(r["counters"].get("hops_THREAT", 0) for r in runs),
            "repairs": sum(r["counters"].get("repairs", 0) for r in runs),
            "wall": sum(r["wall_seconds"] for r in runs),
        }
    return agg


def sybil_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, float, str, bool], list[dict[str, Any]]] = {}
    for r in results:
        if r["group"] == "sybil":
            p = r["params"]
            key = (p["sybil_behaviour"], p["sybil_fraction"], r["policy"], r["defences"])
            rows.setdefault(key, []).append(r)
    out = []
    for (behaviour, fraction, policy, defences), runs in sorted(rows.items()):
        n = runs[0]["params"]["n"]
        shards = sum(r["wanderers"] * n for r in runs)
        wanderers = sum(r["wanderers"] for r in runs)
        hops = sum(r["counters"].get("hops", 0) for r in runs)
        out.append(
            {
                "behaviour": behaviour,
                "fraction": fraction,
                "policy": policy,
                "defences": defences,
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


# ---- plots ---------------------------------------------------------------------------------

POLICY_STYLE = {
    "poc": ("tab:red", "-"),
    "replication": ("tab:orange", "--"),
    "static": ("tab:gray", ":"),
    "static-repair": ("tab:blue", "-."),
    "wdp": ("tab:green", "-"),
}


def plot(
    agg: dict[tuple[str, str], dict[str, Any]],
    sybil: list[dict[str, Any]],
    cfg: StudyConfig,
    out: Path,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    scenarios = [s for s in cfg.scenarios if any((s, p) in agg for p in cfg.policies)]
    cols = 2
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, scenarios, strict=False):
        for policy in cfg.policies:
            a = agg.get((name, policy))
            if a is None:
                continue
            color, style = POLICY_STYLE.get(policy, ("black", "-"))
            ax.step(a["times"], a["p_loss"], where="post", color=color, linestyle=style,
                    label=POLICIES[policy].label or policy)  # fmt: skip
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epochs")
        ax.set_ylabel("P(wanderer lost)")
        ax.set_ylim(bottom=-0.01)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    paths.append(out / "loss-over-time.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / max(1, len(cfg.policies))
    for j, policy in enumerate(cfg.policies):
        xs, ys = [], []
        for i, name in enumerate(scenarios):
            a = agg.get((name, policy))
            if a is not None:
                xs.append(i + j * width)
                ys.append(max(a["bw_per_byte_day"], 1e-4))
        color, _ = POLICY_STYLE.get(policy, ("black", "-"))
        ax.bar(xs, ys, width, color=color, label=POLICIES[policy].label or policy)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(scenarios))], scenarios, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("bytes sent per stored byte per day")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    paths.append(out / "bandwidth.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    if sybil:
        fig, axes2 = plt.subplots(1, 2, figsize=(11, 3.6))
        for ax, behaviour, metric, title in (
            (axes2[0], "hoard", "captured_shards", "hoarding Sybil: shards it saw"),
            (axes2[1], "drop", "lost_wanderers", "dropping Sybil: wanderers lost"),
        ):
            for policy in cfg.sybil_policies:
                for defences in (True, False):
                    pts = [
                        (r["fraction"], r[metric])
                        for r in sybil
                        if r["behaviour"] == behaviour
                        and r["policy"] == policy
                        and r["defences"] == defences
                    ]
                    if not pts:
                        continue
                    color, _ = POLICY_STYLE.get(policy, ("black", "-"))
                    ax.plot(*zip(*pts, strict=True), marker="o", color=color,
                            linestyle="-" if defences else "--",
                            label=f"{policy}, defences {'on' if defences else 'off'}")  # fmt: skip
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("share of nodes that are Sybil")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(out / "sybil.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


# ---- the generated part of docs/durability.md -------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(
    agg: dict[tuple[str, str], dict[str, Any]],
    sybil: list[dict[str, Any]],
    cfg: StudyConfig,
    results: list[dict[str, Any]],
    quick: bool,
) -> str:
    first = next(r for r in results if r["group"] == "matrix")
    p = first["params"]
    lines = [
        BEGIN,
        "",
        "_Generated by `make study` (`wdp sim study`"
        + (" --quick" if quick else "")
        + "); do not edit by hand._",
        "",
        "**Parameters.** "
        f"{p['nodes']} nodes, each connected to about {p['degree']} others, spread over "
        f"{p['prefixes']} IPv4 /16 networks; {first['wanderers']} wanderers of "
        f"{first['payload_bytes'] // 1024} KiB per run; epoch {p['epoch']} s; horizon "
        f"{p['horizon_epochs']:g} epochs; pings every {cfg.swarm.get('ping_interval', 30)} s "
        f"(threat-sensing policies); crypto: {p['crypto']}; seeds "
        f"{', '.join(str(s) for s in (cfg.seeds[:1] if quick else cfg.seeds))} "
        f"(P(loss) is over {first['wanderers'] * len(cfg.seeds[:1] if quick else cfg.seeds)} "
        "wanderers per cell). Study file: `wdp/sim/studies/durability.toml`.",
        "",
        "| policy | k-of-n | storage | wanders | flees threats | repaired |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in cfg.policies:
        spec = POLICIES[name]
        yn = {True: "yes", False: "no"}
        lines.append(
            f"| {spec.label or name} | {spec.k}-of-{spec.n} | {spec.overhead:.2f}x | "
            f"{yn[spec.wander]} | {yn[spec.threat]} | {yn[spec.repair]} |"
        )
    lines += [
        "",
        "**Probability that a wanderer is lost by the end of the run** (lost: fewer than k "
        "of its shards held by any live carrier):",
        "",
        "| scenario | " + " | ".join(cfg.policies) + " |",
        "| --- |" + " --- |" * len(cfg.policies),
    ]
    scenarios = [s for s in cfg.scenarios if any((s, q) in agg for q in cfg.policies)]
    for name in scenarios:
        cells = []
        for pol in cfg.policies:
            a = agg.get((name, pol))
            cells.append("" if a is None else f"{_pct(a['p_loss_final'])} ({a['lost_final']})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Bytes sent per stored payload byte per day to keep the data stored** (hops, repair "
        "launches and repair fetches; the first upload, pings and DHT traffic are not "
        "counted), and the share of it that is protocol (offers with their custody chains, "
        "receipts, fetch requests and headers) rather than shard data:",
        "",
        "| scenario | " + " | ".join(cfg.policies) + " |",
        "| --- |" + " --- |" * len(cfg.policies),
    ]
    for name in scenarios:
        cells = []
        for pol in cfg.policies:
            a = agg.get((name, pol))
            cells.append(
                ""
                if a is None
                else f"{a['bw_per_byte_day']:.3g} ({_pct(a['bw_control_share'])} protocol)"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Hops, threat hops and repairs** (all seeds together):",
        "",
        "| scenario | policy | hops | THREAT hops | REPAIR launches | simulated in |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in scenarios:
        for pol in cfg.policies:
            a = agg.get((name, pol))
            if a is not None and (a["hops"] or a["repairs"]):
                lines.append(
                    f"| {name} | {pol} | {a['hops']} | {a['threat_hops']} | {a['repairs']} | "
                    f"{a['wall']:.0f} s |"
                )
    if sybil:
        lines += [
            "",
            "**Sybil attacker** (its nodes sit in "
            f"{load_scenario('sybil-drop-20').sybil.prefixes} /16 networks of its own). "
            "Defences on: prefix diversity (/16) and avoiding the last 8 carriers; off: "
            "neither. *Seen*: share of all shards a hoarding attacker held at some point; "
            "*rebuildable*: share of wanderers of which it held at least k distinct shards; "
            "*drops/hop*: share of hops that ended at a dropping Sybil; *lost*: wanderers lost.",
            "",
            "| Sybil share | policy | defences | hoard: seen | hoard: rebuildable | "
            "drop: drops/hop | drop: lost |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        index = {(r["behaviour"], r["fraction"], r["policy"], r["defences"]): r for r in sybil}
        combos = sorted({(r["fraction"], r["policy"], r["defences"]) for r in sybil})
        for fraction, pol, defences in combos:
            h = index.get(("hoard", fraction, pol, defences))
            d = index.get(("drop", fraction, pol, defences))
            lines.append(
                f"| {_pct(fraction)} | {pol} | {'on' if defences else 'off'} | "
                f"{_pct(h['captured_shards']) if h else ''} | "
                f"{_pct(h['captured_wanderers']) if h else ''} | "
                f"{_pct(d['dropped_per_hop']) if d else ''} | "
                f"{_pct(d['lost_wanderers']) if d else ''} |"
            )
    lines += [
        "",
        "![probability of loss over time](durability/loss-over-time.png)",
        "",
        "![bandwidth per stored byte](durability/bandwidth.png)",
        "",
    ]
    if sybil:
        lines += ["![Sybil attacker](durability/sybil.png)", ""]
    lines.append(END)
    return "\n".join(lines)


def write_doc(doc: Path, block: str) -> None:
    text = doc.read_text() if doc.exists() else f"# Durability study\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
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
    cfg = load_study(config)
    jobs = _jobs(cfg, quick)
    results = run_jobs(jobs, workers or min(2, os.cpu_count() or 1), progress)
    results.sort(key=lambda r: (r["group"], r["scenario"], r["policy"], r["defences"], r["seed"]))
    out = docs / "durability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    agg = aggregate(results)
    syb = sybil_table(results)
    plot(agg, syb, cfg, out)
    write_doc(docs / "durability.md", markdown(agg, syb, cfg, results, quick))
    return {"runs": len(results), "out": str(out)}


def result_from_json(data: dict[str, Any]) -> RunResult:
    fields = {f.name for f in dataclasses.fields(RunResult)}
    return RunResult(**{k: v for k, v in data.items() if k in fields})
