"""``/wdp/migrate/1.0`` over libp2p streams: the driver of the handoff machines.

This is ``tests/core/helpers.py`` over a real stream. One stream carries one
handoff. A reader task turns the stream into chunks (py-libp2p's
``read(n)`` may return fewer bytes, and raises ``StreamEOF`` instead of
returning ``b""`` at the end); the session loop feeds them to
``receive_data``, fires ``handle_timer`` at ``get_timer()``, and performs the
effects in order: write framed bytes, store, wipe, call the carrier's hooks.
A broken or closed stream becomes ``connection_lost``.

One driver decision is not in the core: a receiver makes its receipt durable
(``Store.commit``) *before* writing the Receipt message, so a crash can never
leave a sender that wiped after a receipt and a receiver that forgets the
shard on restart.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio
from libp2p.abc import INetStream
from libp2p.exceptions import BaseLibp2pError

from wdp.core.carrier import Carrier
from wdp.core.effects import (
    CarrierEffect,
    Close,
    Effect,
    HandoffFailed,
    HandoffSucceeded,
    Send,
    StoreShard,
    WipeShard,
)
from wdp.core.errors import RejectCode
from wdp.core.handoff import (
    ReceiverSession,
    SenderSession,
    SenderState,
)
from wdp.core.messages import Offer
from wdp.core.messages import Receipt as ReceiptMessage
from wdp.core.objects import CustodyLink
from wdp.core.signing import Signer

from .host import Clock
from .store import ShardMeta, Store

__all__ = [
    "READ_SIZE",
    "STREAM_ERRORS",
    "HandoffResult",
    "reset_quietly",
    "run_receiver",
    "run_sender",
    "store_call",
]

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
"""Bytes asked of one ``stream.read``; the frame decoder bounds what is buffered."""

CLOSE_TIMEOUT = 5.0
"""Seconds allowed for closing a stream after a session ended."""

WRITE_TIMEOUT = 30.0
"""Bound on one write when the session has no deadline of its own."""

STREAM_ERRORS: tuple[type[BaseException], ...] = (
    BaseLibp2pError,  # StreamEOF, StreamReset, StreamClosed, StreamError, muxer errors
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    OSError,
    EOFError,
)

CarrierSink = Callable[[list[CarrierEffect]], None]
"""Where the driver hands effects of the carrier core (the node dispatches them)."""


async def store_call(store: Store, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a store method, in a worker thread if the store blocks (disk)."""
    if store.blocking:
        return await trio.to_thread.run_sync(fn, *args)
    return fn(*args)


@dataclass(frozen=True, slots=True)
class HandoffResult:
    """How a sender's handoff ended."""

    ok: bool
    code: RejectCode | None = None
    detail: str = ""
    link: CustodyLink | None = None

    @classmethod
    def of(cls, session: SenderSession) -> HandoffResult:
        if session.state is SenderState.DONE and session.receipt is not None:
            return cls(True, link=CustodyLink(session.record, session.receipt))
        exc = session.failure
        if exc is None:
            return cls(False, RejectCode.TIMEOUT, "the handoff did not finish")
        return cls(False, exc.code, exc.detail)


async def reset_quietly(stream: INetStream) -> None:
    """Reset a stream, ignoring a stream that is already gone (bounded to one second)."""
    with trio.move_on_after(1.0), contextlib.suppress(*STREAM_ERRORS):
        await stream.reset()


async def _reader(stream: INetStream, out: trio.MemorySendChannel[bytes | None]) -> None:
    """Stream -> chunks; None once the stream ended for any reason."""
    async with out:
        while True:
            try:
                data = await stream.read(READ_SIZE)
            except STREAM_ERRORS as exc:
                log.debug("migrate: stream ended: %r", exc)
                data = b""
            if not data:
                await out.send(None)
                return
            await out.send(data)


class StreamSession(Protocol):
    """A sans-IO session one stream carries: the handoff sessions, the fetch sessions."""

    @property
    def finished(self) -> bool: ...

    def get_timer(self) -> float | None: ...

    def receive_data(self, data: bytes, now: float) -> list[Any]: ...

    def handle_timer(self, now: float) -> list[Any]: ...

    def connection_lost(self, now: float) -> list[Any]: ...


