"""The upload client's auth (publisher/auth/http_auth.py): the Authorization header goes on requests to the publish
URL's origin and on no other, whatever the client is pointed at. httpx's MockTransport answers in-process: nothing is
sent."""

from __future__ import annotations

import base64

import httpx
import pytest

from publisher.auth.exchange import RenewingToken
from publisher.auth.http_auth import client_auth
from publisher.auth.model import Credentials

PUBLISH_URL = "https://registry.example/upload/"
BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()


def send_all(credentials: Credentials, urls: list[str], publish_url: str | None = None) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen[str(request.url)] = request.headers.get("authorization")
        return httpx.Response(200)

    auth = client_auth(credentials, publish_url)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(answer)) as client:
        for url in urls:
            client.get(url)
    return seen


SAME_ORIGIN = [
    "https://registry.example/upload/",
    "https://registry.example/simple/demo/",
    "https://REGISTRY.example:443/other/",
    "HTTPS://registry.example/x",
]
OTHER_ORIGINS = [
    "https://registry.example:8443/upload/",  # port
    "http://registry.example/upload/",  # scheme
    "https://files.registry.example/upload/",  # a subdomain
    "https://registry.example.evil/upload/",
    "https://cdn.example/registry.example/upload/",
]


@pytest.mark.parametrize("bound_by", ["credentials", "argument"])
def test_the_header_goes_to_the_publish_origin_only(bound_by: str) -> None:
    if bound_by == "credentials":
        creds = Credentials("alice", "s3cret", "password", "test", origin="https://registry.example")
        seen = send_all(creds, SAME_ORIGIN + OTHER_ORIGINS)
    else:
        seen = send_all(Credentials("alice", "s3cret", "password", "test"), SAME_ORIGIN + OTHER_ORIGINS, PUBLISH_URL)
    assert [seen[str(httpx.URL(u))] for u in SAME_ORIGIN] == [BASIC] * len(SAME_ORIGIN)
    assert [seen[str(httpx.URL(u))] for u in OTHER_ORIGINS] == [None] * len(OTHER_ORIGINS)


def test_a_minted_token_goes_to_the_publish_origin_only() -> None:
    renewal = RenewingToken("pypi-minted", None, lambda: ("pypi-minted", None))
    creds = Credentials("__token__", "pypi-minted", "trusted-publishing", "OIDC", renewal, "https://registry.example")
    seen = send_all(creds, ["https://registry.example/upload/", "https://registry.example:8443/", "http://x.example/"])
    expected = "Basic " + base64.b64encode(b"__token__:pypi-minted").decode()
    assert list(seen.values()) == [expected, None, None]


def test_loopback_origins_keep_their_port() -> None:
    creds = Credentials("alice", "s3cret", "password", "test", origin="http://127.0.0.1:8080")
    seen = send_all(creds, ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/", "http://127.0.0.1/"])
    assert list(seen.values()) == [BASIC, None, None]


def test_unbound_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="credentials without an origin"):
        client_auth(Credentials("alice", "s3cret", "password", "test"))
    assert client_auth(Credentials(None, None, "none", "no credentials")) is None
