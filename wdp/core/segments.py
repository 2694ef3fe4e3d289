"""Files larger than one segment (spec section 19), pure: seeds, the index, the plan.

A file of more than ``segment_size`` bytes is stored as several version 2
wanderers, one per segment, each encrypted and erasure-coded on its own, plus
one more, the *index wanderer*, whose payload lists every segment's manifest
hash and repair seed in file order. The owner's ticket (version 3) holds the
file seed and the index wanderer's manifest hash, so one 118-character ticket
pins every shard of the file: ticket -> index manifest -> index payload ->
segment manifests -> shard hashes and Merkle roots.

Seeds, from the file seed ``F``:

* segment ``i``'s owner seed: ``HKDF(F, "wdp/v2/segment-seed" || u32be(i))``;
  its data key, repair seed and locator seeds derive from it as for any
  version 2 wanderer;
* the index wanderer's owner seed: ``HKDF(repair_seed(F), "wdp/v2/file-index-seed")``,
  from the *repair* seed, so that a holder of the file's repair seed (a
  keeper) reads the index (manifest hashes and segment repair seeds: enough to
  find, audit and relaunch every segment) but no segment's data key.

Segments are put first and the index last, so a ticket is only ever printed
for a file whose every segment was stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import crypto
from .audit import make_grant
from .crypto import wanderer_id
from .errors import ProtocolError, RejectCode
from .limits import (
    FILE_TICKET_VERSION,
    HASH_SIZE,
    INDEX_VERSION,
    KEY_SIZE,
    MANIFEST_VERSION,
    MAX_INDEX_SIZE,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    MIN_SEGMENT_SIZE,
    SIGNATURE_SIZE,
)
from .objects import shard_size_for
from .proto import wdp_pb2 as pb
from .signing import public_key_of
from .ticket import Ticket
from .wanderer import repair_seed

__all__ = [
    "DAY",
    "FileWriter",
    "SegmentIndex",
    "SegmentIndexError",
    "check_index",
    "check_segment",
    "epoch_that_fits",
    "index_seed",
    "index_ticket",
    "moved_per_day",
    "segment_count",
    "segment_grant",
    "segment_seed",
    "segment_sizes",
    "segment_ticket",
    "stored_bytes",
]


class SegmentIndexError(ProtocolError):
    """A file's index is not one this reader can use; the detail says why."""


def segment_seed(file_seed: bytes, index: int) -> bytes:
    """The owner seed of segment ``index``."""
    return crypto.derive_segment_seed(file_seed, index)


def index_seed(file_seed: bytes) -> bytes:
    """The owner seed of the file's index wanderer (from the file's repair seed)."""
    return crypto.derive_file_index_seed(repair_seed(file_seed))


def segment_count(file_size: int, segment_size: int) -> int:
    return -(-file_size // segment_size)


def segment_sizes(file_size: int, segment_size: int) -> list[int]:
    """Plaintext bytes of each segment: ``segment_size`` each, the last one the rest."""
    count = segment_count(file_size, segment_size)
    return [min(segment_size, file_size - i * segment_size) for i in range(count)]


def check_plan(file_size: int, segment_size: int) -> None:
    """Raise ValueError (saying what to change) unless a file of ``file_size`` bytes
    can be stored in segments of ``segment_size``."""
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"the segment size must be {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE} bytes, "
            f"not {segment_size}"
        )
    if file_size > MAX_SEGMENTS * segment_size:
        raise ValueError(
            f"a file of {file_size} bytes needs more than {MAX_SEGMENTS} segments of "
            f"{segment_size} bytes: raise the segment size"
        )


