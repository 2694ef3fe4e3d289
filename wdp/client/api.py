"""Talking to the node's API (see wdp.node.api for the format).

Over the node's Unix socket, or over TCP (``host:port``, e.g. a container's API
published on the host's loopback) with the node's token in every request.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from wdp.core.errors import WdpError
from wdp.node.hostport import format_hostport, parse_hostport

CHUNK = 1 << 20
MAX_BLOCK = 16 << 20  # one data block of a get (the node sends 1 MiB)
CONNECT_TIMEOUT = 10.0


class ClientError(WdpError):
    """Something the user must fix; the message says what."""


def parse_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5080"`` -> ``("127.0.0.1", 5080)``, or a ClientError saying the form."""
    try:
        return parse_hostport(value, listening=False)
    except ValueError as exc:
        raise ClientError(f"--api {exc}") from None


class ApiClient:
    """One node's API: its Unix socket ``path``, or ``tcp="host:port"`` with ``token``."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        tcp: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if (path is None) == (tcp is None):
            raise ValueError("give either the socket path or a TCP address")
        if tcp is not None and not token:
            raise ClientError(
                f"the node's API at {tcp} needs its token: give --token, WDP_API_TOKEN or "
                "--token-file (the node's data directory holds it as api.token)"
            )
        self.path = path
        self.address = parse_address(tcp) if tcp is not None else None
        self.token = token
        self.timeout = timeout  # seconds any one read may wait (None: as long as it takes)

    def _connect(self) -> socket.socket:
        if self.address is not None:
            return self._connect_tcp(self.address)
        assert self.path is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError:
            sock.close()
            raise ClientError(
                f"no node is listening at {self.path}: start one with 'wdp-node' "
                "(or point --data-dir at the node's data directory)"
            ) from None
        except PermissionError:
            sock.close()
            raise ClientError(
                f"permission denied on {self.path}: run wdp as the user who runs wdp-node"
            ) from None
        except OSError as exc:
            sock.close()
            raise ClientError(
                f"cannot reach the node at {self.path} ({exc.strerror}): is wdp-node running?"
            ) from None
        sock.settimeout(self.timeout)
        return sock

    def _connect_tcp(self, address: tuple[str, int]) -> socket.socket:
        where = format_hostport(*address)
        try:
            sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ClientError(
                f"cannot reach the node's API at {where} ({exc.strerror or exc}): is the "
                "node running with --api-listen, and is the port right?"
            ) from None
        sock.settimeout(self.timeout)  # None: a get may take a while; the node bounds it
        return sock

    def call(
        self,
        request: dict[str, Any],
        payload: bytes | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        sent: Callable[[int], None] | None = None,
        received: Callable[[int], None] | None = None,
        *,
        source: BinaryIO | None = None,
        sink: Callable[[bytes], object] | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """Send one request; returns the final answer and the file bytes a get received.

        ``payload`` (or ``source``, a file read as it is sent: ``request["size"]``
        bytes of it) follows the request line; ``sink`` takes a get's bytes as they
        arrive instead of returning them. Every failure is a ClientError with one line
        saying what happened.
        """
        try:
            return self._call(request, payload, on_progress, sent, received, source, sink)
        except TimeoutError:
            raise ClientError(
                f"the node did not answer within {self.timeout} s; see its log"
            ) from None
        except OSError as exc:  # the connection broke after it was made
            raise ClientError(
                f"lost the connection to the node ({exc.strerror or type(exc).__name__}); "
                "see its log"
            ) from None

    def _where(self) -> str:
        return format_hostport(*self.address) if self.address is not None else str(self.path)

    def _answer(self, reader: BinaryIO) -> dict[str, Any] | None:
        """The next JSON line the node sent, or None if it closed the connection."""
        line = reader.readline()
        if not line:
            return None
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ClientError(
                f"what answers at {self._where()} is not a wdp-node API (it sent "
                f"{len(line)} bytes that are not a JSON object): check --api or --data-dir"
            )
        return answer

    def _call(
        self,
        request: dict[str, Any],
        payload: bytes | None,
        on_progress: Callable[[dict[str, Any]], None] | None,
        sent: Callable[[int], None] | None,
        received: Callable[[int], None] | None,
        source: BinaryIO | None,
        sink: Callable[[bytes], object] | None,
    ) -> tuple[dict[str, Any], bytes]:
        if self.address is not None:
            request = {**request, "token": self.token}
        with self._connect() as sock:
            reader = sock.makefile("rb")
            try:
                sock.sendall(json.dumps(request).encode() + b"\n")
                if payload is not None:
                    source = io.BytesIO(payload)
                if source is not None:
                    self._send_file(sock, source, int(request.get("size", 0)), sent)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The node stopped reading: it may have said why (a refused put) first.
                refusal = self._refusal(reader)
                raise ClientError(
                    refusal
                    or f"the node closed the connection before the request was sent "
                    f"({exc.strerror}); see its log"
                ) from None
            data = bytearray()
            got = 0
            while True:
                answer = self._answer(reader)
                if answer is None:
                    what = "before the end of the file" if got else "without answering"
                    raise ClientError(f"the node closed the connection {what}")
                if answer.get("event") == "progress":
                    if on_progress:
                        on_progress(answer)
                    continue
                if answer.get("event") == "data":
                    block = self._block(reader, answer)
                    got += len(block)
                    if sink is not None:
                        sink(block)
                    else:
                        data += block
                    if received:
                        received(got)
                    continue
                break
            if not answer.get("ok"):
                raise ClientError(str(answer.get("error", "the node refused")))
            if request.get("op") == "get" and answer.get("size") != got:
                raise ClientError(
                    f"the node said the file has {answer.get('size')} bytes but sent {got}"
                )
            return answer, bytes(data)

    @staticmethod
    def _send_file(
        sock: socket.socket, source: BinaryIO, size: int, sent: Callable[[int], None] | None
    ) -> None:
        done = 0
        while done < size:
            chunk = source.read(min(CHUNK, size - done))
            if not chunk:
                raise ClientError(f"the file ended after {done} of {size} bytes (did it shrink?)")
            sock.sendall(chunk)
            done += len(chunk)
            if sent:
                sent(done)

    @staticmethod
    def _block(reader: BinaryIO, event: dict[str, Any]) -> bytes:
        size = event.get("size")
        if not isinstance(size, int) or not 0 <= size <= MAX_BLOCK:
            raise ClientError(f"the node sent a data block of size {size!r}: is it a wdp-node?")
        block = reader.read(size)
        if len(block) != size:
            raise ClientError("the node stopped sending before the end of the file")
        return block

    def _refusal(self, reader: BinaryIO) -> str | None:
        """The error the node answered before it closed the connection, if it can be read."""
        try:
            while (answer := self._answer(reader)) is not None:
                if not answer.get("ok") and "error" in answer:
                    return str(answer["error"])
        except (OSError, ClientError):
            pass
        return None
