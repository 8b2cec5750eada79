"""Is this file already on the index? Ask the Simple API of the check URL and compare hashes.

`{check_url}/{normalized-name}/` is requested as PEP 691 JSON with PEP 503 HTML as the fallback, always with
`Cache-Control: no-cache` (a cache in front of the index must not answer with a page older than an upload); a listed
file with the same name is compared by the hash the index publishes (`hashes` in JSON, `#sha256=` in HTML), or by
downloading it when the index publishes none. A 404 means the project (so the file) is absent. A 401/403 is an
error, never "absent": uv reads it as absent and went on to overwrite an Artifactory release (uv #16073).

A 200 is a listing only when it looks like one, or it would be "absent" in disguise (a login page after a single
sign-on redirect, a proxy's notice) and defeat the rule above:

- JSON (`application/vnd.pypi.simple.v1+json`, `application/json`): an object with a `files` list (PEP 691).
  Entries without a string `filename` and `url` are skipped.
- HTML (`text/html`, `application/vnd.pypi.simple.v1+html`, `application/xhtml+xml`): no `<form>` and no password
  field, and at least one of: a PEP 629 `<meta name="pypi:repository-version">`, a link to a distribution file
  (.whl, .tar.gz, .zip, .egg ...), a title or heading "Links for ..." (PEP 503's, used by PyPI, pypiserver, devpi).
- Anything else is an error naming the content type and the page's final URL; so is a page larger than
  bounds.LISTING_CAP (64 MiB). Redirects and read credentials follow reads.py: a listing that redirects to another
  origin is an error.

Pages are parsed into typed values by listing.py: a hash is kept only when it is a digest (hex of its algorithm's
length); one that is not is named in a warning, never quoted, and not compared. HTML is read by simple_html.py in
linear time. Parsing ends at the request's deadline (PUBLISHER_REQUEST_DEADLINE after the page arrived) or at the
caller's `parse_by` (a confirmation's deadline): a page built to be slow is an error, never "absent".

A file the index lists without a digest is downloaded and hashed, reading at most as many bytes as the local file
has: one more and the contents differ, whatever follows.

One listing per project per run, shared by the upload threads (a lock per project), refreshed on demand after
an upload whose outcome is unknown, and at each look of a confirmation (confirm.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx
from packaging.utils import canonicalize_name

from publisher.auth.model import Credentials, ReadAuth
from publisher.auth.reading import read_auth
from publisher.config import hints
from publisher.config.target import Target
from publisher.config.urls import strip_credentials
from publisher.dists.collect import Dist
from publisher.dists.digests import Digests
from publisher.index import reads
from publisher.index.answers import registry_message
from publisher.index.download import download_sha256
from publisher.index.listing import HEX_LENGTHS, IndexFile, Listing, NotAListing, parse_html, parse_json
from publisher.index.simple_html import TooSlow
from publisher.net import bodies
from publisher.net.bodies import body_limit, incomplete, was_cut
from publisher.net.bounds import DEFAULT_DEADLINE, LISTING_CAP, deadline_from, size_text
from publisher.net.retry import Final, RetryPolicy, call_with_retries, describe, hint_for
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import AuthenticationError, UploadError
from publisher.report.wording import label

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
# A listing is asked fresh: an index's Simple API is often cached (Pulp serves it with max-age=600, CDNs keep it),
# and a cached page says nothing about an upload made seconds ago.
LISTING_HEADERS = {"Accept": ACCEPT, "Cache-Control": "no-cache"}
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
_HTML_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html", "application/xhtml+xml")
# When an index publishes no sha256: the strongest it does publish (PEP 503 allows any hashlib name); md5 last.
_PREFERRED_HASHES = ("sha512", "sha3_512", "blake2b", "sha384", "sha3_384", "sha3_256", "sha224", "sha1", "md5")


def project_url(check_url: str, name: str) -> str:
    return f"{strip_credentials(check_url).rstrip('/')}/{canonicalize_name(name)}/"


Verdict = Literal["absent", "identical", "different"]


@dataclass(frozen=True)
class Existing:
    """The comparison; digests are `algo:value`, theirs as the index publishes it (or from a download)."""

    verdict: Verdict
    listing_url: str
    their_digest: str = ""
    our_digest: str = ""
    file_url: str = ""  # where the listing says the file is (absolute; "" when absent or not a usable URL)


# ---- reading a page -------------------------------------------------------------------------------------------


def parse_listing(
    response: httpx.Response, project: str, *, deadline: float | None = None, front_end: str = "action"
) -> Listing:
    """The files of a 200 answer from the check URL, or UploadError saying why it is not a project page (or could
    not be parsed by `deadline`, a time.monotonic() value); `front_end` spells the settings its hints name."""
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
            files = parse_json(response.content, base, deadline=deadline)
        elif content_type in _HTML_TYPES:
            files = parse_html(response.text, base, deadline=deadline)
        else:
            raise NotAListing(f"Content-Type {safe.inline(content_type or '(none)', 100)}, not a Simple API page")
    except NotAListing as exc:
        raise UploadError(
            f"The check URL answered 200 for {project} at {shown}, but with {safe.inline(exc, 300)}. Not treating "
            "this as 'file absent'.",
            hint=hints.simple_root(front_end),
        ) from None
    except TooSlow as exc:
        raise UploadError(
            f"The check URL's page {shown} for {project} could not be parsed in the time allowed: stopped "
            f"{exc.done * 100 // max(exc.total, 1)}% into its {size_text(len(response.content))}. Not treating this "
            "as 'file absent'.",
            hint=f"{hints.simple_root(front_end)} A real project page is parsed in well under a second per MiB; "
            f"raise PUBLISHER_REQUEST_DEADLINE (or {label('confirm-timeout', front_end)}, for a confirmation) only if "
            "this one really is.",
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
    deadline: float = DEFAULT_DEADLINE  # seconds a request may take (PUBLISHER_REQUEST_DEADLINE); parsing, too
    front_end: str = "action"  # how hints spell the settings they name (settings.label / set_to)
    _listings: dict[str, Listing] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _warned: set[tuple[str, str]] = field(default_factory=set)

    def _lock(self, project: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(project, threading.Lock())

    def listing(
        self,
        name: str,
        console: Console,
        *,
        fresh: bool = False,
        within: float | None = None,
        parse_by: float | None = None,
    ) -> Listing:
        """The project's files, fetched once per run (or again when `fresh`); `within`: seconds the read may take,
        retries included (a confirmation's poll ends with its wait); `parse_by`: a time.monotonic() value by which
        the page must be parsed (else at most `deadline` seconds after it arrived)."""
        project = canonicalize_name(name)
        with self._lock(project):
            if fresh or project not in self._listings:
                self._listings[project] = self._fetch(project, console, within, parse_by)
            return self._listings[project]

    def compare(
        self,
        dist: Dist,
        digests: Digests,
        console: Console,
        *,
        fresh: bool = False,
        within: float | None = None,
        parse_by: float | None = None,
    ) -> Existing:
        listing = self.listing(dist.name, console, fresh=fresh, within=within, parse_by=parse_by)
        found = listing.files.get(dist.filename)
        if found is None:
            return Existing("absent", listing.url)
        algo, theirs, ours = self._digests(found, dist, digests, console)
        if theirs is None:
            larger = f"a file larger than the local one (more than {dist.size} bytes)"
            return Existing("different", listing.url, larger, f"{algo}:{ours}", found.url)
        verdict: Verdict = "identical" if theirs == ours else "different"
        # theirs is hex of its algorithm's length (listing.IndexFile); redacted all the same, in case an index
        # echoes a hex read password as a digest
        return Existing(verdict, listing.url, f"{algo}:{safe.inline(theirs)}", f"{algo}:{ours}", found.url)

    def _digests(self, found: IndexFile, dist: Dist, digests: Digests, console: Console) -> tuple[str, str | None, str]:
        """(algorithm, theirs, ours) by the strongest hash the index publishes, else by downloading its file;
        theirs is None when the index's file is larger than ours."""
        self._not_digests(found, console)
        if "sha256" in found.hashes:
            return "sha256", found.hashes["sha256"], digests.sha256
        for algo in _PREFERRED_HASHES:
            if algo in found.hashes:
                with dist.path.open("rb") as file:
                    return algo, found.hashes[algo], hashlib.file_digest(file, algo).hexdigest()
        return "sha256", self._download_sha256(found, dist.size, console), digests.sha256

    def _not_digests(self, found: IndexFile, console: Console) -> None:
        """Say (once per file and algorithm) that the index lists a value that is not a digest; never quote it."""
        for algo in found.not_digests:
            with self._guard:
                if (found.filename, algo) in self._warned:
                    continue
                self._warned.add((found.filename, algo))
            console.warning(
                f"The check URL lists {safe.exact(found.filename, 300)} with a {algo} that is not a {algo} digest "
                f"(not {HEX_LENGTHS[algo]} hexadecimal digits); it was not used and is not shown. Comparing by "
                "another hash or by downloading the file instead.",
                title="Not a digest",
            )

    def _download_sha256(self, found: IndexFile, size: int, console: Console) -> str | None:
        """The sha256 of the index's copy, read up to `size` bytes (the local file's); None when it has more."""
        console.info(f"  the index lists {found.filename} without a hash; downloading it to compare")
        # Credentials go only to their own origin, checked at every hop: a listing may point at a CDN.
        return self.download(found.url, found.filename, size, purpose="to compare hashes")

    def download(
        self,
        url: str,
        filename: str,
        size: int,
        *,
        purpose: str,
        hint: str = "Make the index publish sha256 hashes, or check that its files can be downloaded with the read "
        "credentials.",
        same_origin_only: bool = False,
        off_origin_hint: str | None = None,
        within: float | None = None,
    ) -> str | None:
        """download.download_sha256 with this check URL's client and read credentials: the one download path."""
        return download_sha256(
            self.client,
            url,
            self.auth,
            filename=filename,
            size=size,
            purpose=purpose,
            hint=hint,
            front_end=self.front_end,
            same_origin_only=same_origin_only,
            off_origin_hint=off_origin_hint,
            within=within,
        )

    def _fetch(
        self, project: str, console: Console, within: float | None = None, parse_by: float | None = None
    ) -> Listing:
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
                f"{safe.inline(describe(final.error), 800)}",
                hint=hint_for(final.error, hints.unreachable_check_url(self.front_end)),
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
        parse_deadline = time.monotonic() + self.deadline
        deadline = parse_deadline if parse_by is None else parse_by
        return parse_listing(response, project, deadline=deadline, front_end=self.front_end)

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
    return Checker(
        client, target.check_url, auth, policy, target.env_prefix, deadline=deadline_from(environ), front_end=front_end
    )
