"""The transport's bounds, in process: the total deadline per request (also through a proxy, also while connecting),
the upload allowance, abort_all, answers capped after decoding, and the proxy variables read as httpx reads them.

Servers are tests/fakes/hostile.py on 127.0.0.1, plus a listener whose backlog is full (a connect that hangs, as to
a host that drops packets). Deadlines are a second or less; every test is bounded in time (and memory where the
server sends much).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from httpx._utils import get_environment_proxies

from publisher.auth.model import NO_CREDENTIALS
from publisher.index.client import make_client
from publisher.net import sockets
from publisher.net.bodies import body_limit, incomplete, was_cut
from publisher.net.bounds import (
    DEADLINE_ENV,
    DEFAULT_DEADLINE,
    Aborted,
    ConnectDeadlineExceeded,
    DeadlineExceeded,
    deadline_from,
    request_budget,
)
from publisher.net.retry import RetryPolicy, call_with_retries, error_is_retryable, may_have_arrived
from publisher.net.transport import GuardedTransport, abort_all, environment_proxies
from publisher.report.console import TerminalConsole
from publisher.report.errors import ConfigError
from tests.fakes import ServerThread
from tests.fakes.hostile import MIB, Answer, HostileServer
from tests.support.budget import within
from tests.support.tls import client_context, self_signed, server_context

pytestmark = [pytest.mark.timeout(30), pytest.mark.serial]  # wall-time and memory bounds

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_and_no_abort(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield
    sockets.reset_abort()  # abort_all is process-wide: the next test starts with a working transport


def client(deadline: float = 1.0) -> httpx.Client:
    return make_client(NO_CREDENTIALS, TerminalConsole(), {DEADLINE_ENV: str(deadline)})


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port whose listener never accepts and whose backlog is full: a connect to it hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))  # fills the backlog
    yield port
    queued.close()
    listener.close()


# -- the deadline ---------------------------------------------------------------------------------------------------


def test_the_deadline_covers_waiting_for_the_answer() -> None:
    pattern = r"deadline of 0\.5 s passed before http://127\.0\.0\.1:\d+/ answered in full; raise PUBLISHER_REQUEST"
    with (
        HostileServer({"/": Answer.silence(10)}) as server,
        client(0.5) as http,
        within(seconds=2, mib=16),
        pytest.raises(DeadlineExceeded, match=pattern),
    ):
        http.get(f"{server.url}/")


def test_the_deadline_covers_connecting(hanging_port: int) -> None:
    with client(0.5) as http, within(seconds=2, mib=16), pytest.raises(ConnectDeadlineExceeded) as caught:
        http.get(f"http://127.0.0.1:{hanging_port}/")
    assert "(while connecting)" in str(caught.value)
    assert not may_have_arrived(caught.value)  # nothing was sent: a retry cannot duplicate an upload


def test_a_deadline_passed_later_may_have_stored_the_upload_and_is_retried() -> None:
    error = DeadlineExceeded("x")
    assert may_have_arrived(error)
    assert error_is_retryable(error)


def test_uploads_get_one_more_second_per_mib_they_send() -> None:
    """0.5 s + 1 MiB sent = 1.5 s: an answer after 1 s arrives; the same wait without a body is cut."""
    with HostileServer({"/": Answer.silence(1.0)}) as server, client(0.5) as http, within(seconds=5, mib=32):
        assert http.post(f"{server.url}/", content=b"x" * MIB).text == "late"
        with pytest.raises(DeadlineExceeded, match=r"deadline of 0\.5 s"):
            http.post(f"{server.url}/", content=b"x")


def test_downloads_get_one_more_second_per_mib_they_expect() -> None:
    """A download of a 1 MiB file (to compare hashes) gets 0.5 s + 1 s; a mere cap on the answer gets nothing."""
    with HostileServer({"/": Answer.silence(1.0)}) as server, client(0.5) as http, within(seconds=5, mib=16):
        assert http.get(f"{server.url}/", extensions=body_limit(MIB, expected=True)).text == "late"
        with pytest.raises(DeadlineExceeded, match=r"deadline of 0\.5 s"):
            http.get(f"{server.url}/", extensions=body_limit(MIB))


def test_the_deadline_holds_through_a_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer({"/": Answer.drip_body(every=0.2)}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with client(0.5) as http, within(seconds=2, mib=16), pytest.raises(DeadlineExceeded):
            http.get("http://registry.invalid/")  # resolved by the proxy, never by us
        assert proxy.requests[0].path == "/"
        assert proxy.requests[0].headers["host"] == "registry.invalid"


def test_no_proxy_hosts_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer({"/": Answer.text(200, "direct")}) as server:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: nothing listens
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with client() as http:
            assert http.get(f"{server.url}/").text == "direct"


@pytest.mark.parametrize(
    "proxies",
    [
        {"http": "proxy:3128"},
        {"https": "http://p:1", "no": "localhost,127.0.0.1,::1,.example.com,example.org,http://skip.test"},
        {"all": "socks5://p:1080", "no": "*"},
        {"http": "http://p:1", "https": "https://user:pw@p:2", "no": " , internal "},
    ],
)
def test_proxy_variables_are_read_as_httpx_reads_them(proxies: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("httpx._utils.getproxies", lambda: proxies)
    assert environment_proxies(proxies) == get_environment_proxies()


@pytest.mark.parametrize("proxy", ["ftp://proxy:21", "http://proxy:port"])
def test_a_bad_proxy_variable_is_a_configuration_error(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(ConfigError, match="The proxy"):
        client()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", DEFAULT_DEADLINE), ("12.5", 12.5), ("0", DEFAULT_DEADLINE), ("inf", DEFAULT_DEADLINE)]
)
def test_the_deadline_variable(raw: str, seconds: float) -> None:
    assert deadline_from({DEADLINE_ENV: raw}) == seconds
    assert request_budget(seconds, 500 * MIB) == seconds + 500


# -- abort_all -------------------------------------------------------------------------------------------------------


def _in_thread(call: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_abort_all_ends_a_stalled_upload_at_once_and_refuses_later_requests() -> None:
    with HostileServer({"/legacy/": Answer.silence(30)}) as server, client(60) as http:
        thread, errors = _in_thread(
            lambda: http.post(f"{server.url}/legacy/", files={"content": ("x.whl", b"x" * 300_000)})
        )
        while not server.requests:
            time.sleep(0.01)
        started = time.monotonic()
        assert abort_all() >= 1
        thread.join(5)
        assert time.monotonic() - started < 1
        assert [type(e) for e in errors] == [Aborted]


def test_after_abort_all_nothing_is_sent_nor_retried() -> None:
    with HostileServer() as server, client() as http:
        abort_all()
        attempts = []

        def send() -> httpx.Response:
            attempts.append(1)
            return http.get(f"{server.url}/")

        with within(seconds=0.5, mib=8), pytest.raises(Aborted):
            call_with_retries(send, RetryPolicy(3, 0.01), TerminalConsole(), "x")
        assert attempts == [1]
        assert server.requests == []


def test_abort_all_interrupts_a_hanging_connect(hanging_port: int) -> None:
    with client(60) as http:
        thread, errors = _in_thread(lambda: http.get(f"http://127.0.0.1:{hanging_port}/"))
        time.sleep(0.2)
        started = time.monotonic()
        abort_all()
        thread.join(5)
    assert time.monotonic() - started < 1
    assert [type(e) for e in errors] == [Aborted]


def test_every_socket_leaves_the_abort_registry_when_closed(hanging_port: int) -> None:
    """Answered, cut, timed out, refused, still connecting: no socket is left behind in abort_all's registry."""
    before = sockets.live_connections()
    routes = {"/": Answer.text(200, "ok"), "/big": Answer.huge(MIB), "/slow": Answer.silence(5)}
    with HostileServer(routes) as server, client(0.3) as http:
        http.get(f"{server.url}/")
        http.get(f"{server.url}/big")
        for url in (f"{server.url}/slow", "http://127.0.0.1:9/", f"http://127.0.0.1:{hanging_port}/"):
            with pytest.raises(httpx.TransportError):
                http.get(url)
    assert sockets.live_connections() == before


