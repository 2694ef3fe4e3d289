"""Talking to the local node's API socket (see wdp.node.api for the format)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


class ClientError(RuntimeError):
    """Something the user must fix; the message says what."""


class ApiClient:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError:
            raise ClientError(
                f"no node is listening at {self.path}: start one with 'wdp-node' "
                "(or point --data-dir at the node's data directory)"
            ) from None
        except PermissionError:
            raise ClientError(
                f"permission denied on {self.path}: run wdp as the user who runs wdp-node"
            ) from None
        except OSError as exc:
            raise ClientError(
                f"cannot reach the node at {self.path} ({exc.strerror}): is wdp-node running?"
            ) from None
        return sock

    def call(
        self,
        request: dict[str, Any],
        payload: bytes | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        sent: Callable[[int], None] | None = None,
        received: Callable[[int], None] | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """Send one request; returns the final answer and any bytes that follow it."""
        with self._connect() as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            if payload is not None:
                view = memoryview(payload)
                for off in range(0, len(payload), CHUNK):
                    sock.sendall(view[off : off + CHUNK])
                    if sent:
                        sent(min(len(payload), off + CHUNK))
            reader = sock.makefile("rb")
            while True:
                line = reader.readline()
                if not line:
                    raise ClientError("the node closed the connection without answering")
                answer = json.loads(line)
                if answer.get("event") == "progress":
                    if on_progress:
                        on_progress(answer)
                    continue
                break
            if not answer.get("ok"):
                raise ClientError(str(answer.get("error", "the node refused")))
            size = int(answer.get("size", 0)) if request.get("op") == "get" else 0
            data = bytearray()
            while len(data) < size:
                chunk = reader.read(min(CHUNK, size - len(data)))
                if not chunk:
                    raise ClientError("the node stopped sending before the end of the file")
                data += chunk
                if received:
                    received(len(data))
            return answer, bytes(data)
