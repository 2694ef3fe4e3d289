"""``/wdp/fetch/1.0`` over libp2p streams: the carrier's handler and the owner's fetch.

The rules live in :mod:`wdp.core.fetch` (sans-IO sessions); this module only
moves bytes, with the stream driver of :mod:`wdp.node.migrate` (reader task,
short reads, ``StreamEOF`` as stream loss, writes bounded in time, close then
reset). One stream carries one fetch.

* :func:`serve_fetch` answers one inbound fetch from what the carrier core
  holds (``carrier.held``: committed custody only) and the store's bytes.
* :func:`fetch_shard` is the owner's side: it signs a request with the owner
  seed, verifies the header and every byte, and returns a :class:`FetchResult`
  or raises :class:`FetchError` with the reject code.
* :func:`register_fetch` installs the handler on a :class:`~wdp.node.node.Node`.

A carrier learns from a fetch that the requesting PeerId (and its IP address)
holds the owner key of that wanderer, so this module never logs who fetched.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from wdp.core.carrier import Carrier, HeldShard
from wdp.core.effects import ShardKey
from wdp.core.errors import LocalProtocolError, RejectCode, WdpError
from wdp.core.fetch import (
    FetchClientSession,
    FetchLookup,
    FetchRequest,
    FetchResult,
    FetchServerSession,
    LoadShard,
    NonceCache,
    make_fetch_request,
)
from wdp.core.limits import FETCH_IDLE_TIMEOUT, FETCH_NONCE_SIZE, FETCH_PROTOCOL_ID
from wdp.core.objects import Signed

from .host import Clock, NotEd25519PeerError, peer_key_of
from .migrate import _Driver, reset_quietly, store_call
from .store import Store

if TYPE_CHECKING:
    from .node import Node

__all__ = [
    "DEFAULT_FETCH_TIMEOUT",
    "FETCH_PROTOCOL",
    "FetchError",
    "FetchResult",
    "carrier_lookup",
    "fetch_shard",
    "register_fetch",
    "run_fetch_client",
    "serve_fetch",
]

log = logging.getLogger(__name__)

FETCH_PROTOCOL = TProtocol(FETCH_PROTOCOL_ID)
DEFAULT_FETCH_TIMEOUT = 600.0
"""Seconds one whole fetch may take, dial included (128 MiB at 256 KiB/s is 512 s)."""


class FetchError(WdpError):
    """A fetch that did not deliver a verified shard.

    ``code`` is the reject code: the carrier's (``by_peer`` True, e.g.
    NOT_HELD: look the carrier up again) or this side's (a failed check of the
    header or the data, TIMEOUT for a timeout, a dial failure or a lost stream).
    """

    def __init__(self, code: RejectCode, detail: str, *, by_peer: bool = False) -> None:
        who = "carrier" if by_peer else "fetch"
        super().__init__(f"{who} {code.name}: {detail}")
        self.code = code
        self.detail = detail
        self.by_peer = by_peer


def carrier_lookup(carrier: Carrier) -> FetchLookup:
    """What a carrier core holds, as the fetch checks ask for it (committed custody only)."""

    def lookup(key: ShardKey) -> HeldShard | None:
        return carrier.held.get(key)

    return lookup


class _ServerDriver(_Driver):
    session: FetchServerSession
    write_timeout = FETCH_IDLE_TIMEOUT  # a client that stops reading loses the stream

    def __init__(
        self, stream: INetStream, session: FetchServerSession, clock: Clock, store: Store
    ) -> None:
        super().__init__(stream, session, clock)
        self.store = store

    async def effect(self, eff: Any) -> list[Any]:
        if isinstance(eff, LoadShard):
            shard: bytes | None = None
            try:
                got = await store_call(self.store, self.store.get, eff.key)
            except Exception as exc:
                log.warning("fetch: cannot read %s from the store: %s", eff.key, exc)
                got = None
            if got is not None:
                shard = got[0]
            return list(self.session.shard_loaded(shard, self.clock()))
        raise AssertionError(f"unexpected fetch server effect {eff!r}")


class _ClientDriver(_Driver):
    session: FetchClientSession
    write_timeout = FETCH_IDLE_TIMEOUT

    async def effect(self, eff: Any) -> list[Any]:
        raise AssertionError(f"unexpected fetch client effect {eff!r}")

    async def _close(self) -> None:
        if self.session.failure is not None and not self.session.failed_by_peer:
            # This side refused: the carrier may still be writing the shard. A reset
            # ends its writes at once instead of after its idle timeout.
            await reset_quietly(self.stream)
        else:
            await super()._close()


async def serve_fetch(
    stream: INetStream,
    *,
    carrier: Carrier,
    store: Store,
    clock: Clock,
    nonces: NonceCache,
) -> FetchServerSession:
    """Answer one inbound fetch on ``stream``; returns the finished session."""
    session = FetchServerSession(
        local_peer=carrier.peer, lookup=carrier_lookup(carrier), nonces=nonces, now=clock()
    )
    driver = _ServerDriver(stream, session, clock, store)
    await driver.run()
    if session.failure is None and driver.broken:
        log.info("fetch: the stream ended while shard %s was being sent", session.key)
    elif session.failure is None:
        log.info("fetch: served shard %s", session.key)
    elif session.failed_by_peer:
        log.info("fetch: client gave up on %s: %s", session.key, session.failure)
    else:
        log.info("fetch: refused a fetch of %s: %s", session.key or "?", session.failure)
    return session


async def run_fetch_client(
    stream: INetStream,
    request: Signed[FetchRequest],
    *,
    clock: Clock,
    expected_manifest_hash: bytes | None = None,
) -> FetchClientSession:
    """Run one fetch on a freshly negotiated ``stream``; returns the finished session.

    The session's ``result`` is the verified shard, or ``failure`` says why
    not. :func:`fetch_shard` is the usual entry point; this one sends any
    request (tests, simulators).
    """
    session = FetchClientSession(request, expected_manifest_hash=expected_manifest_hash)
    await _ClientDriver(stream, session, clock).run(session.start(clock()))
    return session


async def fetch_shard(
    host: IHost,
    peer_id: ID,
    *,
    owner_seed: bytes,
    wanderer_id: bytes,
    shard_index: int,
    clock: Clock,
    expected_manifest_hash: bytes | None = None,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
) -> FetchResult:
    """Fetch shard ``shard_index`` of the owner's wanderer from its carrier ``peer_id``.

    The host must be able to reach ``peer_id`` (connect it first, e.g. with the
    addresses of the shard's locator). Returns the manifest (matching
    ``expected_manifest_hash`` if given), the custody record that made the
    peer the carrier (its generation and hop) and the shard, whose bytes hash
    to the manifest's entry. Raises :class:`FetchError` otherwise.
    """
    try:
        carrier = peer_key_of(peer_id)
    except NotEd25519PeerError as exc:
        raise FetchError(RejectCode.WRONG_SENDER, f"{peer_id} cannot be a carrier: {exc}") from None
    try:
        request = make_fetch_request(
            owner_seed,
            wanderer_id,
            shard_index,
            clock(),
            os.urandom(FETCH_NONCE_SIZE),
            carrier=carrier,
        )
    except LocalProtocolError as exc:
        raise FetchError(exc.code, exc.detail) from None
    session: FetchClientSession | None = None
    with trio.move_on_after(timeout) as scope:
        try:
            stream = await host.new_stream(peer_id, [FETCH_PROTOCOL])
        except Exception as exc:
            raise FetchError(RejectCode.TIMEOUT, f"cannot open a fetch stream: {exc!r}") from None
        try:
            session = await run_fetch_client(
                stream, request, clock=clock, expected_manifest_hash=expected_manifest_hash
            )
        except Exception:
            await reset_quietly(stream)
            raise
    if session is None:
        raise FetchError(RejectCode.TIMEOUT, f"the fetch took longer than {timeout:g} s")
    if session.result is not None:
        return session.result
    if scope.cancelled_caught:  # pragma: no cover - cancelled after the session ended
        raise FetchError(RejectCode.TIMEOUT, f"the fetch took longer than {timeout:g} s")
    failure = session.failure
    if failure is None:  # pragma: no cover - the driver only returns at a terminal state
        raise FetchError(RejectCode.TIMEOUT, "the fetch did not finish")
    raise FetchError(failure.code, failure.detail, by_peer=session.failed_by_peer)


def register_fetch(node: Node, *, nonces: NonceCache | None = None) -> NonceCache:
    """Serve ``/wdp/fetch/1.0`` on ``node`` from its carrier and store; returns the nonce cache."""
    cache = NonceCache() if nonces is None else nonces

    async def handle(stream: INetStream) -> None:
        try:
            await serve_fetch(
                stream, carrier=node.carrier, store=node.store, clock=node.clock, nonces=cache
            )
        except Exception:
            log.exception("fetch: inbound fetch crashed")
            await reset_quietly(stream)

    node.host.set_stream_handler(FETCH_PROTOCOL, handle)
    return cache
