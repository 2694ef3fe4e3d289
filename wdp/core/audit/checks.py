"""The carrier's checks of a challenge, its proof, and the challenger's checks of a proof.

Carrier checks, in order; the first failure decides the code (protocols/README.md
section 18):

====  ======================================================================  ===================
step  check                                                                   code
====  ======================================================================  ===================
A1    frame, message and challenge body decode                                TOO_LARGE, MALFORMED,
                                                                              UNSUPPORTED_VERSION
A2    ``wanderer_id`` = H("wdp/v1/wanderer-id" || ``owner_key``)               UNAUTHORIZED
A3    ``challenger_key`` = ``owner_key``, or ``grant`` is the owner's          UNAUTHORIZED
      signature (wdp/v2/repair-grant) over ``wanderer_id || challenger_key``,
      or ``grant`` is empty and ``challenger_key`` handed this node the shard
      (the previous carrier's spot audit)
A4    the signature verifies with ``challenger_key`` (wdp/v1/audit-challenge)  UNAUTHORIZED
A5    ``carrier`` = this node's peer key                                      WRONG_RECIPIENT
A6    ``time_ms`` within +-5 min of this node's clock                         STALE_HOP
A7    ``nonce`` not seen in a challenge that passed A1-A7 before              STALE_HOP
A8    this node carries shard (``wanderer_id``, ``shard_index``); if not,    NOT_HELD
      but it handed the shard on recently, it answers Moved with that hop
A9    the carried manifest is version 2 (it has Merkle roots)                 UNSUPPORTED_VERSION
A10   ``leaf_index`` < the shard's number of leaves                           MALFORMED
====  ======================================================================  ===================

A2-A4 come before A8, so a node answers every stranger the same whether or not
it carries the shard (only the peer it took the shard from, which knows that
already, gets past A3 without a grant). The challenger's checks P1-P4 of a Proof are
:func:`check_proof`, its checks M1-M3 of a Moved :func:`check_moved`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..crypto import wanderer_id as derive_wanderer_id
from ..effects import ShardKey
from ..errors import RejectCode, RemoteProtocolError
from ..merkle import audit_path, leaf_count, leaf_of, path_root
from ..nonces import NonceCache, check_fresh
from ..objects import CustodyLink, CustodyRecord, Manifest, Signed
from .challenge import AuditChallenge, Moved, Proof, grant_is_valid

if TYPE_CHECKING:
    from ..carrier import HeldShard

__all__ = [
    "AuditLookup",
    "MovedLookup",
    "SenderLookup",
    "check_challenge",
    "check_moved",
    "check_proof",
    "make_proof",
]

AuditLookup = Callable[[ShardKey], "HeldShard | None"]
"""The shard this node carries under a key (committed custody only), or None."""

MovedLookup = Callable[[ShardKey], "CustodyLink | None"]
"""The hop by which this node recently handed a shard on (its record, the receipt), or None."""

SenderLookup = Callable[[ShardKey], "bytes | None"]
"""The peer that handed this node a shard it carries or recently handed on, or None."""


def check_challenge(
    challenge: Signed[AuditChallenge],
    *,
    local_peer: bytes,
    lookup: AuditLookup,
    now: float,
    nonces: NonceCache,
    moved: MovedLookup = lambda key: None,
    received_from: SenderLookup = lambda key: None,
) -> HeldShard | CustodyLink:
    """Checks A2-A10 of a decoded challenge (A1 is decoding); raise RemoteProtocolError, or
    return what to prove (the held shard) or show (the hop that moved it on).

    A challenge that passes A2-A7 uses up its nonce, whether or not this node
    carries the shard.
    """
    c = challenge.value
    denied = RejectCode.UNAUTHORIZED
    if c.wanderer_id != derive_wanderer_id(c.owner_key):
        raise RemoteProtocolError(denied, "the challenge's owner key does not own that wanderer")
    if c.challenger_key != c.owner_key:
        if c.grant and not grant_is_valid(c.owner_key, c.wanderer_id, c.challenger_key, c.grant):
            raise RemoteProtocolError(denied, "the challenger holds no grant from the owner")
        if not c.grant and received_from(c.key) != c.challenger_key:
            raise RemoteProtocolError(
                denied, "the challenger holds no grant from the owner and did not hand this node "
                "the shard"
            )  # fmt: skip
    if not challenge.verify(c.challenger_key):
        raise RemoteProtocolError(denied, "the challenge is not signed by its challenger key")
    if c.carrier != local_peer:
        raise RemoteProtocolError(
            RejectCode.WRONG_RECIPIENT, "the challenge is addressed to another node"
        )
    check_fresh(c.time_ms, c.nonce, now, nonces, "challenge")
    held = lookup(c.key)
    if held is None or held.manifest.value.owner_key != c.owner_key:
        link = moved(c.key)
        if link is not None:
            return link
        raise RemoteProtocolError(RejectCode.NOT_HELD, "this node does not carry that shard")
    manifest = held.manifest.value
    if not manifest.auditable:
        raise RemoteProtocolError(
            RejectCode.UNSUPPORTED_VERSION,
            f"the shard's manifest is version {manifest.version}: it has no Merkle roots",
        )
    leaves = leaf_count(manifest.shard_size)
    if c.leaf_index >= leaves:
        raise RemoteProtocolError(
            RejectCode.MALFORMED, f"leaf {c.leaf_index} is outside the shard ({leaves} leaves)"
        )
    return held


def make_proof(held: HeldShard, shard: bytes, leaf_index: int) -> Proof:
    """The answer to a challenge that passed: leaf ``leaf_index`` of ``shard`` and its path."""
    return Proof(held.last.record, leaf_of(shard, leaf_index), tuple(audit_path(shard, leaf_index)))


def _check_record(
    record: Signed[CustodyRecord], challenge: AuditChallenge, manifest: Signed[Manifest]
) -> None:
    """P1-P2 (M1): the record is signed by its sender and is a hop of the challenged shard."""
    m, rec = manifest.value, record.value
    if not record.verify(rec.from_peer):
        raise RemoteProtocolError(
            RejectCode.BAD_SIGNATURE, "the custody record signature is invalid"
        )
    bad = RejectCode.BAD_CHAIN
    if rec.wanderer_id != challenge.wanderer_id or rec.shard_index != challenge.shard_index:
        raise RemoteProtocolError(bad, "the custody record is for another shard")
    if rec.shard_index >= m.n or rec.shard_hash != m.shard_hashes[rec.shard_index]:
        raise RemoteProtocolError(bad, "the record's shard hash is not the manifest's")
    if rec.manifest_hash != manifest.hash:
        raise RemoteProtocolError(bad, "the record names another manifest")
    if rec.hop == 0 and not m.may_start(rec):
        raise RemoteProtocolError(bad, "hop 0 was not signed by the owner (or its repair key)")


def check_proof(proof: Proof, challenge: AuditChallenge, manifest: Signed[Manifest]) -> None:
    """The challenger's checks P1-P4 of a decoded Proof; raise RemoteProtocolError if one fails.

    ``manifest`` is the one the challenger holds for the wanderer (the owner's
    record of it, or a keeper's).
    """
    _check_record(proof.record, challenge, manifest)
    rec, m = proof.record.value, manifest.value
    if rec.to_peer != challenge.carrier:
        raise RemoteProtocolError(RejectCode.WRONG_SENDER, "the record names another carrier")
    root = path_root(m.shard_size, challenge.leaf_index, proof.leaf, proof.path)
    if not m.auditable or root != m.shard_roots[rec.shard_index]:
        raise RemoteProtocolError(
            RejectCode.BAD_PROOF, "the leaf and path do not lead to the shard's Merkle root"
        )


def check_moved(moved: Moved, challenge: AuditChallenge, manifest: Signed[Manifest]) -> None:
    """The challenger's checks M1-M3 of a decoded Moved; raise RemoteProtocolError if one fails.

    M1 the record as P1-P2; M2 the record's ``from_peer`` is the challenged
    carrier (WRONG_SENDER); M3 the receipt acknowledges that record: receiver =
    record ``to_peer``, ``record_hash`` = H(record body), ``shard_hash`` =
    record ``shard_hash`` (BAD_CHAIN), signed by the receiver (BAD_SIGNATURE).
    The next carrier's receipt is its promise: the challenger audits it next.
    """
    record, receipt = moved.link.record, moved.link.receipt
    _check_record(record, challenge, manifest)
    rec, rcpt = record.value, receipt.value
    if rec.from_peer != challenge.carrier:
        raise RemoteProtocolError(RejectCode.WRONG_SENDER, "the hop was not this carrier's")
    if (
        rcpt.receiver != rec.to_peer
        or rcpt.record_hash != record.hash
        or rcpt.shard_hash != rec.shard_hash
    ):
        raise RemoteProtocolError(RejectCode.BAD_CHAIN, "the receipt is not for that hop")
    if not receipt.verify(rcpt.receiver):
        raise RemoteProtocolError(RejectCode.BAD_SIGNATURE, "the receipt signature is invalid")
