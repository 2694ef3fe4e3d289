"""Where a node keeps the shards it carries.

A shard is written in two steps, and only the second makes it this node's:

1. ``put(key, shard, meta)`` when the core asks to store a verified shard
   (``StoreShard``), before any receipt exists;
2. ``commit(key, receipt)`` with this node's signed receipt, *before* the
   receipt is sent to the sender.

A shard that was put but never committed was never acknowledged, so its
sender still holds it: :meth:`DiskStore.load` deletes such leftovers after a
crash. The metadata kept next to the shard (manifest, completed chain links,
the hop that brought it here, the locator secret, the receipt) is exactly
what is needed to rebuild the carrier's ``HeldShard`` after a restart.

:class:`MemoryStore` (the default) never touches disk. :class:`DiskStore`
writes atomically (temp file, fsync, rename, directory fsync) and wipes by
overwriting with zeros, fsync, then unlink. Overwriting is best effort: SSD
wear levelling and copy-on-write or journalling filesystems can keep old
blocks (see the README's limits).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from wdp.core.effects import ShardKey
from wdp.core.signing import sha256
from wdp.core.stored import ShardMeta, StoreError

__all__ = ["DiskStore", "MemoryStore", "ShardMeta", "Store", "StoreError"]

log = logging.getLogger(__name__)


class Store(Protocol):
    """Shard storage as the node drives it.

    ``blocking`` tells the driver to call the methods from a worker thread
    (disk I/O); a non-blocking store is called directly in the event loop.
    """

    blocking: bool

    def put(self, key: ShardKey, shard: bytes, meta: ShardMeta) -> None:
        """Store a verified, not yet acknowledged shard (replaces an uncommitted one)."""
        ...

    def commit(self, key: ShardKey, receipt: bytes) -> None:
        """Record this node's receipt: from now on the shard is ours."""
        ...

    def get(self, key: ShardKey) -> tuple[bytes, ShardMeta] | None:
        """The shard and its metadata, or None."""
        ...

    def wipe(self, key: ShardKey) -> None:
        """Destroy the shard and its metadata (no-op if absent)."""
        ...

    def keys(self) -> list[ShardKey]:
        """Every stored shard, committed or not, in a stable order."""
        ...


def _sort_key(key: ShardKey) -> tuple[bytes, int]:
    return (key.wanderer_id, key.shard_index)


class MemoryStore:
    """Shards in RAM; nothing touches disk. The default store."""

    blocking = False

    def __init__(self) -> None:
        self._shards: dict[ShardKey, tuple[bytearray, ShardMeta]] = {}

    def put(self, key: ShardKey, shard: bytes, meta: ShardMeta) -> None:
        old = self._shards.get(key)
        if old is not None and old[1].committed:
            raise StoreError(f"shard {key} is already held")
        if old is not None:
            self.wipe(key)
        self._shards[key] = (bytearray(shard), meta)

    def commit(self, key: ShardKey, receipt: bytes) -> None:
        try:
            buf, meta = self._shards[key]
        except KeyError:
            raise StoreError(f"cannot commit {key}: not stored") from None
        self._shards[key] = (buf, replace(meta, receipt=receipt))

    def get(self, key: ShardKey) -> tuple[bytes, ShardMeta] | None:
        item = self._shards.get(key)
        return None if item is None else (bytes(item[0]), item[1])

    def wipe(self, key: ShardKey) -> None:
        item = self._shards.pop(key, None)
        if item is not None:
            buf = item[0]
            buf[:] = bytes(len(buf))  # best effort: copies handed out earlier are not reached

    def keys(self) -> list[ShardKey]:
        return sorted(self._shards, key=_sort_key)

    def load(self) -> list[tuple[ShardKey, ShardMeta]]:
        """Committed shards (a memory store starts empty, so this is only for symmetry)."""
        return [(k, self._shards[k][1]) for k in self.keys() if self._shards[k][1].committed]


