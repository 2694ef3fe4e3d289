"""Measure round trips to peers with libp2p ping and feed the carrier.

py-libp2p's ``PingService`` reports whole milliseconds (1 ms on loopback),
too coarse for the latency map, so the round trip is timed here with
``time.perf_counter()`` over ``/ipfs/ping/1.0.0`` (32 random bytes echoed).
Only the echo is timed, not opening the stream.

A ping stream is kept per peer and reused. py-libp2p's responder closes a
stream idle for 10 s, so a failure on a reused stream is retried once on a
fresh stream before it counts as a failed ping. ``lost_after`` failures in a
row report the peer lost (once, until it answers again).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from wdp.core.errors import WdpError
from wdp.core.threat import Observation, PeerLost, PingFailed, PingOk

from .host import PING_PROTOCOL, Clock, NotEd25519PeerError, peer_key_of
from .migrate import reset_quietly

__all__ = ["PING_SIZE", "PingError", "Pinger"]

log = logging.getLogger(__name__)

PING_SIZE = 32


class PingError(WdpError):
    """A ping failed (no stream, a broken stream, a wrong echo or a timeout)."""


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise PingError("stream ended during the echo")
        buf += chunk
    return bytes(buf)


class Pinger:
    """Pings peers and reports ``PingOk``/``PingFailed``/``PeerLost`` to ``observe``.

    Args:
        host: The libp2p host.
        observe: Receives each observation (the node feeds the carrier).
        clock: Wall-clock seconds for the observations' ``now``.
        interval: Seconds between rounds in :meth:`run`.
        timeout: Seconds one ping (stream opening included) may take.
        lost_after: Consecutive failures after which the peer is reported lost.
    """

    def __init__(
        self,
        host: IHost,
        observe: Callable[[Observation], None],
        *,
        clock: Clock = time.time,
        interval: float = 5.0,
        timeout: float = 5.0,
        lost_after: int = 3,
    ) -> None:
        if lost_after < 1:
            raise ValueError("lost_after must be >= 1")
        self.host = host
        self.observe = observe
        self.clock = clock
        self.interval = interval
        self.timeout = timeout
        self.lost_after = lost_after
        self._streams: dict[ID, INetStream] = {}
        self._failures: dict[ID, int] = {}

    async def _open(self, peer_id: ID) -> INetStream:
        stream = await self.host.new_stream(peer_id, [PING_PROTOCOL])
        self._streams[peer_id] = stream
        return stream

    async def _echo(self, stream: INetStream) -> float:
        payload = os.urandom(PING_SIZE)
        start = time.perf_counter()
        await stream.write(payload)
        echo = await _read_exactly(stream, PING_SIZE)
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
            key = peer_key_of(peer_id)
        except NotEd25519PeerError:
            return None
        try:
            rtt = await self.rtt(peer_id)
        except PingError as exc:
            log.debug("ping %s failed: %s", peer_id, exc)
            now = self.clock()
            self.observe(PingFailed(key, now))
            n = self._failures.get(peer_id, 0) + 1
            self._failures[peer_id] = n
            if n == self.lost_after:
                self.observe(PeerLost(key, now))
            return None
        self._failures.pop(peer_id, None)
        self.observe(PingOk(key, rtt, self.clock()))
        return rtt

    def forget(self, peer_id: ID) -> None:
        """Stop tracking a peer (its connection is gone); its stream is dropped with it."""
        self._streams.pop(peer_id, None)
        self._failures.pop(peer_id, None)

    async def ping_all(self) -> None:
        """One round: ping every connected peer concurrently."""
        peers = list(self.host.get_connected_peers())
        async with trio.open_nursery() as nursery:
            for peer_id in peers:
                nursery.start_soon(self.ping, peer_id)

    async def run(self) -> None:
        """Ping rounds forever, ``interval`` seconds apart (returns at once if infinite)."""
        if math.isinf(self.interval):
            return
        while True:
            await self.ping_all()
            await trio.sleep(self.interval)
