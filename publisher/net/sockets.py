"""The network layer under the HTTP client (an httpcore network backend): deadlines and cancellation at the socket.

httpx and httpcore only know per-operation timeouts: a server that sends one byte every few seconds, in its headers
or its body, resets the read timeout each time and is never timed out. Here every socket operation -- connect, TLS
handshake, send, receive -- waits at most until the current request's :class:`Deadline` (held per thread, set by
the transport around each request and each read of its body), and raises
:class:`~publisher.net.bounds.DeadlineExceeded` once it has passed. Each send is one such wait (the time left is taken
again before the next), so a server that reads slowly cannot stretch a write either. Name resolution (getaddrinfo)
is the one step the resolver bounds, not us.

Failures no retry can fix are marked here, where the host is known (unreachable.py): a name that does not resolve
(:class:`~publisher.net.unreachable.NameNotResolved`) and a TLS handshake that was refused
(:class:`~publisher.net.unreachable.TLSRefused`). `GuardedBackend.resolve` is getaddrinfo, replaceable (tests resolve
no real name).

Every socket is registered while it is open, from before its connect until its close, so :func:`abort_all` can
shut them all down from any thread (or a signal handler): a thread blocked in connect, send or receive wakes up at
once and its request fails with :class:`~publisher.net.bounds.Aborted`, as does every request started afterwards.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from publisher.net.bounds import DEADLINE_ENV, Aborted, ConnectDeadlineExceeded, DeadlineExceeded
from publisher.net.httpcore_lean import httpcore
from publisher.net.unreachable import NameNotResolved, TLSRefused, transient_tls

T = TypeVar("T")

_state = threading.local()
_live: set[socket.socket] = set()
_live_lock = threading.RLock()  # re-entrant: abort_all may run in a signal handler while its thread holds the lock
_aborted = threading.Event()


@dataclass(frozen=True)
class Deadline:
    """When the current request must be done (time.monotonic), with what messages need: its budget and URL."""

    at: float
    seconds: float
    url: str

    @classmethod
    def after(cls, seconds: float, url: str) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, url)

    def left(self) -> float:
        return self.at - time.monotonic()

    def exceeded(self, *, connecting: bool = False) -> DeadlineExceeded:
        kind = ConnectDeadlineExceeded if connecting else DeadlineExceeded
        budget = f"{self.seconds:.1f}".removesuffix(".0")
        return kind(
            f"the per-request deadline of {budget} s passed before {self.url} answered in full"
            f"{' (while connecting)' if connecting else ''}; raise {DEADLINE_ENV} (seconds) for a slow registry or link"
        )


@contextmanager
def within(deadline: Deadline | None) -> Iterator[None]:
    """Socket operations of this thread are bounded by `deadline` inside the block (nested blocks restore)."""
    previous = getattr(_state, "deadline", None)
    _state.deadline = deadline
    try:
        yield
    finally:
        _state.deadline = previous


def aborted() -> bool:
    return _aborted.is_set()


def abort_error() -> Aborted:
    return Aborted("cancelled: the run is stopping (abort_all), so this request was cut or never sent")


def abort_all() -> int:
    """Fail every request in flight now (their sockets are shut down) and every one started later; returns how many
    connections were cut. Safe from any thread and from a signal handler."""
    _aborted.set()
    with _live_lock:
        sockets = list(_live)
    cut = 0
    for sock in sockets:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also for TLS: wakes any waiter
            cut += 1
        except OSError:
            pass  # already closed or never connected
    return cut


def reset_abort() -> None:
    """Accept requests again after :func:`abort_all` (for tests, which run many pipelines in one process)."""
    _aborted.clear()


def live_connections() -> int:
    with _live_lock:
        return len(_live)


def _register(sock: socket.socket) -> None:
    with _live_lock:
        _live.add(sock)


def _unregister(sock: socket.socket) -> None:
    with _live_lock:
        _live.discard(sock)


def _limit(timeout: float | None, connecting: bool) -> tuple[float | None, Deadline | None]:
    """The timeout for one socket operation: httpx's, shortened to the time left; and the deadline if it decided."""
    if _aborted.is_set():
        raise abort_error()
    deadline: Deadline | None = getattr(_state, "deadline", None)
    if deadline is None:
        return timeout, None
    left = deadline.left()
    if left <= 0:
        raise deadline.exceeded(connecting=connecting)
    if timeout is None or left < timeout:
        return left, deadline
    return timeout, None


def _guarded(
    sock: socket.socket,
    timeout: float | None,
    operation: Callable[[], T],
    errors: tuple[type[Exception], type[Exception]],
    *,
    connecting: bool = False,
) -> T:
    """Run one blocking operation on `sock` within the deadline; socket errors become httpcore's (or ours)."""
    on_timeout, on_error = errors
    limit, deadline = _limit(timeout, connecting)
    try:
        sock.settimeout(limit)
        return operation()
    except TimeoutError as exc:
        if _aborted.is_set():
            raise abort_error() from None
        if deadline is not None:
            raise deadline.exceeded(connecting=connecting) from None
        raise on_timeout(str(exc) or "timed out") from exc
    except OSError as exc:
        if _aborted.is_set():
            raise abort_error() from None
        raise on_error(str(exc) or type(exc).__name__) from exc


