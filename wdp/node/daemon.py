"""Run a node as a process: parse addresses, start, serve signals, drain or panic, exit."""

from __future__ import annotations

import errno
import logging
import signal
import sys

import multiaddr
import trio

from wdp.core.carrier import CarrierParams
from wdp.core.errors import WdpError
from wdp.core.node.budget import StreamBudget
from wdp.core.owner import OwnerParams
from wdp.core.threat import ThreatParams

from .api import API_SOCKET, ApiError, LocalApi, load_or_create_token, tcp_token
from .errors import leaf_exceptions
from .host import ensure_ports_free
from .hostport import format_hostport, parse_hostport
from .kadguard import KadLimits
from .node import Node, NodeConfig
from .owner import Owner, OwnerRegistry
from .settings import Settings
from .store import DiskStore, MemoryStore, Store

log = logging.getLogger("wdp.node")


class DaemonError(WdpError):
    """The node cannot start; the message says why and what to do."""


def _addrs(values: list[str], flag: str) -> list[multiaddr.Multiaddr]:
    out = []
    for value in values:
        try:
            out.append(multiaddr.Multiaddr(value))
        except Exception as exc:  # multiaddr raises several unrelated types
            raise DaemonError(f"{flag} {value!r} is not a multiaddr ({exc})") from None
    return out


def build_config(settings: Settings, seed: bytes) -> NodeConfig:
    listen = _addrs(settings.listen, "--listen")
    if not listen:
        raise DaemonError("no --listen address given")
    bootstrap = _addrs(settings.bootstrap, "--bootstrap")
    announce = _addrs(settings.announce, "--announce")
    for addr in bootstrap:
        if "p2p" not in [p.name for p in addr.protocols()]:
            raise DaemonError(f"--bootstrap {addr} must end in /p2p/<peer id>")
    store: Store
    if settings.store == "disk":
        shards = settings.data_dir.expanduser() / "shards"
        try:
            store = DiskStore(shards)
        except OSError as exc:
            raise DaemonError(f"cannot use {shards} for --store disk: {exc.strerror}") from None
    else:
        store = MemoryStore()
    return NodeConfig(
        seed=seed,
        listen_addrs=listen,
        bootstrap=bootstrap,
        announce_addrs=announce or None,
        store=store,
        carrier_params=CarrierParams(
            capacity=settings.capacity,
            min_epoch=settings.min_epoch,
            max_inflight=settings.max_inflight,
            max_inflight_per_peer=settings.max_inflight_per_peer,
            launch_share=settings.launch_share,
            probation=settings.probation,
            spot_audits=settings.spot_audits,
            threat=ThreatParams(min_age=settings.threat_min_age),
        ),
        stream_budget=StreamBudget(
            streams=settings.max_streams,
            streams_per_peer=settings.max_streams_per_peer,
            buffered=settings.max_partial_frames,
            buffered_per_peer=settings.max_partial_frames_per_peer,
            opens_per_second=settings.stream_opens_per_second,
            open_burst=settings.stream_open_burst,
        ),
        kad_limits=KadLimits(
            concurrent=settings.kad_streams,
            per_peer=settings.kad_streams_per_peer,
            per_ip=settings.kad_streams_per_ip,
            request_timeout=settings.kad_request_timeout,
            records=settings.kad_records,
            records_per_peer=settings.kad_records_per_peer,
            records_per_ip=settings.kad_records_per_ip,
        ),
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        discovery_interval=settings.discovery_interval,
    )