# -- answers capped after decoding ------------------------------------------------------------------------------------


def test_a_gzip_bomb_is_capped_after_decoding_in_bounded_memory() -> None:
    with HostileServer({"/": Answer.gzip_bomb(300 * MIB)}) as server, client() as http, within(seconds=3, mib=16):
        response = http.get(f"{server.url}/")
    assert response.content == bytes(64 * 1024)
    assert was_cut(response)
    assert "content-encoding" not in response.headers  # decoded here; httpx must not decode again


def test_a_larger_limit_can_be_asked_for() -> None:
    with HostileServer({"/": Answer.huge(3 * MIB)}) as server, client() as http:
        whole = http.get(f"{server.url}/", extensions=body_limit(4 * MIB))
        cut = http.get(f"{server.url}/", extensions=body_limit(MIB))
    assert (len(whole.content), was_cut(whole), incomplete(whole)) == (3 * MIB, False, None)
    assert (len(cut.content), was_cut(cut), incomplete(cut)) == (MIB, True, "larger than 1 MiB")


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_is_decoded_wrapped_or_raw(wbits: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    body = compressor.compress(b"hello " * 1000) + compressor.flush()
    answer = Answer(200, {"Content-Type": "text/plain", "Content-Encoding": "deflate"}, body)
    with HostileServer({"/": answer}) as server, client() as http:
        response = http.get(f"{server.url}/")
    assert (response.text, incomplete(response)) == ("hello " * 1000, None)


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        ("br", "a Content-Encoding we did not ask for"),
        ("gzip, gzip", "a Content-Encoding we did not ask for"),
        ("gzip", "not valid gzip"),
        ("deflate", "not valid deflate"),
    ],
)
def test_a_body_that_cannot_be_decoded_is_empty_and_says_why(encoding: str, problem: str) -> None:
    answer = Answer(200, {"Content-Type": "text/plain", "Content-Encoding": encoding}, b"\x00garbage")
    with HostileServer({"/": answer}) as server, client() as http:
        response = http.get(f"{server.url}/")
    assert response.content == b""
    assert problem in (incomplete(response) or "")


