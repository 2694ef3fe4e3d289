"""Every failed API request is answered with one plain line, never an exception's repr.

trio nurseries wrap what their tasks raise in exception groups; the API must
find the expected failure inside (an OwnerError, a bad request, ...) and say
its message, and turn anything else into one line pointing at the node's log,
where the traceback goes.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from typer.testing import CliRunner

from wdp.client.api import ApiClient, ClientError
from wdp.client.cli import app as wdp_app
from wdp.core.errors import RejectCode
from wdp.node.api import API_SOCKET, INTERNAL_ERROR, LocalApi, user_message
from wdp.node.errors import leaf_exceptions
from wdp.node.node import FetchError
from wdp.node.owner import OwnerError

from .helpers import DEADLINE
from .test_api_tcp import api_node, in_thread

FEW_PEERS = "this node knows 7 healthy peer(s) but needs 8 (one per shard)"
REPRS = ("ExceptionGroup", "Error(", "Exception(", "Traceback", "<", "internal error: ")


def assert_plain(message: str) -> None:
    assert "\n" not in message, message
    for marker in REPRS:
        assert marker not in message, message


class FakeOwner:
    """An owner whose put and get fail the way the test says, under nurseries like the real one."""

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure

    async def put(self, payload: bytes, **kwargs: Any) -> Any:
        async def launch() -> None:
            await trio.sleep(0)
            raise self.failure

        async with trio.open_nursery() as outer:  # the owner's own nursery, inside the API's
            async with trio.open_nursery() as inner:
                inner.start_soon(launch)
            outer.start_soon(trio.sleep, 0)

    async def get(self, ticket: Any, progress: Any = None) -> bytes:
        raise self.failure


@asynccontextmanager
async def fake_api(tmp_path: Path, failure: BaseException) -> AsyncIterator[LocalApi]:
    api = LocalApi(
        None,  # type: ignore[arg-type]  # put and get never touch the node
        FakeOwner(failure),  # type: ignore[arg-type]
        tmp_path / API_SOCKET,
        {"k": 2, "n": 3, "epoch": 60},
    )
    async with trio.open_nursery() as nursery:
        with trio.fail_after(DEADLINE):
            await nursery.start(api.serve)
        yield api
        nursery.cancel_scope.cancel()


async def put_error(tmp_path: Path) -> str:
    client = ApiClient(tmp_path / API_SOCKET)
    request = {"op": "put", "name": "f", "size": 5, "k": 7, "n": 8}
    with pytest.raises(ClientError) as exc:
        await in_thread(client.call, request, b"hello")
    return str(exc.value)


@pytest.mark.trio
async def test_too_few_peers_is_one_plain_line(tmp_path: Path) -> None:
    async with fake_api(tmp_path, OwnerError(FEW_PEERS + ": wait for more peers")):
        message = await put_error(tmp_path)
    assert message == FEW_PEERS + ": wait for more peers"
    assert_plain(message)


@pytest.mark.trio
async def test_too_few_peers_on_a_real_node_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"some data")
    async with api_node(tmp_path):  # one node, no peers at all
        result = await in_thread(
            lambda: CliRunner().invoke(
                wdp_app, ["put", str(tmp_path / "f.txt"), "--data-dir", str(tmp_path)]
            )
        )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("wdp: error: this node knows 0 healthy peer(s) but needs 3")
    assert lines[0].endswith("wait for more peers to join, or put with a smaller n")
    assert_plain(lines[0].removeprefix("wdp: error: "))


@pytest.mark.trio
@pytest.mark.parametrize(
    "failure, expected",
    [
        (FetchError(RejectCode.NOT_HELD, "no such shard", by_peer=True), "carrier NOT_HELD"),
        (trio.TooSlowError(), "the node timed out waiting for the swarm"),
        (OSError(28, "No space left on device"), "the node hit a system error (No space left"),
    ],
)
async def test_expected_failures_say_their_message(
    tmp_path: Path, failure: BaseException, expected: str
) -> None:
    async with fake_api(tmp_path, failure):
        message = await put_error(tmp_path)
    assert message.startswith(expected)
    assert_plain(message)


@pytest.mark.trio
async def test_a_bug_is_logged_and_the_user_gets_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="wdp.node.api")
    async with fake_api(tmp_path, RuntimeError("boom: the secret internals")):
        message = await put_error(tmp_path)
        assert await put_error(tmp_path) == message  # the API still serves
    assert message == INTERNAL_ERROR
    assert_plain(message)
    logged = [r for r in caplog.records if r.name == "wdp.node.api"]
    assert len(logged) == 2 and logged[0].levelno == logging.ERROR  # one per request
    assert "put request failed" in logged[0].getMessage()
    assert logged[0].exc_info is not None
    assert any(
        isinstance(leaf, RuntimeError) and "boom" in str(leaf)
        for leaf in leaf_exceptions(logged[0].exc_info[1])  # type: ignore[arg-type]
    )
    assert "boom" in caplog.text  # the traceback is in the log, not in the answer


def raw_exchange(path: Path, data: bytes) -> list[bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEADLINE)
        sock.connect(str(path))
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out.splitlines()


@pytest.mark.trio
@pytest.mark.parametrize(
    "line, expected",
    [
        (b"not json", "bad request: the request line is not JSON"),
        (b"\xff\xfe", "bad request: the request line is not JSON"),
        (b"[1, 2]", "bad request: the request must be a JSON object"),
        (b'{"op": 7}', "unknown operation 7"),
        (b'{"op": "fly"}', "unknown operation 'fly' (known: "),
        (b'{"op": "put"}', "bad request: 'size' is missing"),
        (b'{"op": "put", "size": "5"}', "bad request: 'size' must be a whole number"),
        (b'{"op": "put", "size": -1}', "bad request: 'size' must be 0.."),
        (b'{"op": "put", "size": 1, "k": 999}', "bad request: 'k' must be 1..256"),
        (b'{"op": "put", "size": 1, "name": 5}', "bad request: 'name' must be text"),
        (b'{"op": "get"}', "bad request: 'ticket' is missing"),
        (b'{"op": "get", "ticket": "nope"}', "not a WDP ticket"),
        (b"[" * 30_000 + b"]" * 30_000, "bad request: the request nests deeper than 8 levels"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "bad request: the request nests deeper"),
        (b'{"op": "[[[[[[[[[[[[\\"{{{{{{{{{{{{"}', "unknown operation '[[[["),  # in a string
        (b"[" * 5_000, "bad request: the request nests deeper"),  # and never closed
    ],
)
async def test_bad_requests_get_one_plain_line(tmp_path: Path, line: bytes, expected: str) -> None:
    async with fake_api(tmp_path, AssertionError("the owner is never asked")):
        lines = await in_thread(raw_exchange, tmp_path / API_SOCKET, line + b"\n")
    assert len(lines) == 1, lines
    answer = json.loads(lines[0])
    assert answer["ok"] is False and answer["error"].startswith(expected), answer
    assert_plain(answer["error"].replace("(known: ", ""))


def test_user_message_looks_inside_nested_groups() -> None:
    inner = ExceptionGroup("Exceptions from Trio nursery", [OwnerError(FEW_PEERS)])
    outer = ExceptionGroup("Exceptions from Trio nursery", [ValueError("x"), inner])
    assert user_message(outer) == FEW_PEERS
    assert user_message(ExceptionGroup("g", [RuntimeError("bug")])) is None
    assert user_message(KeyError("size")) is None  # a bug, not a bad request
