"""The local API on TCP: a token on every request, loopback unless the operator says so."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from typer.testing import CliRunner

from wdp.client.api import ApiClient, ClientError
from wdp.client.cli import app as wdp_app
from wdp.node.api import API_SOCKET, ApiError, LocalApi, load_or_create_token, tcp_token
from wdp.node.node import Node
from wdp.node.owner import Owner, OwnerRegistry
from wdp.node.settings import SettingsError, load_settings

from .helpers import DEADLINE, MovableClock, nodes

TOKEN = "t" * 20 + "-right-token"


@asynccontextmanager
async def api_node(tmp_path: Path) -> AsyncIterator[tuple[Node, LocalApi]]:
    """One real node whose API listens on its socket and on 127.0.0.1:<ephemeral>."""
    clock = MovableClock()
    async with nodes(clock, 1) as (node,), trio.open_nursery() as nursery:
        registry = OwnerRegistry(tmp_path / "owned.json")
        api = LocalApi(
            node,
            Owner(node, registry),
            tmp_path / API_SOCKET,
            {"k": 2, "n": 3, "epoch": 60},
            tcp="127.0.0.1:0",
            token=TOKEN,
        )
        with trio.fail_after(DEADLINE):
            await nursery.start(api.serve)
        assert api.tcp_port
        yield node, api
        nursery.cancel_scope.cancel()


async def in_thread(fn, *args):
    with trio.fail_after(DEADLINE):
        return await trio.to_thread.run_sync(fn, *args)


def raw_exchange(port: int, line: bytes, extra: bytes = b"") -> list[bytes]:
    """Send one raw request; every byte the node answers before it closes, as lines."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(line + extra)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out.splitlines()


@pytest.mark.trio
async def test_tcp_status_with_token_and_socket_without(tmp_path: Path) -> None:
    async with api_node(tmp_path) as (node, api):
        over_tcp = ApiClient(tcp=f"127.0.0.1:{api.tcp_port}", token=TOKEN)
        answer, _ = await in_thread(over_tcp.call, {"op": "status"})
        assert answer["ok"] and answer["peer_id"] == str(node.peer_id)
        listed, _ = await in_thread(over_tcp.call, {"op": "ls"})
        assert listed["wanderers"] == []
        # The Unix socket (mode 0600) needs no token.
        over_unix = ApiClient(tmp_path / API_SOCKET)
        answer, _ = await in_thread(over_unix.call, {"op": "status"})
        assert answer["peer_id"] == str(node.peer_id)


@pytest.mark.trio
async def test_wrong_or_missing_token_gets_one_error_and_nothing_else(tmp_path: Path) -> None:
    async with api_node(tmp_path) as (_node, api):
        port = api.tcp_port
        assert port is not None
        wrong = ApiClient(tcp=f"127.0.0.1:{port}", token="x" * len(TOKEN))
        with pytest.raises(ClientError, match="unauthorised: wrong or missing API token"):
            await in_thread(wrong.call, {"op": "status"})
        for request in (
            {"op": "status"},  # no token
            {"op": "status", "token": None},
            {"op": "status", "token": TOKEN[:-1]},  # a prefix of the right one
            {"op": "status", "token": TOKEN + "x"},
        ):
            lines = await in_thread(raw_exchange, port, json.dumps(request).encode() + b"\n")
            assert len(lines) == 1, lines
            answer = json.loads(lines[0])
            assert answer["ok"] is False and "unauthorised" in answer["error"]
            assert "peer_id" not in answer
        # Nested 30,000 deep, without a token: refused before it is parsed.
        lines = await in_thread(raw_exchange, port, b"[" * 30_000 + b"]" * 30_000 + b"\n")
        assert json.loads(lines[0])["error"].startswith("bad request: the request nests deeper")
        # A put with a wrong token stores nothing, even with its payload sent.
        payload = os.urandom(3000)
        request = {"op": "put", "size": len(payload), "name": "x", "token": "y" * 20}
        lines = await in_thread(raw_exchange, port, json.dumps(request).encode() + b"\n", payload)
        assert len(lines) == 1 and "unauthorised" in json.loads(lines[0])["error"]
        assert api.owner.items == {}
        assert not (tmp_path / "owned.json").exists()


@pytest.mark.trio
async def test_silent_tcp_client_is_dropped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("wdp.node.api.TCP_REQUEST_TIMEOUT", 0.5)
    async with api_node(tmp_path) as (_node, api):
        port = api.tcp_port
        assert port is not None
        lines = await in_thread(raw_exchange, port, b'{"op": "status", "tok')
        assert len(lines) == 1 and json.loads(lines[0])["error"] == "no request line in time"


