"""Forward pointers on the in-process grid: a shard repaired many times is still found.

A reader with the ticket alone (or a keeper given the capability later) does not
know a shard's generation. It looks up generation 0 first, and generations 1 to
7 if that fails; a shard repaired more often than that would be out of its
reach, were it not for the forward pointer the owner publishes under the
generation-0 key (spec 9).
"""

from __future__ import annotations

from wdp.core.capability import RepairCapability
from wdp.core.locator import locator_dht_key, make_locator, open_locator, validate_locator
from wdp.core.objects import HolderInfo
from wdp.core.owner import PublishPointer
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket
from wdp.testing.grid import Grid

EPOCH = 600
OWNER, READER, KEEPER = 0, 1, 2


def dht_key(ticket: Ticket, index: int, generation: int) -> str:
    return locator_dht_key(public_key_of(ticket.locator_seed(index, generation)))


def generations_under(grid: Grid, ticket: Ticket, index: int, generations: range) -> list[int]:
    """The generation each record under these keys names (a pointer names a later one)."""
    out = []
    for g in generations:
        key = dht_key(ticket, index, g)
        value = grid.runtime.dht.get(key, grid.now)
        if value is not None:
            out.append(validate_locator(key, value, int(grid.now * 1000)).value.generation)
    return out


def test_a_shard_repaired_more_than_seven_times_is_found_with_the_ticket_alone() -> None:
    grid = Grid(40)
    payload = b"repaired again and again " * 800
    ticket = grid.put(OWNER, payload, k=1, n=2, epoch=EPOCH)
    rounds = 0
    while min(grid.owner(OWNER).owned[ticket.wanderer_id].generations) < 9 and rounds < 30:
        index = rounds % 2  # each shard in turn loses its carrier; the owner rebuilds it
        victims = [n for n in grid.holders(ticket).get(index, []) if n > KEEPER]
        grid.seize(*victims)
        grid.run(EPOCH)
        rounds += 1
    generations = grid.owner(OWNER).owned[ticket.wanderer_id].generations
    assert min(generations) >= 9, (rounds, generations)
    grid.run(EPOCH)  # a check round finds each shard at its generation and leaves word

    for index, generation in enumerate(generations):
        # Out of reach of the old lookups: nothing in generations 1-7 names the shard now,
        # and what generation 0's key holds is the pointer, naming a generation past 7.
        assert generations_under(grid, ticket, index, range(1, 8)) == []
        (pointed,) = generations_under(grid, ticket, index, range(1))
        assert 8 <= pointed <= generation
        value = grid.runtime.dht.get(dht_key(ticket, index, 0), grid.now)
        assert value is not None
        signed = validate_locator(dht_key(ticket, index, 0), value, int(grid.now * 1000))
        open_locator(ticket.sealing_seed, signed.value)  # sealed to the owner, like any locator

    assert grid.get(READER, ticket) == payload  # no record of the wanderer on this node
    grid.keep(KEEPER, RepairCapability.of_ticket(ticket))
    kept = grid.owner(KEEPER).owned[ticket.wanderer_id].generations
    assert kept == grid.owner(OWNER).owned[ticket.wanderer_id].generations


def test_a_forged_pointer_hides_one_shard_at_most_and_breaks_nothing() -> None:
    """A generation-0 carrier holds that key too: its pointer to the last generation there
    is (or to one that does not exist) sends readers looking in vain, and they read the
    other shards."""
    grid = Grid(12)
    payload = b"forged pointer " * 700
    ticket = grid.put(OWNER, payload, k=3, n=8, epoch=EPOCH)
    now_ms = int(grid.now * 1000)
    for generation in (2**32 - 1, 40):
        for index in (0, 1):
            key, value = make_locator(
                locator_secret=ticket.locator_seed(index, 0),
                sealing_key=grid.owner(OWNER)
                .owned[ticket.wanderer_id]
                .signed_manifest()
                .value.sealing_key,
                holder=HolderInfo(bytes(32), (), bytes(32)),
                generation=generation,
                hop=0,
                expires_at_ms=now_ms + 3_600_000,
                ephemeral_seed=bytes([index]) * 32,
            )
            grid.runtime.dht.put(PublishPointer(key, value, generation, now_ms / 1000 + 3600))
        assert grid.get(READER + generation % 3, ticket) == payload
