"""What a node keeps beside a shard's bytes, and custody rebuilt from it after a restart.

A carrier's store holds, per shard, the exact ``Signed`` bytes that travelled
(manifest, earlier links, the record that brought the shard here, this node's
receipt) and the locator secret. That is everything the carrier core needs to
take custody back after a restart (:func:`held_from_stored`), and its JSON
form is the store's metadata file. Pure: no file is touched here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .effects import ShardKey, StoreShard
from .errors import WdpError
from .objects import CustodyLink, CustodyRecord, Manifest, Receipt, Signed

__all__ = ["META_VERSION", "ShardMeta", "StoreError"]

META_VERSION = 1


class StoreError(WdpError):
    """A store could not do what was asked (missing shard, I/O failure, unreadable metadata)."""


@dataclass(frozen=True, slots=True)
class ShardMeta:
    """What a node must remember about a shard besides its bytes.

    Every field holds the exact encoded ``Signed`` bytes that travelled, so
    signatures still verify after a reload.

    Attributes:
        manifest: The owner-signed manifest.
        chain: Completed links before the hop that brought the shard here, as
            ``(record, receipt)`` pairs.
        record: The custody record of the hop that brought the shard here.
        locator_secret: Seed that signs this shard's locator records.
        receipt: This node's receipt for ``record``; None until committed.
    """

    manifest: bytes
    chain: tuple[tuple[bytes, bytes], ...]
    record: bytes
    locator_secret: bytes
    receipt: bytes | None = None

    @classmethod
    def from_store(cls, eff: StoreShard) -> ShardMeta:
        return cls(
            manifest=eff.manifest.to_bytes(),
            chain=tuple((link.record.to_bytes(), link.receipt.to_bytes()) for link in eff.chain),
            record=eff.record.to_bytes(),
            locator_secret=eff.locator_secret,
        )

    @property
    def committed(self) -> bool:
        return self.receipt is not None

    def links(self) -> tuple[CustodyLink, ...]:
        """The full chain including this node's hop (needs the receipt)."""
        if self.receipt is None:
            raise StoreError("shard was never committed: no receipt")
        prior = tuple(
            CustodyLink(Signed.from_bytes(r, CustodyRecord), Signed.from_bytes(c, Receipt))
            for r, c in self.chain
        )
        last = CustodyLink(
            Signed.from_bytes(self.record, CustodyRecord), Signed.from_bytes(self.receipt, Receipt)
        )
        return (*prior, last)

    def signed_manifest(self) -> Signed[Manifest]:
        return Signed.from_bytes(self.manifest, Manifest)

    def signed_record(self) -> Signed[CustodyRecord]:
        return Signed.from_bytes(self.record, CustodyRecord)

    def to_bytes(self) -> bytes:
        doc = {
            "v": META_VERSION,
            "manifest": self.manifest.hex(),
            "chain": [[r.hex(), c.hex()] for r, c in self.chain],
            "record": self.record.hex(),
            "locator_secret": self.locator_secret.hex(),
            "receipt": None if self.receipt is None else self.receipt.hex(),
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ShardMeta:
        try:
            doc = json.loads(data)
            if doc.get("v") != META_VERSION:
                raise StoreError(f"unknown shard metadata version {doc.get('v')!r}")
            receipt = doc["receipt"]
            return cls(
                manifest=bytes.fromhex(doc["manifest"]),
                chain=tuple((bytes.fromhex(r), bytes.fromhex(c)) for r, c in doc["chain"]),
                record=bytes.fromhex(doc["record"]),
                locator_secret=bytes.fromhex(doc["locator_secret"]),
                receipt=None if receipt is None else bytes.fromhex(receipt),
            )
        except StoreError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"shard metadata is unreadable: {exc}") from None


StoredShard = tuple[ShardKey, ShardMeta]
"""A committed shard a store found at start-up, as ``DiskStore.load`` returns it."""
