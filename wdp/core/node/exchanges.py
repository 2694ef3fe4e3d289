"""The request-and-answer protocols a node runs beside custody: fetch and audit.

Both are one stream, one request, one answer, and change nothing a carrier
holds. The node's core treats them alike: an inbound stream gets the server
session of its protocol, an outbound one the client session made when the
stream opens, and a finished session becomes one report.
"""

from __future__ import annotations

from ..audit import AuditClientSession, AuditServerSession
from ..carrier import Carrier
from ..fetch import FetchClientSession, FetchServerSession
from ..limits import AUDIT_PROTOCOL_ID, FETCH_PROTOCOL_ID
from ..nonces import NonceCache
from .effects import AuditEnded, AuditServed, FetchEnded, FetchServed, NodeEffect

__all__ = ["EXCHANGE_PROTOCOLS", "ClientSession", "ServerSession", "report", "server_session"]

EXCHANGE_PROTOCOLS = (FETCH_PROTOCOL_ID, AUDIT_PROTOCOL_ID)

ServerSession = FetchServerSession | AuditServerSession
ClientSession = FetchClientSession | AuditClientSession


def server_session(
    protocol: str, *, local_peer: bytes, carrier: Carrier, nonces: NonceCache, now: float
) -> ServerSession:
    """The carrier's session for an inbound fetch or audit stream."""
    if protocol == FETCH_PROTOCOL_ID:
        return FetchServerSession(
            local_peer=local_peer, lookup=carrier.held.get, nonces=nonces, now=now
        )
    return AuditServerSession(
        local_peer=local_peer,
        lookup=carrier.held.get,
        nonces=nonces,
        now=now,
        moved=carrier.handed_on,
        received_from=carrier.received_from,
    )


def report(session: ServerSession | ClientSession, tag: int | None) -> NodeEffect:
    """What a finished fetch or audit session reports (``tag``: the owner's, for a client)."""
    fail = session.failure
    code = None if fail is None else fail.code
    detail = "" if fail is None else fail.detail
    by_peer = session.failed_by_peer
    match session:
        case FetchServerSession():
            return FetchServed(session.key, fail is None, code, detail, by_peer)
        case AuditServerSession():
            return AuditServed(session.key, fail is None, code, detail, by_peer)
        case FetchClientSession():
            assert tag is not None
            if session.result is not None or fail is None:
                return FetchEnded(tag, session.result)
            return FetchEnded(tag, None, code, detail, by_peer)
        case AuditClientSession():
            assert tag is not None
            if session.result is not None or fail is None:
                return AuditEnded(tag, session.key, session.challenge.value.carrier, session.result)
            return AuditEnded(
                tag, session.key, session.challenge.value.carrier, None, code, detail, by_peer
            )
