"""GET requests that read the index (the check URL's listing, a file to hash): redirects followed by our rules, not
httpx's, and read credentials sent to their own origin only.

- At most MAX_REDIRECTS hops; each Location must be an http(s) URL, and https is never followed to plain http
  (the answer could be altered on the way, and nothing read over https should be replaced by something that was not).
- A listing that redirects to another origin is an error: an index does not move its Simple API to another host
  for one project; a single sign-on login page does. (A file may live on another origin, e.g. a CDN.)
- Read credentials (`ReadAuth`) go with a request only when its origin -- scheme, host and port, compared
  normalised -- is `ReadAuth.origin`; the first URL and every hop are checked on their own. A ReadAuth without an
  origin is sent nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from publisher.auth.model import ReadAuth
from publisher.config.urls import strip_credentials
from publisher.report import safe
from publisher.report.errors import UploadError
from publisher.report.wording import label, set_to

MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme and host lower-cased and the default port filled in; None when `url`
    is not an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (`https://Host:443/x` and `https://host/y` do)."""
    key = origin_key(a)
    return key is not None and key == origin_key(b)


def shown_origin(url: str) -> str:
    """`scheme://host[:port]` of an outside URL, printable."""
    parts = urlsplit(strip_credentials(url))
    return safe.inline(f"{parts.scheme}://{parts.netloc}", 200)


def shown(url: str) -> str:
    """An outside URL (from a listing or a Location header) as it may appear in a message."""
    return safe.exact(strip_credentials(url), 300)


def get(
    client: httpx.Client,
    url: str,
    auth: ReadAuth,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
    stream: bool = False,
    same_origin_only: bool = False,
    off_origin_hint: str | None = None,
    front_end: str,
) -> httpx.Response:
    """GET `url`, following redirects by the rules above; the final answer (streamed: close it).

    `what` names the request in errors ("The check URL", "Downloading x.whl from"); `same_origin_only` makes a
    redirect to another origin an error (for the listing; for a file, `off_origin_hint` says what to do instead);
    `front_end` spells the settings its hints name.
    """
    start = url
    for _hop in range(MAX_REDIRECTS + 1):
        if origin_key(url) is None:
            raise UploadError(
                f"{what} {shown(start)} led to {shown(url)}, which is not an http(s) URL.",
                hint="Check the check URL; an index must list (and redirect to) http or https URLs only.",
            )
        credentials = auth.auth if auth.auth is not None and same_origin(url, auth.origin) else None
        try:
            request = client.build_request("GET", url, headers=headers, extensions=dict(extensions or {}))
        except httpx.InvalidURL as exc:
            raise UploadError(
                f"{what} {shown(start)} led to {shown(url)}, which is not a usable URL ({safe.inline(exc, 200)}).",
                hint="Check the check URL; an index must list (and redirect to) valid http(s) URLs.",
            ) from None
        response = client.send(request, auth=credentials, stream=stream, follow_redirects=False)
        location = response.headers.get("location")
        if not response.is_redirect or location is None:
            return response
        response.close()
        target = urljoin(url, location.strip())
        if urlsplit(url).scheme.lower() == "https" and urlsplit(target).scheme.lower() == "http":
            raise UploadError(
                f"{what} {shown(start)} redirected from https to plain http ({shown(target)}): refused, an answer "
                "over plain http could be altered on the way.",
                hint="Configure the index's https URLs so that no redirect to http is needed.",
            )
        if same_origin_only and not same_origin(target, start) and off_origin_hint is not None:
            raise UploadError(
                f"{what} {shown(start)} redirected to {shown_origin(target)} ({response.status_code}), another "
                "origin: the redirect was not followed.",
                hint=off_origin_hint,
            )
        if same_origin_only and not same_origin(target, start):
            raise UploadError(
                f"{what} {shown(start)} redirected to {shown_origin(target)} ({response.status_code}): a login "
                f"page? A Simple API page is served by its own origin, so the redirect was not followed.",
                hint=f"Point the index's `url` (or {label('check-url', front_end)}) at the index's Simple API root as "
                "it is served without a redirect, and give it read credentials if the index needs them; or "
                f"{set_to('skip-existing', False, front_end)}.",
            )
        url = target
    raise UploadError(
        f"{what} {shown(start)} was redirected more than {MAX_REDIRECTS} times (last to {shown(url)}).",
        hint=f"Point the index's `url` (or {label('check-url', front_end)}) at the final URL of the Simple API.",
    )
