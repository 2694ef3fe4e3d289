"""Error types of WDP.

Every exception class WDP defines derives from :class:`WdpError`
(tests/core/test_errors.py walks the sources to keep it so); a few are also a
ValueError where callers catch them as one. Bad arguments to constructors and
helpers still raise the built-in ValueError.

Protocol failures are a :class:`ProtocolError` carrying the
:class:`RejectCode` that goes on the wire, so a driver never has to map
exceptions to codes itself (the h2/wsproto pattern), and, as in h11, the
class says whose fault the failure is:

* :class:`RemoteProtocolError`: the peer broke the protocol. Bytes or objects
  received from it do not decode or do not validate: frames, messages, signed
  objects, locators, fetch requests and headers, offer and chain checks,
  receipts, data out of order or not matching its hash. A session that meets
  one ends and tells the peer why.
* :class:`LocalProtocolError`: this side was asked to do something the
  protocol forbids, a bug in the caller: a shard of the wrong size, a session
  started twice, a request for a wanderer the seed does not own.
* :class:`ProtocolError` itself: a session ends with a wire code although
  nobody broke the protocol. A refusal by local policy (``Carrier.admit``:
  STALE_HOP, SHUTTING_DOWN, BUSY, CAPACITY, SIBLING_HELD; a shard that could
  not be stored or has gone from the store) is a well-formed answer to a
  well-formed offer; so are the peer's own Reject, a timeout and a lost stream.
  They are refusals with a wire code, not faults of either side.

Both subclasses are ProtocolErrors, so ``except ProtocolError`` catches all three.
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
    NOT_HELD = 19  # fetch and audit: this node does not carry that shard
    UNAUTHORIZED = 20  # fetch and audit: not signed by a key allowed to ask
    BAD_PROOF = 21  # /wdp/audit/1.0: the leaf and path do not lead to the shard's Merkle root


MIGRATE_REJECT_CODES = frozenset(code for code in RejectCode if code <= RejectCode.BAD_RECEIPT)
"""Codes a ``/wdp/migrate/1.0`` Reject may carry (1..18); any other is MALFORMED there."""

FETCH_REJECT_CODES = frozenset(code for code in RejectCode if code <= RejectCode.UNAUTHORIZED)
"""Codes a ``/wdp/fetch/1.0`` Reject may carry (1..20)."""

AUDIT_REJECT_CODES = frozenset(RejectCode)
"""Codes a ``/wdp/audit/1.0`` Reject may carry (1..21)."""


class WdpError(Exception):
    """Base class of every exception class WDP defines."""


class ProtocolError(WdpError):
    """A WDP session or check failed; ``code`` is the wire code that says why.

    Raised or recorded as such only for refusals with a wire code that are
    nobody's fault (local policy, the peer's Reject, timeouts); see the module
    docstring.
    """

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids (bytes or objects that fail a check)."""


class LocalProtocolError(ProtocolError):
    """This side was asked to do something the protocol forbids (a bug in the caller)."""
