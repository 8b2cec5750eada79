"""The HTTP client's transport: bounded answers, a total deadline per request, cancellation, proxies, lazy TLS.

Every request the tool makes goes through :class:`GuardedTransport` (the upload client and the trusted-publishing
client alike, with or without a proxy):

- **A total deadline per request** (bounds.py): PUBLISHER_REQUEST_DEADLINE seconds (default 300) plus 1 s per MiB
  the request sends (or downloads, for a hash), covering connect, TLS, sending, waiting and reading the whole body;
  a request may ask for a shorter one (bodies.within: the polls of an upload's confirmation end with its wait).
  The connections' network backend (sockets.py) shortens every socket wait to the time left and fails the request
  with :class:`~publisher.net.bounds.DeadlineExceeded` once it has passed: the message names the URL and the variable.
- **Bounded answers** (bodies.py): at most the request's body limit (default 64 KiB) is read and decoded.
- **Cancellation**: :func:`abort_all` cuts every request in flight and refuses every later one
  (:class:`~publisher.net.bounds.Aborted`).
- **Proxies**: httpx reads HTTP(S)_PROXY / ALL_PROXY / NO_PROXY only for its own default transport, so
  :func:`proxy_mounts` maps them to guarded proxy transports exactly as httpx would (same patterns, same
  NO_PROXY rules), for `httpx.Client(mounts=...)`.
- **TLS set-up only for https.** httpx builds its SSL context (certifi's CA bundle, or `SSL_CERT_FILE` /
  `SSL_CERT_DIR`) when the client is created, ~20 ms, even when every request goes to an http:// loopback
  registry. Here the https pool gets `httpx.create_ssl_context()` -- the same verified context httpx would build --
  at the first https request. The http pool gets a context that trusts nothing and checks host names: it is never
  used for a handshake (an http:// connection has no TLS), and would fail closed if it were.
- **native-tls** (`native_tls=True`): the https pool's context is `truststore.SSLContext` instead -- the operating
  system's trust store (as `pip` and `uv --native-tls` use it), for runners and desks behind a corporate CA.
  truststore is imported only then. An https:// proxy is verified with the same context as the registry.
- **Failures no retry can fix** (unreachable.py): a host name that does not resolve and a refused TLS handshake
  leave as :class:`~publisher.net.unreachable.Unreachable` (an httpx.ConnectError naming the host and the fix), which
  retry.py never retries.
- **Fewer, larger writes.** httpx writes each part of a multipart body with its own `sendall`: ~50 system calls
  (and ~50 TCP segments for the registry to read) per tiny wheel. The body is regrouped into writes of at least
  64 KiB; the bytes and the Content-Length are unchanged and a big file is still streamed chunk by chunk.

The pools are httpcore's, built with exactly the settings `httpx.HTTPTransport()` uses (default limits, HTTP/1.1)
plus the guarded network backend, which httpx cannot be given.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.request import getproxies

import httpx

from publisher.config.urls import strip_credentials
from publisher.net import sockets, unreachable
from publisher.net.bodies import (
    ACCEPT_ENCODING,
    BODY_STATE,
    BodyState,
    BoundedBody,
    moved_size,
    requested_deadline,
    requested_limit,
)
from publisher.net.bounds import DEFAULT_DEADLINE, Aborted, request_budget
from publisher.net.httpcore_lean import httpcore
from publisher.report import safe
from publisher.report.errors import ConfigError

WRITE_SIZE = 64 * 1024
BACKEND = sockets.GuardedBackend()
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def abort_all() -> int:
    """Make every request in flight in this process fail now, and every later one at once, with
    :class:`~publisher.net.bounds.Aborted` (never retried). Safe from any thread or a signal handler; returns the number
    of connections cut."""
    return sockets.abort_all()


def verified_context(native_tls: bool = False) -> ssl.SSLContext:
    """The context https is verified with: httpx's default (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR), or
    with `native_tls` the operating system's trust store through truststore (which honours SSL_CERT_FILE too)."""
    if native_tls:
        import truststore  # only when asked for: a password upload does not load it

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.create_ssl_context()


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


class _WithinDeadline(httpx.SyncByteStream):
    """The body of an answer, read under its request's deadline (each read, in whichever code iterates it)."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: sockets.Deadline) -> None:
        self._stream, self._deadline = stream, deadline

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._stream)
        while True:
            with sockets.within(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        with sockets.within(self._deadline):
            self._stream.close()


def _pool(ssl_context: ssl.SSLContext, proxy: httpx.Proxy | None, native_tls: bool = False) -> httpcore.ConnectionPool:
    """The pool `httpx.HTTPTransport(verify=ssl_context, proxy=proxy)` builds, on the guarded network backend; an
    https:// proxy is verified as the registry is (httpcore's default would be certifi's bundle alone)."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)  # httpx's default
    common: dict[str, Any] = {
        "ssl_context": ssl_context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": False,
        "network_backend": BACKEND,
    }
    if proxy is None:
        return httpcore.ConnectionPool(**common, uds=None, local_address=None, retries=0, socket_options=None)
    proxy_url = httpcore.URL(
        scheme=proxy.url.raw_scheme, host=proxy.url.raw_host, port=proxy.url.port, target=proxy.url.raw_path
    )
    if proxy.url.scheme in ("http", "https"):
        return httpcore.HTTPProxy(
            proxy_url=proxy_url,
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            proxy_ssl_context=proxy.ssl_context
            or (verified_context(native_tls) if proxy.url.scheme == "https" else None),
            socket_options=None,
            **common,
        )
    return httpcore.SOCKSProxy(proxy_url=proxy_url, proxy_auth=proxy.raw_auth, **common)


