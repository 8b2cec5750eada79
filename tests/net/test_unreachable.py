"""Connection failures no retry can fix (issue 17): a host name that does not resolve, a certificate the trust store
rejects, an https:// URL on a port that speaks plain HTTP. Each fails at its first attempt -- uploads, check URL reads,
dry runs and token exchanges alike -- with a message that names the host and the fix, never as an internal error.

No real name is ever looked up: name resolution goes through the backend's injectable resolver
(`transport.BACKEND.resolve`), which here refuses every name (and counts the lookups). TLS runs against servers on
127.0.0.1 with certificates made for the test (tests/support/tls.py).
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.__main__ import main
from publisher.action import raw_inputs
from publisher.auth.exchange import Exchange, Purpose, open_client
from publisher.config.settings import build_settings
from publisher.net import transport
from publisher.net.retry import RetryPolicy
from publisher.net.unreachable import HostNotFound, TLSFailed
from publisher.report.console import TerminalConsole
from tests.support.builders import Dists
from tests.support.runner import run_cli
from tests.support.tls import self_signed, server_context

LOGIN = ("-u", "someone", "-p", "Secret-Pass-42")  # a password long enough not to be masked inside words
HOST = "registry.example.test"  # never resolved: the resolver below refuses it before any query


class _Refusing:
    """A resolver that answers every name as unknown, as getaddrinfo does for a name no DNS server knows."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, *args: object) -> list[tuple[object, ...]]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> _Refusing:
    resolver = _Refusing()
    monkeypatch.setattr(transport.BACKEND, "resolve", resolver)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBLISHER_RETRY_BASE_DELAY", "0.01")
    return resolver


class _Counting(socket.socket):
    pass