def test_the_transport_asks_only_for_what_it_decodes() -> None:
    with HostileServer({"/": Answer.text(200, "ok")}) as server, client() as http:
        http.get(f"{server.url}/")
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


# -- https through an https:// proxy: TLS inside TLS, bounded all the same ------------------------------------------


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(3)
        self.send_response(200)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"tunnelled")


class TlsConnectProxy(ServerThread):
    """An https:// proxy: TLS to the client, then CONNECT tunnels bytes to the target, both ways."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.tunnels: list[str] = []

    def start(self) -> Self:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with proxy.context.wrap_socket(self.request, server_side=True) as client:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += client.recv(4096)
                    target = head.split(b" ")[1].decode()
                    proxy.tunnels.append(target)
                    host, port = target.rsplit(":", 1)
                    with socket.create_connection((host, int(port))) as upstream:
                        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
                        _pipe(client, upstream)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return self._serve_in_background(server)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_https_through_an_https_proxy_is_tls_in_tls_within_the_deadline(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # the registry's certificate, trusted as httpx would
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    target.daemon_threads = True
    target.socket = server_context(certificate).wrap_socket(target.socket, server_side=True)
    threading.Thread(target=target.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    url = f"https://127.0.0.1:{target.server_address[1]}"
    try:
        with TlsConnectProxy(server_context(certificate)) as proxy:
            via = httpx.Proxy(proxy.url.replace("http://", "https://"), ssl_context=client_context(certificate))
            with httpx.Client(transport=GuardedTransport(0.5, via)) as http, within(seconds=3, mib=16):
                assert http.get(f"{url}/").text == "tunnelled"
                with pytest.raises(DeadlineExceeded):
                    http.get(f"{url}/slow")
            assert set(proxy.tunnels) == {url.removeprefix("https://")}  # one tunnel, kept alive for both
    finally:
        target.shutdown()
        target.server_close()


def test_an_odd_content_encoding_is_quoted_redacted_then_cut() -> None:
    """The header is the server's own text: a secret in it is redacted before the cut, controls are escaped."""
    from publisher.net.bodies import BodyState, BoundedBody
    from publisher.report import safe

    secret = "tok-" + "s" * 40
    safe.register_secret(secret)
    try:
        state = BodyState(1024)
        assert list(BoundedBody([b"x"], "br" + "," * 80 + secret + "\x1b[2J", state)) == []
    finally:
        safe.forget_secrets()
    assert state.problem is not None
    assert "tok-sss" not in state.problem
    assert "\x1b" not in state.problem
