"""The study's plots and the generated part of ``docs/durability.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .scenario import POLICIES
from .study import BEGIN, END, Check, StudyConfig, _pct

__all__ = ["markdown", "plot"]

# ---- plots ---------------------------------------------------------------------------------

POLICY_STYLE = {
    "poc": ("tab:red", "-"),
    "replication": ("tab:orange", "--"),
    "static": ("tab:gray", ":"),
    "static-repair": ("tab:blue", "-."),
    "wdp": ("tab:green", "-"),
    "wdp-off": ("tab:olive", "--"),
}


def _policies(cfg: StudyConfig) -> list[str]:
    """Every policy the study runs somewhere, in table order."""
    out = list(cfg.policies)
    out += [p for p in (*cfg.attack_policies, *cfg.sybil_policies) if p not in out]
    return out


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
    policies = _policies(cfg)
    scenarios = [s for s in cfg.all_scenarios if any((s, p) in agg for p in policies)]
    cols = 2
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, scenarios, strict=False):
        for policy in policies:
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
    handles, labels = [], []
    for ax in axes.flat:  # the union of every panel's policies
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    paths.append(out / "loss-over-time.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(13, 4.5))
    width = 0.8 / max(1, len(policies))
    for j, policy in enumerate(policies):
        xs, ys = [], []
        for i, name in enumerate(scenarios):
            a = agg.get((name, policy))
            if a is not None:
                xs.append(i + j * width)
                ys.append(max(a["bw_per_byte_day"], 1e-4))
        color, _ = POLICY_STYLE.get(policy, ("black", "-"))
        ax.bar(xs, ys, width, color=color, label=POLICIES[policy].label or policy)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(scenarios))], scenarios, fontsize=7,
                  rotation=30, ha="right")  # fmt: skip
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
                for spread in (False, True):
                    pts = sorted(
                        (r["fraction"], r[metric])
                        for r in sybil
                        if r["behaviour"] == behaviour
                        and r["policy"] == policy
                        and r["spread"] == spread
                    )
                    if not pts:
                        continue
                    color, style = POLICY_STYLE.get(policy, ("black", "-"))
                    ax.plot(*zip(*pts, strict=True), marker="o" if spread else "s", color=color,
                            linestyle=style, alpha=0.6 if spread else 1.0,
                            label=f"{policy}{', one /16 each' if spread else ''}")  # fmt: skip
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


def markdown(
    agg: dict[tuple[str, str], dict[str, Any]],
    sybil: list[dict[str, Any]],
    cfg: StudyConfig,
    results: list[dict[str, Any]],
    quick: bool,
    checks: list[Check],
    keepers: list[dict[str, Any]] | None = None,
) -> str:
    first = next(r for r in results if r["group"] == "matrix")
    p = first["params"]
    seeds = cfg.seeds[:1] if quick else cfg.seeds
    policies = _policies(cfg)
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
        f"{', '.join(str(s) for s in seeds)} "
        f"(P(loss) is over {first['wanderers'] * len(seeds)} wanderers per cell; "
        f"{', '.join(cfg.single_seed)} runs the first seed only, "
        f"{first['wanderers']} wanderers). Study file: `wdp/sim/studies/durability.toml`.",
        "",
        "| policy | k-of-n | storage | wanders | flees threats | repaired | defences |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    yn = {True: "yes", False: "no"}
    for name in policies:
        spec = POLICIES[name]
        lines.append(
            f"| {spec.label or name} | {spec.k}-of-{spec.n} | {spec.overhead:.2f}x | "
            f"{yn[spec.wander]} | {yn[spec.threat]} | {yn[spec.repair]} | "
            f"{yn[spec.defences] if spec.wander or spec.repair else ''} |"
        )
    lines += [
        "",
        "**Verdict** (`make study` fails if a line does not hold):",
        "",
        *[f"- {'PASS' if c.ok else 'FAIL'}: {c.what}" for c in checks],
        "",
        "**Probability that a wanderer is lost by the end of the run** (lost: fewer than k "
        "of its shards held by any live carrier; in brackets, how many):",
        "",
        "| scenario | " + " | ".join(policies) + " |",
        "| --- |" + " --- |" * len(policies),
    ]
    scenarios = [s for s in cfg.all_scenarios if any((s, q) in agg for q in policies)]
    for name in scenarios:
        cells = []
        for pol in policies:
            a = agg.get((name, pol))
            cells.append("" if a is None else f"{_pct(a['p_loss_final'])} ({a['lost_final']})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Bytes sent per stored payload byte per day to keep the data stored** (hops, repair "
        "launches, repair fetches and audits; the first upload, pings and DHT traffic are not "
        "counted), and the share of it that is protocol (offers with their custody chains, "
        "receipts, fetch requests and headers, audits) rather than shard data:",
        "",
        "| scenario | " + " | ".join(policies) + " |",
        "| --- |" + " --- |" * len(policies),
    ]
    for name in scenarios:
        cells = []
        for pol in policies:
            a = agg.get((name, pol))
            cells.append(
                ""
                if a is None
                else f"{a['bw_per_byte_day']:.3g} ({_pct(a['bw_control_share'])} protocol)"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    hoarded = [s for s in scenarios if any(agg[k]["hoarders"] for k in agg if k[0] == s)]
    if hoarded:
        lines += [
            "",
            "**What a hoarding attacker sees**: the share of all shards its nodes held at some "
            "point in the run (a copy kept is a copy it can read with the wanderer's key, or "
            "hand over):",
            "",
            "| scenario | " + " | ".join(policies) + " |",
            "| --- |" + " --- |" * len(policies),
        ]
        for name in hoarded:
            cells = []
            for pol in policies:
                a = agg.get((name, pol))
                cells.append("" if a is None else _pct(a["seen"]))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Hops, threat hops and repairs** (all seeds together):",
        "",
        "| scenario | policy | hops | THREAT hops | REPAIR launches | simulated in |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in scenarios:
        for pol in policies:
            a = agg.get((name, pol))
            if a is not None and (a["hops"] or a["repairs"]):
                lines.append(
                    f"| {name} | {pol} | {a['hops']} | {a['threat_hops']} | {a['repairs']} | "
                    f"{a['wall']:.0f} s |"
                )
    if sybil:
        lines += [
            "",
            "**Sybil sweep**: an attacker's nodes in 4 /16 networks of their own (clustered) or "
            "each in a /16 of its own (spread). *Seen*: share of all shards a hoarding attacker "
            "held at some point; *rebuildable*: share of wanderers of which it held at least k "
            "distinct shards; *drops/hop*: share of hops that ended at a dropping Sybil; *lost*: "
            "wanderers lost.",
            "",
            "| Sybil share | layout | policy | seeds (hoard / drop) | hoard: seen | "
            "hoard: rebuildable | drop: drops/hop | drop: lost |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        index = {(r["behaviour"], r["fraction"], r["spread"], r["policy"]): r for r in sybil}
        combos = sorted({(r["fraction"], r["spread"], r["policy"]) for r in sybil})
        for fraction, spread, pol in combos:
            h = index.get(("hoard", fraction, spread, pol))
            d = index.get(("drop", fraction, spread, pol))
            n = " / ".join(str(x["seeds"]) for x in (h, d) if x is not None)
            lines.append(
                f"| {_pct(fraction)} | {'spread' if spread else 'clustered'} | {pol} | {n} | "
                f"{_pct(h['captured_shards']) if h else ''} | "
                f"{_pct(h['captured_wanderers']) if h else ''} | "
                f"{_pct(d['dropped_per_hop']) if d else ''} | "
                f"{_pct(d['lost_wanderers']) if d else ''} |"
            )
    if keepers:
        lines += _keeper_lines(agg, keepers, cfg)
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


def _keeper_lines(
    agg: dict[tuple[str, str], dict[str, Any]], keepers: list[dict[str, Any]], cfg: StudyConfig
) -> list[str]:
    """The keepers table: WDP's loss with every owner's node seized, by keepers per wanderer."""
    counts = sorted({r["keepers"] for r in keepers})
    index = {(r["scenario"], r["keepers"]): r for r in keepers}
    seeds = {c: max(r["seeds"] for r in keepers if r["keepers"] == c) for c in counts}
    lines = [
        "",
        f"**Keepers**: every owner's node is seized at epoch {cfg.owners_seized_at_epoch:g} "
        "(its records go with it); from then on only the wanderer's keepers (nodes given its "
        "repair capability, spec 16.1) audit and repair it. WDP's loss, beside its loss with "
        "the owners online; in brackets, wanderers lost and repairs by keepers (seeds: "
        + ", ".join(f"{c} keeper{'s' if c != 1 else ''}: {seeds[c]}" for c in counts)
        + "):",
        "",
        "| scenario | owners online | "
        + " | ".join(f"{c} keeper{'s' if c != 1 else ''}" for c in counts)
        + " |",
        "| --- | --- |" + " --- |" * len(counts),
    ]
    for name in dict.fromkeys(r["scenario"] for r in keepers):
        online = agg.get((name, "wdp"))
        cells = [f"{_pct(online['p_loss_final'])} ({online['lost_final']})" if online else ""]
        for c in counts:
            r = index.get((name, c))
            cells.append(
                ""
                if r is None
                else f"{_pct(r['p_loss_final'])} ({r['lost_final']}, {r['keeper_repairs']} repairs)"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