class _Listener:
    """A TCP server on 127.0.0.1 that counts connections: with `certificate` it does TLS with it (the handshake
    fails on the client's side when the client does not trust it); without, it answers HTTP/1.1 400 to anything,
    as a plain http server does to a TLS ClientHello."""

    def __init__(self, certificate: tuple[Path, Path] | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._context = server_context(certificate) if certificate is not None else None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                try:
                    if self._context is not None:
                        with self._context.wrap_socket(conn, server_side=True) as tls:
                            tls.recv(4096)
                            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    else:
                        conn.recv(4096)
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except (OSError, ssl.SSLError):
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def untrusted(certificate: tuple[Path, Path]) -> Iterator[_Listener]:
    listener = _Listener(certificate)
    yield listener
    listener.close()


@pytest.fixture
def plain(certificate: tuple[Path, Path]) -> Iterator[_Listener]:
    listener = _Listener()
    yield listener
    listener.close()


# -- a host name that does not resolve -------------------------------------------------------------------------------


def test_an_upload_to_a_name_that_does_not_resolve_is_tried_once(
    refusing: _Refusing, built_dists: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--publish-url", f"https://{HOST}/legacy/", *LOGIN, str(built_dists.wheel)])
    output = "".join(capsys.readouterr())
    assert code == 1, output
    assert refusing.asked == [HOST]  # one attempt: no retry
    assert f"the host name {HOST} could not be resolved" in output
    assert "Retrying" not in output
    assert "Internal error" not in output


def test_a_dry_run_whose_check_url_does_not_resolve_says_so(
    refusing: _Refusing, built_dists: Dists, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--publish-url", f"https://{HOST}/legacy/", "--check-url", f"https://{HOST}/simple/", "--dry-run"]
    code = main([*argv, "--skip-existing", *LOGIN, str(built_dists.wheel)])
    output = "".join(capsys.readouterr())
    assert code == 1, output  # with skip-existing the real run would stop at this very error
    assert refusing.asked == [HOST]
    assert f"the host name {HOST} could not be resolved" in output
    assert "Internal error" not in output


def test_a_token_exchange_with_a_name_that_does_not_resolve_is_tried_once(refusing: _Refusing) -> None:
    purpose = Purpose("Trusted publishing", "trusted publishing", "", "", "")
    console = TerminalConsole()
    with open_client({}) as client:
        exchange = Exchange(client, console, RetryPolicy(retries=3, base_delay=0.01), purpose, "hint")
        with pytest.raises(Exception, match=f"after 1 attempt.*the host name {HOST} could not be resolved"):
            exchange.send("GET", f"https://{HOST}/_/oidc/audience", what="x", side="index", shown_url=HOST)
    assert refusing.asked == [HOST]


# -- TLS that cannot work ----------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}


@pytest.mark.parametrize("server", ["untrusted", "plain"])
def test_an_upload_over_tls_that_cannot_work_is_tried_once(
    server: str, request: pytest.FixtureRequest, built_dists: Dists, tmp_path: Path
) -> None:
    listener: _Listener = request.getfixturevalue(server)
    url = f"https://127.0.0.1:{listener.port}/legacy/"
    run = run_cli(["--publish-url", url, *LOGIN, str(built_dists.wheel)], tmp_path, _env())
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert listener.connections == 1  # one attempt: no retry
    assert f"TLS with 127.0.0.1:{listener.port} failed" in output
    assert "SSL_CERT_FILE" in output
    assert "native-tls" in output
    assert "deadline" not in output  # it used to read as a deadline problem
    assert "Retrying" not in output
    assert "Internal error" not in output


def test_a_dry_run_against_a_check_url_with_an_untrusted_certificate_is_no_internal_error(
    untrusted: _Listener, built_dists: Dists, tmp_path: Path
) -> None:
    """The reported case: a dry run behind a proxy with its own certificate ended in `Internal error: ConnectError:
    [SSL: CERTIFICATE_VERIFY_FAILED]`."""
    base = f"https://127.0.0.1:{untrusted.port}"
    argv = ["--publish-url", f"{base}/legacy/", "--check-url", f"{base}/simple/", "--dry-run", "--skip-existing"]
    run = run_cli([*argv, *LOGIN, str(built_dists.wheel)], tmp_path, _env())
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert untrusted.connections == 1
    assert "its certificate is not trusted here" in output
    assert "SSL_CERT_FILE" in output
    assert "Internal error" not in output


# -- native-tls --------------------------------------------------------------------------------------------------------


def test_native_tls_verifies_with_truststore_and_still_refuses_an_untrusted_certificate(
    untrusted: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    truststore = pytest.importorskip("truststore")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    guarded = transport.GuardedTransport(10.0, native_tls=True)
    context = guarded._transport(tls=True)._pool._ssl_context
    assert isinstance(context, truststore.SSLContext)
    with httpx.Client(transport=guarded) as client, pytest.raises(TLSFailed, match="not trusted"):
        client.get(f"https://127.0.0.1:{untrusted.port}/")
    assert untrusted.connections == 1


def test_without_native_tls_the_context_is_httpxs(monkeypatch: pytest.MonkeyPatch) -> None:
    guarded = transport.GuardedTransport(10.0)
    context = guarded._transport(tls=True)._pool._ssl_context
    assert type(context) is ssl.SSLContext


@pytest.mark.skipif(sys.platform != "linux", reason="truststore reads SSL_CERT_FILE through OpenSSL on Linux only")
def test_native_tls_trusts_what_the_system_store_holds(
    untrusted: _Listener, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Linux the system store is OpenSSL's default paths, which SSL_CERT_FILE replaces: a CA put there is
    trusted with native-tls (the store is consulted, not bypassed)."""
    pytest.importorskip("truststore")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with httpx.Client(transport=transport.GuardedTransport(10.0, native_tls=True)) as client:
        assert client.get(f"https://127.0.0.1:{untrusted.port}/").text == "ok"


@pytest.mark.parametrize(("argv", "native"), [(["--native-tls"], True), ([], False)])
def test_native_tls_reaches_the_transport_from_the_flag(
    argv: list[str],
    native: bool,
    refusing: _Refusing,
    built_dists: Dists,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asked: list[bool] = []
    real = transport.verified_context

    def spy(native_tls: bool = False) -> ssl.SSLContext:
        asked.append(native_tls)
        return real(native_tls)

    monkeypatch.setattr(transport, "verified_context", spy)
    code = main([*argv, "--publish-url", f"https://{HOST}/legacy/", *LOGIN, str(built_dists.wheel)])
    assert code == 1
    assert asked == [native], capsys.readouterr()


@pytest.mark.parametrize(("value", "native"), [("true", True), ("false", False), ("", False)])
def test_native_tls_is_an_action_input(value: str, native: bool) -> None:
    assert build_settings(raw_inputs({"INPUT_NATIVE-TLS": value})).native_tls is native


def test_unreachable_errors_are_connect_errors_never_retried() -> None:
    from publisher.net.retry import error_is_retryable, may_have_arrived
    from publisher.net.unreachable import host_not_found

    error = host_not_found(HOST, "Name or service not known")
    assert isinstance(error, HostNotFound | httpx.ConnectError)
    assert not error_is_retryable(error)
    assert not may_have_arrived(error)
