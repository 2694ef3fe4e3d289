"""Tickets: round trip, and a clear error for every way a ticket goes wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdp.core.ticket import Ticket, TicketError


@given(
    seed=st.binary(min_size=32, max_size=32),
    mh=st.binary(min_size=32, max_size=32),
    kn=st.tuples(st.integers(1, 256), st.integers(0, 255)).map(
        lambda t: (t[0], min(256, t[0] + t[1]))
    ),
)
def test_round_trip(seed: bytes, mh: bytes, kn: tuple[int, int]) -> None:
    t = Ticket(seed, mh, *kn)
    text = t.encode()
    assert text.startswith("wdp1") and text == text.lower()
    assert Ticket.decode(text) == t
    assert Ticket.decode(" " + text[:50] + "\n" + text[50:]) == t  # wrapped when pasted


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda s: s[:-5], "too short"),
        (lambda s: s + "aaaaaaaa", "too long"),
        (lambda s: s[:20] + ("b" if s[20] != "b" else "c") + s[21:], "checksum"),
        (lambda s: "wdp2" + s[4:], "should start with"),
        (lambda s: s[:10] + "!" + s[11:], "characters"),
    ],
)
def test_bad_tickets_say_what_is_wrong(mangle, message: str) -> None:
    good = Ticket(b"\x01" * 32, b"\x02" * 32, 3, 8).encode()
    with pytest.raises(TicketError, match=message):
        Ticket.decode(mangle(good))
