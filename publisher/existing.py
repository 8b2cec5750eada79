"""Is this file already on the index? Ask the Simple API of the check URL and compare hashes.

`{check_url}/{normalized-name}/` is requested as PEP 691 JSON with PEP 503 HTML as the fallback; a listed file
with the same name is compared by the hash the index publishes (`hashes` in JSON, `#sha256=` in HTML), or by
downloading it when the index publishes none. A 404 means the project (so the file) is absent. A 401/403 is an
error, never "absent": uv reads it as absent and went on to overwrite an Artifactory release (uv #16073).

One listing per project per run, shared by the upload threads (a lock per project), refreshed on demand after
an upload whose outcome is unknown. A listing is read up to bounds.LISTING_CAP (64 MiB); a larger one is an error.
A file the index lists without a hash is downloaded and hashed, reading at most as many bytes as the local file
has: one more and the contents differ, whatever follows.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from packaging.utils import canonicalize_name

from publisher.bodies import body_limit, was_cut
from publisher.bounds import LISTING_CAP, size_text
from publisher.console import Console
from publisher.credentials import Credentials, ReadAuth, read_auth
from publisher.digests import Digests
from publisher.dists import Dist
from publisher.errors import AuthenticationError, UploadError
from publisher.index import Target
from publisher.retry import Final, RetryPolicy, call_with_retries, describe
from publisher.urls import strip_credentials

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
# When an index publishes no sha256: the strongest it does publish (PEP 503 allows any hashlib name); md5 last.
_PREFERRED_HASHES = ("sha512", "sha3_512", "blake2b", "sha384", "sha3_384", "sha3_256", "sha224", "sha1", "md5")


def project_url(check_url: str, name: str) -> str:
    return f"{strip_credentials(check_url).rstrip('/')}/{canonicalize_name(name)}/"


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    hashes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    project: str
    url: str
    files: dict[str, IndexFile]  # empty when the project does not exist


Verdict = Literal["absent", "identical", "different"]


@dataclass(frozen=True)
class Existing:
    """The comparison; digests are `algo:value`, theirs as the index publishes it (or from a download)."""

    verdict: Verdict
    listing_url: str
    their_digest: str = ""
    our_digest: str = ""


# ---- parsing (pure) ---------------------------------------------------------------------------------------------


def _fragment_hashes(url: str) -> dict[str, str]:
    algo, sep, value = urlsplit(url).fragment.partition("=")
    return {algo.lower(): value.lower()} if sep and algo and value else {}


def parse_json(body: str, base_url: str) -> dict[str, IndexFile]:
    """PEP 691: `files: [{filename, url, hashes: {sha256: ...}}]`."""
    data = json.loads(body)
    found: dict[str, IndexFile] = {}
    for entry in data.get("files", []) if isinstance(data, dict) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        raw_hashes = entry.get("hashes")
        hashes: dict[str, object] = raw_hashes if isinstance(raw_hashes, dict) else {}
        url = urljoin(base_url, str(entry.get("url", "")))
        found[entry["filename"]] = IndexFile(
            entry["filename"], url, {str(k).lower(): str(v).lower() for k, v in hashes.items()}
        )
    return found


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, "".join(self._text).strip()))
            self._href = None


def parse_html(body: str, base_url: str) -> dict[str, IndexFile]:
    """PEP 503: one anchor per file, the text is the file name, the hash is in the `#sha256=` fragment."""
    parser = _Anchors()
    parser.feed(body)
    found: dict[str, IndexFile] = {}
    for href, text in parser.anchors:
        url = urljoin(base_url, href)
        filename = text or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        found[filename] = IndexFile(filename, url.split("#", 1)[0], _fragment_hashes(url))
    return found


def parse_listing(response: httpx.Response, project: str) -> Listing:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    base = str(response.url)
    if was_cut(response):
        raise UploadError(
            f"The check URL's page {strip_credentials(base)} for {project} is larger than {size_text(LISTING_CAP)}, "
            "the most read from a Simple API page; it was not read further.",
            hint="Point check-url (or the index's `url`) at the index's Simple API root, e.g. https://host/simple/. "
            "If this really is the project's page, turn skip-existing off.",
        )
    try:
        files = parse_json(response.text, base) if content_type in _JSON_TYPES else parse_html(response.text, base)
    except (ValueError, AttributeError) as exc:
        raise UploadError(
            f"The check URL's page {strip_credentials(base)} for {project} is not a readable Simple API page: {exc}",
            hint="Point check-url (or the index's `url`) at the index's Simple API root, e.g. https://host/simple/.",
        ) from None
    return Listing(project, strip_credentials(base), files)


# ---- fetching ---------------------------------------------------------------------------------------------------


@dataclass
class Checker:
    """The check URL of one run: cached listings per project, safe to share between upload threads."""

    client: httpx.Client
    check_url: str
    auth: ReadAuth
    policy: RetryPolicy
    env_prefix: str | None = None
    _listings: dict[str, Listing] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, project: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(project, threading.Lock())

    def listing(self, name: str, console: Console, *, fresh: bool = False) -> Listing:
        """The project's files, fetched once per run (or again when `fresh`)."""
        project = canonicalize_name(name)
        with self._lock(project):
            if fresh or project not in self._listings:
                self._listings[project] = self._fetch(project, console)
            return self._listings[project]

    def compare(self, dist: Dist, digests: Digests, console: Console, *, fresh: bool = False) -> Existing:
        listing = self.listing(dist.name, console, fresh=fresh)
        found = listing.files.get(dist.filename)
        if found is None:
            return Existing("absent", listing.url)
        algo, theirs, ours = self._digests(found, dist, digests, console)
        if theirs is None:
            larger = f"a file larger than the local one (more than {dist.size} bytes)"
            return Existing("different", listing.url, larger, f"{algo}:{ours}")
        verdict: Verdict = "identical" if theirs == ours else "different"
        return Existing(verdict, listing.url, f"{algo}:{theirs}", f"{algo}:{ours}")

    def _digests(self, found: IndexFile, dist: Dist, digests: Digests, console: Console) -> tuple[str, str | None, str]:
        """(algorithm, theirs, ours) by the strongest hash the index publishes, else by downloading its file;
        theirs is None when the index's file is larger than ours."""
        if "sha256" in found.hashes:
            return "sha256", found.hashes["sha256"], digests.sha256
        for algo in _PREFERRED_HASHES:
            if algo in found.hashes:
                with dist.path.open("rb") as file:
                    return algo, found.hashes[algo], hashlib.file_digest(file, algo).hexdigest()
        return "sha256", self._download_sha256(found, dist.size, console), digests.sha256

    def _download_sha256(self, found: IndexFile, size: int, console: Console) -> str | None:
        """The sha256 of the index's copy, read up to `size` bytes (the local file's); None when it has more."""
        console.info(f"  the index lists {found.filename} without a hash; downloading it to compare")
        digest = hashlib.sha256()
        # Credentials go only to the check URL's own origin: a listing may point at a CDN or another host.
        same_origin = urlsplit(found.url)[:2] == urlsplit(strip_credentials(self.check_url))[:2]
        auth = self.auth.auth if same_origin else None
        limit = body_limit(size)
        with self.client.stream("GET", found.url, auth=auth, follow_redirects=True, extensions=limit) as response:
            if response.status_code != 200:
                raise UploadError(
                    f"{found.filename} is listed at {strip_credentials(found.url)} but downloading it to compare "
                    f"hashes answered {response.status_code}.",
                    hint="Make the index publish sha256 hashes, or check that the read credentials may download.",
                )
            for chunk in response.iter_bytes():
                digest.update(chunk)
        return None if was_cut(response) else digest.hexdigest()

    def _fetch(self, project: str, console: Console) -> Listing:
        url = project_url(self.check_url, project)

        def send() -> httpx.Response:
            return self.client.get(
                url,
                headers={"Accept": ACCEPT},
                auth=self.auth.auth,
                follow_redirects=True,
                extensions=body_limit(LISTING_CAP),
            )

        final: Final[None] = call_with_retries(send, self.policy, console, f"Checking {url}")
        if final.response is None:
            assert final.error is not None
            raise UploadError(
                f"Could not check {url} for existing files after {final.attempts} attempt(s): {describe(final.error)}",
                hint="Check that the check URL (the index's `url`, or check-url) is reachable from this runner.",
            )
        response = final.response
        status = response.status_code
        if status == 404:
            return Listing(project, url, {})
        if status in (401, 403):
            raise AuthenticationError(
                f"{status} from the check URL {url} (looking for files of {project} that already exist), "
                f"sent with {self.auth.source}. Not treating this as 'file absent': uploading anyway could replace "
                "a release on registries that allow overwrites.",
                hint=self._auth_hint(),
            )
        if status != 200:
            raise UploadError(
                f"{status} from the check URL {url} looking for existing files of {project}"
                f"{' after ' + str(final.attempts) + ' attempts' if final.attempts > 1 else ''}: "
                f"{response.reason_phrase}",
                hint="Point check-url (or the index's `url`) at the index's Simple API root, e.g. "
                "https://host/simple/, or leave skip-existing off.",
            )
        return parse_listing(response, project)

    def _auth_hint(self) -> str:
        if self.env_prefix:
            return (
                f"Give the check URL read credentials: set {self.env_prefix}_USERNAME and {self.env_prefix}_PASSWORD "
                "(as for installing from the index), or put user:pass@ in check-url; or turn skip-existing off."
            )
        return "Give the check URL read credentials (user:pass@ in check-url), or turn skip-existing off."


def make_checker(
    client: httpx.Client,
    target: Target,
    credentials: Credentials,
    policy: RetryPolicy,
    *,
    allow_insecure_http: bool,
    environ: Mapping[str, str],
    console: Console,
) -> Checker:
    """The run's Checker for the target's check URL, its read password masked before anything can print it."""
    assert target.check_url is not None
    auth = read_auth(target.check_url, target, credentials, environ, allow_insecure_http)
    if auth.auth is not None:
        console.mask(auth.auth[1])
    return Checker(client, target.check_url, auth, policy, target.env_prefix)
