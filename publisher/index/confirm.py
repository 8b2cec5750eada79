"""'Published' means stored and listed: following an upload the registry accepted without showing it stored.

Some registries store uploads in the background. Pulp (pulpcore + pulp_python) answers the legacy upload with
`202 Accepted` and `{"task": "/pulp/api/v3/tasks/<id>/"}`; the file is in its Simple API only once that task's
`state` is `completed`, and the task may fail (`error.description`) or wait for ever (no worker running). Two
uploads of different bytes under one new name both get 202, and the last task to complete wins. So:

- `202 Accepted`, or any 2xx whose JSON names a `task` (Pulp with PYTHON_GROUP_UPLOADS answers 200 with one),
  never counts as published by itself; with `verify-published`, neither does any other 2xx (upload.py hands such
  an answer here as :class:`Accepted`).
- The answer's task is followed (see "The task URL") until it ends; then the check URL's listing
  (existing.Checker, asked fresh with `Cache-Control: no-cache`) must show the file with the local sha256.
- With `verify-published`, the listed file is then downloaded back from the listing's URL (on the check URL's
  origin only) and must have the local sha256 too (download_back.py).
- All within `confirm-timeout` seconds of the answer (default 300).

The decision table is confirm_table.py's; the rule for the task URL, tasks.py's. "No task followed": the answer
named none, named one that is refused (tasks.py), or the task could not be read (a 401/403/404, an answer that is
not a task, a registry out of reach: a warning says which). A listing that cannot be read (401/403, not a Simple
API page, out of reach) ends it as accepted, not confirmed, with the check URL's error.

**Bounds.** A task answer is read up to bounds.TASK_CAP (256 KiB) and parsed with bodies.json_value. Each poll (of
the task or the listing) is retried by the run's retry policy but never past the deadline, and its request ends at
most POLL_GRACE seconds after the deadline. Polls back off from 0.25 s, doubling up to 5 s, the last one at the
deadline. While it waits, a line about every 10 s says what it waits for (`waiting for <registry> to store <file>:
task running, 20 s`), never one per poll.

**Cancellation.** Waits end at once (cancel.sleep) and a request in flight is cut with the others
(transport.abort_all); the file is reported `accepted, not confirmed`, and the run writes its record as every
cancelled run does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from publisher.index.accepted import Accepted
from publisher.index.answers import registry_message
from publisher.index.confirm_table import (
    MAX_WAIT,
    NOT_CONFIRMED,
    NOT_STORED,
    Action,
    Progress,
    Seen,
    Verdict,
    decide,
    poll_wait,
)
from publisher.index.download_back import Fetch, download_back
from publisher.index.tasks import COMPLETED, NOT_POLLED, Task, parse_task, resolve_task
from publisher.net import bodies
from publisher.net.bounds import TASK_CAP
from publisher.net.retry import Final as Final_
from publisher.net.retry import RetryPolicy, call_with_retries, describe
from publisher.report import cancel, safe
from publisher.report.console import Console
from publisher.report.errors import NotPublishedError, UploadError
from publisher.report.results import FileResult

if TYPE_CHECKING:
    from publisher.index.existing import Checker, Existing

POLL_GRACE = 10.0  # a poll started just before the deadline may take this much longer to answer
PARSE_GRACE = 2.0  # and its listing this much longer to be parsed (a real one: well under a second per MiB)


def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


# ---- the I/O edge ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmer:
    """What every confirmation of a run shares; `label` spells an input as the user's front end does."""

    client: httpx.Client
    upload_url: str
    registry: str  # how the log names the registry: the index's name, or the upload URL's origin
    checker: Checker | None
    policy: RetryPolicy
    timeout: float
    label: Callable[[str], str]
    task_auth: bool = True  # False for a minted trusted-publishing token: it goes to the publish URL only
    download_back: bool = False  # verify-published: a listed file is downloaded back and hashed (download_back.py)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = cancel.sleep

    def confirm(self, accepted: Accepted, console: Console) -> FileResult:
        """Published (a FileResult), or NotPublishedError with the file's status (`accepted, not ...`)."""
        return _Confirmation(self, accepted, console).run()


