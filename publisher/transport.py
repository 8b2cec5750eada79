"""The HTTP client's transport when no proxy is configured: httpx's own, built per URL scheme at first use.

Two start-up and per-file costs of httpx's default transport that this avoids, without changing what is sent or
how it is verified:

- **TLS set-up only for https.** httpx builds its SSL context (certifi's CA bundle, or `SSL_CERT_FILE` /
  `SSL_CERT_DIR`) when the client is created, ~20 ms, even when every request goes to an http:// loopback
  registry. Here the https transport is a plain `httpx.HTTPTransport()` -- the same verified context httpx would
  build -- created at the first https request. The http transport gets a context that trusts nothing and checks
  host names: it is never used for a handshake (an http:// connection has no TLS), and would fail closed if it were.
- **Fewer, larger writes.** httpx writes each part of a multipart body with its own `sendall`: ~50 system calls
  (and ~50 TCP segments for the registry to read) per tiny wheel. The body is regrouped into writes of at least
  64 KiB; the bytes and the Content-Length are unchanged and a big file is still streamed chunk by chunk.

Proxies: httpx only reads `HTTP(S)_PROXY`/`ALL_PROXY` when the client uses its default transport, so make_client
(upload.py) uses this transport only when no proxy is configured (`proxy_configured()`), and httpx's own otherwise.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator
from urllib.request import getproxies

import httpx

WRITE_SIZE = 64 * 1024


def proxy_configured() -> bool:
    """Whether httpx would send any request through a proxy named in the environment (NO_PROXY alone names none)."""
    proxies = getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _trusts_nothing() -> ssl.SSLContext:
    """For the http:// transport, which never performs a handshake: verification on, no trust anchors."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname are its defaults
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


class CoalescedStream(httpx.SyncByteStream):
    """A request body regrouped into chunks of at least WRITE_SIZE bytes (the last may be shorter)."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        buffer = bytearray()
        for chunk in self._stream:
            if not buffer and len(chunk) >= WRITE_SIZE:
                yield chunk  # a big file's chunks go out as they are, no copy
                continue
            buffer += chunk
            if len(buffer) >= WRITE_SIZE:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    def close(self) -> None:
        if isinstance(self._stream, httpx.SyncByteStream):
            self._stream.close()


class DirectTransport(httpx.BaseTransport):
    """Routes https requests to a verified `httpx.HTTPTransport()` and everything else to one without trust
    anchors, each created on first use (thread-safe: parallel uploads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[bool, httpx.HTTPTransport] = {}

    def _transport(self, tls: bool) -> httpx.HTTPTransport:
        with self._lock:
            transport = self._transports.get(tls)
            if transport is None:
                # Exactly what httpx.Client() builds by default (verify=True, trust_env=True, default limits).
                transport = httpx.HTTPTransport() if tls else httpx.HTTPTransport(verify=_trusts_nothing())
                self._transports[tls] = transport
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport(request.url.scheme == "https")
        stream = request.stream
        if isinstance(stream, httpx.SyncByteStream) and not isinstance(stream, httpx.ByteStream):
            # a streamed (multipart) body, not one bytes object: regroup its writes
            request = httpx.Request(
                request.method,
                request.url,
                headers=request.headers,
                stream=CoalescedStream(stream),
                extensions=request.extensions,
            )
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            transport.close()
