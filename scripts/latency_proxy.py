"""A loopback reverse proxy that adds a fixed delay each way, to stand in for a registry across the internet.

Every request waits `delay` seconds before it is forwarded upstream and every response waits `delay` seconds
before it is returned, so one request costs a round trip of 2 x delay on top of the server's own time. Keep-alive
works on both sides (one upstream connection per client connection), like a real CDN in front of a registry, so
a client that reuses connections pays the latency once per request, not once per connection set-up.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
_CHUNK = 256 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the benchmark prints its own table."""

    def _body(self) -> bytes:
        """The request body, de-chunked if the client streamed it with Transfer-Encoding: chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        time.sleep(self.server.delay)
        upstream: http.client.HTTPConnection | None = getattr(self, "_upstream", None)
        if upstream is None:
            upstream = http.client.HTTPConnection(self.server.upstream_host, timeout=300)
            self._upstream: http.client.HTTPConnection | None = upstream
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
        headers["Host"] = self.server.upstream_host
        headers["Content-Length"] = str(len(body))
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            upstream.close()
            self._upstream = None
            self.send_error(502, "upstream failed")
            return
        time.sleep(self.server.delay)
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    delay: float
    upstream_host: str


class LatencyProxy:
    """`with LatencyProxy("http://127.0.0.1:8080/", delay=0.025) as proxy:` then send requests to proxy.url."""

    def __init__(self, upstream: str, *, delay: float = 0.025) -> None:
        parts = urlsplit(upstream)
        self._path = parts.path or "/"
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.delay = delay
        self._server.upstream_host = parts.netloc
        self._thread = threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._path}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
