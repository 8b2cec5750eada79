"""HTTP edge: POST one dist to the legacy upload API, streaming the file from disk; never half-publish or overwrite.

httpx streams a file object in a multipart body chunk by chunk and sends a Content-Length computed from the
file's size (fstat on its fileno), so a 500 MB wheel costs no more memory than a 1 kB one. Redirects are not
followed: a redirected POST would lose its body, so the user is told the URL to configure instead.

A 2xx is published only when it says so: a `202 Accepted`, or an answer naming a task (Pulp's `task`), comes back as
confirm.Accepted for run.py to have confirmed (stored and listed); so does every 2xx with verify-published.

With skip-existing the check URL (Simple API) is asked first: an identical file is skipped, a different one with
the same name fails naming both hashes. Failed attempts are retried (retry.py); after one that may have stored the
file (5xx, lost connection after sending) the check URL is asked again before retrying. Registries' "already
exists" answers (see the facts table) are recognised and reported in the registry's own words (answers.py); at most
the first 64 KiB of an answer is read (bounds.py).

Environment knobs (documented for tests and slow networks):

- `PUBLISHER_READ_TIMEOUT` -- seconds to wait for each read of the registry's answer (default 300).
- `PUBLISHER_REQUEST_DEADLINE` -- total seconds for one request, connect to last byte read (default 300), plus
  1 s per MiB of the file for an upload (or a download to compare hashes); see bounds.py.
- `PUBLISHER_RETRY_BASE_DELAY` -- see retry.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import IO, TYPE_CHECKING, Literal, cast

import httpx

from publisher.auth.model import Credentials
from publisher.config.settings import Settings
from publisher.config.target import Target
from publisher.config.urls import origin, strip_credentials
from publisher.dists.collect import Dist, file_identity
from publisher.dists.digests import ChangedDuringUpload, Digests, VerifiedReader, read_digests
from publisher.dists.form import form_fields
from publisher.index.accepted import Accepted
from publisher.index.answers import auth_hint, is_duplicate_answer, is_identical_answer, registry_message
from publisher.index.tasks import task_reference
from publisher.net.bodies import json_value
from publisher.net.retry import RetryPolicy, call_with_retries, describe, hint_for, may_have_arrived, policy_from
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import AuthenticationError, UploadError
from publisher.report.results import FileResult, human_size

if TYPE_CHECKING:
    from publisher.index.confirm import Confirmer
    from publisher.index.existing import Checker, Existing


PROGRESS_MIN_SIZE = 10 * 1024 * 1024  # files above this get a progress line at each 10%


@dataclass(frozen=True)
class Outcome:
    """What the registry's answer means. `accepted`: a 2xx that does not show the file stored (a 202, a task), for
    confirm.py to follow; `answer` is its status line and `task` the task it names. `verified`: the index already
    lists the file with our sha256."""

    status: Literal["published", "skipped", "accepted"]
    detail: str = ""
    answer: str = ""
    task: str | None = None
    verified: bool = False


def post_dist(
    client: httpx.Client, url: str, dist: Dist, digests: Digests, file: IO[bytes], console: Console
) -> httpx.Response:
    """Send the form with the open file streamed as `content`, verified against `digests` as it goes (digests.py),
    with progress lines for big files."""
    tenths = 0

    def progress(sent: int) -> None:
        nonlocal tenths
        done = min(10, sent * 10 // max(dist.size, 1))
        if done > tenths:
            tenths = done
            console.info(f"  {sent * 100 // dist.size:3d}%  {human_size(sent)} of {human_size(dist.size)}")

    reader = VerifiedReader(file, digests, dist.size, progress if dist.size > PROGRESS_MIN_SIZE else None)
    return client.post(
        url,
        data=form_fields(dist, digests),
        files={"content": (dist.filename, cast(IO[bytes], reader), "application/octet-stream")},
    )


@dataclass
class _Upload:
    """Everything one upload needs to interpret answers; `earlier` records an attempt that may have stored it."""

    client: httpx.Client
    url: str
    dist: Dist
    digests: Digests
    credentials: Credentials
    settings: Settings
    checker: Checker | None
    policy: RetryPolicy
    console: Console
    file: IO[bytes]  # opened once: hashed, then sent, so the bytes sent are the bytes hashed
    earlier: str = ""  # what the earlier, possibly stored, attempt got

    def run(self) -> Outcome:
        final = call_with_retries(
            lambda: post_dist(self.client, self.url, self.dist, self.digests, self.file, self.console),
            self.policy,
            self.console,
            f"Uploading {self.dist.filename}",
            settle=self.settle,
        )
        if final.settled is not None:
            return final.settled
        if final.response is None:
            assert final.error is not None
            hint = (
                "Check the URL and that the registry is reachable from this runner; raise "
                f"{self.settings.label('retries')} for a flaky network."
            )
            if self.earlier:
                hint += f" The file may have been stored: re-run with {self.settings.label('skip-existing')} to finish."
            raise UploadError(
                f"Could not upload {self.dist.filename} to {self.url} after {final.attempts} attempt(s): "
                f"{describe(final.error)}",
                hint=hint_for(final.error, hint),  # none for a host that cannot be reached: its message says the fix
            )
        return self.classify(final.response, final.attempts)

    def settle(self, result: httpx.Response | httpx.TransportError) -> Outcome | None:
        """Before retrying: did the failed attempt store the file after all? Ask the check URL."""
        if not may_have_arrived(result):
            return None
        self.earlier = describe(result)
        found = self.recheck()
        if found is not None and found.verdict == "identical":
            self.console.info(f"  {self.earlier}, but the index lists {self.dist.filename} with the same sha256")
            return Outcome("published", f"stored despite {self.earlier}; verified on the index", verified=True)
        return None

    def recheck(self, said: str = "") -> Existing | None:
        """A fresh look at the index; different contents fail at once, an unreadable index is only a warning."""
        if self.checker is None:
            return None
        try:
            found = self.checker.compare(self.dist, self.digests, self.console, fresh=True)
        except UploadError as exc:
            self.console.warning(f"Could not re-check {self.dist.filename} on the index: {exc.message}")
            return None
        if found.verdict == "different":
            raise different_contents(self.dist, found, said)
        return found

    def classify(self, response: httpx.Response, attempts: int) -> Outcome:
        """Turn the registry's final answer into an Outcome, or an error that says what to do next."""
        status = response.status_code
        message = registry_message(response)
        if 200 <= status < 300:
            answer = f"{status} {safe.inline(response.reason_phrase, 100)}".strip()
            if is_identical_answer(status, message):
                if self.earlier:
                    detail = f"stored despite {self.earlier}; the registry reports it identical"
                    return Outcome("published", detail, answer=answer)
                return Outcome("skipped", "the registry already holds this identical file")
            task = task_reference(json_value(response))
            if status == 202 or task is not None:  # stored in the background, maybe: confirm.py follows it
                return Outcome("accepted", answer=answer, task=task)
            return Outcome("published", answer=answer)
        full = registry_message(response, 2000)
        self.console.debug(f"< {status} from {self.url}: {full}")
        if is_duplicate_answer(status, full):  # the whole page: a registry's sentence may come after much else
            return self.duplicate(status, message)
        if 300 <= status < 400:
            location = strip_credentials(response.headers.get("location", "?"))
            raise UploadError(
                f"{self.dist.filename}: the upload to {self.url} was redirected ({status}) to {location}.",
                hint=f"Uploads are not followed through redirects. Set the index's `publish-url` (or "
                f"{self.settings.label('publish-url')}) to the final URL (often a missing trailing slash, or http "
                "instead of https).",
            )
        said = f"The registry said: {message or '(nothing)'}"
        if status in (401, 403):
            raise AuthenticationError(
                f"{status} from {self.url} uploading {self.dist.filename}: the registry rejected the credentials from "
                f"{self.credentials.source} (auth method: {self.credentials.method}). {said}",
                hint=auth_hint(self.url, self.credentials),
            )
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        hint = "Fix what the registry reports above; files already uploaded by this run are listed in the summary."
        if status == 429 or status >= 500:
            hint = (
                "The registry kept failing; try again later (re-run with "
                f"{self.settings.label('skip-existing')} to finish a partly uploaded release) or raise "
                f"{self.settings.label('retries')}."
            )
        raise UploadError(f"{status} from {self.url} uploading {self.dist.filename}{tried}. {said}", hint=hint)

    def duplicate(self, status: int, message: str) -> Outcome:
        """The registry already has a file of this name: ours (skip or count as published) or not (fail)."""
        words = message if str(status) in message else f"{status} {message}".strip()
        name, sha = self.dist.filename, self.digests.sha256
        found = self.recheck(words)  # raises when the index has different contents
        if found is not None and found.verdict == "identical":
            if self.earlier:
                return Outcome("published", f"stored despite {self.earlier}; verified on the index", verified=True)
            if self.settings.skip_existing:
                return Outcome("skipped", "already on the index (same sha256)")
            raise UploadError(
                f"{name} is already on {self.url} with identical contents (sha256 {sha}). The registry said: {words}",
                hint=f"Nothing was replaced. To treat identical files as done when re-running a release, set "
                f"{self.settings.label('skip-existing')}.",
            )
        if self.settings.skip_existing:
            self.console.warning(
                f"{name}: the registry says it already exists ({words}), but its contents could not be compared "
                f"with the local file (sha256 {sha}): "
                + ("no check URL is configured." if self.checker is None else "the check URL does not list it.")
                + " Counted as skipped.",
                title="Skipped without verification",
            )
            return Outcome("skipped", "the registry says it exists; contents not verified")
        if self.earlier:
            raise UploadError(
                f"{name}: an attempt failed ({self.earlier}) and the retry was refused as a duplicate, so that attempt "
                f"probably stored the file, but without a check URL its contents cannot be verified. "
                f"The registry said: {words}",
                hint=f"Compare the file on the index with the local sha256 {sha}; set the index's `url` (or "
                f"{self.settings.label('check-url')}) to the Simple API so uploads can verify this themselves.",
            )
        raise UploadError(
            f"{name} already exists on {self.url}. The registry said: {words}",
            hint=f"A published file cannot be replaced. If this re-runs the same release, "
            f"{self.settings.set_to('skip-existing', True)} (with a check URL the sha256 is compared first); if the "
            "contents changed, release a new version.",
        )


