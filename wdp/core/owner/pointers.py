"""Forward pointers: word of a repaired shard's generation, for readers without records (spec 9).

A carrier publishes its locator under the key of its shard's generation; a
repair starts the next generation. A reader with only the ticket (the owner on
a new node after the old one was seized, or a keeper given the capability
later) does not know how many repairs there were. So the owner, and each
keeper, publishes under a repaired shard's generation-0 key a locator record
whose ``generation`` is the shard's current one: the select rule (highest
generation first) puts it above any generation-0 record, and the reader's
first lookup finds it (``Locate`` follows it). Its sealed holder is the
carrier the check round found, but a reader never fetches from it: the
generation is what counts.

The record is signed with the generation-0 locator key, which only the owner
and keepers (and the shard's generation-0 carriers) can derive, and lives
24 h; a check round publishes it when the shard's generation changed or the
last one is ``POINTER_REPUBLISH_MS`` old. With the owner and every keeper
gone it expires after a day, and a reader falls back to looking up
generations 1 to 7.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from ..effects import ShardKey
from ..limits import MAX_LOCATOR_TTL_MS, POINTER_REPUBLISH_MS
from ..locator import make_locator
from ..objects import HolderInfo
from .authority import Authority
from .effects import PublishPointer

__all__ = ["Pointers"]

EPHEMERAL_DOMAIN = b"wdp/v2/pointer-ephemeral"


@dataclass
class Pointers:
    """The forward pointers this owner or keeper published: shard -> (generation, at ms)."""

    published: dict[ShardKey, tuple[int, int]] = field(default_factory=dict)

    def due(
        self,
        ticket: Authority,
        sealing_key: bytes,
        publisher: bytes,
        found: dict[int, tuple[int, HolderInfo]],
        now: float,
    ) -> list[PublishPointer]:
        """Pointers to publish for the shards a check round found (index -> generation, holder).

        One for every shard past generation 0 whose pointer names an older
        generation, or is ``POINTER_REPUBLISH_MS`` old, or was never published here.
        """
        now_ms = int(now * 1000)
        out = []
        for index, (generation, holder) in sorted(found.items()):
            if generation == 0:
                continue
            key = ShardKey(ticket.wanderer_id, index)
            last = self.published.get(key)
            if (
                last is not None
                and last[0] >= generation
                and now_ms < last[1] + POINTER_REPUBLISH_MS
            ):
                continue  # this generation's pointer is out and not yet half its life old
            seed = ticket.locator_seed(index, 0)
            # Fresh for each record without drawing on the core's rng (whose stream
            # placement uses): keyed by a secret, unique per publisher and millisecond.
            ephemeral = hashlib.sha256(
                EPHEMERAL_DOMAIN + seed + publisher + struct.pack(">IQ", generation, now_ms)
            ).digest()
            expires_ms = now_ms + MAX_LOCATOR_TTL_MS
            dht_key, value = make_locator(
                locator_secret=seed,
                sealing_key=sealing_key,
                holder=HolderInfo(holder.holder, (), holder.record_hash),
                generation=generation,
                hop=0,
                expires_at_ms=expires_ms,
                ephemeral_seed=ephemeral,
            )
            self.published[key] = (generation, now_ms)
            out.append(PublishPointer(dht_key, value, generation, expires_ms / 1000))
        return out

    def forget(self, wanderer_id: bytes) -> None:
        for key in [k for k in self.published if k.wanderer_id == wanderer_id]:
            del self.published[key]
