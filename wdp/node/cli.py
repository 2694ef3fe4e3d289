"""wdp-node: run a WDP node, a carrier of wandering shards.

Signals: SIGTERM or Ctrl-C drains (every shard is handed to another peer,
then the node exits; a second signal exits at once); SIGUSR1 is the panic
button (evacuate for a few seconds, wipe whatever is left, exit).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from .identity import IdentityError, load_or_create_identity
from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("wdp.node")

app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

EXAMPLES = """
Examples:

  wdp-node --listen /ip4/0.0.0.0/tcp/4001

  wdp-node --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws \\
           --bootstrap /ip4/198.51.100.7/tcp/4001/p2p/12D3KooW...

  wdp-node --listen /ip4/0.0.0.0/tcp/4001 --announce /ip4/203.0.113.5/tcp/4001

Settings come from --config FILE (TOML, same names as the options), then WDP_*
environment variables (WDP_LISTEN, WDP_BOOTSTRAP, WDP_ANNOUNCE: comma-separated),
then the options below, each overriding the one before.
"""


@app.command(help=(__doc__ or "") + EXAMPLES)
def main(
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            "-l",
            metavar="MULTIADDR",
            help="Address to listen on, repeatable. TCP: /ip4/0.0.0.0/tcp/4001; "
            "WebSocket (for browser/WASM peers): /ip4/0.0.0.0/tcp/4002/ws. "
            " Default: /ip4/0.0.0.0/tcp/4001.",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option(
            "--bootstrap",
            "-b",
            metavar="MULTIADDR",
            help="A peer to join the swarm through, as a multiaddr ending in /p2p/<peer id>; "
            "repeatable.",
        ),
    ] = None,
    announce: Annotated[
        list[str] | None,
        typer.Option(
            "--announce",
            metavar="MULTIADDR",
            help="Address to advertise to peers instead of the listen addresses, "
            "repeatable: the public address behind NAT or a published port, e.g. "
            "/ip4/203.0.113.5/tcp/4001 or /dns4/node.example.org/tcp/4001. Default: the "
            "listen addresses, with 0.0.0.0 replaced by each of this machine's addresses.",
            show_default=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Where the node keeps its identity key (and shards with --store disk). "
            " Default: ~/.wdp.",
            show_default=False,
        ),
    ] = None,
    epoch: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Seconds a shard stays before it moves on, for wanderers put through "
            "this node. Default: 600.",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            metavar="memory|disk",
            help="memory: nothing touches disk (a seized, powered-off machine holds no "
            "shard); disk: shards survive a restart. Default: memory.",
            show_default=False,
        ),
    ] = None,
    capacity: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE",
            help="Most shard bytes this node holds, e.g. 512MiB or 2GB; offers beyond it "
            "are refused. Default: 1GiB.",
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve Prometheus metrics at HOST:PORT, e.g. 127.0.0.1:9464 "
            "(keep it on loopback). Default: off.",
            show_default=False,
        ),
    ] = None,
    dashboard: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve the web dashboard at HOST:PORT, e.g. 127.0.0.1:8080, behind the "
            "API token; `wdp dashboard` prints its link. Default: off.",
            show_default=False,
        ),
    ] = None,
    api_listen: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Also serve the local API on TCP, e.g. 127.0.0.1:5080; every request "
            "must carry the token in DATA_DIR/api.token (made on first start) or "
            "WDP_API_TOKEN. Default: off (Unix socket only).",
            show_default=False,
        ),
    ] = None,
    api_allow_remote: Annotated[
        bool | None,
        typer.Option(
            "--api-allow-remote",
            help="Allow a non-loopback --api-listen (e.g. 0.0.0.0 in a container whose "
            "port is published on the host's 127.0.0.1 only).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", metavar="FILE", help="TOML settings file.")
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(help="debug, info, warning or error. Default: info.", show_default=False),
    ] = None,
) -> None:
    overrides = {
        "listen": listen,
        "bootstrap": bootstrap,
        "announce": announce,
        "data_dir": data_dir,
        "epoch": epoch,
        "store": store,
        "capacity": capacity,
        "metrics": metrics,
        "dashboard": dashboard,
        "log_level": log_level,
        "api_listen": api_listen,
        "api_allow_remote": api_allow_remote or None,
    }
    try:
        settings = load_settings(config, overrides)
        seed = load_or_create_identity(settings.data_dir.expanduser())
    except (SettingsError, IdentityError) as exc:
        fail(str(exc))
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .daemon import DaemonError, run_daemon  # imports libp2p: after argument checks

    # py-libp2p logs routine events (a peer closing a stream, a failed listen that
    # we report ourselves) at WARNING or ERROR; show them only when debugging. (Set
    # after importing libp2p, which sets its own logger level on import.)
    quiet = logging.DEBUG if settings.log_level == "debug" else logging.CRITICAL
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(quiet)

    try:
        code = run_daemon(settings, seed)
    except DaemonError as exc:
        fail(str(exc))
    except Exception as exc:  # a bug: the traceback goes to the log, one line to the operator
        log.critical("wdp-node stopped on an unexpected error", exc_info=exc)
        fail("stopped on an unexpected error; its traceback is in the log above", 1)
    raise typer.Exit(code)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr, exit status 2 (a mistake to fix) unless told otherwise."""
    typer.echo(f"wdp-node: error: {message}", err=True)
    raise typer.Exit(code)


def run() -> None:
    """Console-script entry point."""
    # SIGPIPE stays ignored (Python's default): a peer closing a socket must
    # raise an error in that one connection, not kill the node.
    app()


__all__ = ["Settings", "app", "run"]


if __name__ == "__main__":  # pragma: no cover
    run()
