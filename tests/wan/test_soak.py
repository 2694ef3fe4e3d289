"""A short soak on the WAN testbed (root, slow): ordinary load raises no CRITICAL,
and a region seized afterwards is detected within the threat window."""

from __future__ import annotations

import os

import pytest

from wdp.core.threat import ThreatParams
from wdp.ops.wan.geography import three_regions
from wdp.ops.wan.soak import soak

pytestmark = [pytest.mark.slow, pytest.mark.wan]


def test_ordinary_load_raises_no_critical_and_a_raid_is_still_detected(tmp_path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the WAN testbed needs root (network namespaces, a TUN device)")
    # Peers count as evidence after 20 s here (300 s by default), so a 2-minute soak
    # judges established peers for most of its length.
    report = soak(three_regions(3), tmp_path, 2.0, env={"WDP_THREAT_MIN_AGE": "20"},
                  prefix=f"wdps{os.getpid() % 100000}")  # fmt: skip
    print("\n".join(report.lines()))
    assert report.puts >= 8 and report.gets >= 8 and len(report.failed) <= 1, report.failed
    assert not report.lost, report.failed
    assert report.highest_level < 2, report.transitions
    assert report.seizure_detected_after is not None, report.lines()
    assert report.seizure_detected_after < ThreatParams().window
    assert report.seizure_reasons.startswith("seizure:"), report.seizure_reasons
