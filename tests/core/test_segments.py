"""Files of several segments, the pure part (wdp.core.segments; spec section 19)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdp.core.audit import grant_is_valid
from wdp.core.crypto import wanderer_id
from wdp.core.errors import ProtocolError, RejectCode
from wdp.core.limits import MAX_INDEX_SIZE, MAX_SEGMENT_SIZE, MAX_SEGMENTS, MIN_SEGMENT_SIZE
from wdp.core.segments import (
    FileWriter,
    SegmentIndex,
    SegmentIndexError,
    check_index,
    check_segment,
    index_seed,
    index_ticket,
    segment_grant,
    segment_seed,
    segment_sizes,
    segment_ticket,
)
from wdp.core.signing import public_key_of
from wdp.core.ticket import Ticket, TicketError
from wdp.core.wanderer import repair_seed

F = bytes(range(32))
MIB = 1 << 20


@given(
    st.integers(MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE),
    st.integers(2, 40),
    st.integers(0, MIN_SEGMENT_SIZE - 1),
)
def test_segment_sizes_add_up_and_only_the_last_is_short(seg: int, whole: int, rest: int) -> None:
    size = (whole - 1) * seg + (rest or seg)
    sizes = segment_sizes(size, seg)
    assert sum(sizes) == size
    assert all(s == seg for s in sizes[:-1]) and 0 < sizes[-1] <= seg


@given(st.binary(max_size=600))
def test_any_bytes_decode_to_an_index_or_a_code(data: bytes) -> None:
    try:
        index = SegmentIndex.decode(data)
    except SegmentIndexError as exc:
        assert exc.code in (
            RejectCode.MALFORMED,
            RejectCode.UNSUPPORTED_VERSION,
            RejectCode.TOO_LARGE,
        )
    else:
        assert SegmentIndex.decode(index.encode()) == index


def test_a_written_index_round_trips_and_names_every_segment_in_order() -> None:
    w = FileWriter(F, 5 * MIB + 3, MIB)
    for i in range(len(w.sizes)):
        w.stored(i, bytes([i]) * 32)
    index = SegmentIndex.decode(w.index().encode())
    assert index.sizes == [MIB] * 5 + [3]
    assert index.manifest_hashes == tuple(bytes([i]) * 32 for i in range(6))
    assert index.repair_seeds == tuple(repair_seed(segment_seed(F, i)) for i in range(6))
    ticket = Ticket.decode(w.ticket(b"\x07" * 32, 3, 8).encode())
    assert ticket.is_file and ticket.version == 3
    it = index_ticket(ticket)
    assert (it.version, it.owner_seed, it.manifest_hash) == (2, index_seed(F), b"\x07" * 32)
    st2 = segment_ticket(ticket, index, 4)
    assert (st2.version, st2.owner_seed, st2.manifest_hash) == (2, segment_seed(F, 4), b"\x04" * 32)


def test_the_writer_refuses_an_index_before_every_segment_is_stored() -> None:
    w = FileWriter(F, 3 * MIB, MIB)
    w.stored(0, b"\x00" * 32)
    with pytest.raises(ValueError, match=r"segments \[1, 2\] are not stored"):
        w.index()


def test_plans_out_of_bounds_say_what_to_change() -> None:
    with pytest.raises(ValueError, match="one wanderer"):
        FileWriter(F, MIB, MIB)
    with pytest.raises(ValueError, match="segment size must be"):
        FileWriter(F, 10 * MIB, MIN_SEGMENT_SIZE - 1)
    with pytest.raises(ValueError, match="raise the segment size"):
        FileWriter(F, MAX_SEGMENTS * MIB + 1, MIB)


def test_an_index_of_another_file_seed_is_refused_before_any_segment_is_asked_for() -> None:
    w = FileWriter(bytes(32), 3 * MIB, MIB)
    for i in range(3):
        w.stored(i, bytes([i]) * 32)
    ticket = Ticket(F, b"\x07" * 32, 3, 8, 3)
    with pytest.raises(SegmentIndexError, match="repair seed of segment 0") as exc:
        check_index(ticket, w.index())
    assert exc.value.code == RejectCode.MALFORMED
    own = FileWriter(F, 3 * MIB, MIB)
    for i in range(3):
        own.stored(i, bytes([i]) * 32)
    good = own.index()
    check_index(ticket, good)
    forged = SegmentIndex(good.file_size, good.segment_size, good.manifest_hashes,
                          good.repair_seeds, (*good.repair_grants[:2], bytes(64)))  # fmt: skip
    with pytest.raises(SegmentIndexError, match="repair grant of segment 2"):
        check_index(ticket, forged)
    keys = good.owner_keys
    assert keys == tuple(public_key_of(segment_seed(F, i)) for i in range(3))
    wrong_key = dataclasses.replace(good, owner_keys=(keys[0], keys[0], keys[2]))
    with pytest.raises(SegmentIndexError, match="owner key of segment 1"):
        check_index(ticket, wrong_key)
    check_index(ticket, dataclasses.replace(good, owner_keys=()))  # an index from before keepers


def test_owner_keys_are_none_or_one_per_segment() -> None:
    w = FileWriter(F, 3 * MIB, MIB)
    for i in range(3):
        w.stored(i, bytes([i]) * 32)
    good = w.index()
    assert SegmentIndex.decode(good.encode()) == good
    for keys in (good.owner_keys[:2], (*good.owner_keys[:2], bytes(31))):
        with pytest.raises(SegmentIndexError, match="owner_keys must be none or 3") as exc:
            SegmentIndex.decode(dataclasses.replace(good, owner_keys=keys).encode())
        assert exc.value.code == RejectCode.MALFORMED


def test_the_largest_index_fits_its_limit() -> None:
    c = MAX_SEGMENTS
    full = SegmentIndex(c * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE, (b"h" * 32,) * c,
                        (b"s" * 32,) * c, (b"g" * 64,) * c, (b"k" * 32,) * c)  # fmt: skip
    data = full.encode()
    assert MAX_INDEX_SIZE - (1 << 20) < len(data) <= MAX_INDEX_SIZE


def test_each_segment_grant_lets_its_repair_key_audit() -> None:
    seed = segment_seed(F, 5)
    owner_key = public_key_of(seed)
    repair_key = public_key_of(repair_seed(seed))
    assert grant_is_valid(owner_key, wanderer_id(owner_key), repair_key, segment_grant(seed))


def test_a_segment_of_the_wrong_size_is_refused() -> None:
    index = SegmentIndex(3 * MIB, 2 * MIB, (b"a" * 32, b"b" * 32), (b"c" * 32, b"d" * 32),
                         (b"e" * 64, b"f" * 64))  # fmt: skip
    check_segment(index, 1, MIB)
    with pytest.raises(ProtocolError) as exc:
        check_segment(index, 1, MIB - 1)
    assert exc.value.code == RejectCode.BAD_MANIFEST


def test_a_file_ticket_names_no_wanderer_of_its_own() -> None:
    ticket = Ticket(F, b"\x07" * 32, 3, 8, 3)
    with pytest.raises(ValueError, match="a file's ticket"):
        ticket.locator_seed(0, 0)
    with pytest.raises(ValueError, match="names one wanderer"):
        index_ticket(Ticket(F, b"\x07" * 32, 3, 8, 2))
    with pytest.raises(TicketError, match="ticket version 4"):
        Ticket(F, b"\x07" * 32, 3, 8, 4)
