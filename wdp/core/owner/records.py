"""What an owner's node remembers of each wanderer it put, to list, get and repair it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..capability import RepairCapability
from ..objects import Manifest, Signed
from ..ticket import Ticket

__all__ = ["MAX_REPAIRS", "OwnedWanderer"]

MAX_REPAIRS = 100


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
        repairs: The latest repairs (at most ``MAX_REPAIRS``), oldest first, each
            ``{"shard", "generation", "found_at", "repaired_at", "why", "blamed"}``:
            when the loss was found and the new generation placed, what the
            audit found, and the hex key of the peer that lost it ("" if none).
        carriers: Per shard, the hex key of the carrier this owner last knew
            (the peer it launched the shard to, or the last one that proved
            it holds it); "" if none. When the shard's locator is missing and
            the owner learned this within an epoch, the audit asks that
            carrier (which proves, or shows the hop it made, which carriers
            remember for two epochs), so a carrier that never published a
            locator is found out at once instead of after stale rounds.
        carriers_at: When each of ``carriers`` was learned (seconds).
        part_of: For a segment of a file, the hex id of the file's index wanderer.
        file_ticket: For a file's index wanderer, the file's ticket (version 3;
            ``ticket`` is the index wanderer's own).
        capability: For a wanderer this node keeps (a keeper, not the owner),
            its repair capability (``wdpr...``); ``ticket`` is then empty.
        repair_delay: Seconds a keeper waits, once a check round found shards
            lost, before it looks again and rebuilds what is still lost (0 for
            the owner): keepers with different delays do not repair at once.
    """

    name: str
    ticket: str
    manifest: str
    size: int
    created_at: float
    generations: list[int]
    stale: list[int] = field(default_factory=list)
    repairs: list[dict[str, object]] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    carriers_at: list[float] = field(default_factory=list)
    part_of: str = ""
    file_ticket: str = ""
    capability: str = ""
    repair_delay: float = 0.0

    def carrier(self, index: int, now: float, within: float) -> bytes | None:
        """The carrier this owner knew for shard ``index`` (launched to, or proved it),
        if it learned that at most ``within`` seconds ago."""
        if index >= len(self.carriers) or index >= len(self.carriers_at):
            return None
        known, at = self.carriers[index], self.carriers_at[index]
        return bytes.fromhex(known) if known and now - at <= within else None

    def set_carrier(self, index: int, peer: bytes, now: float) -> None:
        n = len(self.generations)  # records saved before these fields had none
        self.carriers += [""] * (n - len(self.carriers))
        self.carriers_at += [0.0] * (n - len(self.carriers_at))
        self.carriers[index] = peer.hex()
        self.carriers_at[index] = now

    def log_repair(
        self,
        shard: int,
        generation: int,
        found_at: float,
        repaired_at: float,
        why: str,
        blamed: bytes,
    ) -> None:
        """Remember a repair (for ``wdp ls`` and for tests that time repairs)."""
        self.repairs.append(
            {
                "shard": shard,
                "generation": generation,
                "found_at": found_at,
                "repaired_at": repaired_at,
                "why": why,
                "blamed": blamed.hex(),
            }
        )
        del self.repairs[:-MAX_REPAIRS]

    def signed_manifest(self) -> Signed[Manifest]:
        return Signed.from_bytes(bytes.fromhex(self.manifest), Manifest)

    def decoded_ticket(self) -> Ticket:
        return Ticket.decode(self.ticket)

    @property
    def kept(self) -> bool:
        """This node keeps the wanderer for its owner (it cannot read it)."""
        return not self.ticket

    def decoded_authority(self) -> Ticket | RepairCapability:
        """What this node acts with: the owner's ticket, or a keeper's capability."""
        return RepairCapability.decode(self.capability) if self.kept else self.decoded_ticket()

    @property
    def wanderer_id(self) -> bytes:
        return self.decoded_authority().wanderer_id