@dataclass(frozen=True, slots=True)
class SegmentIndex:
    """The index wanderer's payload (``SegmentIndexBody``), checked."""

    file_size: int
    segment_size: int
    manifest_hashes: tuple[bytes, ...]
    repair_seeds: tuple[bytes, ...]
    repair_grants: tuple[bytes, ...]
    owner_keys: tuple[bytes, ...] = ()  # empty in an index written before keepers

    def encode(self) -> bytes:
        return pb.SegmentIndexBody(
            version=INDEX_VERSION,
            file_size=self.file_size,
            segment_size=self.segment_size,
            manifest_hashes=self.manifest_hashes,
            repair_seeds=self.repair_seeds,
            repair_grants=self.repair_grants,
            owner_keys=self.owner_keys,
        ).SerializeToString(deterministic=True)

    @property
    def sizes(self) -> list[int]:
        return segment_sizes(self.file_size, self.segment_size)

    @classmethod
    def decode(cls, data: bytes) -> SegmentIndex:
        """Parse and check an index (section 19.2, in that order); SegmentIndexError if not."""
        if len(data) > MAX_INDEX_SIZE:
            raise SegmentIndexError(
                RejectCode.TOO_LARGE, f"the index is over {MAX_INDEX_SIZE} bytes"
            )
        body = pb.SegmentIndexBody()
        try:
            body.ParseFromString(data)
        except Exception:  # protobuf's DecodeError, and anything else a parser may raise
            raise SegmentIndexError(RejectCode.MALFORMED, "the index does not parse") from None
        if body.version != INDEX_VERSION:
            raise SegmentIndexError(
                RejectCode.UNSUPPORTED_VERSION, f"index version {body.version} is not supported"
            )
        if not MIN_SEGMENT_SIZE <= body.segment_size <= MAX_SEGMENT_SIZE:
            raise SegmentIndexError(
                RejectCode.MALFORMED, f"segment size {body.segment_size} is out of range"
            )
        if not body.segment_size < body.file_size <= MAX_SEGMENTS * body.segment_size:
            raise SegmentIndexError(
                RejectCode.MALFORMED,
                f"a file of {body.file_size} bytes is not one of 2 to {MAX_SEGMENTS} segments",
            )
        count = segment_count(body.file_size, body.segment_size)
        for name, values, size in (
            ("manifest_hashes", body.manifest_hashes, HASH_SIZE),
            ("repair_seeds", body.repair_seeds, KEY_SIZE),
            ("repair_grants", body.repair_grants, SIGNATURE_SIZE),
        ):
            if len(values) != count or any(len(v) != size for v in values):
                raise SegmentIndexError(
                    RejectCode.MALFORMED, f"{name} must be {count} entries of {size} bytes"
                )
        keys = body.owner_keys
        if keys and (len(keys) != count or any(len(v) != KEY_SIZE for v in keys)):
            raise SegmentIndexError(
                RejectCode.MALFORMED,
                f"owner_keys must be none or {count} entries of {KEY_SIZE} bytes",
            )
        return cls(
            body.file_size,
            body.segment_size,
            tuple(bytes(h) for h in body.manifest_hashes),
            tuple(bytes(s) for s in body.repair_seeds),
            tuple(bytes(g) for g in body.repair_grants),
            tuple(bytes(k) for k in keys),
        )


def index_ticket(file_ticket: Ticket) -> Ticket:
    """The version 2 ticket of a file's index wanderer."""
    _require_file(file_ticket)
    return Ticket(
        index_seed(file_ticket.owner_seed),
        file_ticket.manifest_hash,
        file_ticket.k,
        file_ticket.n,
        MANIFEST_VERSION,
    )


def check_index(file_ticket: Ticket, index: SegmentIndex) -> None:
    """Before any segment is fetched: every repair seed, grant and owner key of the index
    must be the one the file seed derives (SegmentIndexError naming the first that is not)."""
    _require_file(file_ticket)
    for i in range(len(index.sizes)):
        seed = segment_seed(file_ticket.owner_seed, i)
        if repair_seed(seed) != index.repair_seeds[i]:
            raise SegmentIndexError(
                RejectCode.MALFORMED, f"the index's repair seed of segment {i} is not the file's"
            )
        if segment_grant(seed) != index.repair_grants[i]:
            raise SegmentIndexError(
                RejectCode.MALFORMED, f"the index's repair grant of segment {i} is not the file's"
            )
        if index.owner_keys and public_key_of(seed) != index.owner_keys[i]:
            raise SegmentIndexError(
                RejectCode.MALFORMED, f"the index's owner key of segment {i} is not the file's"
            )


def segment_grant(seed: bytes) -> bytes:
    """The grant of a segment's owner key to the segment's own repair key (section 18.2):
    with it, whoever reads the index can audit the segment's carriers."""
    repair_key = public_key_of(repair_seed(seed))
    return make_grant(seed, wanderer_id(public_key_of(seed)), repair_key)