class _Driver:
    """Runs one session over one stream; subclasses say what each effect means.

    ``Send`` and ``Close`` are handled here, every other effect by ``effect``.
    """

    write_timeout = WRITE_TIMEOUT  # bound on one write while the session has no timer

    def __init__(self, stream: INetStream, session: StreamSession, clock: Clock) -> None:
        self.stream = stream
        self.session = session
        self.clock = clock
        self.broken = False  # writing failed or the stream ended: no more writes
        self.closing = False  # the session asked to close

    def terminal(self) -> bool:
        return self.session.finished

    async def perform(self, effects: Sequence[Any]) -> None:
        """Perform effects in order; follow-ups an effect produces run before the next one."""
        for eff in effects:
            follow = await self.perform_one(eff)
            if follow:
                await self.perform(follow)

    async def perform_one(self, eff: Any) -> list[Any]:
        if isinstance(eff, Send):
            return await self.write(eff)
        if isinstance(eff, Close):
            self.closing = True
            return []
        return await self.effect(eff)

    async def write(self, eff: Send) -> list[Effect]:
        if self.broken:
            return []
        # A peer that stops reading must not hold the session past its deadline.
        deadline = self.session.get_timer()
        limit = self.write_timeout if deadline is None else max(0.0, deadline - self.clock())
        with trio.move_on_after(limit) as scope:
            try:
                await self.stream.write(eff.data)
            except STREAM_ERRORS as exc:
                log.debug("migrate: write failed: %r", exc)
                self.broken = True
                return self.session.connection_lost(self.clock())
        if scope.cancelled_caught:
            log.debug("migrate: write timed out")
            self.broken = True
            return self.session.connection_lost(self.clock())
        return []

    async def effect(self, eff: Any) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def run(self, first: Sequence[Any] = ()) -> None:
        send, recv = trio.open_memory_channel[bytes | None](0)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_reader, self.stream, send)
                await self.perform(first)
                while not (self.closing or self.terminal()):
                    deadline = self.session.get_timer()
                    delay = math.inf if deadline is None else max(0.0, deadline - self.clock())
                    item: bytes | None = b""
                    with trio.move_on_after(delay) as timer:
                        item = await recv.receive()
                    if timer.cancelled_caught:
                        await self.perform(self.session.handle_timer(self.clock()))
                    elif item is None:
                        self.broken = True
                        await self.perform(self.session.connection_lost(self.clock()))
                        break
                    else:
                        await self.perform(self.session.receive_data(item, self.clock()))
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if not self.terminal():
                    # Cancelled from outside (node shutting down): the stream is as good as lost.
                    self.broken = True
                    with trio.move_on_after(CLOSE_TIMEOUT):
                        await self.perform(self.session.connection_lost(self.clock()))
                await self._close()

    async def _close(self) -> None:
        with trio.move_on_after(CLOSE_TIMEOUT) as scope:
            try:
                await self.stream.close()
            except STREAM_ERRORS as exc:
                log.debug("migrate: close failed: %r", exc)
        if scope.cancelled_caught:
            await reset_quietly(self.stream)


