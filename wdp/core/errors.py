"""Error types of the protocol core.

Every failure a peer can cause is a :class:`ProtocolError` carrying the
:class:`RejectCode` that goes on the wire, so a driver never has to map
exceptions to codes itself (the h2/wsproto pattern).
"""

from __future__ import annotations

from enum import IntEnum


class RejectCode(IntEnum):
    """Why a handoff was refused; values are the wire values of ``RejectCode``."""

    MALFORMED = 1
    TOO_LARGE = 2
    UNSUPPORTED_VERSION = 3
    BAD_MANIFEST = 4
    BAD_SIGNATURE = 5
    BAD_CHAIN = 6
    STALE_HOP = 7
    WRONG_RECIPIENT = 8
    WRONG_SENDER = 9
    BAD_LOCATOR_KEY = 10
    SHARD_HASH_MISMATCH = 11
    CAPACITY = 12
    SIBLING_HELD = 13
    SHUTTING_DOWN = 14
    BUSY = 15
    PROTOCOL_VIOLATION = 16
    TIMEOUT = 17
    BAD_RECEIPT = 18
    NOT_HELD = 19  # /wdp/fetch/1.0: this node does not carry that shard
    UNAUTHORIZED = 20  # /wdp/fetch/1.0: the request is not signed by the wanderer's owner key


MIGRATE_REJECT_CODES = frozenset(code for code in RejectCode if code <= RejectCode.BAD_RECEIPT)
"""Codes a ``/wdp/migrate/1.0`` Reject may carry (1..18); any other is MALFORMED there."""


class WdpError(Exception):
    """Base class of every error raised by WDP."""


class ProtocolError(WdpError):
    """Input that breaks the WDP protocol; ``code`` says which rule."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class LocalProtocolError(ProtocolError):
    """This side was asked to do something the protocol forbids (a bug in the caller)."""
