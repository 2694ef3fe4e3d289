"""``/wdp/audit/1.0``: a carrier proves it still holds a shard.

A receipt is a promise; an answered challenge is proof. The owner (or a keeper
holding the owner's grant) sends a signed, fresh challenge naming one leaf of
one shard, chosen at random; the carrier answers with that leaf, the hashes
that link it to the Merkle root the owner signed in the v2 manifest, and the
custody record that made it the carrier. A carrier that dropped the shard
cannot answer; one that kept it answers in one round trip with about 1.3 KiB.

Sans-IO like :mod:`wdp.core.fetch`, and split the same way:

* :mod:`.challenge`: the signed challenge, the owner's repair grant, the messages;
* :mod:`.checks`: the carrier's checks A2-A10 and the challenger's checks P1-P4;
* :mod:`.sessions`: the carrier and challenger state machines.
"""

from __future__ import annotations

from .challenge import (
    AuditChallenge,
    AuditMessage,
    Challenge,
    Moved,
    Proof,
    decode_audit_message,
    encode_audit_message,
    grant_is_valid,
    make_challenge,
    make_grant,
    make_spot_challenge,
)
from .checks import (
    AuditLookup,
    MovedLookup,
    SenderLookup,
    check_challenge,
    check_moved,
    check_proof,
    make_proof,
)
from .sessions import (
    AuditClientSession,
    AuditClientState,
    AuditEffect,
    AuditResult,
    AuditServerSession,
    AuditServerState,
)

__all__ = [
    "AuditChallenge",
    "AuditClientSession",
    "AuditClientState",
    "AuditEffect",
    "AuditLookup",
    "AuditMessage",
    "AuditResult",
    "AuditServerSession",
    "AuditServerState",
    "Challenge",
    "Moved",
    "MovedLookup",
    "Proof",
    "SenderLookup",
    "check_challenge",
    "check_moved",
    "check_proof",
    "decode_audit_message",
    "encode_audit_message",
    "grant_is_valid",
    "make_challenge",
    "make_grant",
    "make_proof",
    "make_spot_challenge",
]
