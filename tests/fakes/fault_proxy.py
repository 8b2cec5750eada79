"""A fault-injecting reverse proxy on 127.0.0.1, put in front of a real registry (pypiserver, devpi).

It forwards method, path, headers and body to the upstream and relays the answer, except for requests that match
the script, which get the next scripted fault:

- `Fault.status(503, n=2)`           answer 503 (without forwarding) to the next 2 matching requests
- `Fault.status(429, headers={"Retry-After": "1"})`
- `Fault.reset()`                     read half the body, then reset the connection (RST)
- `Fault.stall(seconds)`              read the request, forward nothing, answer nothing for `seconds`
- `Fault.stored_then(500)`            forward the upload (the registry stores it), then answer 500 instead
- `Fault.stored_then_stall(seconds)`  forward the upload, then say nothing for `seconds` (a lost answer)

`Fault.status_(200)` is also the proxy that says yes without storing anything (the upload never reaches the registry).
Requests that do not match (by default: anything but POST) pass through untouched. Every request is logged as
`(method, path, what happened)` so tests can count attempts, and its headers are kept in `received`. Plain sockets,
one thread per connection, one request per connection (`Connection: close`), so each fault is exactly one attempt.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import socketserver
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, Self
from urllib.parse import urlsplit

from tests.fakes import ServerThread

Kind = Literal["status", "reset", "stall", "stored_then", "stored_then_stall"]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Fault:
    kind: Kind
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: bytes = b"injected by fault proxy"

    @classmethod
    def status_(cls, status: int, headers: dict[str, str] | None = None) -> Fault:
        return cls("status", status, headers or {})

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        return cls("stall", seconds=seconds)

    @classmethod
    def stored_then(cls, status: int) -> Fault:
        return cls("stored_then", status)

    @classmethod
    def stored_then_stall(cls, seconds: float) -> Fault:
        return cls("stored_then_stall", seconds=seconds)


def status(code: int, n: int = 1, headers: dict[str, str] | None = None) -> list[Fault]:
    """`n` copies of a plain status answer, for `proxy.script(*status(503, 2))`."""
    return [Fault.status_(code, headers)] * n


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


class FaultProxy(ServerThread):
    """Use as a context manager: `with FaultProxy(pypiserver.url) as proxy: proxy.script(Fault.reset())`."""

    def __init__(self, upstream: str, match: Callable[[str, str], bool] | None = None) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.match = match or (lambda method, path: method == "POST")
        self.log: list[tuple[str, str, str]] = []
        self.received: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers with lower-cased names)
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- scripting ------------------------------------------------------------------------------------------------
    def script(self, *faults: Fault) -> None:
        """Queue faults; each matching request takes the next one, then requests pass through again."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def attempts(self, method: str = "POST") -> int:
        with self._lock:
            return sum(1 for m, _, _ in self.log if m == method)

    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if self._faults and self.match(method, path):
                return self._faults.popleft()
            return None

    def _record(self, method: str, path: str, what: str) -> None:
        with self._lock:
            self.log.append((method, path, what))

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> Self:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.connection, self.rfile)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return self._serve_in_background(server)

    def stop(self) -> None:
        self._stopping.set()  # wake stalled handlers so shutdown does not wait out their stall
        super().stop()

    # -- one connection -------------------------------------------------------------------------------------------
    def _serve(self, connection: socket.socket, reader: BinaryIO) -> None:
        head = self._read_head(reader)
        if head is None:
            return
        method, target, headers = head
        path = urlsplit(target).path
        with self._lock:
            self.received.append((method, path, {name.lower(): value for name, value in headers}))
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
        fault = self._next_fault(method, path)

        if fault is not None and fault.kind == "reset":
            reader.read(length // 2)
            self._record(method, path, "reset")
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            reader.close()  # the socket closes (with RST, linger 0) once no file object refers to it
            connection.close()
            return

        body = reader.read(length) if length else b""
        request = _Request(method, target, headers, body)
        if fault is None:
            code, reply_headers, reply = self._forward(request)
            self._record(method, path, f"passed {code}")
            self._reply(connection, code, reply_headers, reply)
        elif fault.kind == "status":
            self._record(method, path, f"injected {fault.status}")
            self._reply(connection, fault.status, list(fault.headers.items()), fault.body)
        elif fault.kind == "stall":
            self._record(method, path, "stalled")
            self._stopping.wait(fault.seconds)
        elif fault.kind == "stored_then":
            code, _, _ = self._forward(request)
            self._record(method, path, f"forwarded {code}, injected {fault.status}")
            self._reply(connection, fault.status, list(fault.headers.items()), fault.body)
        else:  # stored_then_stall
            code, _, _ = self._forward(request)
            self._record(method, path, f"forwarded {code}, stalled")
            self._stopping.wait(fault.seconds)
        connection.close()

    @staticmethod
    def _read_head(reader: BinaryIO) -> tuple[str, str, list[tuple[str, str]]] | None:
        line = reader.readline(65537)
        if not line:
            return None
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = reader.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        return method, target, headers

    def _forward(self, request: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            upstream.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                    continue
                if name.lower() == "host":
                    value = f"{self.upstream_host}:{self.upstream_port}"
                upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(request.body)))
            upstream.putheader("Connection", "close")
            upstream.endheaders(request.body)
            response = upstream.getresponse()
            body = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, [(k, v) for k, v in headers if k.lower() != "content-length"], body
        finally:
            upstream.close()

    @staticmethod
    def _reply(connection: socket.socket, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        reason = http.client.responses.get(code, "Unknown")
        lines = [f"HTTP/1.1 {code} {reason}", *(f"{k}: {v}" for k, v in headers)]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        with contextlib.suppress(OSError):  # the client may have given up already
            connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
