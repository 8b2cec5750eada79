"""HTTP edge: POST one dist to the legacy upload API, streaming the file from disk.

httpx streams a file object in a multipart body chunk by chunk and sends a Content-Length computed from the
file's size, so a 500 MB wheel costs no more memory than a 1 kB one. Redirects are not followed: a redirected
POST would lose its body, so the user is told the URL to configure instead.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

import httpx

from publisher import USER_AGENT
from publisher.console import Console
from publisher.credentials import Credentials
from publisher.digests import Digests, file_digests
from publisher.dists import Dist
from publisher.errors import AuthenticationError, UploadError
from publisher.form import form_fields
from publisher.index import Target
from publisher.report import FileResult, human_size
from publisher.settings import Settings
from publisher.urls import strip_credentials

TIMEOUT = httpx.Timeout(connect=15.0, read=300.0, write=300.0, pool=60.0)


@dataclass(frozen=True)
class Outcome:
    status: Literal["published", "skipped"]
    detail: str = ""


def registry_message(response: httpx.Response, limit: int = 400) -> str:
    """The registry's own words: reason phrase plus the body, HTML tags stripped, whitespace collapsed."""
    try:
        body = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        body = ""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    reason = response.reason_phrase or ""
    if reason and reason.lower() not in text.lower():
        text = f"{reason}: {text}" if text else reason
    return text[:limit] + ("..." if len(text) > limit else "")


def make_client(credentials: Credentials, console: Console) -> httpx.Client:
    """One client (connection pool, keep-alive) for the whole run; thread-safe for parallel uploads."""

    def log_request(request: httpx.Request) -> None:
        console.debug(f"> {request.method} {strip_credentials(str(request.url))}")

    def log_response(response: httpx.Response) -> None:
        request = response.request
        console.debug(f"< {response.status_code} {request.method} {strip_credentials(str(request.url))}")

    auth = credentials.auth
    return httpx.Client(
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        auth=httpx.BasicAuth(*auth) if auth else None,
        follow_redirects=False,
        event_hooks={"request": [log_request], "response": [log_response]},
    )


def post_dist(client: httpx.Client, url: str, dist: Dist, digests: Digests) -> httpx.Response:
    """Send the form with the file streamed as `content`."""
    with dist.path.open("rb") as content:
        return client.post(
            url,
            data=form_fields(dist, digests),
            files={"content": (dist.filename, content, "application/octet-stream")},
        )


def classify(response: httpx.Response, dist: Dist, url: str, credentials: Credentials) -> Outcome:
    """Turn the registry's answer into an Outcome, or an error that says what to do next."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("published")
    message = registry_message(response)
    if 300 <= status < 400:
        location = strip_credentials(response.headers.get("location", "?"))
        raise UploadError(
            f"Uploading {dist.filename} to {url} was redirected ({status}) to {location}.",
            hint="Uploads are not followed through redirects. Set the index's publish-url to the final URL "
            "(often a missing trailing slash, or http instead of https).",
        )
    if status in (401, 403):
        raise AuthenticationError(
            f"{status} from {url} uploading {dist.filename}: the registry rejected the credentials from "
            f"{credentials.source} (auth method: {credentials.method}). The registry said: {message or '(nothing)'}",
            hint="Check that the secret behind that source is current and may upload to this repository. "
            "JFrog Artifactory wants your username (not `__token__`) with an identity token as the password.",
        )
    raise UploadError(
        f"{status} from {url} uploading {dist.filename}. The registry said: {message or '(nothing)'}",
        hint="Fix what the registry reports above; files already uploaded by this run are listed in the summary.",
    )


def upload_one(
    client: httpx.Client, target: Target, credentials: Credentials, dist: Dist, settings: Settings, console: Console
) -> FileResult:
    """Upload one dist inside its own log group; raise PublishError (with the registry's words) on failure."""
    url = target.display_url
    with console.group(f"Uploading {dist.filename} ({human_size(dist.size)})"):
        digests = file_digests(dist.path)
        if settings.print_hash:
            console.info(f"  sha256      {digests.sha256}\n  blake2b-256 {digests.blake2_256}")
        try:
            response = post_dist(client, url, dist, digests)
        except httpx.TransportError as exc:
            raise UploadError(
                f"Could not upload {dist.filename} to {url}: {type(exc).__name__}: {exc}",
                hint="Check the URL and that the registry is reachable from this runner.",
            ) from None
        outcome = classify(response, dist, url, credentials)
        console.info(f"  {outcome.status}")
        return FileResult(dist.filename, dist.size, digests.sha256, outcome.status, outcome.detail)