def segment_ticket(file_ticket: Ticket, index: SegmentIndex, i: int) -> Ticket:
    """The version 2 ticket of segment ``i`` (the index checked by :func:`check_index`)."""
    _require_file(file_ticket)
    seed = segment_seed(file_ticket.owner_seed, i)
    return Ticket(seed, index.manifest_hashes[i], file_ticket.k, file_ticket.n, MANIFEST_VERSION)


def check_segment(index: SegmentIndex, i: int, payload_size: int) -> None:
    """Segment ``i``, rebuilt from the manifest its hash pins, must hold the bytes the
    index says it holds (a writer's mistake, never an attacker's: both are authentic)."""
    want = index.sizes[i]
    if payload_size != want:
        raise SegmentIndexError(
            RejectCode.BAD_MANIFEST,
            f"segment {i} holds {payload_size} bytes; the index says {want}",
        )


def _require_file(ticket: Ticket) -> None:
    if ticket.version != FILE_TICKET_VERSION:
        raise ValueError(f"a version {ticket.version} ticket names one wanderer, not a file")


class FileWriter:
    """What an owner needs to put a file in segments: each segment's seed, then the index."""

    def __init__(self, file_seed: bytes, file_size: int, segment_size: int) -> None:
        check_plan(file_size, segment_size)
        if file_size <= segment_size:
            raise ValueError("a file that fits one segment is stored as one wanderer")
        self.file_seed = file_seed
        self.file_size = file_size
        self.segment_size = segment_size
        self.sizes = segment_sizes(file_size, segment_size)
        self.manifest_hashes: list[bytes | None] = [None] * len(self.sizes)

    def seed(self, i: int) -> bytes:
        return segment_seed(self.file_seed, i)

    def stored(self, i: int, manifest_hash: bytes) -> None:
        self.manifest_hashes[i] = manifest_hash

    def index(self) -> SegmentIndex:
        hashes = self.manifest_hashes
        missing = [i for i, h in enumerate(hashes) if h is None]
        if missing:
            raise ValueError(f"segments {missing[:5]} are not stored yet")
        return SegmentIndex(
            self.file_size,
            self.segment_size,
            tuple(h for h in hashes if h is not None),
            tuple(repair_seed(self.seed(i)) for i in range(len(hashes))),
            tuple(segment_grant(self.seed(i)) for i in range(len(hashes))),
            tuple(public_key_of(self.seed(i)) for i in range(len(hashes))),
        )

    @property
    def index_seed(self) -> bytes:
        return index_seed(self.file_seed)

    def ticket(self, index_manifest_hash: bytes, k: int, n: int) -> Ticket:
        """The file's ticket, once the index wanderer is stored."""
        return Ticket(self.file_seed, index_manifest_hash, k, n, FILE_TICKET_VERSION)


# ---- what a file costs the swarm ----------------------------------------------------

DAY = 86_400


def stored_bytes(file_size: int, k: int, n: int, segment_size: int) -> int:
    """Shard bytes a put places in the swarm: n shards of every segment (or of the one
    wanderer), the index wanderer's included (its payload estimated from the segment
    count: 68 bytes a segment)."""
    if file_size <= segment_size:
        return n * shard_size_for(file_size, k)
    sizes = segment_sizes(file_size, segment_size)
    index = 32 + len(sizes) * (2 * (HASH_SIZE + 2) + SIGNATURE_SIZE + 2)
    return n * (sum(shard_size_for(s, k) for s in sizes) + shard_size_for(index, k))


def moved_per_day(file_size: int, k: int, n: int, epoch: int, segment_size: int) -> int:
    """Bytes the swarm moves a day to keep the file wandering: every shard hops every epoch."""
    return stored_bytes(file_size, k, n, segment_size) * DAY // epoch


def epoch_that_fits(file_size: int, k: int, n: int, budget: int, segment_size: int) -> int:
    """The shortest epoch (seconds) at which the file moves at most ``budget`` bytes a day."""
    return max(1, -(-stored_bytes(file_size, k, n, segment_size) * DAY // max(1, budget)))
