"""The owner's side, pure: make a wanderer, launch its shards, rebuild it.

A wanderer is a payload encrypted with a key derived from the owner seed,
erasure-coded into n shards, and described by a manifest the owner signs.
Launching a shard is hop 0 of its custody chain: a GENESIS record (or REPAIR,
for a rebuilt shard) signed by the owner key, or a REPAIR signed by the repair
key of a version 2 wanderer (a keeper's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import crypto, erasure, merkle
from .errors import ProtocolError, RejectCode
from .limits import MANIFEST_VERSION, MAX_SHARD_SIZE, TAG_SIZE
from .messages import Offer
from .objects import CustodyRecord, Manifest, Reason, Signed, shard_size_for, time_ms
from .signing import Signer, public_key_of


class RebuildError(ProtocolError):
    """The payload cannot be rebuilt (too few good shards, or it fails to authenticate)."""


@dataclass(frozen=True, slots=True)
class Wanderer:
    """A freshly made wanderer: its signed manifest and all n shards."""

    manifest: Signed[Manifest]
    shards: tuple[bytes, ...]


def create_wanderer(
    payload: bytes,
    *,
    owner_seed: bytes,
    nonce: bytes,
    k: int,
    n: int,
    epoch_seconds: int,
    now: float,
    version: int = MANIFEST_VERSION,
) -> Wanderer:
    """Encrypt, erasure-code and describe ``payload``; ``nonce`` is 12 fresh random bytes.

    ``version`` 1 makes the old manifest (no repair key, no Merkle roots), for
    tests and vectors of version 1 peers.
    """
    owner = Signer(owner_seed)
    wid = crypto.wanderer_id(owner.public_key)
    if shard_size_for(len(payload), k) > MAX_SHARD_SIZE:
        raise ValueError(
            f"a {len(payload)}-byte payload at k={k} makes shards above {MAX_SHARD_SIZE} bytes; "
            "raise k or split the file"
        )
    ciphertext = crypto.encrypt_payload(crypto.derive_data_key(owner_seed), nonce, payload, wid)
    shards = erasure.encode(ciphertext, k, n)
    manifest = Manifest(
        wanderer_id=wid,
        owner_key=owner.public_key,
        nonce=bytes(nonce),
        payload_size=len(payload),
        k=k,
        n=n,
        shard_size=len(shards[0]),
        shard_hashes=tuple(erasure.shard_hash(s) for s in shards),
        epoch_seconds=epoch_seconds,
        created_at_ms=time_ms(now),
        version=version,
        repair_key=public_key_of(repair_seed(owner_seed)) if version >= 2 else b"",
        shard_roots=tuple(merkle.merkle_root(s) for s in shards) if version >= 2 else (),
    )
    Manifest.decode(manifest.encode())  # the owner never signs what a carrier would refuse
    return Wanderer(Signed.create(manifest, owner), tuple(shards))


def repair_seed(owner_seed: bytes) -> bytes:
    """The seed of a v2 wanderer's repair key: enough to find, audit and relaunch, not to read."""
    return crypto.derive_repair_seed(owner_seed)


def locator_seed(
    owner_seed: bytes, shard_index: int, generation: int, version: int = MANIFEST_VERSION
) -> bytes:
    """The secret that signs locator records of one shard in one generation.

    From the owner seed in version 1, from the repair seed in version 2.
    """
    if version >= 2:
        return crypto.derive_locator_seed_v2(repair_seed(owner_seed), shard_index, generation)
    return crypto.derive_locator_seed(owner_seed, shard_index, generation)


def sealing_seed(owner_seed: bytes, version: int = MANIFEST_VERSION) -> bytes:
    """The seed whose key opens a wanderer's locators (``Manifest.sealing_key``'s seed)."""
    return repair_seed(owner_seed) if version >= 2 else owner_seed


def launch_offer(
    manifest: Signed[Manifest],
    shard_index: int,
    *,
    owner_seed: bytes | None = None,
    keeper_seed: bytes | None = None,
    to_peer: bytes,
    now: float,
    generation: int = 0,
) -> Offer:
    """Hop 0 of a shard: GENESIS for generation 0, REPAIR for a rebuilt shard.

    The owner signs with ``owner_seed``; a keeper signs a REPAIR of a version 2
    wanderer with the repair seed, ``keeper_seed`` (README section 4.4).
    """
    m = manifest.value
    if owner_seed is not None:
        owner = Signer(owner_seed)
        if owner.public_key != m.owner_key:
            raise ValueError("owner_seed does not match the manifest's owner key")
        loc_seed = locator_seed(owner_seed, shard_index, generation, m.version)
    elif keeper_seed is not None:
        owner = Signer(keeper_seed)
        if m.version < 2 or owner.public_key != m.repair_key or generation < 1:
            raise ValueError("a repair seed relaunches only a later generation of a v2 wanderer")
        loc_seed = crypto.derive_locator_seed_v2(keeper_seed, shard_index, generation)
    else:
        raise ValueError("launch_offer needs the owner seed or the repair seed")
    record = CustodyRecord(
        wanderer_id=m.wanderer_id,
        shard_index=shard_index,
        generation=generation,
        hop=0,
        from_peer=owner.public_key,
        to_peer=to_peer,
        shard_hash=m.shard_hashes[shard_index],
        manifest_hash=manifest.hash,
        locator_key=public_key_of(loc_seed),
        reason=Reason.GENESIS if generation == 0 else Reason.REPAIR,
        time_ms=time_ms(now),
    )
    return Offer(manifest, (), Signed.create(record, owner), loc_seed)


def verified_shards(manifest: Manifest, shards: Mapping[int, bytes]) -> dict[int, bytes]:
    """Keep only shards whose index is valid and whose bytes hash to the manifest's hash."""
    return {
        i: s
        for i, s in shards.items()
        if 0 <= i < manifest.n and erasure.shard_hash(s) == manifest.shard_hashes[i]
    }


def rebuild(manifest: Manifest, shards: Mapping[int, bytes], owner_seed: bytes) -> bytes:
    """Rebuild and decrypt the payload from any k shards that match the manifest."""
    good = verified_shards(manifest, shards)
    if len(good) < manifest.k:
        bad = len(shards) - len(good)
        extra = f" ({bad} more failed their hash check)" if bad else ""
        raise RebuildError(
            RejectCode.SHARD_HASH_MISMATCH if bad else RejectCode.MALFORMED,
            f"cannot rebuild: {len(good)} of the {manifest.k} needed shards found{extra}",
        )
    ciphertext = erasure.decode(good, manifest.k, manifest.n, manifest.payload_size + TAG_SIZE)
    try:
        return crypto.decrypt_payload(
            crypto.derive_data_key(owner_seed), manifest.nonce, ciphertext, manifest.wanderer_id
        )
    except crypto.CryptoError as exc:
        raise RebuildError(RejectCode.BAD_MANIFEST, f"cannot decrypt: {exc}") from None