async def _serve(node: Node, settings: Settings) -> int:
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    with trio.open_signal_receiver(*signals) as received:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            listening = node.host.get_network().listeners
            missing = [str(a) for a in node.config.listen_addrs if str(a) not in listening]
            if missing:
                print(
                    f"wdp-node: error: cannot listen on {', '.join(missing)} "
                    "(address in use or not on this machine); pick another address or port",
                    file=sys.stderr,
                )
                nursery.cancel_scope.cancel()
                return 2
            if settings.metrics:
                from .metrics import serve_metrics  # imports prometheus_client: only if asked

                try:
                    port = serve_metrics(node, settings.metrics)
                except OSError as exc:
                    print(f"wdp-node: error: --metrics {settings.metrics}: {exc.strerror}",
                          file=sys.stderr)  # fmt: skip
                    nursery.cancel_scope.cancel()
                    return 2
                host = parse_hostport(settings.metrics)[0]
                log.info("metrics at http://%s/metrics", format_hostport(host, port))
            data_dir = settings.data_dir.expanduser()
            registry = OwnerRegistry(data_dir / "owned.json" if settings.store == "disk" else None)
            params = OwnerParams(
                repair_interval=settings.repair_interval,
                audit_retry_delay=settings.audit_retry_delay,
            )
            owner = Owner(node, registry, params)
            try:
                api = LocalApi(
                    node, owner, data_dir / API_SOCKET,
                    {"k": settings.k, "n": settings.n, "epoch": int(settings.epoch),
                     "segment_size": settings.segment_size,
                     "daily_move_budget": settings.daily_move_budget},
                    tcp=settings.api_listen,
                    token=tcp_token(settings.api_listen, settings.api_token, data_dir),
                )  # fmt: skip
                await nursery.start(api.serve)
            except (ApiError, OSError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                print(f"wdp-node: error: local API at {data_dir / API_SOCKET}: {why}",
                      file=sys.stderr)  # fmt: skip
                nursery.cancel_scope.cancel()
                return 2
            if settings.dashboard:
                from .dashboard import Dashboard, DashboardError

                token = settings.api_token or load_or_create_token(data_dir)
                try:
                    dashboard = Dashboard(node, owner, settings.dashboard, token)
                    await nursery.start(dashboard.serve)
                except (DashboardError, OSError) as exc:
                    print(f"wdp-node: error: {exc}", file=sys.stderr)
                    nursery.cancel_scope.cancel()
                    return 2
                api.dashboard_link = f"{dashboard.url}#token={token}"  # a fragment: never sent
                log.info("dashboard at %s (`wdp dashboard` prints its link)", dashboard.url)
            nursery.start_soon(owner.run)  # the owner core's timer: retries and repair
            for addr in node.host.get_transport_addrs():
                log.info("listening on %s", addr)
            for addr in node.addrs:
                log.info("advertising %s", addr)
            log.info("local API at %s", data_dir / API_SOCKET)
            if settings.api_listen:
                log.info("local API on TCP at %s (port %s)", settings.api_listen, api.tcp_port)
            # One machine-readable line for scripts and tests: peer id, then the
            # advertised addresses (never 0.0.0.0; loopback last).
            print("ready", node.peer_id, *node.addrs, flush=True)
            async for signum in received:
                if signum == signal.SIGUSR1:
                    log.warning("panic: evacuating, then wiping everything left")
                    await node.panic()
                    log.warning("panic done: the store is empty")
                    break
                log.info(
                    "draining %d shard(s) before exit (signal again to exit now)",
                    len(node.carrier.held),
                )
                with trio.CancelScope() as drain_scope:
                    nursery.start_soon(_cancel_on_signal, received, drain_scope)
                    await node.drain()
                if drain_scope.cancelled_caught:
                    left = len(node.carrier.held)
                    log.error("exiting without draining: %d shard(s) were not handed on", left)
                    nursery.cancel_scope.cancel()
                    return 1
                log.info("drained: every shard has a new holder")
                break
            nursery.cancel_scope.cancel()
    return 0


async def _cancel_on_signal(
    received: trio.abc.ReceiveChannel[int], scope: trio.CancelScope
) -> None:
    async for _ in received:
        scope.cancel()
        return


def run_daemon(settings: Settings, seed: bytes) -> int:
    """Run until drained or panicked; returns the exit status.

    Raises DaemonError (one line for the user) for what the operator can fix;
    anything else is a bug, left for the caller to log with its traceback.
    """
    config = build_config(settings, seed)
    try:
        ensure_ports_free(config.listen_addrs)  # SO_REUSEPORT would hide a clash
        node = Node(config)
    except OSError as exc:
        raise _system_error("cannot start", exc) from None
    try:
        return trio.run(_serve, node, settings)
    except BaseException as exc:  # trio wraps what its tasks raise in exception groups
        leaves = leaf_exceptions(exc)
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            return 130
        for leaf in leaves:
            if isinstance(leaf, DaemonError):
                raise leaf from None
            if isinstance(leaf, OSError):
                raise _system_error("stopped", leaf) from exc
        raise


def _system_error(what: str, exc: OSError) -> DaemonError:
    if exc.errno == errno.EADDRINUSE:
        return DaemonError(
            f"a --listen address is already in use ({exc.strerror}); pick another port"
        )
    where = f": {exc.filename}" if exc.filename else ""
    return DaemonError(f"{what}: {exc.strerror or exc}{where}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run wdp-node instead")
