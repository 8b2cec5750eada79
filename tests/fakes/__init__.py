"""Local stand-ins for services the tests cannot reach: GitHub's OIDC token service, GitLab CI's ID tokens, a
trusted-publishing index, a JFrog Platform (Access's OIDC exchange and an Artifactory PyPI repository), an
asynchronous registry (Pulp: `pulp`) and an offline Sigstore (Fulcio, CT log, Rekor: `sigstore_stack`).

Each fake is a real HTTP server on 127.0.0.1 (a free port, a background thread), so the code under test goes through
its real HTTP client, timeouts and retries. `FakeServer` holds the plumbing; subclasses implement `handle()`.
"""

from __future__ import annotations

import base64
import binascii
import json
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """What a fake received, for assertions."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = field(repr=False)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic` header, or None when there is none or it is malformed."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the reason phrase; None: the standard one for the status

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class ServerThread:
    """Lifecycle shared by the fakes and the fault proxy: a socketserver on 127.0.0.1 served by a daemon thread."""

    def __init__(self) -> None:
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        """Scheme, host and port, no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        raise NotImplementedError

    def _serve_in_background(self, server: socketserver.BaseServer) -> Self:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class FakeServer(ServerThread):
    """A threaded HTTP/1.1 server on a free loopback port; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.bind_port = 0  # 0: any free port; a fake that goes down and comes back rebinds its old one
        self._lock = threading.Lock()

    # -- subclass API -------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self._read_body()
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake._lock:
                    fake.requests.append(request)
                try:
                    response = fake.handle(request)
                except Exception as exc:  # a bug in the fake must show up as a 500, not a hung client
                    response = Response.text(500, f"fake server error: {type(exc).__name__}: {exc}")
                self.send_response(response.status, response.reason)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests assert on `requests` instead."""

        server = ThreadingHTTPServer(("127.0.0.1", self.bind_port), Handler)
        server.daemon_threads = True
        return self._serve_in_background(server)
