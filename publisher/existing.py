"""Is this file already on the index? Ask the Simple API of the check URL and compare hashes.

`{check_url}/{normalized-name}/` is requested as PEP 691 JSON with PEP 503 HTML as the fallback, always with
`Cache-Control: no-cache` (a cache in front of the index must not answer with a page older than an upload); a listed
file with the same name is compared by the hash the index publishes (`hashes` in JSON, `#sha256=` in HTML), or by
downloading it when the index publishes none. A 404 means the project (so the file) is absent. A 401/403 is an
error, never "absent": uv reads it as absent and went on to overwrite an Artifactory release (uv #16073).

A 200 is a listing only when it looks like one, or it would be "absent" in disguise (a login page after a single
sign-on redirect, a proxy's notice) and defeat the rule above:

- JSON (`application/vnd.pypi.simple.v1+json`, `application/json`): an object with a `files` list (PEP 691).
  Entries without a string `filename` and `url` are skipped; hashes that are not strings are ignored.
- HTML (`text/html`, `application/vnd.pypi.simple.v1+html`, `application/xhtml+xml`): no `<form>` and no password
  field, and at least one of: a PEP 629 `<meta name="pypi:repository-version">`, a link to a distribution file
  (.whl, .tar.gz, .zip, .egg ...), a title or heading "Links for ..." (PEP 503's, used by PyPI, pypiserver, devpi).
- Anything else is an error naming the content type and the page's final URL; so is a page larger than
  bounds.LISTING_CAP (64 MiB). Redirects and read credentials follow reads.py: a listing that redirects to another
  origin is an error.

A file the index lists without a hash is downloaded and hashed, reading at most as many bytes as the local file
has: one more and the contents differ, whatever follows.

One listing per project per run, shared by the upload threads (a lock per project), refreshed on demand after
an upload whose outcome is unknown, and at each look of a confirmation (confirm.py).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from packaging.utils import canonicalize_name

from publisher import bodies, hints, reads, safe
from publisher.answers import registry_message
from publisher.bodies import body_limit, incomplete, loads, was_cut
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
# A listing is asked fresh: an index's Simple API is often cached (Pulp serves it with max-age=600, CDNs keep it),
# and a cached page says nothing about an upload made seconds ago.
LISTING_HEADERS = {"Accept": ACCEPT, "Cache-Control": "no-cache"}
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
_HTML_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html", "application/xhtml+xml")
# What a link to a distribution ends with: wheels, sdists and the legacy binary formats PyPI still lists.
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".tar", ".egg", ".exe", ".msi")


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


class NotAListing(ValueError):
    """A page that is not a Simple API project page; the message says what it is instead."""


def parse_json(body: str | bytes, base_url: str) -> dict[str, IndexFile]:
    """PEP 691: `files: [{filename, url, hashes: {sha256: ...}}]`; entries of other shapes are skipped."""
    data = loads(body)
    if data is None:
        raise NotAListing("a JSON page that is not valid JSON (or nests too deep)")
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise NotAListing("JSON without a `files` list, so not a PEP 691 project page")
    found: dict[str, IndexFile] = {}
    for entry in files:
        if not isinstance(entry, dict):
            continue
        filename, url, hashes = entry.get("filename"), entry.get("url"), entry.get("hashes")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        pairs = hashes.items() if isinstance(hashes, dict) else ()
        found[filename] = IndexFile(
            filename, urljoin(base_url, url), {k.lower(): v.lower() for k, v in pairs if isinstance(v, str)}
        )
    return found


class _Page(HTMLParser):
    """What decides whether an HTML page is a project page: its anchors, PEP 629 meta tag, title and forms."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self.repository_version = False
        self.form = False
        self.headings: list[str] = []
        self._href: str | None = None
        self._heading: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self._href, self._text = values.get("href") or "", []
        elif tag == "meta" and (values.get("name") or "").lower() == "pypi:repository-version":
            self.repository_version = True
        elif tag == "form" or (tag == "input" and (values.get("type") or "").lower() == "password"):
            self.form = True
        elif tag in ("title", "h1"):
            self._heading = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._heading is not None and sum(map(len, self._heading)) < 1000:
            self._heading.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, "".join(self._text).strip()))
            self._href = None
        elif tag in ("title", "h1") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def is_project_page(self, files: dict[str, IndexFile]) -> bool:
        links_for = any("links for" in heading.lower() for heading in self.headings)
        dists = any(name.lower().endswith(DIST_SUFFIXES) for name in files)
        return self.repository_version or links_for or dists


def _read_page(body: str) -> _Page:
    page = _Page()
    try:
        page.feed(body)
    except Exception as exc:  # html.parser raises AssertionError on some malformed declarations (`<![;`)
        raise NotAListing(f"an HTML page html.parser cannot read ({type(exc).__name__})") from None
    return page


def parse_html(body: str, base_url: str) -> dict[str, IndexFile]:
    """PEP 503: one anchor per file, the text is the file name, the hash is in the `#sha256=` fragment.

    A page with a form (a login page) or without any sign of being a project page raises NotAListing.
    """
    page = _read_page(body)
    if page.form:
        raise NotAListing("an HTML page with a form or a password field (a login page?)")
    found: dict[str, IndexFile] = {}
    for href, text in page.anchors:
        url = urljoin(base_url, href)
        filename = text or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        found[filename] = IndexFile(filename, url.split("#", 1)[0], _fragment_hashes(url))
    if not page.is_project_page(found):
        raise NotAListing(
            "an HTML page that is not a PEP 503 project page (no link to a distribution file, no "
            "pypi:repository-version meta tag, no 'Links for' title)"
        )
    return found