_NAME_RE = re.compile(r"^([0-9a-f]{64})-(\d{1,3})\.(shard|meta)$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """temp file in the same directory, fsync, rename over ``path``, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _overwrite_and_unlink(path: Path) -> None:
    """Overwrite the file's bytes with zeros, fsync, unlink (best effort against recovery)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(min(size, 1 << 20))
        left = size
        while left > 0:
            left -= os.write(fd, zeros[: min(left, len(zeros))])
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)


class DiskStore:
    """Shards as files under ``root``: ``<wanderer hex>-<index>.shard`` and ``.meta``.

    Call :meth:`load` once at start-up: it removes unacknowledged leftovers,
    temp files and shards whose bytes no longer match their record, and
    returns the committed shards for the carrier to take back.
    """

    blocking = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _paths(self, key: ShardKey) -> tuple[Path, Path]:
        stem = f"{key.wanderer_id.hex()}-{key.shard_index}"
        return self.root / f"{stem}.shard", self.root / f"{stem}.meta"

    def put(self, key: ShardKey, shard: bytes, meta: ShardMeta) -> None:
        shard_path, meta_path = self._paths(key)
        if meta_path.exists():
            old = ShardMeta.from_bytes(meta_path.read_bytes())
            if old.committed:
                raise StoreError(f"shard {key} is already held")
        # Shard first, then metadata: a metadata file always has its shard.
        _write_atomic(shard_path, shard)
        _write_atomic(meta_path, replace(meta, receipt=None).to_bytes())

    def commit(self, key: ShardKey, receipt: bytes) -> None:
        _, meta_path = self._paths(key)
        try:
            meta = ShardMeta.from_bytes(meta_path.read_bytes())
        except FileNotFoundError:
            raise StoreError(f"cannot commit {key}: not stored") from None
        _write_atomic(meta_path, replace(meta, receipt=receipt).to_bytes())

    def get(self, key: ShardKey) -> tuple[bytes, ShardMeta] | None:
        shard_path, meta_path = self._paths(key)
        try:
            meta = ShardMeta.from_bytes(meta_path.read_bytes())
            return shard_path.read_bytes(), meta
        except FileNotFoundError:
            return None

    def wipe(self, key: ShardKey) -> None:
        shard_path, meta_path = self._paths(key)
        # Metadata first: a shard file without metadata is garbage on the next load.
        _overwrite_and_unlink(meta_path)
        _overwrite_and_unlink(shard_path)
        _fsync_dir(self.root)

    def keys(self) -> list[ShardKey]:
        found: set[ShardKey] = set()
        for p in self.root.iterdir():
            m = _NAME_RE.match(p.name)
            if m is not None and m.group(3) == "meta":
                found.add(ShardKey(bytes.fromhex(m.group(1)), int(m.group(2))))
        return sorted(found, key=_sort_key)

    def load(self) -> list[tuple[ShardKey, ShardMeta]]:
        """Clean up after a crash and return the committed shards."""
        for p in list(self.root.iterdir()):
            half_written = p.name.startswith(".") and p.name.endswith(".tmp")
            orphan = p.suffix == ".shard" and not p.with_suffix(".meta").exists()
            if half_written or orphan:
                _overwrite_and_unlink(p)
        kept: list[tuple[ShardKey, ShardMeta]] = []
        for key in self.keys():
            shard_path, meta_path = self._paths(key)
            try:
                meta = ShardMeta.from_bytes(meta_path.read_bytes())
                shard = shard_path.read_bytes()
                record = meta.signed_record().value
            except Exception as exc:
                log.warning("store: dropping %s: unreadable (%s)", key, exc)
                self.wipe(key)
                continue
            if not meta.committed:
                log.info("store: dropping %s: stored but never acknowledged", key)
                self.wipe(key)
            elif sha256(shard) != record.shard_hash or len(shard) == 0:
                log.warning("store: dropping %s: bytes do not match the record's hash", key)
                self.wipe(key)
            else:
                kept.append((key, meta))
        _fsync_dir(self.root)
        return kept
