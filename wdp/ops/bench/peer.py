"""The receiving side of ``make bench``: a wdp-node-like process with a raw sink.

It runs a :class:`~wdp.node.node.Node` built the way ``wdp-node`` builds one
(Noise, Yamux, Kademlia, ``/wdp/migrate/1.0``, ``/wdp/fetch/1.0``, pings, a
memory store) and adds one protocol for the baseline, ``/wdp-bench/raw/1.0``:
the dialer writes an 8-byte big-endian length N and then N bytes; the sink
reads them all and answers ``ok``. The same hosts, security and muxer thus
carry both the handoffs and the raw bytes they are compared with.

Like ``wdp-node`` it prints ``ready <peer id> <address>...`` once it listens.
It exits on SIGTERM or SIGINT, or when its stdin closes (the bench process
that started it is gone).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol

from wdp.core.carrier import CarrierParams
from wdp.core.node.budget import StreamBudget
from wdp.node.host import listen_addrs_for
from wdp.node.node import Node, NodeConfig
from wdp.node.store import MemoryStore
from wdp.node.streams import STREAM_ERRORS, read_exactly, reset_quietly

RAW_PROTOCOL = TProtocol("/wdp-bench/raw/1.0")
RAW_ACK = b"ok"
RAW_READ = 1 << 20  # bytes asked of one read
RAW_MAX = 1 << 30  # the sink refuses to be told to read more than this
RAW_TIMEOUT = 120.0  # seconds one raw transfer may take

log = logging.getLogger("wdp.bench_peer")


async def raw_sink(stream: INetStream) -> None:
    """``/wdp-bench/raw/1.0``: read a length and that many bytes, then acknowledge."""
    try:
        with trio.fail_after(RAW_TIMEOUT):
            size = int.from_bytes(await read_exactly(stream, 8), "big")
            if size > RAW_MAX:
                raise ValueError(f"refusing a {size}-byte raw transfer")
            left = size
            while left:
                chunk = await stream.read(min(left, RAW_READ))
                if not chunk:
                    raise EOFError("stream ended early")
                left -= len(chunk)
            await stream.write(RAW_ACK)
            await stream.close()
    except (*STREAM_ERRORS, ValueError, trio.TooSlowError) as exc:  # type: ignore[misc]
        log.info("raw sink: %r", exc)
        await reset_quietly(stream)


def make_node(capacity: int) -> Node:
    """A node as ``wdp-node --store memory`` makes it, listening on 127.0.0.1 (TCP)."""
    config = NodeConfig(
        seed=os.urandom(32),
        listen_addrs=listen_addrs_for("127.0.0.1", tcp_port=0, ws_port=None),
        store=MemoryStore(),
        carrier_params=CarrierParams(capacity=capacity),
        # The latency run opens 100 streams back to back from one peer: past a node's
        # default 20 a second (burst 40) they would be refused BUSY. The bench times a
        # handoff, not that limit (tests/adversary measures the limit).
        stream_budget=StreamBudget(opens_per_second=1000.0, open_burst=1000),
    )
    node = Node(config)
    node.host.set_stream_handler(RAW_PROTOCOL, raw_sink)
    return node


async def _until_stdin_closes() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    try:
        while await stdin.receive_some(4096):
            pass
    except (trio.BrokenResourceError, OSError):
        pass


async def _main(capacity: int) -> None:
    node = make_node(capacity)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            print("ready", node.peer_id, *node.addrs, flush=True)

            async def on_signal() -> None:
                async for _ in signals:
                    return

            done = trio.Event()

            async def first(fn: Callable[[], Awaitable[None]]) -> None:
                await fn()
                done.set()

            nursery.start_soon(first, on_signal)
            nursery.start_soon(first, _until_stdin_closes)
            await done.wait()
            nursery.cancel_scope.cancel()  # node.run turns this into a graceful stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wdp.ops.bench.peer")
    parser.add_argument("--capacity", type=int, default=4 << 30, help="shard bytes held at most")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    if args.capacity < 0:
        parser.error("--capacity must be a byte count")
    trio.run(_main, args.capacity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