class _Pooled(httpx.HTTPTransport):
    """httpx's HTTPTransport (request conversion, error mapping) around a pool built by :func:`_pool`."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:  # no super().__init__: it would build a pool too
        self._pool = pool


class GuardedTransport(httpx.BaseTransport):
    """Every request bounded (deadline, body limit, abort_all); https and http each get a pool on first use
    (thread-safe: parallel uploads share it). With `proxy`, the pools go through that proxy."""

    def __init__(
        self, deadline: float = DEFAULT_DEADLINE, proxy: httpx.Proxy | None = None, *, native_tls: bool = False
    ) -> None:
        self.deadline = deadline
        self.proxy = proxy
        self.native_tls = native_tls
        self._lock = threading.Lock()
        self._transports: dict[bool, httpx.HTTPTransport] = {}

    def _transport(self, tls: bool) -> httpx.HTTPTransport:
        with self._lock:
            transport = self._transports.get(tls)
            if transport is None:
                # By default exactly the context httpx.Client() builds (verify=True, trust_env=True).
                context = verified_context(self.native_tls) if tls else _trusts_nothing()
                transport = self._transports[tls] = _Pooled(_pool(context, self.proxy, self.native_tls))
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if sockets.aborted():
            raise sockets.abort_error()
        shown = safe.exact(strip_credentials(str(request.url)), 300)
        budget = requested_deadline(request, request_budget(self.deadline, moved_size(request)))
        deadline = sockets.Deadline.after(budget, shown)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING  # the encodings bodies.py decodes in bounded pieces
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
        transport = self._transport(request.url.scheme == "https")
        try:
            with sockets.within(deadline):
                response = transport.handle_request(request)
        except httpx.ConnectError as exc:
            failure = unreachable.permanent(exc, request.url)  # a name that does not resolve, TLS refused
            if failure is None:
                raise
            failure.request = request
            raise failure from None
        assert isinstance(response.stream, httpx.SyncByteStream)
        state = BodyState(requested_limit(request))
        body = BoundedBody(
            _WithinDeadline(response.stream, deadline), response.headers.get("content-encoding", ""), state
        )
        headers = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding" or not body.decodes
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=body,
            extensions={**response.extensions, BODY_STATE: state},
        )

    def close(self) -> None:
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            transport.close()


def _is_ip(host: str, version: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        version(host.split("/")[0])
    except ValueError:
        return False
    return True


def environment_proxies(proxies: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """httpx's reading of the proxy variables (`httpx._utils.get_environment_proxies`, same rules): mount pattern ->
    proxy URL, or None for a NO_PROXY host that goes direct; empty when NO_PROXY is `*`."""
    found = getproxies() if proxies is None else proxies
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            url = found[scheme]
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, ipaddress.IPv4Address):
            mounts[f"all://{host}"] = None
        elif _is_ip(host, ipaddress.IPv6Address):
            mounts[f"all://[{host}]"] = None
        elif host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def proxy_mounts(
    deadline: float, proxies: Mapping[str, str] | None = None, *, native_tls: bool = False
) -> dict[str, httpx.BaseTransport | None]:
    """`httpx.Client(mounts=...)` for the proxy variables: each proxy a GuardedTransport through it, each NO_PROXY
    host None (the client's own transport, direct)."""
    mounts: dict[str, httpx.BaseTransport | None] = {}
    for pattern, url in environment_proxies(proxies).items():
        mounts[pattern] = None if url is None else GuardedTransport(deadline, _proxy(url), native_tls=native_tls)
    return mounts


def _proxy(url: str) -> httpx.Proxy:
    """A proxy from the environment, or ConfigError saying what is wrong with it (httpx would raise ValueError)."""
    shown = safe.exact(strip_credentials(url), 200)
    scheme = url.partition("://")[0].lower()
    if scheme not in PROXY_SCHEMES:
        raise ConfigError(
            f"The proxy {shown} (from HTTP_PROXY / HTTPS_PROXY / ALL_PROXY) is not an http, https or socks5 URL.",
            hint="Fix the proxy variable, or unset it.",
        )
    if scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        raise ConfigError(
            f"The proxy {shown} is a SOCKS proxy, which needs the `socksio` package.",
            hint="Install httpx[socks] next to this tool, or use an http:// proxy.",
        )
    try:
        return httpx.Proxy(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(f"The proxy {shown} is not a valid URL: {safe.inline(exc, 200)}", hint="Fix it.") from None


def client_routing(deadline: float, *, native_tls: bool) -> dict[str, Any]:
    """`transport` and `mounts` for an httpx.Client: every request guarded, proxies as httpx would route them; with
    `native_tls`, https verified against the operating system's trust store. The one way to build a client's
    routing: `native_tls` has no default, so no new client can forget the user's choice."""
    return {
        "transport": GuardedTransport(deadline, native_tls=native_tls),
        "mounts": proxy_mounts(deadline, native_tls=native_tls),
    }


__all__ = ["Aborted", "GuardedTransport", "abort_all", "client_routing", "proxy_mounts"]
