"""The dry run: what the real run would do with each file, asked of the index without uploading anything.

A dry run that only validates says "fine" for a release whose files are already on the index, and the real run
then fails. So, after everything the real run checks first (files, metadata, credentials, URLs), each file is
looked up at the check URL exactly as `skip-existing` looks it up (existing.Checker: the same read credentials
and origins, redirects, caps, deadlines and retries), and reported as the real run would end it:

- `would upload`: the index does not list it (or there is no check URL to ask: then the registry's answer to the
  real upload is the one thing that cannot be known in advance, and the detail says so);
- `would skip`: the index lists it with the same sha256, and skip-existing is on;
- `would fail`: the index lists it with different contents, or with the same contents while skip-existing is off
  (registries refuse a file name they hold; PyPI and devpi accept the very same bytes again, so there the real run
  would get further: the hint says so), or, with skip-existing, the check URL cannot be read.

Each verdict is the file's own: the real run starts nothing new after its first failure (and uploads sdists only
once every wheel is up), so there a file that `would upload` may end `not uploaded` instead. The run ends as the
real one would: exit 1 when a file would fail (the error lists each one), else 0. A check URL that cannot be read
without skip-existing is only a warning, because the real run would not ask it first. The `published` and `skipped`
outputs stay empty: nothing was published or skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from publisher.auth.model import Credentials
from publisher.config.settings import Settings
from publisher.config.target import Target
from publisher.dists.collect import Dist
from publisher.dists.digests import Digests, file_digests
from publisher.report.console import Console
from publisher.report.errors import UploadError
from publisher.report.results import FileResult, Report, Status

if TYPE_CHECKING:
    from publisher.index.existing import Checker, Existing


class WouldFail(UploadError):
    """The dry run found files the real run would fail on (exit 1, as the real run)."""

    title = "Dry run"


def predict(
    settings: Settings,
    target: Target,
    credentials: Credentials,
    dists: list[Dist],
    environ: Mapping[str, str],
    console: Console,
    report: Report,
) -> None:
    """Add one FileResult per dist to `report`, in dist order; then raise WouldFail (or, with skip-existing, the
    check URL's own error) when the real run would fail."""
    if target.check_url is None:
        for dist in dists:
            sha256 = file_digests(dist.path).sha256
            report.results.append(FileResult(dist.filename, dist.size, sha256, "would upload", "no check URL to ask"))
        return
    from publisher.index.client import make_client
    from publisher.index.upload import open_session

    with make_client(credentials, console, environ, native_tls=settings.native_tls) as client:
        checker = open_session(client, target, credentials, settings, environ, console).checker
        assert checker is not None
        _Prediction(settings, checker, console).run(dists, report)


class _Prediction:
    def __init__(self, settings: Settings, checker: Checker, console: Console) -> None:
        self.settings, self.checker, self.console = settings, checker, console
        self.unreadable: dict[str, UploadError] = {}  # project -> why its listing could not be read (asked once)
        self.failures: list[str] = []
        self.hints: list[str] = []
        self.check_error: UploadError | None = None

    def run(self, dists: list[Dist], report: Report) -> None:
        for dist in dists:
            report.results.append(self.one(dist))
        if self.check_error is not None:  # with skip-existing the real run stops at this very error
            raise self.check_error
        if self.failures:
            raise WouldFail(
                f"The real run would fail on {len(self.failures)} of {len(dists)} file(s):\n  - "
                + "\n  - ".join(self.failures),
                hint=" ".join(dict.fromkeys(self.hints)),
            )

    def one(self, dist: Dist) -> FileResult:
        digests = file_digests(dist.path)
        found = self.lookup(dist, digests)

        def result(status: Status, detail: str) -> FileResult:
            return FileResult(dist.filename, dist.size, digests.sha256, status, detail)

        skip = self.settings.turned_on("skip-existing")
        if isinstance(found, UploadError):
            if self.settings.skip_existing:
                self.check_error = self.check_error or found
                return result("would fail", "the check URL could not be read (see the error)")
            return result("would upload", "not compared: the check URL could not be read (see the warning)")
        if found.verdict == "absent":
            return result("would upload", "not on the index yet")
        if found.verdict == "identical":
            if self.settings.skip_existing:
                return result("would skip", "already on the index (same sha256)")
            self.failures.append(
                f"{dist.filename} is already on the index with identical contents ({found.our_digest}, listed at "
                f"{found.listing_url}): the registry would refuse it"
            )
            self.hints.append(
                f"Set {skip} to treat identical files as done (PyPI and devpi accept the very same file again; most "
                "registries refuse it)."
            )
            off = self.settings.written("skip-existing", False)
            return result("would fail", f"already on the index, identical contents; {off}")
        self.failures.append(
            f"{dist.filename} is already on the index with different contents: the index has {found.their_digest}, "
            f"the local file has {found.our_digest} (listed at {found.listing_url})"
        )
        self.hints.append(
            "A published file is never replaced: release a new version (or add a wheel build tag); if the local file "
            "is the wrong one, rebuild from the released commit."
        )
        return result("would fail", "already on the index, different contents")

    def lookup(self, dist: Dist, digests: Digests) -> Existing | UploadError:
        """The index's verdict on this file, or why it could not be had (said once per project)."""
        project = canonicalize_name(dist.name)
        if project in self.unreadable:
            return self.unreadable[project]
        try:
            return self.checker.compare(dist, digests, self.console)
        except UploadError as exc:
            self.unreadable[project] = exc
            if not self.settings.skip_existing:
                self.console.warning(
                    f"{exc.message} The files of {project} are reported as `would upload` without comparing them: "
                    f"with {self.settings.written('skip-existing', False)} the real run uploads without asking the "
                    "check URL first.",
                    title="Dry run: check URL not read",
                )
            return exc
