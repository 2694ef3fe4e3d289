"""The owner's ticket: the one secret needed to find and read a wanderer.

Binary layout (71 bytes), then ``"wdp1"`` + unpadded lowercase base32:

====  ======  ==============================================================
off   size    field
====  ======  ==============================================================
0     1       version: 1 or 2, one wanderer of that manifest version (how keys
              derive); 3, a file of segments (wdp.core.segments)
1     32      owner seed (Ed25519 seed; data key and locator keys derive from it)
33    32      manifest hash: SHA-256 of the manifest body (pins the manifest)
65    1       k - 1
66    1       n - 1
67    4       checksum: the first 4 bytes of SHA-256(bytes 0..66)
====  ======  ==============================================================

Keep it secret: anyone holding it can read the data and find its carriers.
Lose it and the data cannot be read by anyone.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from .crypto import wanderer_id
from .errors import WdpError
from .limits import FILE_TICKET_VERSION, MANIFEST_VERSION, TICKET_VERSIONS
from .signing import public_key_of
from .wanderer import locator_seed, sealing_seed

PREFIX = "wdp1"  # the text form's prefix; the version is the first byte
_SIZE = 71


class TicketError(WdpError, ValueError):
    """Not a usable ticket; the message says what is wrong with it.

    Still a ValueError: the local API answers a ValueError as a bad request.
    """


@dataclass(frozen=True, slots=True)
class Ticket:
    owner_seed: bytes
    manifest_hash: bytes
    k: int
    n: int
    version: int = MANIFEST_VERSION

    def __post_init__(self) -> None:
        if len(self.owner_seed) != 32 or len(self.manifest_hash) != 32:
            raise TicketError("a ticket holds a 32-byte owner seed and a 32-byte manifest hash")
        if not 1 <= self.k <= self.n <= 256:
            raise TicketError("a ticket needs 1 <= k <= n <= 256")
        if self.version not in TICKET_VERSIONS:
            raise TicketError(
                f"ticket version {self.version} is not supported by this version of WDP"
            )

    @property
    def is_file(self) -> bool:
        """A file of segments: the manifest hash is its index wanderer's (section 19)."""
        return self.version == FILE_TICKET_VERSION

    def locator_seed(self, shard_index: int, generation: int) -> bytes:
        """The seed of the locator key of one shard in one generation."""
        self._one_wanderer()
        return locator_seed(self.owner_seed, shard_index, generation, self.version)

    @property
    def sealing_seed(self) -> bytes:
        """The seed that opens this wanderer's locators."""
        self._one_wanderer()
        return sealing_seed(self.owner_seed, self.version)

    @property
    def owner_key(self) -> bytes:
        return public_key_of(self.owner_seed)

    @property
    def wanderer_id(self) -> bytes:
        return wanderer_id(self.owner_key)

    def _one_wanderer(self) -> None:
        if self.is_file:
            raise ValueError("a file's ticket names no wanderer itself: see wdp.core.segments")

    def encode(self) -> str:
        body = (
            bytes([self.version])
            + self.owner_seed
            + self.manifest_hash
            + bytes([self.k - 1, self.n - 1])
        )
        raw = body + hashlib.sha256(body).digest()[:4]
        return PREFIX + base64.b32encode(raw).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> Ticket:
        text = "".join(text.split())
        if text.startswith("wdpr"):
            raise TicketError(
                "this is a repair capability: it lets a node keep the data, not read it; "
                "reading takes the ticket (it starts with 'wdp1')"
            )
        if not text.startswith(PREFIX):
            raise TicketError(f"not a WDP ticket: it should start with {PREFIX!r}")
        b32 = text[len(PREFIX) :].upper()
        try:
            raw = base64.b32decode(b32 + "=" * (-len(b32) % 8))
        except ValueError:
            raise TicketError("the ticket has characters that cannot be in a ticket") from None
        if len(raw) != _SIZE:
            raise TicketError(
                f"the ticket is {'too short (truncated?)' if len(raw) < _SIZE else 'too long'}: "
                "copy it again in full"
            )
        body, checksum = raw[:-4], raw[-4:]
        if hashlib.sha256(body).digest()[:4] != checksum:
            raise TicketError("the ticket is mistyped or damaged (its checksum does not match)")
        if body[0] not in TICKET_VERSIONS:
            raise TicketError(f"ticket version {body[0]} is not supported by this version of WDP")
        return cls(body[1:33], body[33:65], body[65] + 1, body[66] + 1, body[0])
