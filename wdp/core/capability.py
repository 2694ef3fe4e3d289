"""The repair capability: what a keeper holds to find, audit, fetch and relaunch, never to read.

Derived from the owner's ticket (spec section 16.1). Binary layout, then
``"wdpr"`` + unpadded lowercase base32.

Version 2, one version 2 wanderer (167 bytes):

====  ======  ==============================================================
off   size    field
====  ======  ==============================================================
0     1       version: 2
1     32      repair seed (its Ed25519 public key is the manifest's repair_key)
33    32      owner key (the wanderer id is H("wdp/v1/wanderer-id" || owner key))
65    64      grant: the owner's signature, domain wdp/v2/repair-grant,
              over wanderer id || repair key
129   32      manifest hash
161   1       k - 1
162   1       n - 1
163   4       checksum: the first 4 bytes of SHA-256(bytes 0..162)
====  ======  ==============================================================

Version 3, a file of segments (71 bytes): version 3, the file's repair seed
(the repair seed of the file seed), the index wanderer's manifest hash,
k - 1, n - 1, checksum. The index wanderer's owner seed derives from that
repair seed, so a file's keeper reads the index and, in it, every segment's
repair seed, grant and owner key: a version 2 capability per segment.

A version 1 wanderer has no repair key: only its owner can keep it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from . import crypto
from .audit.challenge import grant_is_valid, make_grant
from .errors import WdpError
from .limits import FILE_TICKET_VERSION, HASH_SIZE, KEY_SIZE, MANIFEST_VERSION, SIGNATURE_SIZE
from .segments import SegmentIndex
from .signing import public_key_of
from .ticket import PREFIX as TICKET_PREFIX
from .ticket import Ticket
from .wanderer import repair_seed

PREFIX = "wdpr"
WANDERER_CAPABILITY = MANIFEST_VERSION  # 2: one version 2 wanderer
FILE_CAPABILITY = FILE_TICKET_VERSION  # 3: a file of segments
_SIZES = {WANDERER_CAPABILITY: 167, FILE_CAPABILITY: 71}
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


class CapabilityError(WdpError, ValueError):
    """Not a usable repair capability; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class RepairCapability:
    """Enough to keep one wanderer (version 2) or one file (version 3) alive."""

    repair_seed: bytes
    manifest_hash: bytes
    k: int
    n: int
    version: int = WANDERER_CAPABILITY
    owner_key: bytes = b""  # version 2 only
    grant: bytes = b""  # version 2 only

    def __post_init__(self) -> None:
        if self.version not in _SIZES:
            raise CapabilityError(
                f"repair capability version {self.version} is not supported by this version of WDP"
            )
        if len(self.repair_seed) != KEY_SIZE or len(self.manifest_hash) != HASH_SIZE:
            raise CapabilityError("a capability holds a 32-byte repair seed and manifest hash")
        if not 1 <= self.k <= self.n <= 256:
            raise CapabilityError("a capability needs 1 <= k <= n <= 256")
        if self.is_file:
            if self.owner_key or self.grant:
                raise CapabilityError("a file's capability names no owner key or grant")
            return
        if len(self.owner_key) != KEY_SIZE or len(self.grant) != SIGNATURE_SIZE:
            raise CapabilityError("a wanderer's capability holds its owner key and a 64-byte grant")
        if not grant_is_valid(self.owner_key, self.wanderer_id, self.repair_key, self.grant):
            raise CapabilityError(
                "the capability's grant is not its owner's: it was altered; ask the owner again"
            )

    @classmethod
    def of_ticket(cls, ticket: Ticket) -> RepairCapability:
        """What the owner hands a keeper: everything but the power to read."""
        seed = repair_seed(ticket.owner_seed)
        if ticket.is_file:
            return cls(seed, ticket.manifest_hash, ticket.k, ticket.n, FILE_CAPABILITY)
        if ticket.version < 2:
            raise CapabilityError(
                "a version 1 wanderer has no repair key: only its owner can keep it "
                "(put it again to name keepers)"
            )
        key = public_key_of(seed)
        grant = make_grant(ticket.owner_seed, ticket.wanderer_id, key)
        return cls(
            seed, ticket.manifest_hash, ticket.k, ticket.n, WANDERER_CAPABILITY,
            ticket.owner_key, grant,
        )  # fmt: skip

    @property
    def is_file(self) -> bool:
        return self.version == FILE_CAPABILITY

    @property
    def repair_key(self) -> bytes:
        return public_key_of(self.repair_seed)

    @property
    def wanderer_id(self) -> bytes:
        self._one_wanderer()
        return crypto.wanderer_id(self.owner_key)

    @property
    def sealing_seed(self) -> bytes:
        """The seed that opens this wanderer's locators (they are sealed to the repair key)."""
        self._one_wanderer()
        return self.repair_seed

    def locator_seed(self, shard_index: int, generation: int) -> bytes:
        self._one_wanderer()
        return crypto.derive_locator_seed_v2(self.repair_seed, shard_index, generation)

    def index_ticket(self) -> Ticket:
        """A file's index wanderer, which its keeper reads as that wanderer's owner."""
        if not self.is_file:
            raise ValueError("a wanderer's capability names no file index")
        seed = crypto.derive_file_index_seed(self.repair_seed)
        return Ticket(seed, self.manifest_hash, self.k, self.n, MANIFEST_VERSION)

    def segment(self, index: SegmentIndex, i: int) -> RepairCapability:
        """Segment ``i`` of a file, from its index (read with :meth:`index_ticket`)."""
        if not self.is_file:
            raise ValueError("a wanderer's capability names no segments")
        if not index.owner_keys:
            raise CapabilityError(
                "this file's index was written before keepers and names no owner keys: "
                "only its owner can keep it (put it again to name keepers)"
            )
        return RepairCapability(
            index.repair_seeds[i], index.manifest_hashes[i], self.k, self.n,
            WANDERER_CAPABILITY, index.owner_keys[i], index.repair_grants[i],
        )  # fmt: skip

    def _one_wanderer(self) -> None:
        if self.is_file:
            raise ValueError("a file's capability names no wanderer itself: see index_ticket")

    def encode(self) -> str:
        body = (
            bytes([self.version])
            + self.repair_seed
            + self.owner_key
            + self.grant
            + self.manifest_hash
            + bytes([self.k - 1, self.n - 1])
        )
        raw = body + hashlib.sha256(body).digest()[:4]
        return PREFIX + base64.b32encode(raw).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> RepairCapability:
        text = "".join(text.split())
        if text.startswith(TICKET_PREFIX):
            raise CapabilityError(
                "this is a ticket, which reads the data: a keeper takes the repair "
                f"capability derived from it (it starts with {PREFIX!r})"
            )
        if not text.startswith(PREFIX):
            raise CapabilityError(f"not a WDP repair capability: it should start with {PREFIX!r}")
        b32 = text[len(PREFIX) :].upper()
        if not set(b32) <= _BASE32:
            raise CapabilityError("the capability has characters that cannot be in a capability")
        try:
            raw = base64.b32decode(b32 + "=" * (-len(b32) % 8))
        except ValueError:  # a length no whole number of bytes has: cut short
            raise CapabilityError(
                "the capability is too short (truncated?): copy it again in full"
            ) from None
        size = _SIZES.get(raw[0]) if raw else None
        if size is not None and len(raw) != size:
            raise CapabilityError(
                f"the capability is {'too short (truncated?)' if len(raw) < size else 'too long'}:"
                " copy it again in full"
            )
        body, checksum = raw[:-4], raw[-4:]
        if len(raw) < 5 or hashlib.sha256(body).digest()[:4] != checksum:
            raise CapabilityError(
                "the capability is mistyped or damaged (its checksum does not match)"
            )
        if size is None:
            raise CapabilityError(
                f"repair capability version {raw[0]} is not supported by this version of WDP"
            )
        seed, rest = body[1:33], body[33:]
        if raw[0] == FILE_CAPABILITY:
            return cls(seed, rest[:32], rest[32] + 1, rest[33] + 1, FILE_CAPABILITY)
        owner_key, grant, mhash = rest[:32], rest[32:96], rest[96:128]
        return cls(seed, mhash, rest[128] + 1, rest[129] + 1, raw[0], owner_key, grant)
