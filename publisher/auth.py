"""The upload credentials as the HTTP client sends them (httpx auth), bound to the publish URL's origin."""

from __future__ import annotations

import httpx

from publisher.credentials import Credentials


def client_auth(credentials: Credentials) -> httpx.Auth | None:
    """Basic auth; for trusted publishing, Basic auth whose token is minted again before it expires."""
    if credentials.renewal is not None:
        from publisher.oidc import RenewingAuth

        return RenewingAuth(credentials.renewal)
    auth = credentials.auth
    return httpx.BasicAuth(*auth) if auth else None
