"""wdp-node: a mistake or a failure is one line on stderr; a bug's traceback goes to the log."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
import trio
from typer.testing import CliRunner

from wdp.node import daemon
from wdp.node.cli import app as node_app
from wdp.node.daemon import DaemonError, run_daemon
from wdp.node.settings import load_settings


def settings(tmp_path: Path):
    return load_settings(
        None, {"data_dir": tmp_path, "listen": ["/ip4/127.0.0.1/tcp/0"]}, environ={}
    )


def serving(failure: BaseException):
    """A stand-in for the daemon's _serve that fails under a nursery, as the node's tasks do."""

    async def _serve(node: object, settings: object) -> int:
        async def task() -> None:
            raise failure

        async with trio.open_nursery() as nursery:
            nursery.start_soon(task)
        return 0

    return _serve


@pytest.fixture
def no_node(monkeypatch) -> None:
    monkeypatch.setattr(daemon, "Node", lambda config: object())


@pytest.mark.parametrize(
    "failure, expected",
    [
        (OSError(errno.EACCES, "Permission denied", "/data/shards/x"),
         "stopped: Permission denied: /data/shards/x"),
        (OSError(errno.EADDRINUSE, "Address already in use"),
         "a --listen address is already in use (Address already in use); pick another port"),
        (DaemonError("cannot listen on /ip4/1.2.3.4/tcp/1"), "cannot listen on /ip4/1.2.3.4/tcp/1"),
    ],
)  # fmt: skip
def test_failures_inside_the_nursery_become_one_line(
    monkeypatch, tmp_path: Path, no_node: None, failure: BaseException, expected: str
) -> None:
    monkeypatch.setattr(daemon, "_serve", serving(failure))
    with pytest.raises(DaemonError) as exc:
        run_daemon(settings(tmp_path), bytes(32))
    assert str(exc.value) == expected


def test_interrupt_inside_the_nursery_is_exit_130(monkeypatch, tmp_path: Path, no_node) -> None:
    monkeypatch.setattr(daemon, "_serve", serving(KeyboardInterrupt()))
    assert run_daemon(settings(tmp_path), bytes(32)) == 130


def test_a_bug_is_logged_and_the_operator_gets_one_line(
    monkeypatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def run_daemon(settings: object, seed: bytes) -> int:
        raise ExceptionGroup("Exceptions from Trio nursery", [RuntimeError("boom")])

    monkeypatch.setattr(daemon, "run_daemon", run_daemon)
    caplog.set_level(logging.CRITICAL, logger="wdp.node")
    result = CliRunner().invoke(
        node_app, ["--data-dir", str(tmp_path), "--listen", "/ip4/127.0.0.1/tcp/0"], env={}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "wdp-node: error: stopped on an unexpected error; its traceback is in the log above"
    ]
    (record,) = [r for r in caplog.records if r.name == "wdp.node"]
    assert record.exc_info is not None and "boom" in caplog.text


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--metrics", "9464"], "metrics: '9464' must be HOST:PORT, e.g. 127.0.0.1:9464"),
        (["--api-listen", "[::1]"], "api_listen '[::1]' must be HOST:PORT"),
        (["--listen", "nope"], "--listen 'nope' is not a multiaddr"),
    ],
)
def test_mistakes_are_one_line_with_status_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = CliRunner().invoke(node_app, ["--data-dir", str(tmp_path), *args], env={})
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wdp-node: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
