"""The node's local API: a Unix socket (mode 0600) the ``wdp`` client talks to.

One request per connection: a JSON line, for ``put`` followed by exactly
``size`` raw bytes. Answers are JSON lines: any number of
``{"event": "progress", ...}``, then one final ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``; a successful ``get`` is followed by exactly
``size`` raw bytes. Only the user who runs the node can open the socket.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from wdp.core.limits import MAX_PAYLOAD_SIZE
from wdp.core.ticket import Ticket, TicketError

from .owner import OwnerError

if TYPE_CHECKING:
    from .node import Node
    from .owner import Owner

log = logging.getLogger(__name__)

API_SOCKET = "api.sock"
MAX_REQUEST_LINE = 64 * 1024
CHUNK = 1 << 20


class ApiError(RuntimeError):
    """The API cannot start (another node owns the socket, or it cannot be created)."""


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
            raise ValueError("request line too long")
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


class LocalApi:
    def __init__(self, node: Node, owner: Owner, path: Path, defaults: dict[str, int]) -> None:
        self.node = node
        self.owner = owner
        self.path = path
        self.defaults = defaults

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
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
        os.chmod(self.path, 0o600)
        sock.listen(16)
        task_status.started()
        try:
            await trio.serve_listeners(self._handle, [trio.SocketListener(sock)])
        finally:
            self.path.unlink(missing_ok=True)

    async def _handle(self, stream: trio.SocketStream) -> None:
        buf = bytearray()

        async def send(obj: dict[str, Any]) -> None:
            await stream.send_all(json.dumps(obj).encode() + b"\n")

        try:
            request = json.loads(await _read_line(stream, buf))
            op = request.get("op")
            handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
            if handler is None:
                await send({"ok": False, "error": f"unknown operation {op!r}"})
                return
            await handler(request, stream, buf, send)
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.info("api: connection ended early: %r", exc)
            return
        except (ValueError, KeyError, TypeError) as exc:
            await send({"ok": False, "error": f"bad request: {exc}"})
        except (OwnerError, TicketError) as exc:
            await send({"ok": False, "error": str(exc)})
        except Exception as exc:
            log.exception("api request failed")
            await send({"ok": False, "error": f"internal error: {exc!r}"})
        except BaseException:
            log.exception("api request cancelled")
            raise
        finally:
            await stream.aclose()

    # ---- operations ------------------------------------------------------------

    async def op_put(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        size = int(req["size"])
        if not 0 <= size <= MAX_PAYLOAD_SIZE:
            raise ValueError(f"size must be 0..{MAX_PAYLOAD_SIZE}")
        payload = await _read_exactly(stream, buf, size)
        events: list[tuple[str, int, int]] = []
        wake = trio.Event()

        def progress(what: str, done: int, total: int) -> None:
            events.append((what, done, total))

        k = int(req.get("k") or self.defaults["k"])
        n = int(req.get("n") or self.defaults["n"])
        epoch = int(req.get("epoch") or self.defaults["epoch"])
        async with trio.open_nursery() as nursery:
            result: dict[str, Any] = {}

            async def work() -> None:
                ticket = await self.owner.put(
                    payload, name=str(req.get("name", "")), k=k, n=n, epoch=epoch, progress=progress
                )
                result["ticket"] = ticket.encode()
                wake.set()

            async def report() -> None:
                sent = 0
                while not wake.is_set():
                    with trio.move_on_after(0.2):
                        await wake.wait()
                    for what, done, total in events[sent:]:
                        await send(
                            {"event": "progress", "what": what, "done": done, "total": total}
                        )
                    sent = len(events)

            nursery.start_soon(report)
            try:
                await work()
            except BaseException:
                wake.set()
                raise
        await send({"ok": True, **result, "k": k, "n": n})

    async def op_get(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        ticket = Ticket.decode(str(req["ticket"]))
        data = await self.owner.get(ticket)
        await send({"ok": True, "size": len(data)})
        view = memoryview(data)
        for off in range(0, len(data), CHUNK):
            await stream.send_all(view[off : off + CHUNK])

    async def op_ls(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        items = []
        for wid, item in sorted(self.owner.registry.items.items(), key=lambda kv: kv[1].created_at):
            t = Ticket.decode(item.ticket)
            entry = {"id": wid[:16], "name": item.name, "size": item.size, "k": t.k, "n": t.n,
                     "created_at": item.created_at, "generations": item.generations}  # fmt: skip
            if req.get("tickets"):
                entry["ticket"] = item.ticket
            items.append(entry)
        await send({"ok": True, "wanderers": items})

    async def op_status(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        node, carrier = self.node, self.node.carrier
        peers = [
            {"peer": p.peer.hex()[:16], "ipv4": p.ipv4, "loss": round(p.loss, 3),
             "rtt_ms": None if p.srtt is None else round(p.srtt * 1000, 3), "healthy": p.healthy}
            for p in carrier.latency.peers()
        ]  # fmt: skip
        held = [
            {"shard": str(h.key), "hop": h.record.hop, "reason": h.record.reason.name,
             "next_hop_in": round(h.next_hop_at - node.clock(), 1)}
            for h in carrier.held.values()
        ]  # fmt: skip
        recent = [
            {"ok": r.ok, "code": None if r.code is None else r.code.name, "detail": r.detail}
            for r in list(node.results)[-10:]
        ]
        await send({
            "ok": True, "peer_id": str(node.peer_id), "addrs": [str(a) for a in node.addrs],
            "threat_level": int(carrier.level), "threat_reasons": list(carrier.threat.reasons),
            "peers": peers, "held": held, "recent_hops": recent,
            "hops_in": node.stats.hops_in, "hops_out": node.stats.hops_out,
        })  # fmt: skip

    async def op_panic(
        self, req: dict[str, Any], stream: trio.SocketStream, buf: bytearray, send: Any
    ) -> None:
        await send({"ok": True, "held": len(self.node.carrier.held)})
        os.kill(os.getpid(), signal.SIGUSR1)  # the daemon's panic path: evacuate, wipe, exit
