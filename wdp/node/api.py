"""The node's local API: a Unix socket (mode 0600) the ``wdp`` client talks to.

One request per connection: a JSON line, for ``put`` followed by exactly
``size`` raw bytes (the node reads them a segment at a time, as it stores
them). Answers are JSON lines: any number of ``{"event": "progress", ...}``
and, for ``get``, ``{"event": "data", "size": m}`` lines each followed by m
raw bytes of the file, verified, in order; then one final
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A get that fails
after some data ends with the error line: the client keeps nothing. Only the
user who runs the node can open the socket.

An error is one plain line for the user: the message of an expected failure
(a bad request, an ``OwnerError``, a ``TicketError``, a fetch or protocol
error), found inside the exception groups trio nurseries wrap them in; a bug
is logged with its traceback and answered with :data:`INTERNAL_ERROR`.

Optionally the same API also listens on TCP (``api_listen``), for a node in a
container whose port is published on the host's loopback. A TCP socket has no
owner to check, so every TCP request line carries ``"token"``: the secret in
``<data_dir>/api.token`` (mode 0600, made on first start) or the operator's
own. A request without the right token gets one error line and nothing else.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import signal
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from wdp.core.capability import RepairCapability
from wdp.core.errors import WdpError
from wdp.core.limits import MAX_EPOCH_SECONDS, MAX_SHARDS, MIN_EPOCH_SECONDS, SEGMENT_SIZE
from wdp.core.owner import default_repair_delay
from wdp.core.segments import epoch_that_fits, moved_per_day, segment_count
from wdp.core.ticket import Ticket, TicketError

if TYPE_CHECKING:  # trio_typing (a libp2p dependency) ships the trio stubs mypy sees
    from trio_typing import TaskStatus

from .errors import leaf_exceptions
from .files import MAX_FILE_SIZE, get_file, keep_file, put_file
from .hostport import parse_hostport
from .owner import OwnedWanderer, OwnerError, ProgressFn
from .settings import format_size
from .status import node_status

if TYPE_CHECKING:
    from .node import Node
    from .owner import Owner

log = logging.getLogger(__name__)

API_SOCKET = "api.sock"
API_TOKEN_FILE = "api.token"
MAX_REQUEST_LINE = 64 * 1024
MAX_REQUEST_DEPTH = 8  # requests are flat objects; depth is checked before the line is parsed
CHUNK = 1 << 20
DAILY_MOVE_BUDGET = 1 << 40  # the setting's default, for an API made without it
TCP_REQUEST_TIMEOUT = 10.0  # a TCP client must send its request line this fast
MIN_TOKEN_LENGTH = 16
INTERNAL_ERROR = "internal error in the node (see its log)"


class ApiError(WdpError):
    """The API cannot start (another node owns the socket, or it cannot be created)."""


class BadRequest(WdpError, ValueError):
    """The request is malformed; the message says what is wrong with it."""


_GONE = (EOFError, trio.BrokenResourceError, trio.ClosedResourceError)
"""The client went away: nobody is left to tell."""


def user_message(failure: BaseException) -> str | None:
    """The one line a client gets for ``failure`` (exception groups unwrapped).

    None if nothing in it is a failure the API expects: a bug, which the
    caller logs with its traceback and reports as :data:`INTERNAL_ERROR`.
    """
    for leaf in leaf_exceptions(failure):
        if isinstance(leaf, BadRequest):
            return f"bad request: {leaf}"
        if isinstance(leaf, OwnerError | TicketError | WdpError):
            return str(leaf)  # OwnerError, FetchError, ProtocolError: written for the user
        if isinstance(leaf, trio.TooSlowError):
            return "the node timed out waiting for the swarm; try again (its log has details)"
        if isinstance(leaf, OSError) and not isinstance(leaf, _GONE):
            what = leaf.strerror or type(leaf).__name__
            return f"the node hit a system error ({what}); see its log"
    return None


def _expected(leaf: BaseException) -> bool:
    """True for a failure that is no bug (no traceback needed in the log)."""
    return isinstance(leaf, (BadRequest, OwnerError, TicketError, WdpError, *_GONE))


def _int_field(
    request: dict[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    """``request[name]`` as an int in ``low..high``; absent, null or 0: ``default``."""
    value = request.get(name)
    if not value and default is not None:
        return default
    if value is None:
        raise BadRequest(f"{name!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name!r} must be a whole number")
    if not low <= value <= high:
        raise BadRequest(f"{name!r} must be {low}..{high}")
    return value


def _str_field(request: dict[str, Any], name: str, default: str | None = None) -> str:
    value = request.get(name, default)
    if not isinstance(value, str):
        raise BadRequest(f"{name!r} is missing" if value is None else f"{name!r} must be text")
    return value


def load_or_create_token(data_dir: Path) -> str:
    """The TCP API token kept in ``data_dir/api.token``, made (mode 0600) if absent."""
    path = data_dir / API_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    except OSError as exc:
        raise ApiError(f"cannot create {path}: {exc.strerror}") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def tcp_token(api_listen: str | None, given: str | None, data_dir: Path) -> str | None:
    """The token TCP requests must carry: the operator's, or the data directory's."""
    if api_listen is None:
        return None
    return given if given is not None else load_or_create_token(data_dir)


def _read_token(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiError(f"cannot read {path}: {exc}") from None
    if mode & 0o077:
        raise ApiError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ApiError(
            f"{path} holds no usable token (fewer than {MIN_TOKEN_LENGTH} characters); "
            "delete it to have a new one made"
        )
    return token


def _in_use(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


async def _read_line(stream: trio.SocketStream, buf: bytearray) -> bytes:
    while b"\n" not in buf:
        if len(buf) > MAX_REQUEST_LINE:
            raise BadRequest(f"the request line is longer than {MAX_REQUEST_LINE} bytes")
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError
        buf += data
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


async def _read_exactly(stream: trio.SocketStream, buf: bytearray, size: int) -> bytes:
    out = bytearray(buf[:size])
    del buf[:size]
    while len(out) < size:
        data = await stream.receive_some(min(CHUNK, size - len(out)))
        if not data:
            raise EOFError
        out += data
    return bytes(out)


async def _reporting(
    send: Callable[[dict[str, Any]], Awaitable[None]],
    work: Callable[[ProgressFn], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``work``, sending its progress as ``{"event": "progress", ...}`` lines (at most
    five a second, the latest of each kind); returns what it returns."""
    latest: dict[str, tuple[int, int]] = {}
    wake = trio.Event()

    def progress(what: str, done: int, total: int) -> None:
        latest[what] = (done, total)

    async def report() -> None:
        while not wake.is_set():
            with trio.move_on_after(0.2):
                await wake.wait()
            for what, (done, total) in list(latest.items()):
                await send({"event": "progress", "what": what, "done": done, "total": total})
            latest.clear()

    result: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(report)
        try:
            result = await work(progress)
        finally:
            wake.set()
    return result


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _depth(line: bytes) -> int:
    """How deeply ``line``'s JSON nests, counted without parsing it (strings skipped)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", line)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse_request(line: bytes) -> dict[str, Any]:
    """The request object of one line; any malformed line is a :class:`BadRequest`."""
    if _depth(line) > MAX_REQUEST_DEPTH:
        raise BadRequest(f"the request nests deeper than {MAX_REQUEST_DEPTH} levels")
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested beyond the parser
        raise BadRequest("the request line is not JSON") from None
    if not isinstance(request, dict):
        raise BadRequest("the request must be a JSON object")
    return request


def _names(leaves: list[BaseException]) -> str:
    return ", ".join(type(leaf).__name__ for leaf in leaves)


class LocalApi:
    """The API on ``path`` (Unix socket) and, with ``tcp`` set, on TCP with ``token``."""

    def __init__(
        self,
        node: Node,
        owner: Owner,
        path: Path,
        defaults: dict[str, int],
        *,
        tcp: str | None = None,
        token: str | None = None,
    ) -> None:
        if tcp is not None and (token is None or len(token) < MIN_TOKEN_LENGTH):
            raise ApiError(f"a TCP API needs a token of at least {MIN_TOKEN_LENGTH} characters")
        self.node = node
        self.owner = owner
        self.path = path
        self.defaults = defaults
        self.tcp = tcp
        self._token = (token or "").encode()
        self.tcp_port: int | None = None  # the bound port, once serving
        self.dashboard_link: str | None = None  # the dashboard's URL with its token, if served

    async def _tcp_listeners(self) -> list[trio.SocketListener]:
        assert self.tcp is not None
        try:
            host, port = parse_hostport(self.tcp)
        except ValueError as exc:
            raise ApiError(f"api_listen {exc}") from None
        try:
            listeners = await trio.open_tcp_listeners(port, host=host)
        except OSError as exc:
            raise ApiError(
                f"cannot listen on {self.tcp} ({exc.strerror}): pick another api_listen port"
            ) from None
        self.tcp_port = int(listeners[0].socket.getsockname()[1])
        return list(listeners)

    async def serve(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.path.exists():
            if _in_use(self.path):
                raise ApiError(
                    f"another wdp-node is using {self.path}; stop it or use another --data-dir"
                )
            self.path.unlink()
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            await sock.bind(str(self.path))
        finally:
            os.umask(old)
        tcp_listeners: list[trio.SocketListener] = []
        try:
            os.chmod(self.path, 0o600)
            sock.listen(16)
            if self.tcp is not None:
                tcp_listeners = await self._tcp_listeners()
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    trio.serve_listeners, self._handle_unix, [trio.SocketListener(sock)]
                )
                if tcp_listeners:
                    nursery.start_soon(trio.serve_listeners, self._handle_tcp, tcp_listeners)
        finally:
            self.path.unlink(missing_ok=True)
            sock.close()
            for listener in tcp_listeners:
                listener.socket.close()

    async def _handle_unix(self, stream: trio.SocketStream) -> None:
        await self._handle(stream, tcp=False)

    async def _handle_tcp(self, stream: trio.SocketStream) -> None:
        await self._handle(stream, tcp=True)

    def _authorised(self, request: Any) -> bool:
        given = request.get("token") if isinstance(request, dict) else None
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), self._token)

    async def _handle(self, stream: trio.SocketStream, *, tcp: bool) -> None:
        buf = bytearray()
        op: object = None

        async def send(obj: dict[str, Any]) -> None:
            await stream.send_all(json.dumps(obj).encode() + b"\n")

        try:
            if tcp:
                with trio.move_on_after(TCP_REQUEST_TIMEOUT) as waited:
                    line = await _read_line(stream, buf)
                if waited.cancelled_caught:
                    await send({"ok": False, "error": "no request line in time"})
                    return
                request = _parse_request(line)
                if not self._authorised(request):
                    self.node.refusals.refused(
                        "api token", "a TCP client", "wrong or missing token", self.node.clock()
                    )
                    await send({"ok": False, "error": "unauthorised: wrong or missing API "
                                "token; give the node's token (its data directory's "
                                "api.token) with --token or WDP_API_TOKEN"})  # fmt: skip
                    return
            else:
                request = _parse_request(await _read_line(stream, buf))
            op = request.get("op")
            handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
            if handler is None:
                known = ", ".join(n[3:] for n in dir(self) if n.startswith("op_"))
                await send({"ok": False, "error": f"unknown operation {op!r} (known: {known})"})
                return
            await handler(request, stream, buf, send)
        except BaseException as exc:
            try:
                await self._failed(exc, op, send)
            except Exception:  # never let one request take the API down
                log.exception("api: cannot answer a failed %s request", op)
        finally:
            await stream.aclose()

    async def _failed(self, exc: BaseException, op: object, send: Any) -> None:
        """Answer a failed request with one plain line; log what is not the client's fault."""
        leaves = leaf_exceptions(exc)
        if not all(isinstance(leaf, Exception) for leaf in leaves):
            log.debug("api: %s request cancelled", op)
            raise exc  # the node is stopping (trio.Cancelled) or was interrupted
        if all(isinstance(leaf, _GONE) for leaf in leaves):
            log.info("api: %s request: the client went away (%s)", op, _names(leaves))
            return
        message = user_message(exc)
        if message is None or not all(_expected(leaf) for leaf in leaves):
            log.error("api: %s request failed", op, exc_info=exc)
        try:
            await send({"ok": False, "error": message or INTERNAL_ERROR})
        except _GONE:
            log.info("api: %s request: the client went away before the error was sent", op)

    # ---- operations ------------------------------------------------------------

    async def op_put(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        size = _int_field(req, "size", 0, MAX_FILE_SIZE)
        k = _int_field(req, "k", 1, MAX_SHARDS, default=self.defaults["k"])
        n = _int_field(req, "n", 1, MAX_SHARDS, default=self.defaults["n"])
        epoch = _int_field(
            req, "epoch", MIN_EPOCH_SECONDS, MAX_EPOCH_SECONDS, default=self.defaults["epoch"]
        )
        name = _str_field(req, "name", "")
        segment_size = self.defaults.get("segment_size", SEGMENT_SIZE)
        moved = moved_per_day(size, k, n, epoch, segment_size)
        budget = self.defaults.get("daily_move_budget", DAILY_MOVE_BUDGET)
        if moved > budget:
            fit = epoch_that_fits(size, k, n, budget, segment_size)
            raise OwnerError(
                f"this put would make the swarm move {format_size(moved)} a day (every shard "
                f"hops every {epoch} s), over this node's daily_move_budget of "
                f"{format_size(budget)}: put it with --epoch {fit} or more"
                + ("" if fit <= MAX_EPOCH_SECONDS else " (over the 7-day maximum: split it)")
            )

        async def read(count: int) -> bytes:
            return await _read_exactly(stream, buf, count)

        async def work(progress: ProgressFn) -> dict[str, Any]:
            ticket = await put_file(self.owner, read, size, name=name, k=k, n=n, epoch=epoch,
                                    segment_size=segment_size, progress=progress)  # fmt: skip
            segments = 1 if size <= segment_size else segment_count(size, segment_size)
            return {"ticket": ticket.encode(), "k": k, "n": n, "segments": segments,
                    "epoch": epoch, "moved_per_day": moved}  # fmt: skip

        await send({"ok": True, **await _reporting(send, work)})

    async def op_get(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        """Verified bytes as they come: ``{"event": "data", "size": m}`` then m bytes,
        any number of times, then ``{"ok": true, "size": total}``."""
        ticket = Ticket.decode(_str_field(req, "ticket"))
        lock = trio.Lock()  # progress lines never land inside a block of data

        async def locked_send(obj: dict[str, Any]) -> None:
            async with lock:
                await send(obj)

        async def write(data: bytes) -> None:
            view = memoryview(data)
            for off in range(0, len(data), CHUNK):
                block = view[off : off + CHUNK]
                async with lock:
                    await send({"event": "data", "size": len(block)})
                    await stream.send_all(block)

        async def work(progress: ProgressFn) -> dict[str, Any]:
            return {"size": await get_file(self.owner, ticket, write, progress)}

        await send({"ok": True, **await _reporting(locked_send, work)})

    async def op_keep(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        """Keep a wanderer or file for its owner, from its repair capability (``wdpr...``)."""
        cap = RepairCapability.decode(_str_field(req, "capability"))
        delay = _int_field(req, "delay", 1, 7 * 86400, default=0)
        if not delay:
            delay = int(default_repair_delay(self.node.core.peer))
        name = _str_field(req, "name", "") or f"kept {cap.repair_key.hex()[:12]}"

        async def work(progress: ProgressFn) -> dict[str, Any]:
            kept = await keep_file(self.owner, cap, name=name, repair_delay=delay,
                                   progress=progress)  # fmt: skip
            return {"kept": kept, "name": name, "delay": delay}

        await send({"ok": True, **await _reporting(send, work)})

    async def op_ls(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        owned = self.owner.items
        parts: dict[str, list[OwnedWanderer]] = {}
        for item in owned.values():
            if item.part_of:
                parts.setdefault(item.part_of, []).append(item)
        items = []
        for wid, item in sorted(owned.items(), key=lambda kv: kv[1].created_at):
            if item.part_of:
                continue  # listed with its file
            t = item.decoded_authority()
            is_file = bool(item.file_ticket) or wid in parts
            whole = [*parts.get(wid, []), item] if is_file else [item]
            entry = {"id": wid[:16], "name": item.name, "k": t.k, "n": t.n,
                     "size": sum(w.size for w in whole[:-1]) if len(whole) > 1 else item.size,
                     "segments": len(whole) - 1 if is_file else 1,
                     "created_at": item.created_at,
                     "generations": [g for w in whole for g in w.generations],
                     "audited": t.version >= 2,
                     "role": "keeper" if item.kept else "owner",
                     "stale_shards": sum(1 for w in whole for s in w.stale if s),
                     "repairs": sum(len(w.repairs) for w in whole)}  # fmt: skip
            if req.get("tickets"):  # a keeper has no ticket: its capability instead
                entry["ticket"] = item.file_ticket or item.ticket or item.capability
            if req.get("repairs"):  # when each loss was found and repaired, and who lost it
                entry["repair_log"] = [r for w in whole for r in w.repairs]
            items.append(entry)
        await send({"ok": True, "wanderers": items})

    async def op_status(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        await send({"ok": True, **node_status(self.node, self.owner)})

    async def op_dashboard(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        if self.dashboard_link is None:
            raise WdpError("this node serves no dashboard: start it with --dashboard HOST:PORT")
        await send({"ok": True, "link": self.dashboard_link})

    async def op_panic(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        await send({"ok": True, "held": len(self.node.carrier.held)})
        os.kill(os.getpid(), signal.SIGUSR1)  # the daemon's panic path: evacuate, wipe, exit
