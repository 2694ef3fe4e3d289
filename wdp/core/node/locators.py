"""The locators a node publishes for the shards it carries: which hop, and when next (spec 9)."""

from __future__ import annotations

from dataclasses import dataclass

from ..carrier import Carrier
from ..effects import ShardKey
from ..locator import locator_expiry_ms, make_locator
from ..objects import HolderInfo
from ..rng import Rng
from .effects import PublishLocator

__all__ = ["Locators"]


@dataclass(slots=True)
class _Locator:
    record_hash: bytes
    next_at: float
    lifetime: float = 0.0


class Locators:
    """One locator per carried shard, published at once and again at half its lifetime."""

    def __init__(self, carrier: Carrier, rng: Rng, publish_retry: float) -> None:
        self.carrier = carrier
        self.rng = rng
        self.publish_retry = publish_retry
        self._by_key: dict[ShardKey, _Locator] = {}

    def start(self, key: ShardKey, record_hash: bytes, now: float) -> None:
        """This node took custody of ``key`` by the hop ``record_hash``: announce it."""
        self._by_key[key] = _Locator(record_hash, now)

    def stop(self, key: ShardKey) -> None:
        """The shard left (or is gone): its next carrier publishes now (spec 6.10)."""
        self._by_key.pop(key, None)

    def get_timer(self) -> float | None:
        return min((loc.next_at for loc in self._by_key.values()), default=None)

    def due(self, now: float, holder: bytes, addrs: tuple[bytes, ...]) -> list[PublishLocator]:
        """The locators to publish (or refresh) now."""
        out = []
        for key in [k for k, loc in self._by_key.items() if loc.next_at <= now]:
            publish = self.publish(key, now, holder, addrs)
            if publish is not None:
                out.append(publish)
        return out

    def publish(
        self, key: ShardKey, now: float, holder: bytes, addrs: tuple[bytes, ...]
    ) -> PublishLocator | None:
        """This node's locator for ``key``, while it still carries the hop it announces."""
        loc = self._by_key.get(key)
        held = self.carrier.held.get(key)
        if loc is None or held is None or held.last.record.hash != loc.record_hash:
            self._by_key.pop(key, None)  # the shard moved on: its next carrier publishes
            return None
        rec, manifest = held.record, held.manifest.value
        now_ms = max(0, int(now * 1000))
        expires_ms = locator_expiry_ms(now_ms, self.carrier.epoch_of(manifest))
        dht_key, value = make_locator(
            locator_secret=held.locator_secret,
            sealing_key=manifest.sealing_key,
            holder=HolderInfo(holder, addrs, loc.record_hash),
            generation=rec.generation,
            hop=rec.hop,
            expires_at_ms=expires_ms,
            ephemeral_seed=self.rng.randbytes(32),
        )
        loc.lifetime = (expires_ms - now_ms) / 1000
        loc.next_at = now + loc.lifetime / 2
        return PublishLocator(
            key, dht_key, value, loc.record_hash, rec.generation, rec.hop, expires_ms / 1000
        )

    def failed(self, key: ShardKey, record_hash: bytes, now: float) -> None:
        """A put failed: try again soon (not later than the refresh)."""
        loc = self._by_key.get(key)
        if loc is not None and loc.record_hash == record_hash:
            loc.next_at = now + min(self.publish_retry, loc.lifetime / 2)
