"""The node core's ping rule (``lost_after`` failed pings in a row report a peer lost), and
how long it lets a fetch wait to reach a carrier."""

from __future__ import annotations

import random

from wdp.core.crypto import wanderer_id
from wdp.core.fetch import make_fetch_request
from wdp.core.node import NodeCore, NodeParams, OpenStream
from wdp.core.signing import Signer

PEER = b"\x07" * 32


def _core() -> NodeCore:
    return NodeCore(Signer(b"\x01" * 32), random.Random(1), 0.0, NodeParams(lost_after=3))


def _fail(core: NodeCore, times: int, t: float) -> float:
    for _ in range(times):
        t += 10.0
        core.ping_failed(PEER, t)
    return t


def test_a_peer_is_lost_after_lost_after_failures_in_a_row() -> None:
    core = _core()
    core.peer_connected(PEER, "10.1.0.1", 0.0)
    t = _fail(core, 2, 0.0)
    assert not core.is_lost(PEER)
    core.ping_ok(PEER, 0.05, t)  # an answer breaks the row
    t = _fail(core, 2, t)
    assert not core.is_lost(PEER)
    _fail(core, 1, t)
    assert core.is_lost(PEER)


def test_a_peer_that_came_back_is_lost_again_after_as_many_failures() -> None:
    core = _core()
    core.peer_connected(PEER, "10.1.0.1", 0.0)
    t = _fail(core, 3, 0.0)
    assert core.is_lost(PEER)
    core.peer_connected(PEER, "10.1.0.1", t)  # reconnected: no ping answered yet
    assert not core.is_lost(PEER)
    t = _fail(core, 2, t)
    assert not core.is_lost(PEER)
    _fail(core, 1, t)
    assert core.is_lost(PEER)  # counted afresh from the new connection


def test_a_fetch_gives_its_carrier_a_short_time_to_answer_the_dial() -> None:
    """A carrier that is gone or paused costs a get ``ask_open_timeout``, not a dial timeout."""
    params = NodeParams(ask_open_timeout=1.5)
    core = NodeCore(Signer(b"\x01" * 32), random.Random(1), 0.0, params)
    owner_seed = b"\x02" * 32
    wid = wanderer_id(Signer(owner_seed).public_key)
    request = make_fetch_request(owner_seed, wid, 0, 0.0, b"\x00" * 16, carrier=PEER)
    (open_stream,) = [e for e in core.fetch(request, 1, 0.0) if isinstance(e, OpenStream)]
    assert open_stream.peer == PEER and open_stream.timeout == 1.5