def different_contents(dist: Dist, found: Existing, said: str = "") -> UploadError:
    registry = f" The registry said: {said}" if said else ""
    return UploadError(
        f"{dist.filename} already exists on the index with different contents: the index has {found.their_digest}, "
        f"the local file has {found.our_digest} (listed at {found.listing_url}). It was not replaced.{registry}",
        hint="A published file is never replaced. Release a new version (or add a wheel build tag); if the local "
        "file is the wrong one, rebuild from the released commit.",
    )


@dataclass(frozen=True)
class Session:
    """What every upload of one run shares: the client, where to and as whom, the retry policy, the check URL, and
    the confirmation of uploads the registry accepted without showing them stored."""

    client: httpx.Client
    target: Target
    credentials: Credentials
    settings: Settings
    policy: RetryPolicy
    checker: Checker | None

    @cached_property
    def confirmer(self) -> Confirmer:
        """Follows what the registry accepted without showing it stored; named in the log as the index, or the
        upload URL's origin."""
        from publisher.index.confirm import Confirmer  # loaded only when an upload needs confirming

        target = self.target
        registry = f"`{safe.exact(target.index_name)}`" if target.index_name else origin(target.display_url)
        return Confirmer(
            self.client,
            target.display_url,
            registry,
            self.checker,
            self.policy,
            self.settings.confirm_timeout,
            self.settings.label,
            task_auth=self.credentials.renewal is None,  # a minted token goes to the publish URL only
            download_back=self.settings.verify_published,
        )


