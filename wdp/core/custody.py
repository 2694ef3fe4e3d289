"""Custody chain rules: how a receiver decides an offered hop is genuine.

Checks run in the order of the spec (protocols/README.md, "Offer checks");
the first failing check decides the reject code, so every implementation
refuses the same bad offer with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from .errors import RejectCode, RemoteProtocolError
from .limits import MAX_CHAIN_LINKS
from .messages import Offer
from .objects import CustodyLink, CustodyRecord, Manifest, Signed
from .signing import public_key_of

_SAME_FIELDS = (
    "wanderer_id",
    "shard_index",
    "generation",
    "shard_hash",
    "manifest_hash",
    "locator_key",
)


def _fail(code: RejectCode, detail: str) -> RemoteProtocolError:
    return RemoteProtocolError(code, detail)


def check_record_fits_manifest(record: CustodyRecord, manifest: Signed[Manifest]) -> None:
    """The record names this manifest's wanderer, a valid index and that shard's hash."""
    m = manifest.value
    if record.wanderer_id != m.wanderer_id:
        raise _fail(RejectCode.BAD_CHAIN, "record names another wanderer than the manifest")
    if record.shard_index >= m.n:
        raise _fail(RejectCode.BAD_CHAIN, f"shard_index {record.shard_index} >= n={m.n}")
    if record.shard_hash != m.shard_hashes[record.shard_index]:
        raise _fail(RejectCode.BAD_CHAIN, "record shard_hash differs from the manifest's")
    if record.manifest_hash != manifest.hash:
        raise _fail(RejectCode.BAD_CHAIN, "record manifest_hash differs from the manifest")


def check_link(link: CustodyLink) -> None:
    """A completed hop: both signatures good and the receipt acknowledges this record."""
    rec = link.record.value
    if not link.record.verify(rec.from_peer):
        raise _fail(RejectCode.BAD_SIGNATURE, f"hop {rec.hop} record signature is invalid")
    rcpt = link.receipt.value
    if rcpt.receiver != rec.to_peer or rcpt.record_hash != link.record.hash:
        raise _fail(RejectCode.BAD_CHAIN, f"hop {rec.hop} receipt does not acknowledge its record")
    if rcpt.shard_hash != rec.shard_hash:
        raise _fail(RejectCode.BAD_CHAIN, f"hop {rec.hop} receipt names another shard hash")
    if not link.receipt.verify(rec.to_peer):
        raise _fail(RejectCode.BAD_SIGNATURE, f"hop {rec.hop} receipt signature is invalid")


def check_follows(prev: Signed[CustodyRecord], nxt: CustodyRecord) -> None:
    """``nxt`` is the hop right after ``prev``, from its receiver, about the same shard."""
    p = prev.value
    for name in _SAME_FIELDS:
        if getattr(p, name) != getattr(nxt, name):
            raise _fail(RejectCode.BAD_CHAIN, f"hop {nxt.hop} changes {name}")
    if nxt.hop != p.hop + 1:
        raise _fail(RejectCode.BAD_CHAIN, f"hop {nxt.hop} does not follow hop {p.hop}")
    if nxt.prev_record_hash != prev.hash:
        raise _fail(RejectCode.BAD_CHAIN, f"hop {nxt.hop} does not link to hop {p.hop}")
    if nxt.from_peer != p.to_peer:
        raise _fail(RejectCode.BAD_CHAIN, f"hop {nxt.hop} is sent by a peer that never held it")


def check_chain(
    manifest: Signed[Manifest], chain: Sequence[CustodyLink], record: Signed[CustodyRecord]
) -> None:
    """Verify the completed links carried with ``record`` and that ``record`` extends them."""
    rec = record.value
    expected = min(rec.hop, MAX_CHAIN_LINKS)
    if len(chain) != expected:
        raise _fail(
            RejectCode.BAD_CHAIN, f"hop {rec.hop} must carry {expected} links, got {len(chain)}"
        )
    records = [link.record for link in chain] + [record]
    first = records[0].value
    if first.hop == 0 and not manifest.value.may_start(first):
        raise _fail(RejectCode.BAD_CHAIN, "hop 0 is not signed by the owner (or its repair key)")
    for link in chain:
        check_link(link)
    for prev, nxt in pairwise(records):
        check_follows(prev, nxt.value)


def check_sender(offer: Offer, remote_peer: bytes) -> None:
    """After hop 0, the stream's peer must be the one that signed the record.

    The only offer check that depends on who sent these bytes: an offer that
    passed every other check once needs only this one when it comes again.
    """
    rec = offer.record.value
    if rec.hop > 0 and rec.from_peer != remote_peer:
        raise _fail(RejectCode.WRONG_SENDER, "the record was made by another peer than the sender")


def check_offer(offer: Offer, *, local_peer: bytes, remote_peer: bytes) -> None:
    """Every offer check that needs no local state, in spec order; raises RemoteProtocolError.

    ``remote_peer`` is the authenticated Ed25519 key of the stream's peer; it must
    be the sender of any hop after 0. Hop 0 comes from the owner's node, which
    need not hold the owner key.
    """
    manifest, record = offer.manifest, offer.record
    rec = record.value
    if not manifest.verify(manifest.value.owner_key):
        raise _fail(RejectCode.BAD_MANIFEST, "manifest signature is invalid")
    if not record.verify(rec.from_peer):
        raise _fail(RejectCode.BAD_SIGNATURE, f"hop {rec.hop} record signature is invalid")
    check_record_fits_manifest(rec, manifest)
    if rec.to_peer != local_peer:
        raise _fail(RejectCode.WRONG_RECIPIENT, "the record hands the shard to another peer")
    check_sender(offer, remote_peer)
    check_chain(manifest, offer.chain, record)
    if public_key_of(offer.locator_secret) != rec.locator_key:
        raise _fail(RejectCode.BAD_LOCATOR_KEY, "locator_secret does not match locator_key")
