"""Sigstore's and TUF's HTTP through the guarded transport: the same byte caps, deadlines, proxies and abort_all.

sigstore-python talks to Fulcio, Rekor and timestamp authorities through `requests` sessions it creates itself, and
TUF (the public instance's trust root) through urllib3: neither has a total deadline or a byte cap, and requests
reads a whole answer into memory, however big. :func:`install` (run once, when publisher.attest.sign is imported, before
any sigstore object exists) closes that in one place:

- every `requests.Session`, whoever creates it, mounts :class:`GuardedAdapter` for http:// and https://
  (`requests.sessions.HTTPAdapter` is replaced): each request goes through one httpx client on
  transport.GuardedTransport, with its proxies, its deadline and `ANSWER_CAP` (64 KiB) per answer. A success
  answer larger than that is an error (:class:`AnswerTooLarge`), never parsed short; an error answer keeps its
  first 64 KiB for the message. The connection is dropped at the cap, never drained;
- TUF's `Updater` downloads with :class:`GuardedFetcher` (`tuf.ngclient.updater.Urllib3Fetcher` is replaced), each
  file capped at the length TUF allows it;
- a tripwire: urllib3's connection pools refuse to send anything, so a client that would go around the adapter (a
  new sigstore release, a session mounting its own adapter) fails loudly instead of reading without bounds.

:func:`bounded` gives one sigstore call (which may make several requests: TUF's refresh makes a handful) a total
budget: each request in the block may take at most the time left. Nothing runs in a worker thread, so nothing is
left reading after a call gave up, and a cancellation or `abort_all` stops the request in flight.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx
import requests
import requests.adapters
import requests.sessions
import requests.utils
import tuf.ngclient.updater
import urllib3.connectionpool
from requests.structures import CaseInsensitiveDict
from tuf.api import exceptions as tuf_errors
from tuf.ngclient.fetcher import FetcherInterface

from publisher.config.urls import strip_credentials
from publisher.net.bodies import body_limit, incomplete, was_cut, within
from publisher.net.bounds import ANSWER_CAP, DEADLINE_ENV, Aborted, deadline_from, size_text
from publisher.net.transport import client_routing
from publisher.report import safe

TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # per socket wait; the total deadline is the transport's

_lock = threading.Lock()
_client: httpx.Client | None = None
_native_tls = False
_budget = threading.local()


class AnswerTooLarge(requests.RequestException):
    """A success answer over its cap: not read further, never parsed as a shorter answer."""


class UnguardedRequest(RuntimeError):
    """Something tried to send HTTP through urllib3 directly, around the guarded transport."""


@dataclass(frozen=True)
class _Budget:
    at: float
    seconds: float

    def left(self) -> float:
        return self.at - time.monotonic()

    def message(self) -> str:  # the caller's message names the call
        return f"did not finish within {self.seconds:g} s ({DEADLINE_ENV})"


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Every request this thread makes inside the block ends by `seconds` from now, all together."""
    previous = getattr(_budget, "current", None)
    _budget.current = _Budget(time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _budget.current = previous


def use_native_tls(native_tls: bool) -> None:
    """The run's `native-tls` choice for Sigstore's and TUF's requests (set before the first one: load_trust)."""
    global _native_tls, _client
    with _lock:
        if _client is not None and native_tls != _native_tls:
            _client.close()
            _client = None
        _native_tls = native_tls


def _client_for_sigstore() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            routing = client_routing(deadline_from(os.environ), native_tls=_native_tls)
            _client = httpx.Client(timeout=TIMEOUT, follow_redirects=False, **routing)
        return _client


def _send(method: str, url: str, headers: dict[str, str], content: Any, limit: int) -> httpx.Response:
    """One request through the guarded client, within the current budget (if any); read up to `limit` bytes."""
    extensions: dict[str, object] = dict(body_limit(limit))
    budget: _Budget | None = getattr(_budget, "current", None)
    if budget is not None:
        if budget.left() <= 0:
            raise httpx.TimeoutException(budget.message())
        extensions.update(within(budget.left()))
    client = _client_for_sigstore()
    request = client.build_request(method, url, headers=headers, content=content, extensions=extensions)
    try:
        return client.send(request)
    except httpx.TimeoutException as exc:
        if budget is not None and budget.left() <= 0.05:
            raise httpx.TimeoutException(f"{budget.message()}: {exc}") from None
        raise


def _text_headers(request: requests.PreparedRequest) -> dict[str, str]:
    return {
        str(name): value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for name, value in request.headers.items()
    }


def _shown(url: str) -> str:
    return safe.exact(strip_credentials(url), 300)


class GuardedAdapter(requests.adapters.BaseAdapter):
    """requests' transport adapter, sending through the guarded httpx client (see the module's docstring)."""

    def __init__(self, *args: object, **kwargs: object) -> None:  # HTTPAdapter's pool settings mean nothing here
        super().__init__()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: bool | str = True,
        cert: object = None,
        proxies: object = None,
    ) -> requests.Response:
        """TLS as every other request of the tool (SSL_CERT_FILE / SSL_CERT_DIR), proxies from the environment as
        httpx routes them: requests' own `verify` bundle and `proxies` are not used, and verification cannot be
        turned off."""
        if verify is False:
            raise requests.exceptions.SSLError("TLS verification cannot be turned off here", request=request)
        url = str(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        try:
            answer = _send(str(request.method), url, _text_headers(request), body, ANSWER_CAP)
        except Aborted as exc:
            raise requests.ConnectionError(str(exc), request=request) from None
        except httpx.TimeoutException as exc:
            raise requests.Timeout(str(exc), request=request) from None
        except httpx.HTTPError as exc:
            raise requests.ConnectionError(f"{_shown(url)}: {exc}", request=request) from None
        problem = incomplete(answer)
        if problem is not None and answer.status_code < 400:
            raise AnswerTooLarge(f"the answer from {_shown(url)} is {problem}: not read further", request=request)
        return self._response(request, answer)

    def _response(self, request: requests.PreparedRequest, answer: httpx.Response) -> requests.Response:
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.reason = answer.reason_phrase
        response.url = str(request.url)
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(answer.content)
        response._content = answer.content
        response._content_consumed = True
        return response

    def close(self) -> None:
        """The client is shared by every session; it lives as long as the process."""


class GuardedFetcher(FetcherInterface):
    """TUF's downloads through the guarded client: each file capped at the length TUF allows it (one byte more is
    TUF's own DownloadLengthMismatchError), within the current budget."""

    def __init__(self, socket_timeout: int = 30, chunk_size: int = 400000, app_user_agent: str | None = None) -> None:
        agent = f"python-tuf/{tuf.__version__}"
        self._headers = {"User-Agent": f"{app_user_agent} {agent}" if app_user_agent else agent}

    def _get(self, url: str, max_length: int) -> bytes:
        try:
            answer = _send("GET", url, self._headers, None, max_length + 1)
        except httpx.TimeoutException as exc:
            raise tuf_errors.SlowRetrievalError(str(exc)) from None
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{_shown(url)}: {exc}") from None
        if answer.status_code >= 400:
            status = answer.status_code
            raise tuf_errors.DownloadHTTPError(f"{_shown(url)} answered HTTP {status}", status)
        if was_cut(answer) or len(answer.content) > max_length:
            raise tuf_errors.DownloadLengthMismatchError(f"{_shown(url)} is larger than {size_text(max_length)}")
        problem = incomplete(answer)
        if problem is not None:
            raise tuf_errors.DownloadError(f"the answer from {_shown(url)} is {problem}")
        return answer.content

    def _fetch(self, url: str) -> Iterator[bytes]:
        return iter([self._get(url, ANSWER_CAP)])

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        data = self._get(url, max_length)
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(0)
            yield file

    def download_bytes(self, url: str, max_length: int) -> bytes:
        return self._get(url, max_length)


def _refuse(*args: object, **kwargs: object) -> Any:
    raise UnguardedRequest(
        "an HTTP request tried to go through urllib3 directly, around the guarded transport (no deadline, no byte "
        "cap): refused. Route it through publisher.attest.sigstore_http."
    )


_installed = False


def install() -> None:
    """Route every requests session and TUF download through the guarded client; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        setattr(requests.sessions, "HTTPAdapter", GuardedAdapter)  # noqa: B010 (what Session() mounts)
        setattr(tuf.ngclient.updater, "Urllib3Fetcher", GuardedFetcher)  # noqa: B010 (what Updater() uses)
        urllib3.connectionpool.HTTPConnectionPool.urlopen = _refuse  # type: ignore[method-assign]
        _installed = True