def parse_listing(response: httpx.Response, project: str, *, front_end: str) -> Listing:
    """The files of a 200 answer from the check URL, or UploadError saying why it is not a project page
    (`front_end` spells the settings its hints name)."""
    base = str(response.url)
    shown = reads.shown(base)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if was_cut(response):
        raise UploadError(
            f"The check URL's page {shown} for {project} is larger than {size_text(LISTING_CAP)}, the most read "
            "from a Simple API page; it was not read further.",
            hint=f"{hints.simple_root(front_end)} If this really is the project's page, "
            f"{hints.skip_existing_off(front_end)}.",
        )
    problem = incomplete(response)
    try:
        if problem is not None:
            raise NotAListing(f"a page that could not be read in full: {problem}")
        if content_type in _JSON_TYPES:
            files = parse_json(response.content, base)
        elif content_type in _HTML_TYPES:
            files = parse_html(response.text, base)
        else:
            raise NotAListing(f"Content-Type {safe.inline(content_type or '(none)', 100)}, not a Simple API page")
    except NotAListing as exc:
        raise UploadError(
            f"The check URL answered 200 for {project} at {shown}, but with {safe.inline(exc, 300)}. Not treating "
            "this as 'file absent'.",
            hint=hints.simple_root(front_end),
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
    front_end: str = "action"  # how hints spell the settings they name (settings.label / set_to)
    _listings: dict[str, Listing] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, project: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(project, threading.Lock())

    def listing(self, name: str, console: Console, *, fresh: bool = False, within: float | None = None) -> Listing:
        """The project's files, fetched once per run (or again when `fresh`); `within`: seconds the read may take,
        retries included (a confirmation's poll ends with its wait)."""
        project = canonicalize_name(name)
        with self._lock(project):
            if fresh or project not in self._listings:
                self._listings[project] = self._fetch(project, console, within)
            return self._listings[project]

    def compare(
        self, dist: Dist, digests: Digests, console: Console, *, fresh: bool = False, within: float | None = None
    ) -> Existing:
        listing = self.listing(dist.name, console, fresh=fresh, within=within)
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
        what = f"Downloading {found.filename} from"
        try:
            # Credentials go only to their own origin, checked at every hop: a listing may point at a CDN.
            limit = body_limit(size, expected=True)  # the deadline allows for receiving the local file's size
            response = reads.get(
                self.client, found.url, self.auth, what=what, extensions=limit, stream=True, front_end=self.front_end
            )
            try:
                if response.status_code != 200:
                    response.read()  # for the registry's words; bounded like the file
                    raise UploadError(
                        f"{found.filename} is listed at {reads.shown(found.url)} but downloading it to compare "
                        f"hashes answered {response.status_code}: {registry_message(response, 200)}",
                        hint="Make the index publish sha256 hashes, or check that the read credentials may download.",
                    )
                for chunk in response.iter_bytes():
                    digest.update(chunk)
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise UploadError(
                f"Could not download {found.filename} from {reads.shown(found.url)} to compare hashes: "
                f"{safe.inline(describe(exc), 500)}",
                hint="Make the index publish sha256 hashes, or check that its files can be downloaded from here.",
            ) from None
        if was_cut(response):
            return None
        problem = incomplete(response)
        if problem is not None:
            raise UploadError(
                f"{found.filename} could not be read in full from {reads.shown(found.url)} to compare hashes: "
                f"{safe.inline(problem, 200)}.",
                hint="Make the index publish sha256 hashes.",
            )
        return digest.hexdigest()

    def _fetch(self, project: str, console: Console, within: float | None = None) -> Listing:
        url = project_url(self.check_url, project)
        extensions = body_limit(LISTING_CAP) | (bodies.within(within) if within is not None else {})
        policy = self.policy if within is None else replace(self.policy, total_cap=min(self.policy.total_cap, within))

        def send() -> httpx.Response:
            return reads.get(
                self.client,
                url,
                self.auth,
                what="The check URL",
                headers=LISTING_HEADERS,
                extensions=extensions,
                same_origin_only=True,
                front_end=self.front_end,
            )

        final: Final[None] = call_with_retries(send, policy, console, f"Checking {url}")
        if final.response is None:
            assert final.error is not None
            raise UploadError(
                f"Could not check {url} for existing files after {final.attempts} attempt(s): "
                f"{safe.inline(describe(final.error), 500)}",
                hint=hints.unreachable_check_url(self.front_end),
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
                f"{registry_message(response, 300)}",
                hint=f"{hints.simple_root(self.front_end)} Or {hints.skip_existing_off(self.front_end)}.",
            )
        return parse_listing(response, project, front_end=self.front_end)

    def _auth_hint(self) -> str:
        return hints.read_credentials(self.env_prefix, self.front_end)


def make_checker(
    client: httpx.Client,
    target: Target,
    credentials: Credentials,
    policy: RetryPolicy,
    *,
    allow_insecure_http: bool,
    environ: Mapping[str, str],
    console: Console,
    front_end: str,
) -> Checker:
    """The run's Checker for the target's check URL, its read password masked before anything can print it."""
    assert target.check_url is not None
    auth = read_auth(target.check_url, target, credentials, environ, allow_insecure_http)
    if auth.auth is not None:
        console.mask(auth.auth[1])
    return Checker(client, target.check_url, auth, policy, target.env_prefix, front_end)
