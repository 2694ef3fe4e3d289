"""``wdp sim``: run scenarios, the durability study and the simulator benchmark.

Mounted by the ``wdp`` command as its ``sim`` subcommand; also runs alone as
``python -m wdp.sim.cli``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .scenario import POLICIES, ScenarioError, load_scenario, scenario_dir

app = typer.Typer(
    name="sim",
    help="Swarm simulator: the node's own protocol core, driven in virtual time.",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str) -> None:
    typer.echo(f"wdp sim: error: {message}", err=True)
    raise typer.Exit(2)


def _coerce(key: str, value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.lower() in ("1", "true", "yes", "on")
    kind = "a whole number" if isinstance(current, int) else "a number"
    try:
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
    except ValueError:
        raise ValueError(f"--set {key}={value}: {key} takes {kind} (now {current})") from None
    return value


def _writable(path: Path | None, option: str) -> None:
    """Refuse an output file that cannot be written before a long run, not after it."""
    if path is not None and not path.parent.is_dir():
        _fail(f"{option} {path}: the directory {path.parent} does not exist")


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror}")


@app.command("list")
def list_() -> None:
    """List the bundled scenarios and the storage policies."""
    typer.echo("scenarios (wdp/sim/scenarios/):")
    for path in sorted(scenario_dir().glob("*.toml")):
        sc = load_scenario(path)
        typer.echo(f"  {sc.name:18} {' '.join(sc.description.split())}")
    typer.echo("policies:")
    for p in POLICIES.values():
        typer.echo(f"  {p.name:18} {p.label}")


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or a bundled name.")],
    policy: Annotated[str, typer.Option(help="Storage policy (see `wdp sim list`).")] = "wdp",
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same trace.")] = 1,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a [swarm] key, e.g. --set nodes=50 (repeatable)."),
    ] = None,
    keepers: Annotated[
        int | None,
        typer.Option(min=0, max=8, help="Keepers per wanderer (overrides the scenario's)."),
    ] = None,
    owners_seized_at: Annotated[
        float | None,
        typer.Option(
            metavar="EPOCH",
            min=0.0,
            help="Seize every owner's node at this epoch (0: never; overrides the scenario's).",
        ),
    ] = None,
    trace: Annotated[Path | None, typer.Option(help="Write the event trace to this file.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the measurements as JSON.")
    ] = None,
) -> None:
    """Run one scenario under one storage policy and print what happened."""
    from .world import simulate

    try:
        sc = load_scenario(scenario)
        overrides: dict[str, Any] = {}
        for item in set_ or []:
            key, sep, value = item.partition("=")
            if not sep or not hasattr(sc.swarm, key):
                fields = ", ".join(f.name for f in dataclasses.fields(sc.swarm))
                _fail(f"--set needs KEY=VALUE with a [swarm] key ({fields}); got {item!r}")
            overrides[key] = _coerce(key, value, getattr(sc.swarm, key))
        sc = sc.with_swarm(**overrides)
        if keepers is not None:
            sc = sc.replace(owners=dataclasses.replace(sc.owners, keepers=keepers))
        if owners_seized_at is not None:
            sc = sc.replace(owners=dataclasses.replace(sc.owners, seized_at_epoch=owners_seized_at))
        sc.check()
    except (ScenarioError, ValueError) as exc:
        _fail(str(exc))
    if policy not in POLICIES:
        _fail(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")
    _writable(trace, "--trace")
    _writable(json_out, "--json")
    result = simulate(sc, POLICIES[policy], seed, keep_trace=trace is not None)
    if trace is not None:
        _write(trace, result.trace)
    if json_out is not None:
        _write(json_out, json.dumps(result.as_json(), indent=1, sort_keys=True) + "\n")
    c = result.counters
    typer.echo(f"{sc.name} / {policy} / seed {seed}: {sc.description}")
    typer.echo(
        f"  lost {result.lost[-1]} of {result.wanderers} wanderers after "
        f"{sc.swarm.horizon_epochs:g} epochs"
    )
    typer.echo(
        f"  {c.get('sessions', 0)} handoff sessions, {c.get('hops', 0)} hops "
        f"(TTL {c.get('hops_TTL', 0)}, THREAT {c.get('hops_THREAT', 0)}, "
        f"REPAIR {c.get('hops_REPAIR', 0)}), {c.get('seized', 0)} nodes seized"
    )
    if sc.owners.keepers or sc.owners.seized_at_epoch:
        seized = (
            f"owners' nodes seized at epoch {sc.owners.seized_at_epoch:g}"
            if sc.owners.seized_at_epoch
            else "owners online"
        )
        typer.echo(
            f"  {seized}; {sc.owners.keepers} keeper(s) per wanderer, "
            f"{c.get('keeper_repairs', 0)} of {c.get('repairs', 0)} repairs by keepers"
        )
    typer.echo(
        f"  {sum(result.bytes_by_kind.values()) / 1e6:.1f} MB sent; "
        f"{result.events} events in {result.wall_seconds:.1f} s "
        f"({result.sessions_per_second:.0f} sessions/s); trace {result.trace_digest[:16]}"
    )


@app.command()
def study(
    config: Annotated[
        Path | None, typer.Option(help="Study file (default wdp/sim/studies/durability.toml).")
    ] = None,
    docs: Annotated[Path, typer.Option(help="Where durability.md and its plots go.")] = Path(
        "docs"
    ),
    quick: Annotated[
        bool, typer.Option(help="A small, fast version (checks the pipeline).")
    ] = False,
    jobs: Annotated[int, typer.Option(help="Runs in parallel (processes).")] = 2,
) -> None:
    """Run the durability study: numbers and plots in docs; exit 1 if its verdict fails."""
    if importlib.util.find_spec("matplotlib") is None:
        _fail("the study draws its plots with matplotlib, which is not installed: "
              "pip install 'wdp[study]' (or 'make install')")  # fmt: skip
    from .study import run_study

    def progress(i: int, n: int, r: dict[str, Any]) -> None:
        kept = (
            f" (owners seized, {r['params']['keepers']} keepers)" if r["group"] == "keepers" else ""
        )
        typer.echo(
            f"[{i}/{n}] {r['scenario']}{kept} {r['policy']} seed {r['seed']}: lost "
            f"{r['lost'][-1]}/{r['wanderers']} ({r['wall_seconds']:.0f} s)"
        )

    try:
        out = run_study(config=config, docs=docs, quick=quick, workers=jobs, progress=progress)
    except ScenarioError as exc:
        _fail(str(exc))
    except OSError as exc:  # writing the results, plots or the doc
        where = f" {exc.filename}" if exc.filename else ""
        _fail(f"cannot write the study's output{where}: {exc.strerror or exc}")
    typer.echo(
        f"{out['runs']} runs; results and plots in {out['out']}, numbers in {docs}/durability.md"
    )
    for check in out["checks"]:
        typer.echo(f"{'PASS' if check.ok else 'FAIL'}: {check.what}")
    failed = sum(not check.ok for check in out["checks"])
    if failed:
        typer.echo(f"wdp sim: the study's verdict: {failed} line(s) do not hold", err=True)
        raise typer.Exit(1)


@app.command()
def budget(
    docs: Annotated[Path, typer.Option(help="Where durability.md and its plots go.")] = Path(
        "docs"
    ),
    quick: Annotated[
        bool, typer.Option(help="A small, fast version (checks the pipeline).")
    ] = False,
    jobs: Annotated[int, typer.Option(help="Runs in parallel (processes).")] = 2,
) -> None:
    """The hop budget: loss, exposure and bandwidth against epoch length and attacker lag."""
    if importlib.util.find_spec("matplotlib") is None:
        _fail("the hop budget draws its plots with matplotlib, which is not installed: "
              "pip install 'wdp[study]' (or 'make install')")  # fmt: skip
    from .budget import run_budget

    def progress(i: int, n: int, r: dict[str, Any]) -> None:
        typer.echo(f"[{i}/{n}] {r['scenario']} {r['policy']}: lost {r['lost'][-1]}/"
                   f"{r['wanderers']} ({r['wall_seconds']:.0f} s)")  # fmt: skip

    try:
        out = run_budget(docs=docs, quick=quick, workers=jobs, progress=progress)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _fail(f"cannot write the hop budget's output{where}: {exc.strerror or exc}")
    typer.echo(f"{out['runs']} runs; numbers in {docs}/durability.md")


@app.command("bench")
def bench_(
    quick: Annotated[bool, typer.Option(help="Smaller runs (seconds instead of minutes).")] = False,
    scale_epochs: Annotated[float, typer.Option(help="Epochs of the 10,000-node run.")] = 2.0,
) -> None:
    """Measure handoffs simulated per second (fidelity, stand-in crypto, target scale)."""
    from .bench import bench, report

    typer.echo(report(bench(quick=quick, scale_epochs=scale_epochs)))


def main() -> None:
    """Entry point for ``python -m wdp.sim.cli``."""
    app(prog_name="wdp sim")


if __name__ == "__main__":  # pragma: no cover
    main()
