"""The node's persistent Ed25519 identity: one 32-byte seed in the data directory.

The same key is the libp2p identity (PeerId) and the key that signs custody
records and receipts. The file is created with mode 0600 and refused if others
can read it, as ssh does with private keys.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wdp.core.errors import WdpError

IDENTITY_FILE = "identity.key"


class IdentityError(WdpError):
    """The identity file cannot be used; the message says what to do."""


def load_or_create_identity(data_dir: Path) -> bytes:
    """Return the node's 32-byte seed, creating it (mode 0600) on first start."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise IdentityError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
    path = data_dir / IDENTITY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise IdentityError(f"cannot create {path}: {exc.strerror}") from None
    seed = os.urandom(32)
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return seed


def _read(path: Path) -> bytes:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise IdentityError(
            f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}"
        )
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise IdentityError(f"{path} does not hold a 64-hex-digit key; move it away to start fresh")
    return seed
