"""The client's transport (publisher/net/transport.py): TLS is still verified, just set up later; bodies are unchanged.

An https server on loopback with a self-signed certificate: refused by default, accepted when SSL_CERT_FILE names
the certificate (as with httpx's own transport). Plain http loads no CA bundle. With a proxy in the environment,
httpx's own transport is used so the proxy is honoured.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from publisher.auth.model import NO_CREDENTIALS
from publisher.index.client import make_client
from publisher.net.transport import WRITE_SIZE, CoalescedStream, GuardedTransport
from publisher.report.console import TerminalConsole
from tests.support.tls import self_signed, server_context

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append((self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    bodies: list[tuple[str, bytes]]


def _serve(server: _Server) -> Iterator[_Server]:
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def http_server() -> Iterator[_Server]:
    yield from _serve(_Server(("127.0.0.1", 0), _Handler))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM)."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = server_context(certificate).wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def _url(server: _Server, scheme: str) -> str:
    host, port = server.server_address[:2]
    return f"{scheme}://{host!s}:{port}/"


def _client() -> httpx.Client:
    return make_client(NO_CREDENTIALS, TerminalConsole())


@pytest.mark.usefixtures("no_proxy")
def test_https_is_verified_a_self_signed_certificate_is_refused(https_server: _Server) -> None:
    with _client() as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(_url(https_server, "https"))


@pytest.mark.usefixtures("no_proxy")
def test_ssl_cert_file_is_honoured_as_by_httpx(
    https_server: _Server, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with _client() as client:
        assert client.post(_url(https_server, "https"), files={"content": ("a.whl", b"x" * 10)}).text == "ok"


@pytest.mark.usefixtures("no_proxy")
def test_plain_http_loads_no_ca_bundle(http_server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a CA bundle was loaded for a plain http request")

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", refuse)
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", refuse)
    with _client() as client:
        assert client.get(_url(http_server, "http")).text == "ok"


@pytest.mark.usefixtures("no_proxy")
def test_the_http_transport_would_refuse_any_certificate() -> None:
    """Its context is never used (no TLS on http://); if it were, verification is on with nothing trusted."""
    transport = GuardedTransport()
    plain = transport._transport(tls=False)
    context = plain._pool._ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    transport.close()


@pytest.mark.usefixtures("no_proxy")
def test_multipart_body_arrives_unchanged(http_server: _Server) -> None:
    fields = {"name": "demo", "classifiers": ["A", "B"], "sha256_digest": "0" * 64}
    payload = bytes(range(256)) * 1000  # 256 kB: several of httpx's 64 KiB file chunks
    files = {"content": ("demo-1.0-py3-none-any.whl", payload, "application/octet-stream")}
    with _client() as client:
        assert client.post(_url(http_server, "http"), data=fields, files=files).text == "ok"
    ((content_type, body),) = http_server.bodies
    reference = httpx.Request("POST", _url(http_server, "http"), data=fields, files=files)
    expected = b"".join(reference.stream)  # type: ignore[arg-type]
    ours, theirs = (t.split("boundary=")[1].encode() for t in (content_type, reference.headers["Content-Type"]))
    assert body == expected.replace(theirs, ours)  # the same bytes, only the random boundary differs


def test_coalesced_stream_regroups_small_writes_and_passes_big_ones() -> None:
    chunks = [b"a" * 10] * 100 + [b"b" * WRITE_SIZE] * 3 + [b"c" * 5]
    out = list(CoalescedStream(chunks))
    assert b"".join(out) == b"".join(chunks)
    assert all(len(chunk) >= WRITE_SIZE for chunk in out[:-1])
    assert len(out) == 4  # the small parts ride with the first big chunk; the rest go as they are


def test_a_configured_proxy_gets_a_guarded_transport_and_no_proxy_hosts_go_direct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx ignores the proxy variables when given a transport: the proxies are mounted as httpx would mount them."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")  # a bypass list alone routes nothing through a proxy
    with _client() as client:
        assert isinstance(client._transport, GuardedTransport)
        assert all(transport is None for transport in client._mounts.values())
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    with _client() as client:
        assert isinstance(client._transport, GuardedTransport)
        proxied = [t for t in client._mounts.values() if t is not None]
        assert len(proxied) == 1
        assert isinstance(proxied[0], GuardedTransport)
        assert proxied[0].proxy is not None
        assert str(proxied[0].proxy.url) == "http://proxy.invalid:3128"
