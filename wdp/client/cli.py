"""wdp: store a file in the swarm and get it back, through your local wdp-node."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from wdp.core.capability import CapabilityError, RepairCapability
from wdp.core.limits import MAX_FILE_SIZE
from wdp.core.ticket import Ticket, TicketError
from wdp.node.settings import format_size

from .api import ApiClient, ClientError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    help=__doc__,
)
err = Console(stderr=True, soft_wrap=True)
out = Console()

DEFAULT_DIR = Path.home() / ".wdp"
_AFTER = " Also accepted after the command, where it wins."
_HERE = "See wdp --help; given here, it wins over the same option before the command."

# The connection options, given before the command (`wdp --api HOST:PORT status`,
# as in `ipfs --api`) and read from the environment there.
RootDataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="WDP_DATA_DIR",
        metavar="DIR",
        help="The local node's data directory (its API socket is DIR/api.sock)." + _AFTER,
    ),
]
RootApi = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="WDP_API",
        metavar="HOST:PORT",
        help="Talk to a node's TCP API (wdp-node --api-listen) instead of its socket, "
        "e.g. a container's API published on 127.0.0.1:5080." + _AFTER,
        show_default=False,
    ),
]
RootToken = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="WDP_API_TOKEN",
        metavar="TOKEN",
        help="The token of the node's TCP API (prefer the WDP_API_TOKEN variable)." + _AFTER,
        show_default=False,
    ),
]
RootTokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="WDP_API_TOKEN_FILE",
        metavar="FILE",
        help="Read the TCP API token from FILE (default: DATA_DIR/api.token)." + _AFTER,
        show_default=False,
    ),
]

# The same options after the command (`wdp status --api HOST:PORT`): no
# environment variables here, so that a flag before the command is not
# overridden by the environment.
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", metavar="DIR", help=_HERE, show_default=False),
]
Api = Annotated[
    str | None,
    typer.Option("--api", metavar="HOST:PORT", help=_HERE, show_default=False),
]
Token = Annotated[
    str | None,
    typer.Option("--token", metavar="TOKEN", help=_HERE, show_default=False),
]
TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", metavar="FILE", help=_HERE, show_default=False),
]


@dataclass
class Connection:
    """How to reach the node: its data directory, or its TCP API and that API's token."""

    data_dir: Path = DEFAULT_DIR
    api: str | None = None
    token: str | None = None
    token_file: Path | None = None

    def overridden(
        self,
        data_dir: Path | None = None,
        api: str | None = None,
        token: str | None = None,
        token_file: Path | None = None,
    ) -> Connection:
        """These options given after the command win over the ones before it.

        The token and the token file are one choice: either given after the
        command replaces both from before it (and from the environment).
        """
        given_token = token is not None or token_file is not None
        return Connection(
            data_dir=data_dir if data_dir is not None else self.data_dir,
            api=api if api is not None else self.api,
            token=token if given_token else self.token,
            token_file=token_file if given_token else self.token_file,
        )


@app.callback()
def connection_options(
    ctx: typer.Context,
    data_dir: RootDataDir = DEFAULT_DIR,
    api: RootApi = None,
    token: RootToken = None,
    token_file: RootTokenFile = None,
) -> None:
    """The connection options before the command, for every command to use."""
    ctx.obj = Connection(data_dir, api, token, token_file)


def client(
    ctx: typer.Context,
    data_dir: Path | None = None,
    api: str | None = None,
    token: str | None = None,
    token_file: Path | None = None,
) -> ApiClient:
    """The node's API: its Unix socket, or ``--api`` over TCP with the token."""
    base = ctx.find_object(Connection) or Connection()
    conn = base.overridden(data_dir, api, token, token_file)
    if conn.api is None:
        return ApiClient(conn.data_dir.expanduser() / "api.sock")
    token = conn.token
    if token is None:
        path = conn.token_file or conn.data_dir.expanduser() / "api.token"
        try:
            token = path.expanduser().read_text().strip()
        except FileNotFoundError:
            if conn.token_file is not None:
                fail(f"token file {conn.token_file} does not exist")
        except OSError as exc:
            fail(f"cannot read the token file {path}: {exc.strerror}")
    try:
        return ApiClient(tcp=conn.api, token=token)
    except ClientError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    err.print(f"wdp: error: {message}", highlight=False, markup=False)
    raise typer.Exit(1)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@app.command()