@pytest.mark.trio
async def test_wdp_cli_over_tcp(tmp_path: Path) -> None:
    async with api_node(tmp_path) as (node, api):
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        runner = CliRunner()
        address = f"127.0.0.1:{api.tcp_port}"
        ok = await in_thread(
            lambda: runner.invoke(
                wdp_app, ["status", "--json", "--api", address, "--token-file", str(token_file)]
            )
        )
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["peer_id"] == str(node.peer_id)
        bad = await in_thread(
            lambda: runner.invoke(
                wdp_app, ["status", "--api", address], env={"WDP_API_TOKEN": "z" * 24}
            )
        )
        assert bad.exit_code == 1
        assert "unauthorised" in bad.output and "WDP_API_TOKEN" in bad.output
        none = await in_thread(
            lambda: runner.invoke(
                wdp_app,
                ["status", "--api", address, "--data-dir", str(tmp_path / "empty")],
                env={"WDP_API_TOKEN": None, "WDP_API_TOKEN_FILE": None},
            )
        )
        assert none.exit_code == 1 and "needs its token" in none.output


@pytest.mark.trio
async def test_tcp_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    clock = MovableClock()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        async with nodes(clock, 1) as (node,):
            api = LocalApi(
                node,
                Owner(node, OwnerRegistry(None)),
                tmp_path / API_SOCKET,
                {"k": 2, "n": 3, "epoch": 60},
                tcp=f"127.0.0.1:{port}",
                token=TOKEN,
            )
            with trio.fail_after(DEADLINE), pytest.raises(ApiError) as exc:
                await api.serve()
            assert "pick another api_listen port" in str(exc.value)
            assert not (tmp_path / API_SOCKET).exists()  # the socket is cleaned up too


def test_client_refuses_bad_address_and_reports_unreachable() -> None:
    with pytest.raises(ClientError, match="HOST:PORT"):
        ApiClient(tcp="127.0.0.1", token=TOKEN)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ClientError, match="cannot reach the node's API"):
            ApiClient(tcp=f"127.0.0.1:{port}", token=TOKEN).call({"op": "status"})


def test_token_file_made_once_with_mode_0600(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    path = tmp_path / "api.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert load_or_create_token(tmp_path) == token
    assert tcp_token("127.0.0.1:5080", None, tmp_path) == token
    assert tcp_token("127.0.0.1:5080", TOKEN, tmp_path) == TOKEN  # the operator's wins
    assert tcp_token(None, None, tmp_path / "other") is None
    assert not (tmp_path / "other").exists()
    path.chmod(0o644)
    with pytest.raises(ApiError, match="chmod 600"):
        load_or_create_token(tmp_path)


def test_short_token_refused(tmp_path: Path) -> None:
    (tmp_path / "api.token").write_text("short\n")
    (tmp_path / "api.token").chmod(0o600)
    with pytest.raises(ApiError, match="delete it"):
        load_or_create_token(tmp_path)
    with pytest.raises(SettingsError, match="api_token"):
        load_settings(None, {"api_listen": "127.0.0.1:5080"}, environ={"WDP_API_TOKEN": "short"})


@pytest.mark.parametrize("name", ["api_listen", "dashboard"])
@pytest.mark.parametrize("listen", ["0.0.0.0:5080", "192.0.2.7:5080", "example.org:5080"])
def test_non_loopback_api_needs_explicit_consent(listen: str, name: str) -> None:
    refused = rf"{name} {listen} is not a loopback.*api_allow_remote"
    with pytest.raises(SettingsError, match=refused):
        load_settings(None, {name: listen}, environ={})
    s = load_settings(None, {name: listen}, environ={"WDP_API_ALLOW_REMOTE": "true"})
    assert getattr(s, name) == listen and s.api_allow_remote


@pytest.mark.parametrize("listen", ["127.0.0.1:5080", "[::1]:5080", "localhost:0"])
def test_loopback_api_accepted(listen: str) -> None:
    assert load_settings(None, {"api_listen": listen}, environ={}).api_listen == listen


@pytest.mark.parametrize("listen", ["5080", "127.0.0.1:", "127.0.0.1:http", ":5080"])
def test_malformed_api_listen(listen: str) -> None:
    with pytest.raises(SettingsError, match="HOST:PORT"):
        load_settings(None, {"api_listen": listen}, environ={})