class _ReceiverDriver(_Driver):
    session: ReceiverSession

    def __init__(
        self,
        stream: INetStream,
        session: ReceiverSession,
        clock: Clock,
        carrier: Carrier,
        store: Store,
        sink: CarrierSink,
    ) -> None:
        super().__init__(stream, session, clock)
        self.carrier = carrier
        self.store = store
        self.sink = sink
        self.stored: StoreShard | None = None
        self.commit_failed = False

    async def write(self, eff: Send) -> list[Effect]:
        if isinstance(eff.message, ReceiptMessage) and self.session.key is not None:
            # Durable before acknowledged: the sender wipes when it reads this.
            try:
                await store_call(
                    self.store,
                    self.store.commit,
                    self.session.key,
                    eff.message.receipt.to_bytes(),
                )
            except Exception as exc:
                log.error("migrate: cannot record the receipt for %s: %s", self.session.key, exc)
                self.commit_failed = True
                self.closing = True
                return []  # the sender never sees a receipt and keeps its copy
        return await super().write(eff)

    async def effect(self, eff: Effect) -> list[Effect]:
        session, now = self.session, self.clock()
        if isinstance(eff, StoreShard):
            self.stored = eff
            ok, detail = True, ""
            try:
                await store_call(
                    self.store, self.store.put, eff.key, eff.shard, ShardMeta.from_store(eff)
                )
            except Exception as exc:
                log.warning("migrate: cannot store %s: %s", eff.key, exc)
                ok, detail = False, "the shard could not be stored"
            return session.store_done(ok, self.clock(), detail)
        if isinstance(eff, WipeShard):
            await store_call(self.store, self.store.wipe, eff.key)
            return []
        if isinstance(eff, HandoffSucceeded):
            assert self.stored is not None
            if self.commit_failed:
                await store_call(self.store, self.store.wipe, eff.key)
                self.carrier.receive_aborted(eff.link.record.hash)
                return []
            self.sink(self.carrier.shard_received(self.stored, eff.link, now))
            return []
        if isinstance(eff, HandoffFailed):
            if session.offer is not None:
                self.carrier.receive_aborted(session.offer.record.hash)
            log.info("migrate: refused handoff of %s: %s %s", eff.key, eff.code.name, eff.detail)
            return []
        raise AssertionError(f"unexpected receiver effect {eff!r}")


class _SenderDriver(_Driver):
    session: SenderSession

    def __init__(
        self,
        stream: INetStream,
        session: SenderSession,
        clock: Clock,
        carrier: Carrier | None,
        store: Store | None,
        sink: CarrierSink,
    ) -> None:
        super().__init__(stream, session, clock)
        self.carrier = carrier
        self.store = store
        self.sink = sink

    async def effect(self, eff: Effect) -> list[Effect]:
        now = self.clock()
        if isinstance(eff, WipeShard):
            if self.store is not None:
                await store_call(self.store, self.store.wipe, eff.key)
            return []
        if isinstance(eff, HandoffSucceeded):
            if self.carrier is not None:
                self.sink(self.carrier.handoff_succeeded(eff.key, now))
            return []
        if isinstance(eff, HandoffFailed):
            log.info("migrate: handoff of %s failed: %s %s", eff.key, eff.code.name, eff.detail)
            if self.carrier is not None and eff.key is not None:
                self.sink(self.carrier.handoff_failed(eff.key, eff.code, now, eff.in_doubt))
            return []
        raise AssertionError(f"unexpected sender effect {eff!r}")


def _discard(effects: list[CarrierEffect]) -> None:
    if effects:
        log.warning("migrate: carrier effects dropped: %r", effects)


async def run_receiver(
    stream: INetStream,
    *,
    signer: Signer,
    carrier: Carrier,
    store: Store,
    remote_peer: bytes,
    clock: Clock,
    sink: CarrierSink = _discard,
) -> ReceiverSession:
    """Serve one inbound handoff on ``stream``; returns the finished session.

    ``remote_peer`` is the authenticated Ed25519 key of the stream's peer
    (``peer_key_of(stream.muxed_conn.peer_id)``).
    """
    session = ReceiverSession(signer, carrier, clock(), remote_peer=remote_peer)
    await _ReceiverDriver(stream, session, clock, carrier, store, sink).run()
    return session


async def run_sender(
    stream: INetStream,
    offer: Offer,
    shard: bytes,
    *,
    clock: Clock,
    carrier: Carrier | None = None,
    store: Store | None = None,
    sink: CarrierSink = _discard,
) -> HandoffResult:
    """Run one outbound handoff on a freshly negotiated ``stream``.

    ``carrier``/``store`` are None for the owner's launch (hop 0), where the
    shard is not in custody of this node.
    """
    session = SenderSession(offer, shard)
    driver = _SenderDriver(stream, session, clock, carrier, store, sink)
    await driver.run(session.start(clock()))
    return HandoffResult.of(session)