def put(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to store.")],
    k: Annotated[
        int | None, typer.Option(help="Shards needed to rebuild (node default: 3).")
    ] = None,
    n: Annotated[
        int | None, typer.Option(help="Shards made, one per peer (node default: 8).")
    ] = None,
    epoch: Annotated[
        int | None, typer.Option(metavar="SECONDS", help="How long a shard stays on a peer.")
    ] = None,
    keeper: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NODE",
            help="Another node to keep it (check and repair it, never read it), by its data "
            "directory or HOST:PORT of its TCP API (with --keeper-token-file). Repeat for "
            "more; each waits --keeper-delay longer than the one before it to repair.",
        ),
    ] = None,
    keeper_delay: Annotated[
        int,
        typer.Option(
            metavar="SECONDS",
            min=1,
            max=86_400,
            help="How long the first keeper waits before it repairs a lost shard (the owner's "
            "node repairs at once); the second waits twice as long, and so on.",
        ),
    ] = 60,
    keeper_token_file: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="The token of a HOST:PORT keeper's API, in the order of the keepers.",
        ),
    ] = None,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Encrypt FILE, split it into shards, launch them into the swarm, print the ticket.

    Keep the ticket secret: it finds and decrypts the data. Lose it and nobody can read the data.
    """
    keepers = _keepers(keeper or [], keeper_token_file or [])
    try:
        source = file.open("rb")
        size = os.fstat(source.fileno()).st_size
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    if size > MAX_FILE_SIZE:
        fail(f"{file} is larger than the {MAX_FILE_SIZE} bytes one put can store")
    request: dict[str, Any] = {"op": "put", "name": file.name, "size": size,
                               "k": k, "n": n, "epoch": epoch}  # fmt: skip
    with source, _bar() as bar:
        task = bar.add_task("sending to the node", total=size or 1)

        def progress(ev: dict[str, Any]) -> None:
            bar.update(task, description=ev["what"], completed=ev["done"], total=ev["total"])

        try:
            answer, _ = client(ctx, data_dir, api, token, token_file).call(
                request, None, progress, sent=lambda s: bar.update(task, completed=s),
                source=source,
            )  # fmt: skip
        except ClientError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    segments = answer.get("segments", 1)
    parts = f" in {segments} segments" if segments > 1 else ""
    err.print(
        f"stored {file.name} ({size} bytes){parts} as {answer['n']} shards each, any "
        f"{answer['k']} of which rebuild it. Keep this ticket secret:",
        highlight=False,
    )
    if "moved_per_day" in answer:
        err.print(
            f"While it is stored, the swarm moves about {format_size(answer['moved_per_day'])} "
            f"a day for it (every shard hops every {answer['epoch']} s).",
            highlight=False,
        )
    print(answer["ticket"], flush=True)
    if not keepers:
        err.print(
            "To let other nodes repair it without reading it, give them the output of "
            "'wdp capability TICKET' to run 'wdp keep' with (or put with --keeper).",
            highlight=False,
        )
        return
    cap = RepairCapability.of_ticket(Ticket.decode(answer["ticket"])).encode()
    refused = []
    for j, (where, node) in enumerate(keepers):
        delay = keeper_delay * (j + 1)
        request = {"op": "keep", "capability": cap, "name": file.name, "delay": delay}
        try:
            node.call(request)
        except ClientError as exc:
            refused.append(f"{where}: {exc}")
            continue
        err.print(f"kept by {where} (repairs wait {delay} s)", highlight=False)
    if refused:
        fail(
            f"not kept by {'; '.join(refused)}. The ticket above is good: run 'wdp keep' "
            "there with the output of 'wdp capability TICKET'"
        )


def _keepers(nodes: list[str], token_files: list[Path]) -> list[tuple[str, ApiClient]]:
    """The keepers' APIs, each asked for its status before anything is stored, so that
    a mistyped keeper stops the put instead of leaving a file nobody else keeps."""
    out = []
    tokens = iter(token_files)
    for where in nodes:
        path = Path(where).expanduser()
        try:
            if path.is_dir():
                node = ApiClient(path / "api.sock")
            elif ":" not in where:
                fail(f"keeper {where}: not a node's data directory, nor HOST:PORT of its API")
            else:
                token_file = next(tokens, None)
                if token_file is None:
                    fail(f"keeper {where}: give its API token with --keeper-token-file")
                node = ApiClient(tcp=where, token=token_file.expanduser().read_text().strip())
            node.call({"op": "status"})
        except ClientError as exc:
            fail(f"keeper {where}: {exc}")
        except OSError as exc:
            fail(f"keeper {where}: cannot read its token file: {exc.strerror}")
        out.append((where, node))
    return out


@app.command()
def capability(
    ticket: Annotated[str, typer.Argument(metavar="TICKET", help="The ticket 'wdp put' printed.")],
) -> None:
    """Print the repair capability of TICKET: it lets a keeper find, audit and repair, not read.

    Computed here; nothing is sent. A keeper learns where every shard is: give it to
    nodes you trust not to hand that to whoever seizes carriers.
    """
    try:
        cap = RepairCapability.of_ticket(Ticket.decode(ticket))
    except (TicketError, CapabilityError) as exc:
        fail(f"bad ticket: {exc}")
    print(cap.encode())


@app.command()
def keep(
    ctx: typer.Context,
    cap: Annotated[
        str, typer.Argument(metavar="CAPABILITY", help="What 'wdp capability' printed (wdpr...).")
    ],
    name: Annotated[str, typer.Option(help="A name for 'wdp ls'.")] = "",
    delay: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            help="Wait this long after finding a shard lost before repairing it (default: 60 "
            "to 270, from the node's key). Give each keeper of one wanderer its own delay.",
        ),
    ] = None,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Keep a wanderer (or file) alive for its owner: this node checks and repairs it from now on.

    It never reads the data. It goes on when the owner's node is gone.
    """
    try:
        RepairCapability.decode(cap)
    except CapabilityError as exc:
        fail(f"bad capability: {exc}")
    request = {"op": "keep", "capability": cap, "name": name, "delay": delay}
    with _bar() as bar:
        task = bar.add_task("finding shards", total=1)

        def progress(ev: dict[str, Any]) -> None:
            bar.update(task, description=ev["what"], completed=ev["done"], total=ev["total"])

        try:
            answer, _ = client(ctx, data_dir, api, token, token_file).call(request, None, progress)
        except ClientError as exc:
            fail(str(exc))
    err.print(
        f"keeping {answer['name']} ({answer['kept']} wanderer(s)); repairs wait "
        f"{answer['delay']} s after a loss is found",
        highlight=False,
    )


