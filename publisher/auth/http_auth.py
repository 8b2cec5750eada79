"""The upload credentials as the HTTP client sends them (httpx auth), bound to the publish URL's origin.

The client of a run also reads the check URL and follows its file links, so choosing the right credentials is not
enough: the Authorization header is attached per request, and only to requests on the publish URL's origin. No
other request made with that client can carry it, whatever URL a registry or a listing points it at.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx

from publisher.auth.model import Credentials
from publisher.config.urls import origin


class OriginBoundAuth(httpx.Auth):
    """Basic auth for one origin: `user:password`, the password read at each request (a minted trusted-publishing
    token is renewed before it expires, see oidc.RenewingToken). Requests elsewhere go out without it."""

    def __init__(self, credentials: Credentials, bound_to: str) -> None:
        # httpx's own parse of the origin, so that it compares with the requests' URLs as httpx spells them (IDNA,
        # default ports); then urls.origin, the one comparison of the project.
        self.origin = origin(str(httpx.URL(bound_to)))
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = self._credentials.auth
        if pair is not None and origin(str(request.url)) == self.origin:
            token = base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode("ascii")
            request.headers["Authorization"] = f"Basic {token}"
        yield request


def client_auth(credentials: Credentials, publish_url: str | None = None) -> httpx.Auth | None:
    """The client's auth for `credentials`, bound to `publish_url`'s origin (default: the origin they were resolved
    for, `Credentials.origin`). Refuses to build an unbound one."""
    if not credentials.present:
        return None
    bound_to = publish_url or credentials.origin
    if not bound_to:
        raise ValueError("credentials without an origin: resolve them with credentials.resolve_credentials")
    return OriginBoundAuth(credentials, bound_to)
