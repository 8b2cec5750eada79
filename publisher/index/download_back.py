"""Under `verify-published`, the last step of a confirmation: the file the listing names with our sha256 is
downloaded back from the URL the listing gives and hashed, so what pip will fetch is proven to be what was built.

A listing names a hash; the bytes behind its link are another matter (a cache or proxy in front of the files, a
store that kept other bytes, a link to somewhere else). So, once the listing shows the file with the local sha256:

- The listing's URL must be on the **check URL's origin** (scheme, host, port): that is where the read credentials
  belong and what the user named. Any other URL (a CDN, another host, not an http(s) URL) is refused before any
  request, and so is a redirect off that origin: the file is `accepted, not confirmed`, never `published`. The one
  pairing accepted besides: PyPI's and TestPyPI's listings name their files on a files host of their own, by design
  (FILES_HOSTS, https on the default port only); no read credentials go there (reads.py sends them to their own
  origin only).
- It is downloaded through existing.Checker.download, the one download path (download.py): read credentials for
  their origin only, at most the local file's size read (one more byte and the contents differ), within the
  confirmation's deadline (`confirm-timeout`) and the request's own (PUBLISHER_REQUEST_DEADLINE, plus time for
  the file's size).
- Same sha256: published. Other bytes (or more of them): `accepted, not stored`, "served with other contents".
  A download that fails (an error status, the deadline, a connection cut): `accepted, not confirmed`.

Only with verify-published (for every file it confirms, a 202 included): a 202 confirmation without it trusts the
listing's sha256, as pip's install does, and costs no download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publisher.dists.collect import Dist
from publisher.dists.digests import Digests
from publisher.index import reads
from publisher.index.confirm_table import Fetched
from publisher.report import cancel
from publisher.report.console import Console
from publisher.report.errors import UploadError

if TYPE_CHECKING:  # existing.py (and its HTML parser) is imported only when there is a check URL
    from publisher.index.existing import Checker, Existing


# PyPI and TestPyPI serve the files their Simple API names from a host of their own (pip downloads them there).
FILES_HOSTS = {"pypi.org": "files.pythonhosted.org", "test.pypi.org": "test-files.pythonhosted.org"}


def may_download_from(url: str, check_url: str) -> bool:
    """Whether the download back may ask `url`: the check URL's origin, or PyPI's / TestPyPI's files host over
    https on the default port for their own check URL (pure)."""
    if reads.same_origin(url, check_url):
        return True
    check, file = reads.origin_key(check_url), reads.origin_key(url)
    if check is None or file is None:
        return False
    return check[0] == file[0] == "https" and file[2] == 443 and FILES_HOSTS.get(check[1]) == file[1]


@dataclass(frozen=True)
class Fetch:
    """What the download back showed: `kind` for the decision table; `detail`, `message`, `hint` for the report
    (outside text in them has been through safe already)."""

    kind: Fetched
    detail: str = ""
    message: str = ""
    hint: str = ""


def download_back(
    checker: Checker,
    found: Existing,
    dist: Dist,
    digests: Digests,
    console: Console,
    *,
    answer: str,
    within: float,
    label: Callable[[str], str],
) -> Fetch:
    """Download the listed file back from `found.file_url` (see the module docstring); `answer` is the registry's
    status line, `within` the seconds the download may take, `label` spells a setting in the front end's words."""
    name, url = dist.filename, found.file_url
    check = reads.shown_origin(checker.check_url)
    elsewhere = (
        f"{label('verify-published')} downloads a file back only from the check URL's origin, where its read "
        "credentials belong. If the index serves its files from another host by design (a CDN), turn "
        f"{label('verify-published')} off: {label('skip-existing')} still compares the listed sha256. Otherwise find "
        "out why the listing points elsewhere before anyone installs this version."
    )
    if not url or reads.origin_key(url) is None:
        return Fetch(
            "refused",
            "listed without a usable URL, not downloaded back",
            f"{name} is listed with the local sha256, but not at a usable http(s) URL: it was not downloaded back, "
            "so what the index serves is not proven to be what was built.",
            "Check the index's Simple API page for this file: its link should be an http(s) URL on the check URL's "
            "origin.",
        )
    if not may_download_from(url, checker.check_url):
        return Fetch(
            "refused",
            "listed on another origin, not downloaded back",
            f"{name} is listed with the local sha256, but at {reads.shown(url)}, on another origin than the check "
            f"URL ({check}): it was not downloaded back, so what that URL serves is not proven to be what was built.",
            elsewhere,
        )
    console.info(f"  downloading it back from {reads.shown(url)} to compare its sha256")
    try:
        theirs = checker.download(
            url,
            name,
            dist.size,
            purpose="back to check it",
            hint="Check that the read credentials may download the index's files and that it is reachable; raise "
            f"{label('confirm-timeout')} for a large file or a slow link.",
            same_origin_only=True,
            off_origin_hint=elsewhere,
            within=within,
        )
    except UploadError as exc:
        cancel.check()  # cut by a cancellation: the confirmation reports that instead
        return Fetch(
            "refused",
            "could not be downloaded back",
            f"{name} is listed with the local sha256 but could not be downloaded back to prove its bytes: "
            f"{exc.message}",
            (exc.hint + " " if exc.hint else "")
            + "The file may well be stored: download it from the listing's URL and compare its sha256 with the local "
            "file's before relying on it.",
        )
    if theirs == digests.sha256:
        return Fetch("same")
    served = f"more than {dist.size} bytes" if theirs is None else f"sha256:{theirs}"
    return Fetch(
        "other",
        f"served with other contents: the download has {served}",
        f"{name} is listed with the local sha256 but served with other contents: downloading it from "
        f"{reads.shown(url)} gave {served}, the local file has sha256:{digests.sha256}. The registry accepted this "
        f"upload ({answer}), but what its URL serves is not what was built.",
        "Something between the index's listing and its files serves other bytes under this name: a cache or proxy "
        "in front of the files, a store that kept another file, a tampered copy. pip checks the listed sha256 and "
        "refuses these bytes, so installs of this version fail. Find and fix what serves them; a published file is "
        "never replaced, so if the index itself holds other bytes, release a new version.",
    )
