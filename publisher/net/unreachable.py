"""Connection failures that no retry can fix, told apart once, for every request the tool makes.

A retry helps a registry that is briefly unwell; it cannot help a host name that does not resolve, a certificate the
trust store rejects, or an `https://` URL whose port speaks plain HTTP. Those fail the same way every time, so
retrying them only adds waits (and, for TLS, used to read like a deadline problem). The network backend (sockets.py)
marks them where they happen, knowing the host: :class:`NameNotResolved` (getaddrinfo failed) and :class:`TLSRefused`
(the handshake failed for a reason other than a lost connection). The transport turns a marked failure into
:class:`HostNotFound` or :class:`TLSFailed` (:func:`permanent`), both :class:`Unreachable`: an `httpx.ConnectError`
(nothing was sent) that retry.py never retries and whose message names the host and the fix. Uploads, check URL
reads, dry runs and token exchanges all go through that transport, so all of them stop at the first attempt.

A TLS failure is permanent when the handshake was answered and refused: the certificate failed verification, or
the other side did not speak TLS (an http:// server, `WRONG_VERSION_NUMBER`). A connection reset or closed during the
handshake (`SSLEOFError`, `SSLSyscallError`) is network trouble like any other and stays retryable.
"""

from __future__ import annotations

import ssl

import httpx

from publisher.net.httpcore_lean import httpcore

CA_FIX = (
    "If {host} (or a proxy that inspects TLS on the way) uses a certificate from a private CA, point SSL_CERT_FILE "
    "at a PEM bundle that holds that CA, or turn on native-tls (--native-tls) to trust the operating system's store."
)


class NameNotResolved(httpcore.ConnectError):
    """sockets.py: `host` did not resolve."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host, self.reason = host, reason


class TLSRefused(httpcore.ConnectError):
    """sockets.py: the TLS handshake with `host` failed for a reason a retry would meet again."""

    def __init__(self, host: str, error: ssl.SSLError) -> None:
        super().__init__(f"{host}: {error}")
        self.host, self.error = host, error


def transient_tls(error: ssl.SSLError) -> bool:
    """A handshake cut by the network (the connection closed or reset), not refused: worth another try."""
    return isinstance(error, ssl.SSLEOFError | ssl.SSLSyscallError | ssl.SSLZeroReturnError)


class Unreachable(httpx.ConnectError):
    """A connection that cannot succeed on a retry; the message says why and what to do (`hint` repeats the fix)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class HostNotFound(Unreachable):
    """The host name did not resolve."""


class TLSFailed(Unreachable):
    """TLS with the host could not be set up: an untrusted certificate, or no TLS on that port."""


def _where(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def host_not_found(host: str, reason: str) -> HostNotFound:
    hint = (
        "Check the host name in the URL (a typo, or a name only another network's DNS knows) and this runner's DNS; "
        "behind a proxy, set HTTPS_PROXY so the proxy resolves it."
    )
    return HostNotFound(f"the host name {host} could not be resolved ({reason}); not retried. {hint}", hint)


def tls_failed(host: str, port: int | None, error: ssl.SSLError) -> TLSFailed:
    fix = CA_FIX.format(host=host)
    where = _where(host, port)
    if isinstance(error, ssl.SSLCertVerificationError):
        code, detail = getattr(error, "reason", None), getattr(error, "verify_message", None)
        why = f"{code}: {detail}" if code and detail else (detail or code or str(error))  # the code is searchable
        message = f"TLS with {where} failed: its certificate is not trusted here ({why}); not retried. {fix}"
        return TLSFailed(message, fix)
    reason = getattr(error, "reason", None) or str(error)
    hint = f"If {where} speaks plain HTTP, use an http:// URL (or the port that serves https). {fix}"
    return TLSFailed(f"TLS with {where} failed ({reason}): the handshake was refused; not retried. {hint}", hint)


def permanent(exc: BaseException, url: httpx.URL) -> Unreachable | None:
    """The Unreachable error for a failure the backend marked as permanent, or None. `url` is the request's: its
    port is named when the failing host is the request's own (not a proxy's)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NameNotResolved):
            return host_not_found(cause.host, cause.reason)
        if isinstance(cause, TLSRefused):
            port = (url.port or 443) if cause.host == url.host else None
            return tls_failed(cause.host, port, cause.error)
        cause = cause.__cause__ or cause.__context__
    return None
