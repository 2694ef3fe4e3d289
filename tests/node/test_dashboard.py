"""The dashboard's server against an in-process node: the token, live updates,
and bad input refused with a status and a reason while the node keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from wdp.core.effects import ThreatChanged
from wdp.node.dashboard import Dashboard, DashboardError
from wdp.node.dashboard import server as server_mod
from wdp.node.owner import Owner, OwnerRegistry

from .helpers import DEADLINE, MovableClock, nodes

pytestmark = pytest.mark.trio

TOKEN = "t" * 32


@asynccontextmanager
async def dashboard(**kw: float) -> AsyncIterator[Dashboard]:
    clock = MovableClock()
    async with nodes(clock, 1) as (node,), trio.open_nursery() as nursery:
        board = Dashboard(node, Owner(node, OwnerRegistry(None)), "127.0.0.1:0", TOKEN, **kw)
        await nursery.start(board.serve)
        yield board
        nursery.cancel_scope.cancel()


async def exchange(board: Dashboard, raw: bytes) -> tuple[int, dict[str, bytes], bytes]:
    """Send ``raw``, read the whole answer (the server closes after each one)."""
    with trio.fail_after(DEADLINE):
        stream = await trio.open_tcp_stream("127.0.0.1", board.port)
        async with stream:
            await stream.send_all(raw)
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def get(path: str, token: str | None = TOKEN, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}\r\n".encode()


async def test_the_page_is_served_without_data_and_the_data_only_with_the_token() -> None:
    async with dashboard() as board:
        status, headers, body = await exchange(board, get("/", token=None))
        assert status == 200 and b"<title>WDP node</title>" in body
        assert b"default-src 'self'" in headers[b"content-security-policy"]
        for page in ("/app.js", "/style.css"):
            assert (await exchange(board, get(page, token=None)))[0] == 200
        status, headers, body = await exchange(board, get("/", None).replace(b"GET", b"HEAD", 1))
        assert (status, body) == (200, b"") and int(headers[b"content-length"]) > 1000
        head = get("/api/state").replace(b"GET", b"HEAD", 1)
        assert (await exchange(board, head))[:3:2] == (200, b"")
        for token in (None, "wrong" * 8, ""):
            status, headers, body = await exchange(board, get("/api/state", token=token))
            assert status == 401 and b"bearer" in headers[b"www-authenticate"].lower()
            assert json.loads(body)["error"].startswith("unauthorised: wrong or missing token")
        assert board.node.refusals.counts["dashboard token"] == 3
        status, _, body = await exchange(board, get("/api/state"))
        state = json.loads(body)
        assert status == 200 and state["peer_id"] == str(board.node.peer_id)
        assert {"peers", "held", "hop_log", "threat_history", "wanderers"} <= state.keys()


async def test_an_event_stream_sends_the_state_again_when_it_changes() -> None:
    async with dashboard(interval=0.05) as board:
        stream = await trio.open_tcp_stream("127.0.0.1", board.port)
        async with stream:
            await stream.send_all(get("/api/events"))
            buf = b""

            async def event() -> dict:
                nonlocal buf
                with trio.fail_after(DEADLINE):
                    while True:
                        if b"\n\n" in buf:
                            message, buf = buf.split(b"\n\n", 1)
                            data = [ln for ln in message.split(b"\n") if ln.startswith(b"data: ")]
                            if data:
                                return json.loads(data[0][6:])
                            continue
                        buf += await stream.receive_some(65536)

            first = await event()
            assert first["threat_history"] == [] and board.viewers == 1
            board.node.perform([ThreatChanged(1, ("test: a reason to look",))])
            second = await event()
            assert second["threat_history"][0]["reasons"] == ["test: a reason to look"]
            assert second["threat_history"][0]["level"] == 1
    with trio.fail_after(DEADLINE):
        while board.viewers:  # the server notices the viewer left at its next send
            await trio.sleep(0.05)


@pytest.mark.parametrize(
    ("raw", "status", "why"),
    [
        (get("/api/state").replace(b"GET", b"POST", 1), 405, "only answers GET"),
        (get("/api/state", extra="Content-Length: 5\r\n") + b"hello", 413, "no request body"),
        (get("/", extra="X-Big: " + "a" * 20000 + "\r\n"), 431, "too large"),
        (b"\x16\x03\x01 garbage that is not http\r\n\r\n", 400, "bad request"),
        (get("/../../etc/passwd"), 404, "no such page"),
        (get("/nothing").replace(b"GET", b"HEAD", 1), 404, ""),  # headers only
        (get("/api/state", token="wrong" * 8).replace(b"GET", b"HEAD", 1), 401, ""),
    ],
)  # fmt: skip
async def test_bad_requests_get_a_status_and_a_reason(raw: bytes, status: int, why: str) -> None:
    async with dashboard() as board:
        got, headers, body = await exchange(board, raw)
        assert got == status and headers[b"content-type"] == b"application/json"
        if raw.startswith(b"HEAD"):
            assert body == b"" and int(headers[b"content-length"]) > 0
        else:
            assert why in json.loads(body)["error"]
        assert (await exchange(board, get("/api/state")))[0] == 200  # still serving


async def test_too_many_connections_viewers_or_a_silent_client_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_mod, "REQUEST_TIMEOUT", 0.5)
    async with dashboard(interval=0.05) as board:
        idle = [await trio.open_tcp_stream("127.0.0.1", board.port) for _ in range(3)]
        status, _, body = await exchange(board, b"GET / HT")  # never finishes its head
        assert status == 408 and "in time" in json.loads(body)["error"]
        viewers = []
        for _ in range(server_mod.MAX_VIEWERS):
            s = await trio.open_tcp_stream("127.0.0.1", board.port)
            await s.send_all(get("/api/events"))
            viewers.append(s)
        with trio.fail_after(DEADLINE):
            while board.viewers < server_mod.MAX_VIEWERS:
                await trio.sleep(0.01)
        status, _, body = await exchange(board, get("/api/events"))
        assert status == 503 and "viewers already" in json.loads(body)["error"]
        monkeypatch.setattr(server_mod, "REQUEST_TIMEOUT", 30.0)
        crowd = [await trio.open_tcp_stream("127.0.0.1", board.port) for _ in range(40)]
        with trio.fail_after(DEADLINE):
            while board.connections < server_mod.MAX_CONNECTIONS:
                await trio.sleep(0.01)
        status, _, body = await exchange(board, get("/"))
        assert status == 503 and "too many" in json.loads(body)["error"]
        for s in [*idle, *viewers, *crowd]:
            await s.aclose()
        with trio.fail_after(DEADLINE):
            while board.connections or board.viewers:
                await trio.sleep(0.05)
        assert (await exchange(board, get("/api/state")))[0] == 200


async def test_a_bad_address_or_a_taken_port_is_one_line() -> None:
    async with dashboard() as board:
        with pytest.raises(DashboardError, match="dashboard"):
            Dashboard(board.node, board.owner, "nonsense", TOKEN)
        taken = Dashboard(board.node, board.owner, f"127.0.0.1:{board.port}", TOKEN)
        with pytest.raises(DashboardError, match="pick another --dashboard port"):
            await taken.serve()
