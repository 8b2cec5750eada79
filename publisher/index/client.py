"""The run's one HTTP client for the index: a connection pool shared by the uploads, the check URL and the
confirmations, every request through the guarded transport (deadline, answer caps, abort_all, proxies), the upload
credentials attached on the publish URL's origin only (http_auth.client_auth), each request logged in verbose mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from publisher.auth.http_auth import client_auth
from publisher.auth.model import Credentials
from publisher.config.urls import strip_credentials
from publisher.net.bounds import deadline_from
from publisher.net.transport import client_routing
from publisher.report import safe
from publisher.report.console import Console
from publisher.version import USER_AGENT

READ_TIMEOUT = 300.0
READ_TIMEOUT_ENV = "PUBLISHER_READ_TIMEOUT"


def timeout_from(environ: Mapping[str, str]) -> httpx.Timeout:
    """Connect 15 s; read (the registry's answer) 300 s unless PUBLISHER_READ_TIMEOUT says otherwise."""
    read = READ_TIMEOUT
    raw = environ.get(READ_TIMEOUT_ENV, "").strip()
    if raw:
        try:
            read = float(raw) if float(raw) > 0 else READ_TIMEOUT
        except ValueError:
            read = READ_TIMEOUT
    return httpx.Timeout(connect=15.0, read=read, write=300.0, pool=60.0)


def make_client(
    credentials: Credentials, console: Console, environ: Mapping[str, str] | None = None, *, native_tls: bool = False
) -> httpx.Client:
    """One client (connection pool, keep-alive) for the whole run; thread-safe for parallel uploads."""
    environ = os.environ if environ is None else environ

    def log_request(request: httpx.Request) -> None:  # a URL may come from a redirect: outside text
        console.debug(f"> {request.method} {safe.exact(strip_credentials(str(request.url)), 300)}")

    def log_response(response: httpx.Response) -> None:
        url = safe.exact(strip_credentials(str(response.request.url)), 300)
        console.debug(f"< {response.status_code} {response.request.method} {url}")

    return httpx.Client(
        timeout=timeout_from(environ),
        headers={"User-Agent": USER_AGENT},
        auth=client_auth(credentials),
        follow_redirects=False,
        event_hooks={"request": [log_request], "response": [log_response]},
        # Every request bounded (deadline, answer size, abort_all), proxies routed as httpx would (transport.py).
        **client_routing(deadline_from(environ), native_tls=native_tls),
    )
