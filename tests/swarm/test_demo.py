"""`make demo` works from a fresh checkout: it is run here exactly as the Makefile runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_prints_a_passing_verdict() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wdp.ops.demo"],
        capture_output=True,
        text=True,
        timeout=400,
        env={"COLUMNS": "120", "TERM": "dumb", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PASS: the file came back byte-identical after 3 of 10 nodes were seized" in out.stdout
    assert re.search(r"Node 0's dashboard \(open it to watch\): http://127\.0\.0\.1:\d+/#token=\S{16,}",
                     out.stdout)  # fmt: skip
