"""Refusals are all counted but logged in rate-limited summaries (a peer cannot write the log)."""

from __future__ import annotations

import logging

import pytest

from wdp.node.refusals import RefusalLog


def test_a_flood_of_refusals_logs_a_burst_and_one_summary_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wdp.node.refusals")
    refusals = RefusalLog(window=60.0, burst=3)
    for i in range(1000):
        refusals.refused("handoff BUSY", f"peer{i % 7}", "too many handoffs", now=i * 0.01)
    assert len(caplog.records) == 3  # the burst; the other 997 held back
    refusals.refused("audit NOT_HELD", "peer9", "no such shard", now=61.0)  # a new window
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert lines[3] == (
        "refused 997 more requests from 7 peers in 60 s, not logged one by one: 997 handoff BUSY"
    )
    assert lines[4].startswith("refused audit NOT_HELD from peer9")
    assert refusals.counts == {"handoff BUSY": 1000, "audit NOT_HELD": 1}


def test_flush_with_nothing_held_back_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wdp.node.refusals")
    refusals = RefusalLog(burst=2)
    refusals.refused("api token", "a TCP client", "wrong token", now=0.0)
    refusals.flush()
    assert len(caplog.records) == 1