class _Confirmation:
    """One file's confirmation: the loop around :func:`decide`, its polls, waits and progress lines."""

    def __init__(self, confirmer: Confirmer, accepted: Accepted, console: Console) -> None:
        self.c, self.a, self.console = confirmer, accepted, console
        self.name = accepted.dist.filename
        self.deadline = accepted.at + confirmer.timeout
        self.task_url, self.why = resolve_task(confirmer.upload_url, accepted.task)
        self.task: Task | None = None
        self.found: Existing | None = None
        self.fetch: Fetch | None = None
        self.progress = Progress()

    def left(self) -> float:
        return self.deadline - self.c.clock()

    def elapsed(self) -> float:
        return self.c.clock() - self.a.at

    def run(self) -> FileResult:
        try:
            return self._run()
        except (cancel.Cancelled, httpx.TransportError):
            if not cancel.requested():
                raise
            raise self.fail(
                NOT_CONFIRMED,
                "confirmation stopped by the cancellation; re-run skipping existing files once the registry has "
                "stored it",
                f"{self.name} was accepted ({self.a.answer}), but the cancellation stopped its confirmation.",
                f"Re-run with {self.c.label('skip-existing')} once the registry has stored it: a file listed with "
                "the same sha256 is skipped.",
            ) from None

    def _run(self) -> FileResult:
        self.announce()
        seen = Seen(
            task=NOT_POLLED if self.task_url else None,
            checkable=self.c.checker is not None,
            fetch_back=self.c.download_back,
        )
        last: Action | None = None
        looks = 0
        while True:
            step = decide(replace(seen, timed_out=self.left() <= 0))
            if isinstance(step, Verdict):
                return self.conclude(step)
            looks = looks + 1 if step == last else 1
            if looks > 1:  # the same look again: back off, but look at the deadline and at each progress line
                until_line = self.progress.next_at - self.elapsed()
                self.c.sleep(max(0.0, min(poll_wait(looks - 1), self.left(), max(until_line, 0.0) or MAX_WAIT)))
            last = step
            if step == "poll task":
                self.task = self.poll_task()
                seen = replace(seen, task=None if self.task is None else self.task.state)
            elif step == "download back":
                self.fetch = self.download_back()
                seen = replace(seen, fetched=self.fetch.kind)
            else:
                self.found = self.look()
                seen = replace(seen, listed=self.found.verdict)
            if isinstance(decide(replace(seen, timed_out=self.left() <= 0)), str) and self.progress.due(self.elapsed()):
                self.console.info(
                    f"  waiting for {self.c.registry} to store {self.name}: {self.doing(seen)}, {self.elapsed():.0f} s"
                )

    def announce(self) -> None:
        within = f"for at most {self.c.timeout:g} s ({self.c.label('confirm-timeout')})"
        if self.task_url is not None:
            self.console.info(f"  following the registry's task {safe.exact(self.task_url, 300)} {within}")
        elif self.a.task is not None:
            self.console.warning(
                f"{self.name}: {self.why}. "
                + ("Confirming through the check URL instead." if self.c.checker else "It cannot be confirmed."),
                title="Task not followed",
            )
        elif self.c.checker is not None:
            what = self.c.label("verify-published") if self.a.verifying else "the answer names no task"
            self.console.info(f"  {what}: looking for it on the index {within}")

    @staticmethod
    def doing(seen: Seen) -> str:
        if seen.task not in (None, COMPLETED):
            return f"task {seen.task}"
        return "task completed, not listed yet" if seen.task == COMPLETED else "not listed yet"

    # -- the two looks ---------------------------------------------------------------------------------------------

    def poll_task(self) -> Task | None:
        """The task's state, or None (with a warning) when it cannot be read: then the listing decides."""
        assert self.task_url is not None
        url, left = self.task_url, max(0.0, self.left())
        extensions = bodies.body_limit(TASK_CAP) | bodies.within(left + POLL_GRACE)
        policy = replace(self.c.policy, total_cap=min(self.c.policy.total_cap, left))

        auth = httpx.USE_CLIENT_DEFAULT if self.c.task_auth else None  # None: no Authorization at all

        def send() -> httpx.Response:
            return self.c.client.get(url, headers={"Accept": "application/json"}, extensions=extensions, auth=auth)

        problem = ""
        try:
            final: Final_[None] = call_with_retries(send, policy, self.console, f"Reading the task of {self.name}")
        except httpx.TransportError as exc:
            if cancel.requested():
                raise
            problem = describe(exc)
        else:
            response = final.response
            if response is None:
                problem = describe(final.error) if final.error is not None else "no answer"
            elif response.status_code != 200:
                problem = f"{response.status_code}: {registry_message(response, 200)}"
            else:
                task = parse_task(bodies.json_value(response))
                if task is not None:
                    return task
                problem = "the answer is not a task (JSON with a `state`)"
        self.why = f"its task {safe.exact(url, 300)} could not be read ({safe.inline(problem, 300)})"
        self.task_url = None
        self.console.warning(
            f"{self.name}: {self.why}. "
            + ("Confirming through the check URL instead." if self.c.checker else "It cannot be confirmed."),
            title="Task not followed",
        )
        return None

    def look(self) -> Existing:
        """The check URL's fresh verdict on the file; a listing that cannot be read ends the confirmation."""
        assert self.c.checker is not None
        try:
            left = max(0.0, self.left())  # the page is parsed by the deadline too: a hostile one takes no longer
            by = time.monotonic() + left + PARSE_GRACE
            return self.c.checker.compare(
                self.a.dist, self.a.digests, self.console, fresh=True, within=left + POLL_GRACE, parse_by=by
            )
        except (UploadError, httpx.TransportError) as exc:
            if cancel.requested():
                raise
            message = exc.message if isinstance(exc, UploadError) else safe.inline(describe(exc), 500)
            raise self.fail(
                NOT_CONFIRMED,
                "the check URL could not be read",
                f"{self.name} was accepted ({self.a.answer}) but could not be confirmed on the index: {message}",
                (exc.hint + " " if isinstance(exc, UploadError) and exc.hint else "")
                + f"Once it is fixed, re-run with {self.c.label('skip-existing')}: a file listed with the same "
                "sha256 is skipped.",
            ) from None

    def download_back(self) -> Fetch:
        """verify-published: the listed file's bytes, downloaded back from the listing's URL (download_back.py)."""
        assert self.c.checker is not None
        assert self.found is not None
        return download_back(
            self.c.checker,
            self.found,
            self.a.dist,
            self.a.digests,
            self.console,
            answer=self.a.answer,
            within=max(0.0, self.left()) + POLL_GRACE,
            label=self.c.label,
        )

    # -- the end ---------------------------------------------------------------------------------------------------

    def conclude(self, verdict: Verdict) -> FileResult:
        took = seconds_text(self.elapsed())
        shown_task = safe.exact(self.task_url or "", 300)
        task = self.task
        if verdict.reason == "listed":
            stored = "stored (task completed) and " if task is not None and task.state == COMPLETED else ""
            return self.published(f"{stored}listed with the same sha256 after {took}")
        if verdict.reason == "downloaded back":
            stored = "stored (task completed), " if task is not None and task.state == COMPLETED else ""
            return self.published(f"{stored}listed and downloaded back with the same sha256 after {took}")
        if verdict.reason in ("served other contents", "not downloaded"):
            assert self.fetch is not None
            raise self.fail(verdict.status, self.fetch.detail, self.fetch.message, self.fetch.hint)
        if verdict.reason == "stored":
            return self.published(f"stored (task completed after {took}); not checked on the index: no check URL")
        timeout = f"{self.c.timeout:g} s"
        retry = (
            f"Re-run with {self.c.label('skip-existing')} once the registry has caught up: a file it lists with the "
            f"same sha256 is skipped. Raise {self.c.label('confirm-timeout')} for a registry that takes longer."
        )
        if verdict.reason == "task ended":
            assert task is not None
            said = safe.inline(task.description, 500) if task.description else "(no description)"
            raise self.fail(
                NOT_STORED,
                f"task {task.state}: {said}",
                f"{self.name} was accepted ({self.a.answer}) but not stored: the registry's task {task.state}: {said} "
                f"({shown_task}).",
                "Act on the registry's reason above (Pulp fails the task of a file it cannot read, e.g. a wheel "
                "without METADATA); nothing of this file was stored. Fix it and upload again.",
            )
        if verdict.reason == "task pending":
            state = task.state if task is not None else NOT_POLLED
            raise self.fail(
                NOT_STORED,
                f"task still {state} after {timeout}",
                f"{self.name} was accepted ({self.a.answer}) but the registry has not stored it after {timeout}: its "
                f"task is still {state} ({shown_task}).",
                "The registry stores uploads in the background and has not done this one (Pulp: is a worker "
                "running?). " + retry,
            )
        if verdict.reason == "other contents":
            found = self.found
            assert found is not None
            raise self.fail(
                NOT_STORED,
                f"listed with other contents: the index has {found.their_digest}",
                f"{self.name} is listed with other contents: the index has {found.their_digest}, the local file has "
                f"{found.our_digest} (listed at {safe.exact(found.listing_url, 300)}). The registry accepted this "
                f"upload ({self.a.answer}), but another file of that name was stored in its place.",
                "Two uploads of one file name ran at once (another workflow run, another machine) and the other one "
                "was stored last. Find it; a published file is never replaced: release a new version (or add a "
                "wheel build tag).",
            )
        if verdict.reason == "not listed":
            where = safe.exact(self.found.listing_url, 300) if self.found is not None else "the check URL"
            done = "its task completed, but " if task is not None and task.state == COMPLETED else ""
            raise self.fail(
                NOT_CONFIRMED,
                f"{done}not listed on the index after {timeout}",
                f"{self.name} was accepted ({self.a.answer}) but is not listed on the index after {timeout} ({where}).",
                f"{done.capitalize()}The registry may still be storing it, or a cache in front of its Simple API may "
                "ignore `Cache-Control: no-cache`; if it never appears, the registry dropped it. " + retry,
            )
        raise self.fail(
            NOT_CONFIRMED,
            f"{self.why}, and there is no check URL",
            f"{self.name} was accepted ({self.a.answer}) but could not be confirmed: {self.why}, and there is no "
            "check URL to look for it.",
            f"Declare the index's `url` (or set {self.c.label('check-url')}) to its Simple API, so that uploads the "
            "registry stores in the background are confirmed there; then re-run with "
            f"{self.c.label('skip-existing')}.",
        )

    def published(self, detail: str) -> FileResult:
        self.console.info(f"  published: {detail}")
        dist = self.a.dist
        return FileResult(dist.filename, dist.size, self.a.digests.sha256, "published", detail)

    def fail(self, status: str, detail: str, message: str, hint: str) -> NotPublishedError:
        self.console.info(f"  {status}: {detail}")
        return NotPublishedError(message, hint, status=status, detail=detail, sha256=self.a.digests.sha256)