def _readable(sock: socket.socket) -> bool:
    """httpcore's test for a kept-alive connection: readable means closed by the server (or data nobody expects)."""
    if sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([sock], [], [], 0)[0])
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class SocketStream(httpcore.NetworkStream):
    """A connected socket (plain or TLS) whose every wait ends at the request's deadline or at abort_all()."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        _register(sock)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        errors = (httpcore.ReadTimeout, httpcore.ReadError)
        data = _guarded(self._sock, timeout, lambda: self._sock.recv(max_bytes), errors)
        if not data and _aborted.is_set():  # a shut-down socket reads as the end of the stream
            raise abort_error()
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        errors = (httpcore.WriteTimeout, httpcore.WriteError)
        view = memoryview(buffer)
        while view:  # each send waits at most until the deadline, however slowly the server reads
            view = view[_guarded(self._sock, timeout, partial(self._sock.send, view), errors) :]

    def close(self) -> None:
        _unregister(self._sock)
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        if isinstance(self._sock, ssl.SSLSocket):  # CONNECT through an https:// proxy: TLS inside its TLS
            return TLSInTLSStream(self, ssl_context, server_hostname, timeout)
        errors = (httpcore.ConnectTimeout, httpcore.ConnectError)
        try:
            tls = _guarded(
                self._sock,
                timeout,
                lambda: ssl_context.wrap_socket(self._sock, server_hostname=server_hostname),
                errors,
                connecting=True,
            )
        except httpcore.ConnectError as exc:
            self.close()
            raise _refused(exc, server_hostname) from exc.__cause__
        except BaseException:
            self.close()
            raise
        _unregister(self._sock)  # wrap_socket detached it: the TLS socket owns the connection now
        return SocketStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object" and isinstance(self._sock, ssl.SSLSocket):
            return self._sock  # has selected_alpn_protocol(), all httpcore asks of it
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":
            return _readable(self._sock)
        return None


def _refused(exc: httpcore.ConnectError, host: str | None) -> httpcore.ConnectError:
    """A failed handshake: TLSRefused when the other side answered and refused (a retry would meet the same), else
    the error as it was (a connection lost during the handshake stays retryable)."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError) and not transient_tls(cause):
        return TLSRefused(host or "the server", cause)
    return exc


class TLSInTLSStream(httpcore.NetworkStream):
    """TLS to the registry inside the TLS to an https:// proxy: an SSLObject over the proxy stream's own (bounded)
    reads and writes, as httpcore does it, so the deadline and abort_all hold here too."""

    RECORD = 16384

    def __init__(
        self, outer: SocketStream, ssl_context: ssl.SSLContext, server_hostname: str | None, timeout: float | None
    ) -> None:
        self._outer = outer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ssl_context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        try:
            self._pump(self._tls.do_handshake, timeout, httpcore.ConnectError)
        except httpcore.ConnectError as exc:
            self.close()
            raise _refused(exc, server_hostname) from exc.__cause__
        except BaseException:
            self.close()
            raise

    def _pump(self, operation: Callable[[], T], timeout: float | None, error: type[Exception]) -> T:
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush(timeout)
                data = self._outer.read(self.RECORD, timeout)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            except ssl.SSLError as exc:
                raise error(str(exc)) from exc
            self._flush(timeout)
            return result

    def _flush(self, timeout: float | None) -> None:
        pending = self._outgoing.read()
        if pending:
            self._outer.write(pending, timeout)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._pump(partial(self._tls.read, max_bytes), timeout, httpcore.ReadError)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            sent = self._pump(partial(self._tls.write, view), timeout, httpcore.WriteError)
            view = view[sent:]

    def close(self) -> None:
        self._outer.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("TLS inside TLS inside TLS is not supported")

    def get_extra_info(self, info: str) -> Any:
        return self._tls if info == "ssl_object" else self._outer.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's synchronous backend with :class:`SocketStream` connections: connect as `socket.create_connection`
    does, but with each socket registered before it connects (abort_all can interrupt a hanging connect) and every
    attempt bounded by the deadline."""

    def __init__(self, resolve: Callable[..., list[tuple[Any, ...]]] = socket.getaddrinfo) -> None:
        self.resolve = resolve  # getaddrinfo's signature; tests put a resolver here that looks up no real name

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        errors = (httpcore.ConnectTimeout, httpcore.ConnectError)
        _limit(timeout, connecting=True)  # refuse at once when aborted or out of time, before resolving the name
        try:
            addresses = self.resolve(host, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameNotResolved(host, exc.strerror or str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception = httpcore.ConnectError(f"no address found for {host}")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            _register(sock)
            try:
                if local_address is not None:
                    sock.bind((local_address, 0))
                _guarded(sock, timeout, partial(sock.connect, address), errors, connecting=True)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (httpcore.ConnectTimeout, httpcore.ConnectError, OSError) as exc:
                _unregister(sock)
                sock.close()
                failure = exc
                continue
            except BaseException:  # the deadline, an abort: no other address will do better
                _unregister(sock)
                sock.close()
                raise
            return SocketStream(sock)  # registered until the stream closes
        if isinstance(failure, OSError):
            raise httpcore.ConnectError(str(failure)) from failure
        raise failure
