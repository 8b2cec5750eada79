"""A hostile registry on 127.0.0.1: answers that drip, never end, inflate, stall, bait regular expressions, are not
what they claim to be, or redirect elsewhere; and a record of every request (where did credentials go?).

Each path gets an :class:`Answer` (or a function of the request returning one); anything else is a plain 404.
Plain sockets, one request per connection (`Connection: close`), a thread per connection, so an answer can be
written byte by byte at any pace. Big bodies are generated as they are sent, never held: `Answer.huge(300 * MIB)`
costs the server a 1 MiB buffer; a gzip bomb is compressed once, chunk by chunk, and cached (300 MiB of zeros
compress to ~300 KiB) -- when a server that serves it starts, not when the answer is made: parametrize lists make
answers at collection, which every pytest-xdist worker repeats, and the compression takes seconds.

    with HostileServer({"/legacy/": Answer.drip_headers(every=0.2)}) as registry:
        ...  # upload to f"{registry.url}/legacy/"
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import socketserver
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes import Request, ServerThread

MIB = 1024 * 1024
_BLOCK = bytes(MIB)  # the zeros every generated body is sent from

LOGIN_PAGE = """<!DOCTYPE html>
<html><head><title>Sign in - Example SSO</title></head>
<body><h1>Sign in</h1>
<form method="post" action="/login"><input name="user"><input type="password" name="password">
<button>Sign in</button></form></body></html>
"""


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed; built a MiB at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [compressor.compress(_BLOCK[: min(MIB, size - done)]) for done in range(0, size, MIB)]
    return b"".join([*parts, compressor.flush()])


def _generated(size: int, fill: bytes) -> Callable[[], Iterator[bytes]]:
    block = (fill * (MIB // len(fill) + 1))[:MIB] if fill else _BLOCK

    def chunks() -> Iterator[bytes]:
        for done in range(0, size, MIB):
            yield block[: min(MIB, size - done)]

    return chunks


@dataclass
class Answer:
    """One answer: status, headers and a body (bytes, or generated `length` bytes), delivered at a chosen pace."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    generate: Callable[[], Iterator[bytes]] | None = field(default=None, repr=False)
    length: int | None = None  # the Content-Length sent with a generated body
    drip: Literal["headers", "body"] | None = None
    every: float = 0.0  # seconds between the dripped bytes
    drip_after: int = 0  # bytes of the body sent at once before the drip starts
    stall: float = 0.0  # seconds of silence after the request was read, before anything is sent
    deferred: Callable[[], bytes] | None = field(default=None, repr=False)  # the body, made by ready()

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Answer:
        return cls(status, {"Content-Type": content_type}, text.encode())

    @classmethod
    def html(cls, status: int, text: str) -> Answer:
        return cls.text(status, text, "text/html; charset=utf-8")

    @classmethod
    def json(cls, status: int, payload: object | str, content_type: str = "application/json") -> Answer:
        """JSON of `payload`, or `payload` itself when it is a string (for bodies json.dumps cannot make)."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return cls.text(status, text, content_type)

    @classmethod
    def login_page(cls) -> Answer:
        return cls.html(200, LOGIN_PAGE)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Answer:
        return cls(status, {"Location": location, "Content-Type": "text/plain"}, b"moved")

    @classmethod
    def huge(cls, size: int, status: int = 200, content_type: str = "text/html", fill: bytes = b"") -> Answer:
        """`size` bytes (zeros, or `fill` repeated) with a true Content-Length, generated while sent."""
        return cls(status, {"Content-Type": content_type}, generate=_generated(size, fill), length=size)

    @classmethod
    def gzip_bomb(cls, size: int, status: int = 200, content_type: str = "text/html") -> Answer:
        """`size` zero bytes once inflated; a few hundred KiB on the wire."""
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
        return cls(status, headers, deferred=functools.partial(gzip_of_zeros, size))

    @classmethod
    def drip_headers(cls, every: float, status: int = 200) -> Answer:
        return cls(status, {"Content-Type": "text/plain", "X-Padding": "." * 200}, b"ok", drip="headers", every=every)

    @classmethod
    def drip_body(
        cls,
        every: float,
        status: int = 200,
        body: bytes = b"." * 10_000,
        after: int = 0,
        content_type: str = "text/html",
    ) -> Answer:
        """The head at once, then the body one byte every `every` seconds (after its first `after` bytes)."""
        return cls(status, {"Content-Type": content_type}, body, drip="body", every=every, drip_after=after)

    @classmethod
    def silence(cls, seconds: float) -> Answer:
        """Read the request, then say nothing for `seconds` (and then a 200)."""
        return cls(200, {"Content-Type": "text/plain"}, b"late", stall=seconds)

    def ready(self) -> Self:
        """Make a deferred body now (HostileServer.start() does, so no test's time or memory bound pays for it)."""
        if self.deferred is not None:
            self.body, self.deferred = self.deferred(), None
        return self

    def head(self) -> bytes:
        self.ready()
        reason = http.client.responses.get(self.status, "Unknown")
        length = self.length if self.generate is not None else len(self.body)
        lines = [f"HTTP/1.1 {self.status} {reason}", *(f"{k}: {v}" for k, v in self.headers.items())]
        lines += [f"Content-Length: {length}", "Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def chunks(self) -> Iterator[bytes]:
        self.ready()
        if self.generate is not None:
            yield from self.generate()
        elif self.body:
            yield self.body


Route = Answer | Callable[[Request], Answer]


class HostileServer(ServerThread):
    """Serves `routes` (path -> Answer or function of the request); records every request in `requests`."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        super().__init__()
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> Self:
        for route in self.routes.values():
            if isinstance(route, Answer):
                route.ready()
        server_ = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                server_._serve(self.connection, self.rfile)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.allow_reuse_address = True
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        return self._serve_in_background(server)

    def stop(self) -> None:
        self._stopping.set()  # wake every dripping or silent handler
        super().stop()

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    # -- one connection ---------------------------------------------------------------------------------------------
    def _serve(self, connection: socket.socket, reader: BinaryIO) -> None:
        request = self._read(reader)
        if request is None:
            return
        with self._lock:
            self.requests.append(request)
        route = self.routes.get(request.path)
        answer = (
            Answer.text(404, "not found") if route is None else route if isinstance(route, Answer) else route(request)
        )
        with contextlib.suppress(OSError):  # the client gave up: that is what most of these answers are for
            self._send(connection, answer)
        connection.close()

    @staticmethod
    def _read(reader: BinaryIO) -> Request | None:
        line = reader.readline(65537)
        if not line:
            return None
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = reader.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        body = reader.read(length) if length else b""
        parts = urlsplit(target)
        return Request(method, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body)

    def _send(self, connection: socket.socket, answer: Answer) -> None:
        if answer.stall and self._stopping.wait(answer.stall):
            return
        head = answer.head()
        if answer.drip == "headers":
            self._drip(connection, head + b"".join(answer.chunks()), answer.every)
            return
        connection.sendall(head)
        if answer.drip == "body":
            body = b"".join(answer.chunks())
            connection.sendall(body[: answer.drip_after])
            self._drip(connection, body[answer.drip_after :], answer.every)
            return
        for chunk in answer.chunks():
            connection.sendall(chunk)

    def _drip(self, connection: socket.socket, data: bytes, every: float) -> None:
        for position in range(len(data)):
            connection.sendall(data[position : position + 1])
            if self._stopping.wait(every):
                return
