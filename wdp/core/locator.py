"""Locator records: how an owner finds the current carrier of each shard.

Key: ``"/wdp/" + base64url(locator_key)``, the unpadded base64url of the
32-byte Ed25519 key in the shard's custody records: 48 bytes in all, because
py-libp2p's Kademlia refuses FIND_NODE keys longer than 50 bytes. Value: an
encoded ``Signed`` whose body is a ``LocatorBody`` signed by that key. Only
holders of the locator secret (the owner, and the carriers it travels to with
the shard) can write; only the owner can read who the carrier is, because
``sealed_holder`` is a sealed box to the manifest's sealing key (the owner key
in version 1, the repair key in version 2, so a keeper can read it too). The validator and the
select rule below are what every DHT node applies, so they use nothing but
the key, the value and ``now``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from . import crypto
from .errors import ProtocolError, RejectCode, RemoteProtocolError
from .limits import (
    DHT_NAMESPACE,
    LOCATOR_LIFETIME_EPOCHS,
    MAX_LOCATOR_TTL_MS,
    MAX_LOCATOR_VALUE,
    MAX_SEALED_HOLDER,
)
from .objects import HolderInfo, Locator, Signed
from .signing import Signer, current_scheme

MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
_KEY_RE = re.compile(rf"/{DHT_NAMESPACE}/([A-Za-z0-9_-]{{43}})")


def locator_dht_key(locator_key: bytes) -> str:
    """The DHT key a shard's locator lives under."""
    encoded = base64.urlsafe_b64encode(locator_key).rstrip(b"=").decode()
    return f"/{DHT_NAMESPACE}/{encoded}"


def make_locator(
    *,
    locator_secret: bytes,
    sealing_key: bytes,
    holder: HolderInfo,
    generation: int,
    hop: int,
    expires_at_ms: int,
    ephemeral_seed: bytes,
) -> tuple[str, bytes]:
    """Build and sign a locator record; returns ``(dht_key, value)``.

    ``ephemeral_seed`` is 32 fresh random bytes for the sealed box.
    """
    signer = Signer(locator_secret)
    sealed = current_scheme().seal(sealing_key, holder.encode(), ephemeral_seed)
    if len(sealed) > MAX_SEALED_HOLDER:
        raise ValueError(
            f"holder info seals to {len(sealed)} bytes, above {MAX_SEALED_HOLDER}: "
            "list fewer addresses"
        )
    body = Locator(
        generation=generation, hop=hop, expires_at_ms=expires_at_ms, sealed_holder=sealed
    )
    return locator_dht_key(signer.public_key), Signed.create(body, signer).to_bytes()


def locator_expiry_ms(now_ms: int, epoch_seconds: float) -> int:
    """When a locator published at ``now_ms`` should expire: a few epochs, at most a day.

    ``epoch_seconds`` is the epoch the carrier keeps (the manifest's, or its
    floor if that is longer). A carrier whose shard stays longer than half
    that (a long epoch) republishes.
    """
    lifetime = int(LOCATOR_LIFETIME_EPOCHS * epoch_seconds * 1000)
    return now_ms + min(lifetime, MAX_LOCATOR_TTL_MS)


def validate_locator(key: str, value: bytes, now_ms: int) -> Signed[Locator]:
    """The ``/wdp/`` namespace validator: RemoteProtocolError unless the record is acceptable."""
    match = _KEY_RE.fullmatch(key)
    if match is None:
        raise RemoteProtocolError(
            RejectCode.MALFORMED, "locator key must be /wdp/ + 43 base64url chars"
        )
    locator_key = base64.urlsafe_b64decode(match.group(1) + "=")
    if locator_dht_key(locator_key) != key:
        raise RemoteProtocolError(RejectCode.MALFORMED, "locator key is not canonical base64url")
    if len(value) > MAX_LOCATOR_VALUE:
        raise RemoteProtocolError(
            RejectCode.TOO_LARGE, f"locator value exceeds {MAX_LOCATOR_VALUE} bytes"
        )
    signed = Signed.from_bytes(value, Locator)
    if not signed.verify(locator_key):
        raise RemoteProtocolError(RejectCode.BAD_SIGNATURE, "locator is not signed by its key")
    expires = signed.value.expires_at_ms
    if expires <= now_ms:
        raise RemoteProtocolError(RejectCode.STALE_HOP, "locator has expired")
    if expires > now_ms + MAX_LOCATOR_TTL_MS + MAX_CLOCK_SKEW_MS:
        raise RemoteProtocolError(RejectCode.MALFORMED, "locator expires too far in the future")
    return signed


def select_locator(key: str, values: Sequence[bytes], now_ms: int) -> int:
    """Index of the best value: valid, then highest (generation, hop), then latest expiry,
    then the smallest value bytes. Raises RemoteProtocolError if none is valid."""
    best: tuple[tuple[int, int, int], bytes, int] | None = None
    for i, value in enumerate(values):
        try:
            loc = validate_locator(key, value, now_ms).value
        except ProtocolError:
            continue
        rank = (loc.generation, loc.hop, loc.expires_at_ms)
        if best is None or rank > best[0] or (rank == best[0] and value < best[1]):
            best = (rank, value, i)
    if best is None:
        raise RemoteProtocolError(RejectCode.MALFORMED, "no valid locator among the values")
    return best[2]


def open_locator(sealing_seed: bytes, locator: Locator) -> HolderInfo:
    """The owner (or a keeper) reads who carries the shard; see ``wanderer.sealing_seed``."""
    try:
        plain = current_scheme().open_sealed(sealing_seed, locator.sealed_holder)
    except crypto.CryptoError as exc:
        raise RemoteProtocolError(RejectCode.MALFORMED, f"locator does not open: {exc}") from None
    return HolderInfo.decode(plain)
