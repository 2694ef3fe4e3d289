"""Measure round trips to peers with libp2p ping.

py-libp2p's ``PingService`` reports whole milliseconds (1 ms on loopback),
too coarse for the latency map, so the round trip is timed here with
``time.perf_counter()`` over ``/ipfs/ping/1.0.0`` (32 random bytes echoed).
Only the echo is timed, not opening the stream.

A ping stream is kept per peer and reused. py-libp2p's responder closes a
stream idle for 10 s, so a failure on a reused stream is retried once on a
fresh stream before it counts as a failed ping. What a run of failures means
(a lost peer) is the node core's rule; this module only measures.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from wdp.core.errors import WdpError

from .host import PING_PROTOCOL
from .streams import read_exactly, reset_quietly

__all__ = ["PING_SIZE", "PingError", "Pinger"]

log = logging.getLogger(__name__)

PING_SIZE = 32


class PingError(WdpError):
    """A ping failed (no stream, a broken stream, a wrong echo or a timeout)."""


class Pinger:
    """Pings peers and reports each outcome: ``report(peer_id, rtt)``, rtt None on failure.

    Args:
        host: The libp2p host.
        report: Receives each outcome (the node feeds its core).
        timeout: Seconds one ping (stream opening included) may take.
    """

    def __init__(
        self,
        host: IHost,
        report: Callable[[ID, float | None], None],
        *,
        timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.report = report
        self.timeout = timeout
        self._streams: dict[ID, INetStream] = {}

    async def _open(self, peer_id: ID) -> INetStream:
        stream = await self.host.new_stream(peer_id, [PING_PROTOCOL])
        self._streams[peer_id] = stream
        return stream

    async def _echo(self, stream: INetStream) -> float:
        payload = os.urandom(PING_SIZE)
        start = time.perf_counter()
        await stream.write(payload)
        echo = await read_exactly(stream, PING_SIZE)
        rtt = time.perf_counter() - start
        if echo != payload:
            raise PingError("the echo differs from the ping")
        return rtt

    async def _drop(self, peer_id: ID) -> None:
        stream = self._streams.pop(peer_id, None)
        if stream is not None:
            await reset_quietly(stream)

    async def rtt(self, peer_id: ID) -> float:
        """One round trip to ``peer_id`` in seconds; raises :class:`PingError`."""
        try:
            with trio.fail_after(self.timeout):
                stream = self._streams.get(peer_id)
                if stream is not None:
                    try:
                        return await self._echo(stream)
                    except Exception:  # a stale stream (idle-closed by the responder)
                        await self._drop(peer_id)  # retry once on a fresh stream
                return await self._echo(await self._open(peer_id))
        except trio.TooSlowError:
            await self._drop(peer_id)
            raise PingError("ping timed out") from None
        except PingError:
            await self._drop(peer_id)
            raise
        except Exception as exc:
            await self._drop(peer_id)
            raise PingError(f"ping failed: {exc!r}") from None

    async def ping(self, peer_id: ID) -> float | None:
        """Ping once and report the outcome; returns the RTT or None on failure."""
        try:
            rtt: float | None = await self.rtt(peer_id)
        except PingError as exc:
            log.debug("ping %s failed: %s", peer_id, exc)
            rtt = None
        self.report(peer_id, rtt)
        return rtt

    def forget(self, peer_id: ID) -> None:
        """Stop tracking a peer (its connection is gone); its stream is dropped with it."""
        self._streams.pop(peer_id, None)

    async def ping_all(self) -> None:
        """One round: ping every connected peer concurrently."""
        peers = list(self.host.get_connected_peers())
        async with trio.open_nursery() as nursery:
            for peer_id in peers:
                nursery.start_soon(self.ping, peer_id)