def open_session(
    client: httpx.Client,
    target: Target,
    credentials: Credentials,
    settings: Settings,
    environ: Mapping[str, str],
    console: Console,
) -> Session:
    """Built once per run, before the first upload (so the check URL's read password is masked first)."""
    policy = policy_from(settings.retries, environ)
    checker = None
    if target.check_url:  # existing.py (and its HTML parser) is imported only when there is a check URL
        from publisher.index.existing import make_checker

        checker = make_checker(
            client,
            target,
            credentials,
            policy,
            allow_insecure_http=settings.allow_insecure_http,
            environ=environ,
            front_end=settings.front_end,
            console=console,
        )
    return Session(client, target, credentials, settings, policy, checker)


def upload_one(session: Session, dist: Dist, console: Console) -> FileResult | Accepted:
    """Upload one dist; raise PublishError (with the registry's words) on failure.

    Returns its result, or :class:`~publisher.index.confirm.Accepted` when the registry accepted it without showing it
    stored (a 202, a task; any 2xx with verify-published): run.py confirms that outside the upload's slot. The caller
    opens the dist's log group. Thread-safe: the only shared state is the session's client and the check URL's
    listing cache (locked per project).
    """
    settings, checker = session.settings, session.checker
    url = session.target.display_url
    with _open(dist) as file:
        digests = read_digests(file)
        if settings.print_hash:
            console.info(f"  sha256      {digests.sha256}\n  blake2b-256 {digests.blake2_256}")
        outcome = None
        if settings.skip_existing and checker is not None:
            found = checker.compare(dist, digests, console)
            if found.verdict == "different":
                raise different_contents(dist, found)
            if found.verdict == "identical":
                outcome = Outcome("skipped", "already on the index (same sha256)", verified=True)
        if outcome is None:
            upload = _Upload(
                session.client,
                url,
                dist,
                digests,
                session.credentials,
                settings,
                checker,
                session.policy,
                console,
                file,
            )
            try:
                outcome = upload.run()
            except httpx.TransportError as exc:  # not retryable: a bad URL or TLS problem
                raise UploadError(
                    f"Could not upload {dist.filename} to {url}: {describe(exc)}",
                    hint="Check the URL and that the registry is reachable from this runner.",
                ) from None
            except ChangedDuringUpload as exc:
                raise UploadError(
                    f"{dist.filename} changed during upload: {exc}. The request was cut before its end, so the "
                    "registry received no complete file.",
                    hint="Something else writes to the packages directory while this step runs (a parallel build "
                    "step, a watcher). Let it finish, rebuild, and re-run.",
                ) from None
        verify = settings.verify_published and outcome.status == "published" and not outcome.verified
        if outcome.status == "accepted" or verify:
            console.info(f"  accepted: {outcome.answer}" + (f" ({outcome.detail})" if outcome.detail else ""))
            return Accepted(dist, digests, outcome.answer, outcome.task, time.monotonic(), verifying=verify)
        console.info(f"  {outcome.status}" + (f": {outcome.detail}" if outcome.detail else ""))
        return FileResult(dist.filename, dist.size, digests.sha256, outcome.status, outcome.detail)


@contextmanager
def _open(dist: Dist) -> Iterator[IO[bytes]]:
    """The dist's file, opened once for hashing and sending; still the file that was validated, or UploadError."""
    try:
        file = dist.path.open("rb")
    except OSError as exc:
        raise UploadError(
            f"{dist.filename} could not be opened for the upload: {safe.inline(exc.strerror)}.",
            hint="Something removed or changed the packages directory after the files were validated; rebuild and "
            "re-run.",
        ) from None
    with file:
        if dist.identity != (0, 0, 0, 0) and file_identity(os.fstat(file.fileno())) != dist.identity:
            raise UploadError(
                f"{dist.filename} changed after it was validated (another file, or the same one rewritten, is at "
                f"{safe.exact(dist.path)} now). It was not uploaded.",
                hint="Something else writes to the packages directory while this step runs (a parallel build step, "
                "a watcher). Let it finish, rebuild, and re-run.",
            )
        yield file
