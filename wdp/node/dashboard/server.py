"""The dashboard's HTTP server: h11 over trio, one request per connection.

``GET /``, ``/app.js`` and ``/style.css`` are the page (no data in them).
``GET /api/state`` (one snapshot) and ``GET /api/events`` (a snapshot each time
it changes, as server-sent events) need ``Authorization: Bearer <token>``, the
local API's token; the page reads it from the link's fragment (``#token=...``,
which browsers never send to a server, so it lands in no log) or from a form,
and keeps it in the tab's session storage.

Nothing is computed while nobody watches: a snapshot is built only for a
request, and each open event stream builds one every ``interval`` seconds and
sends it only if it changed. Every limit is a constant below; a request beyond
one gets a status and a one-line JSON ``error`` that says why, and is counted
in the node's refusals.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

import h11
import trio

from wdp.core.errors import WdpError

from ..hostport import parse_hostport
from ..status import dashboard_state

if TYPE_CHECKING:
    from trio_typing import TaskStatus

    from ..node import Node
    from ..owner import Owner

log = logging.getLogger(__name__)

MAX_HEAD = 8 * 1024  # request line and headers
REQUEST_TIMEOUT = 10.0  # to send them
SEND_TIMEOUT = 30.0  # a viewer that reads nothing this long is dropped
MAX_CONNECTIONS = 32  # open at once; more are answered 503 and closed
MAX_VIEWERS = 4  # event streams at once
UPDATE_INTERVAL = 1.0  # seconds between an event stream's looks at the node
KEEPALIVE = 15.0  # a comment line this often when nothing changed
LINGER, LINGER_BYTES = 1.0, 64 * 1024  # what is read and dropped after the answer
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]  # fmt: skip
UNAUTHORISED = (
    "unauthorised: wrong or missing token; open the link `wdp dashboard` prints, "
    "or give the node's token (its data directory's api.token)"
)


class DashboardError(WdpError):
    """The dashboard cannot start (bad address, or the port is taken)."""


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Dashboard:
    """Serve the dashboard of ``node`` (and ``owner``'s wanderers) at ``listen``."""

    def __init__(
        self, node: Node, owner: Owner, listen: str, token: str, *,
        interval: float = UPDATE_INTERVAL,
    ) -> None:  # fmt: skip
        try:
            self.host, self.port = parse_hostport(listen, example="127.0.0.1:8080")
        except ValueError as exc:
            raise DashboardError(f"dashboard {exc}") from None
        self.node, self.owner = node, owner
        self.interval = interval
        self._token = token.encode()
        self._pages = {
            path: ((resources.files(__package__) / "static" / name).read_bytes(), kind.encode())
            for path, (name, kind) in PAGES.items()
        }
        self.connections = 0
        self.viewers = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def serve(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as exc:
            raise DashboardError(
                f"cannot serve the dashboard on {self.host}:{self.port} ({exc.strerror}); "
                "pick another --dashboard port"
            ) from None
        self.port = int(listeners[0].socket.getsockname()[1])
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.connections += 1
        try:
            if self.connections > MAX_CONNECTIONS:
                await self._error(conn, stream, 503, "too many dashboard connections; try later")
                return
            await self._request(conn, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass  # the viewer went away
        finally:
            self.connections -= 1
            await _linger(stream)
            await stream.aclose()

    async def _request(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        request: h11.Request | None = None
        with trio.move_on_after(REQUEST_TIMEOUT) as waited:
            try:
                request = await _read_head(conn, stream)
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                why = "request head too large" if status == 431 else f"bad request ({exc})"
                await self._error(conn, stream, status, why)
                return
        if waited.cancelled_caught:
            await self._error(conn, stream, 408, "no complete request in time")
        elif request is not None:  # None: closed before a request
            await self._route(conn, stream, request)

    async def _route(
        self, conn: h11.Connection, stream: trio.SocketStream, request: h11.Request
    ) -> None:
        headers = dict(request.headers)
        head = request.method == b"HEAD"  # headers only, for a page or an error alike
        if request.method not in (b"GET", b"HEAD"):
            await self._error(conn, stream, 405, "the dashboard only answers GET",
                              [(b"allow", b"GET, HEAD")])  # fmt: skip
            return
        if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
            await self._error(conn, stream, 413, "the dashboard takes no request body", head=head)
            return
        path = request.target.split(b"?", 1)[0].decode("ascii", "replace")
        if path in self._pages:
            body, kind = self._pages[path]
            await self._send(conn, stream, 200, body, kind, head=head)
            return
        if path not in ("/api/state", "/api/events"):
            await self._error(conn, stream, 404, f"no such page: {path[:100]}", head=head)
            return
        if not self._authorised(headers.get(b"authorization", b"")):
            peer = stream.socket.getpeername()
            who = str(peer[0]) if isinstance(peer, tuple) else "a dashboard client"
            self.node.refusals.refused(
                "dashboard token", who, "wrong or missing token", self.node.clock()
            )
            challenge = [(b"www-authenticate", b'Bearer realm="wdp"')]
            await self._error(conn, stream, 401, UNAUTHORISED, challenge, head=head)
            return
        if path == "/api/state":
            state = _json(dashboard_state(self.node, self.owner))
            await self._send(conn, stream, 200, state, b"application/json", head=head)
            return
        if head:
            await self._send(conn, stream, 200, b"", b"text/event-stream", head=True)
            return
        if self.viewers >= MAX_VIEWERS:
            why = f"{MAX_VIEWERS} viewers already; close one"
            await self._error(conn, stream, 503, why, head=head)
            return
        self.viewers += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_closed, stream, nursery.cancel_scope)
                await self._events(conn, stream)
        finally:
            self.viewers -= 1

    def _authorised(self, header: bytes) -> bool:
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)

    async def _events(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        """A snapshot whenever it changed (``now`` aside), checked every ``interval``."""
        headers = [(b"content-type", b"text/event-stream"), (b"connection", b"close")]
        response = h11.Response(status_code=200, headers=[*headers, *SECURITY_HEADERS])
        await _put(stream, conn.send(response))
        last: Any = None
        quiet = 0.0
        while True:
            state = dashboard_state(self.node, self.owner)
            now = state.pop("now")
            if state != last:
                last = state
                quiet = 0.0
                data = b"data: " + _json({**state, "now": now}) + b"\n\n"
            elif quiet >= KEEPALIVE:
                quiet = 0.0
                data = b": keepalive\n\n"
            else:
                data = b""
            if data:
                await _put(stream, conn.send(h11.Data(data=data)))
            await trio.sleep(self.interval)
            quiet += self.interval

    async def _send(
        self, conn: h11.Connection, stream: trio.SocketStream, status: int, body: bytes,
        kind: bytes, extra: list[tuple[bytes, bytes]] | None = None, *, head: bool = False,
    ) -> None:  # fmt: skip
        headers = [
            (b"content-type", kind), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *SECURITY_HEADERS, *(extra or []),
        ]  # fmt: skip
        out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
        if not head:  # a HEAD answer ends with its headers (and the connection closes)
            out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
        await _put(stream, out)

    async def _error(
        self, conn: h11.Connection, stream: trio.SocketStream, status: int, why: str,
        extra: list[tuple[bytes, bytes]] | None = None, *, head: bool = False,
    ) -> None:  # fmt: skip
        log.info("dashboard: %d %s", status, why)
        body = _json({"error": why})
        await self._send(conn, stream, status, body, b"application/json", extra, head=head)


async def _read_head(conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event
        if isinstance(event, h11.ConnectionClosed):
            return None
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(4096))


async def _until_closed(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """A viewer sends nothing after its request: anything more, or its close, ends it."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.receive_some(1)
    scope.cancel()


async def _linger(stream: trio.SocketStream) -> None:
    """Close our side, then read (and drop) what the client still sends, briefly, so a
    refused request's unread rest does not reset the connection before it reads why."""
    with trio.move_on_after(LINGER):
        try:
            await stream.send_eof()
            left = LINGER_BYTES
            while left > 0 and (chunk := await stream.receive_some(16384)):
                left -= len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def _put(stream: trio.SocketStream, data: bytes | None) -> None:
    if not data:
        return
    with trio.move_on_after(SEND_TIMEOUT) as waited:
        await stream.send_all(data)
    if waited.cancelled_caught:
        raise trio.BrokenResourceError("the viewer reads nothing")
