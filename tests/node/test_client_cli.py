"""The wdp client: connection options before or after the command, one plain line per mistake."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
from typer.testing import CliRunner, Result

from wdp.client.api import ApiClient, ClientError
from wdp.client.cli import app as wdp_app
from wdp.core.capability import RepairCapability
from wdp.core.ticket import Ticket
from wdp.node.api import API_SOCKET

from .test_api_tcp import TOKEN, api_node, in_thread

NO_ENV = {"WDP_DATA_DIR": None, "WDP_API": None, "WDP_API_TOKEN": None, "WDP_API_TOKEN_FILE": None}


def wdp(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(wdp_app, list(args), env={**NO_ENV, **(env or {})})


def one_error_line(result: Result) -> str:
    """The single line a failed command printed (exit status 1), without its prefix."""
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("wdp: error: "), lines[0]
    assert "Traceback" not in lines[0] and "Error(" not in lines[0]
    return lines[0].removeprefix("wdp: error: ")


@pytest.fixture
def refused_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        yield s.getsockname()[1]


def test_data_dir_before_the_command_reaches_for_the_socket(tmp_path: Path) -> None:
    message = one_error_line(wdp("--data-dir", str(tmp_path), "status"))
    assert message == (
        f"no node is listening at {tmp_path / API_SOCKET}: start one with 'wdp-node' "
        "(or point --data-dir at the node's data directory)"
    )
    assert one_error_line(wdp("status", "--data-dir", str(tmp_path))) == message  # as before


def test_api_and_token_before_the_command_reach_for_the_tcp_api(refused_port: int) -> None:
    address = f"127.0.0.1:{refused_port}"
    for args in (
        ["--api", address, "--token", TOKEN, "status"],
        ["status", "--api", address, "--token", TOKEN],
        ["--api", "127.0.0.1:1", "--token", "wrong", "status", "--api", address, "--token", TOKEN],
    ):
        message = one_error_line(wdp(*args))
        assert message.startswith(f"cannot reach the node's API at {address} (")
        assert message.endswith("is the node running with --api-listen, and is the port right?")


def test_mistakes_in_connection_options_are_one_line(tmp_path: Path) -> None:
    assert one_error_line(wdp("--api", "127.0.0.1", "--token", TOKEN, "ls")).startswith(
        "--api '127.0.0.1' must be HOST:PORT, e.g. 127.0.0.1:5080"
    )
    assert "needs its token" in one_error_line(
        wdp("--api", "127.0.0.1:5080", "--data-dir", str(tmp_path), "ls")
    )
    assert one_error_line(
        wdp("--api", "127.0.0.1:5080", "--token-file", str(tmp_path / "none"), "ls")
    ) == (f"token file {tmp_path / 'none'} does not exist")


def test_file_and_ticket_mistakes_are_one_line(tmp_path: Path) -> None:
    assert one_error_line(wdp("put", str(tmp_path / "missing.txt"))) == (
        f"cannot read {tmp_path / 'missing.txt'}: No such file or directory"
    )
    assert one_error_line(wdp("put", str(tmp_path))).startswith(f"cannot read {tmp_path}: ")
    assert one_error_line(wdp("get", "wdp1garbage", "-o", str(tmp_path / "x"))).startswith(
        "bad ticket: "
    )
    ticket = "wdp1" + "a" * 40
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("wdp.client.cli.Ticket.decode", lambda text: None)  # any ticket will do
        for directory in (str(tmp_path), "."):
            assert one_error_line(wdp("get", ticket, "-o", directory)) == (
                f"{directory} is a directory: give -o the name of the file to write"
            )


def test_capability_is_derived_here_and_keep_refuses_mistakes_in_one_line(tmp_path: Path) -> None:
    ticket = Ticket(bytes(range(32)), bytes(32), 3, 8)
    result = wdp("capability", ticket.encode())
    assert result.exit_code == 0, result.output
    cap = RepairCapability.decode(result.stdout.strip())
    assert cap == RepairCapability.of_ticket(ticket)
    old = Ticket(bytes(range(32)), bytes(32), 3, 8, 1).encode()
    assert "only its owner can keep it" in one_error_line(wdp("capability", old))
    assert one_error_line(wdp("capability", "wdp1garbage")).startswith("bad ticket: ")
    assert "this is a ticket, which reads the data" in one_error_line(
        wdp("keep", ticket.encode(), "--data-dir", str(tmp_path))
    )
    assert one_error_line(wdp("keep", cap.encode()[:-3], "--data-dir", str(tmp_path))) == (
        "bad capability: the capability is too short (truncated?): copy it again in full"
    )


def test_a_mistyped_keeper_stops_the_put_before_anything_is_sent(tmp_path: Path) -> None:
    data = tmp_path / "f.txt"
    data.write_bytes(b"x" * 100)
    empty = tmp_path / "keeper"
    empty.mkdir()
    put = ["put", str(data), "--data-dir", str(tmp_path / "owner")]
    assert one_error_line(wdp(*put, "--keeper", str(empty))).startswith(
        f"keeper {empty}: no node is listening at {empty / API_SOCKET}"
    )
    assert one_error_line(wdp(*put, "--keeper", str(tmp_path / "nowhere"))) == (
        f"keeper {tmp_path / 'nowhere'}: not a node's data directory, nor HOST:PORT of its API"
    )
    assert one_error_line(wdp(*put, "--keeper", "127.0.0.1:9")) == (
        "keeper 127.0.0.1:9: give its API token with --keeper-token-file"
    )
    no_wait = wdp(*put, "--keeper", str(empty), "--keeper-delay", "0")
    assert no_wait.exit_code == 2 and "'--keeper-delay'" in no_wait.output  # usage error


@pytest.mark.trio
async def test_options_before_and_after_the_command_against_a_real_api(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async with api_node(tmp_path) as (node, api):
        address = f"127.0.0.1:{api.tcp_port}"

        async def peer_id(*args: str, env: dict[str, str | None] | None = None) -> str:
            result = await in_thread(lambda: wdp(*args, env=env))
            assert result.exit_code == 0, result.output
            return str(json.loads(result.stdout)["peer_id"])

        expected = str(node.peer_id)
        # Before the command, as in `ipfs --api`.
        assert await peer_id("--api", address, "--token", TOKEN, "status", "--json") == expected
        assert await peer_id("--data-dir", str(tmp_path), "status", "--json") == expected
        # After the command (as before this change); there it wins.
        assert await peer_id("status", "--json", "--api", address, "--token", TOKEN) == expected
        nowhere, elsewhere = str(tmp_path / "none"), str(tmp_path)
        both = ["--data-dir", nowhere, "status", "--json", "--data-dir", elsewhere]
        assert await peer_id(*both) == expected
        wrong_then_right = ["--api", address, "--token", "x" * 20, "status", "--json"]
        assert await peer_id(*wrong_then_right, "--token-file", str(token_file)) == expected
        # The environment counts as before the command.
        env = {"WDP_API": address, "WDP_API_TOKEN": "y" * 20}
        assert await peer_id("status", "--json", "--token", TOKEN, env=env) == expected
        assert await peer_id("--token", TOKEN, "status", "--json", env=env) == expected
        wrong = await in_thread(lambda: wdp("status", env=env))
        assert "unauthorised" in one_error_line(wrong)


@contextmanager
def not_a_wdp_api() -> Iterator[int]:
    """A TCP server that answers like an HTTP server (e.g. the metrics port by mistake)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        thread.join(5)


def test_something_else_on_the_api_port_is_one_line() -> None:
    with not_a_wdp_api() as port:
        message = one_error_line(wdp("--api", f"127.0.0.1:{port}", "--token", TOKEN, "status"))
    assert message.startswith(f"what answers at 127.0.0.1:{port} is not a wdp-node API")


@pytest.mark.trio
async def test_a_put_refused_while_sending_reports_the_refusal(tmp_path: Path) -> None:
    async with api_node(tmp_path):
        client = ApiClient(tmp_path / API_SOCKET)
        payload = bytes(8 << 20)  # far more than the socket buffers: the node stops reading
        request = {"op": "put", "name": "big", "size": 1 << 43}  # over MAX_FILE_SIZE
        with pytest.raises(ClientError) as exc, trio.fail_after(20):
            await in_thread(client.call, request, payload)
    assert str(exc.value).startswith("bad request: 'size' must be 0..")
