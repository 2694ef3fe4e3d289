"""`make demo` ends a failure with one plain line pointing at the nodes' logs, not a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from wdp.client.api import ClientError
from wdp.ops import demo


@pytest.mark.parametrize(
    "failure, expected, code",
    [
        (
            ClientError("this node knows 7 healthy peer(s) but needs 8 (one per shard): wait"),
            "demo: error: this node knows 7 healthy peer(s) but needs 8 (one per shard): wait",
            1,
        ),
        (
            RuntimeError("node 3 exited:\nTraceback (most recent call last):\n  ..."),
            "demo: error: node 3 exited",
            1,
        ),
        (
            TimeoutError("node 0 not ready in time:\n..."),
            "demo: error: node 0 not ready in time",
            1,
        ),
        (KeyboardInterrupt(), "demo: error: interrupted; the nodes were stopped", 130),
    ],
)
def test_demo_failure_is_one_line(
    monkeypatch, tmp_path: Path, failure: BaseException, expected: str, code: int
) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=buf, width=40))
    monkeypatch.setattr(demo.tempfile, "mkdtemp", lambda prefix: str(tmp_path))

    def run(base: Path) -> int:
        raise failure

    monkeypatch.setattr(demo, "run", run)
    assert demo.main() == code
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines  # not wrapped at the console's width either
    assert lines[0].startswith(expected)
    if code == 1:
        assert lines[0].endswith(f"(the nodes' logs are in {tmp_path})")