@app.command()
def get(
    ctx: typer.Context,
    ticket: Annotated[str, typer.Argument(metavar="TICKET", help="The ticket 'wdp put' printed.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write.")],
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Find the shards of TICKET, fetch any k of them, rebuild, verify and decrypt into FILE."""
    try:
        parsed = Ticket.decode(ticket)
    except TicketError as exc:
        fail(f"bad ticket: {exc}")
    if output.is_dir() or not output.name:
        fail(f"{output} is a directory: give -o the name of the file to write")
    node = client(ctx, data_dir, api, token, token_file)
    tmp = output.with_name(output.name + ".part")
    try:
        sink = tmp.open("wb")
    except OSError as exc:
        fail(f"cannot write {tmp}: {exc.strerror}")
    size = 0
    try:
        with sink, _bar() as bar:
            task = bar.add_task("locating shards", total=parsed.k)

            def progress(ev: dict[str, Any]) -> None:
                bar.update(task, description=ev["what"], completed=ev["done"], total=ev["total"])

            answer, _ = node.call({"op": "get", "ticket": ticket}, None, progress, sink=sink.write)
            size = answer["size"]
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, output)
    except ClientError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    finally:
        tmp.unlink(missing_ok=True)  # a get that did not finish leaves no partial file
    err.print(f"wrote {output} ({size} bytes)", highlight=False)


@app.command(name="ls")
def list_wanderers(
    ctx: typer.Context,
    tickets: Annotated[bool, typer.Option(help="Also print each ticket (secret!).")] = False,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """List what was stored through this node, and what it keeps for others."""
    try:
        answer, _ = client(ctx, data_dir, api, token, token_file).call(
            {"op": "ls", "tickets": tickets}
        )
    except ClientError as exc:
        fail(str(exc))
    table = Table("id", "name", "role", "bytes", "k/n", "stale shards", "repairs")
    for w in answer["wanderers"]:
        table.add_row(w["id"], w["name"], w.get("role", "owner"), str(w["size"]),
                      f"{w['k']}/{w['n']}", str(w.get("stale_shards", 0)),
                      str(sum(w["generations"])))  # fmt: skip
    out.print(table)
    if tickets:
        for w in answer["wanderers"]:
            print(w["name"], w["ticket"])


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the node's answer as JSON, for scripts.")
    ] = False,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Peers with their RTTs and trust, shards held, threat level, audits, recent hops."""
    try:
        s, _ = client(ctx, data_dir, api, token, token_file).call({"op": "status"})
    except ClientError as exc:
        fail(str(exc))
    if as_json:
        s.pop("ok", None)
        print(json.dumps(s, indent=2))
        return
    levels = ["calm", "elevated", "CRITICAL", "PANIC"]
    out.print(f"peer {s['peer_id']}  threat: {levels[s['threat_level']]} "
              f"{'; '.join(s['threat_reasons'])}", highlight=False)  # fmt: skip
    out.print(f"hops in {s['hops_in']}, out {s['hops_out']}", highlight=False)
    a = s["audits"]
    failed = ", ".join(f"{code} {n}" for code, n in sorted(a["failed"].items())) or "none"
    out.print(f"audits answered {a['answered']}, refused {a['refused']}; audits of our shards: "
              f"passed {a['passed']}, failed {failed}", highlight=False)  # fmt: skip
    out.print(f"spot audits of peers we handed shards: passed {a.get('spot_passed', 0)}, "
              f"failed {a.get('spot_failed', 0)}", highlight=False)  # fmt: skip
    peers = Table("peer", "ipv4", "rtt ms", "loss", "healthy", "proven", "audits", title="peers")
    for p in s["peers"]:
        ev = p["audits"]
        audits = ("DISTRUSTED " if p.get("distrusted") else "") + ("-" if ev is None else (
            ("EXCLUDED " if p["excluded"] else "")
            + f"{ev['proved']} ok, {ev['moved']} moved, {ev['failed']} lost, "
            f"{ev['unanswered']} silent"
        ))  # fmt: skip
        peers.add_row(
            p["peer"], str(p["ipv4"]), str(p["rtt_ms"]), str(p["loss"]), str(p["healthy"]),
            "yes" if p["proven"] else "no", audits,
        )  # fmt: skip
    out.print(peers)
    held = Table("shard", "hop", "arrived by", "next hop in s", title="shards held")
    for h in s["held"]:
        held.add_row(h["shard"], str(h["hop"]), h["reason"], str(h["next_hop_in"]))
    out.print(held)
    for r in s["recent_hops"]:
        out.print(("ok " if r["ok"] else f"failed {r['code']} ") + r["detail"], highlight=False)


@app.command()
def dashboard(
    ctx: typer.Context,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Print the link to this node's web dashboard (it carries the token: keep it to yourself)."""
    try:
        answer, _ = client(ctx, data_dir, api, token, token_file).call({"op": "dashboard"})
    except ClientError as exc:
        fail(str(exc))
    print(answer["link"])


@app.command()
def panic(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    api: Api = None,
    token: Token = None,
    token_file: TokenFile = None,
) -> None:
    """Evacuate every shard this node carries, wipe what cannot leave in 5 s, stop the node."""
    if not yes and not typer.confirm("Evacuate and wipe everything this node carries?"):
        raise typer.Exit(1)
    try:
        answer, _ = client(ctx, data_dir, api, token, token_file).call({"op": "panic"})
    except ClientError as exc:
        fail(str(exc))
    err.print(f"panic: evacuating {answer['held']} shard(s); the node stops when done")


def _mount_simulator() -> None:
    from wdp.sim.cli import app as sim_app

    app.add_typer(sim_app, name="sim", help="Run the swarm simulator and the durability study.")


_mount_simulator()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
