"""What an owner's node remembers of each wanderer it put, to list, get and repair it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..objects import Manifest, Signed
from ..ticket import Ticket

__all__ = ["OwnedWanderer"]


@dataclass
class OwnedWanderer:
    """One wanderer this node launched (JSON-able: the node keeps these in ``owned.json``).

    Attributes:
        name: What the user called it.
        ticket: The owner's ticket (``wdp1...``): it reads the data; keep it secret.
        manifest: Hex of the owner-signed manifest bytes.
        size: Payload bytes.
        created_at: When it was put (seconds).
        generations: Per shard, the generation its current carrier holds.
        stale: Per shard, check rounds in a row its carrier could not be found.
    """

    name: str
    ticket: str
    manifest: str
    size: int
    created_at: float
    generations: list[int]
    stale: list[int] = field(default_factory=list)

    def signed_manifest(self) -> Signed[Manifest]:
        return Signed.from_bytes(bytes.fromhex(self.manifest), Manifest)

    def decoded_ticket(self) -> Ticket:
        return Ticket.decode(self.ticket)

    @property
    def wanderer_id(self) -> bytes:
        return self.decoded_ticket().wanderer_id
