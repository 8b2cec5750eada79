"""The confirmation's pure parts (decision table, task URL rule, task JSON, backoff, progress rhythm) and its loop
against the fake Pulp with a clock that jumps, so a 300 s wait takes no time."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.auth.model import Credentials
from publisher.config.settings import build_settings
from publisher.config.target import Target
from publisher.dists.collect import load
from publisher.index.accepted import Accepted
from publisher.index.client import make_client
from publisher.index.confirm_table import NOT_CONFIRMED, NOT_STORED, Progress, Seen, Verdict, decide, poll_wait
from publisher.index.tasks import Task, parse_task, resolve_task
from publisher.index.upload import open_session, upload_one
from publisher.report.console import TerminalConsole
from publisher.report.errors import NotPublishedError
from tests.fakes.pulp import FakePulp
from tests.support.builders import pulp_dists
from tests.support.clock import Clock

pytestmark = pytest.mark.timeout(60)

# -- the decision table ---------------------------------------------------------------------------------------------

PENDING = ["waiting", "running", "canceling", "queued"]


def test_a_task_is_polled_at_least_once_however_short_the_deadline() -> None:
    assert decide(Seen(task="not polled yet", timed_out=True)) == "poll task"
    assert decide(Seen(task="completed", checkable=True, timed_out=True)) == "read listing"  # and the listing read


@pytest.mark.parametrize("state", PENDING)
@pytest.mark.parametrize("checkable", [True, False])
def test_a_pending_task_is_polled_until_the_deadline_then_not_stored(state: str, checkable: bool) -> None:
    assert decide(Seen(task=state, checkable=checkable)) == "poll task"
    assert decide(Seen(task=state, checkable=checkable, timed_out=True)) == Verdict(NOT_STORED, "task pending")


@pytest.mark.parametrize("state", ["failed", "canceled", "skipped"])
def test_a_task_that_ended_without_storing_is_not_stored_whatever_the_listing(state: str) -> None:
    for listed in (None, "identical", "absent"):
        seen = Seen(task=state, listed=listed, checkable=True)  # type: ignore[arg-type]
        assert decide(seen) == Verdict(NOT_STORED, "task ended")


def test_a_completed_task_is_confirmed_on_the_listing() -> None:
    assert decide(Seen(task="completed", checkable=True)) == "read listing"
    assert decide(Seen(task="completed", listed="identical", checkable=True)) == Verdict("published", "listed")
    assert decide(Seen(task="completed", listed="different", checkable=True)) == Verdict(NOT_STORED, "other contents")
    assert decide(Seen(task="completed", listed="absent", checkable=True)) == "read listing"
    assert decide(Seen(task="completed", listed="absent", checkable=True, timed_out=True)) == Verdict(
        NOT_CONFIRMED, "not listed"
    )


def test_a_completed_task_without_a_check_url_is_published_by_its_word() -> None:
    assert decide(Seen(task="completed")) == Verdict("published", "stored")


def test_without_a_task_the_listing_decides_and_without_a_check_url_nothing_can() -> None:
    assert decide(Seen(checkable=True)) == "read listing"
    assert decide(Seen(listed="identical", checkable=True)) == Verdict("published", "listed")
    assert decide(Seen(listed="different", checkable=True)) == Verdict(NOT_STORED, "other contents")
    assert decide(Seen(listed="absent", checkable=True, timed_out=True)) == Verdict(NOT_CONFIRMED, "not listed")
    assert decide(Seen()) == Verdict(NOT_CONFIRMED, "unconfirmable")
    assert decide(Seen(timed_out=True)) == Verdict(NOT_CONFIRMED, "unconfirmable")


@pytest.mark.parametrize("task", [None, "completed"])
def test_with_verify_published_a_listed_file_is_downloaded_back_before_it_counts(task: str | None) -> None:
    listed = Seen(task=task, listed="identical", checkable=True, fetch_back=True)
    assert decide(listed) == "download back"
    assert decide(replace(listed, timed_out=True)) == "download back"  # once listed, the download gets its turn
    assert decide(replace(listed, fetched="same")) == Verdict("published", "downloaded back")
    assert decide(replace(listed, fetched="other")) == Verdict(NOT_STORED, "served other contents")
    assert decide(replace(listed, fetched="refused")) == Verdict(NOT_CONFIRMED, "not downloaded")
    assert decide(replace(listed, listed="different")) == Verdict(NOT_STORED, "other contents")  # nothing to fetch
    assert decide(replace(listed, listed="absent")) == "read listing"


# -- the task URL ---------------------------------------------------------------------------------------------------

UPLOAD = "https://alice:pw@pulp.example/pypi/internal/simple/"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("/pulp/api/v3/tasks/0190-ab/", "https://pulp.example/pulp/api/v3/tasks/0190-ab/"),
        ("https://PULP.example:443/pulp/api/v3/tasks/1/", "https://PULP.example:443/pulp/api/v3/tasks/1/"),
    ],
)
def test_a_task_on_the_upload_origin_is_followed_without_the_url_credentials(reference: str, expected: str) -> None:
    assert resolve_task(UPLOAD, reference) == (expected, "")


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        (None, "the answer names no task"),
        ("https://evil.example/pulp/api/v3/tasks/1/", "on another origin (https://evil.example)"),
        ("//evil.example/tasks/1/", "on another origin (https://evil.example)"),
        ("http://pulp.example/pulp/api/v3/tasks/1/", "on another origin (http://pulp.example)"),  # no downgrade
        ("https://pulp.example:8443/tasks/1/", "on another origin (https://pulp.example:8443)"),
        ("updated", "is neither an absolute path nor an http(s) URL"),  # Pulp's grouped uploads answer this
        ("ftp://pulp.example/tasks/1/", "is neither an absolute path nor an http(s) URL"),
        ("https://bob:pw@pulp.example/tasks/1/", "is not a usable URL"),
        ("/tasks/1/\r\nX-Injected: 1", "is not a usable URL"),
        ("https://[::1/tasks", "is not a usable URL"),
    ],
)
def test_a_task_elsewhere_or_unusable_is_not_followed(reference: str | None, why: str) -> None:
    url, reason = resolve_task(UPLOAD, reference)
    assert url is None
    assert why in reason
    assert "\n" not in reason
    assert "\r" not in reason


# -- the task resource ----------------------------------------------------------------------------------------------


def test_pulp_task_json_is_read_for_its_state_and_error() -> None:
    assert parse_task({"pulp_href": "/pulp/api/v3/tasks/1/", "state": "running", "error": None}) == Task("running")
    failed = {"state": "failed", "error": {"description": "No METADATA", "traceback": "  File ..."}}
    assert parse_task(failed) == Task("failed", "No METADATA")
    assert parse_task({"state": " Completed "}) == Task("completed")
    assert parse_task({"state": "failed", "error": "plain words"}) == Task("failed", "plain words")
    assert parse_task({"state": "failed", "error": {"description": 5}}) == Task("failed", "")


@pytest.mark.parametrize("data", [None, [], "completed", {"status": "completed"}, {"state": ""}, {"state": 1}])
def test_anything_else_is_not_a_task(data: object) -> None:
    assert parse_task(data) is None


# -- the rhythm -----------------------------------------------------------------------------------------------------


def test_polls_back_off_from_a_quarter_second_to_five_seconds() -> None:
    assert [poll_wait(n) for n in range(1, 9)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_progress_is_due_about_every_ten_seconds_whatever_the_polls() -> None:
    progress = Progress()
    moments = [0.3 * n for n in range(200)]  # polls every 0.3 s for 60 s
    due = [t for t in moments if progress.due(t)]
    assert [round(t) for t in due] == [10, 20, 30, 40, 50]
    progress = Progress()
    assert [t for t in (4.0, 9.0, 14.0, 19.0, 24.0, 29.0, 34.0) if progress.due(t)] == [14.0, 24.0, 34.0]


# -- the loop, against the fake Pulp, with a clock that jumps -------------------------------------------------------


def _accepted(pulp: FakePulp, tmp_path: Path, clock: Clock, check_url: str | None = None) -> tuple[Accepted, object]:
    """A real upload of a wheel to the fake, by the tool's own upload stage; and the run's Confirmer on `clock`."""
    wheel = pulp_dists(tmp_path / "dists").wheel
    raw = {"publish-url": pulp.upload_url, "trusted-publishing": "never"}
    settings = build_settings({**raw, **({"check-url": check_url} if check_url else {})}, source="option")
    credentials = Credentials("alice", "pulp-password", "password", "test", origin=pulp.url)
    console = TerminalConsole()
    client = make_client(credentials, console, {})
    session = open_session(client, Target(pulp.upload_url, check_url), credentials, settings, {}, console)
    accepted = upload_one(session, load(wheel), console)
    assert isinstance(accepted, Accepted)
    confirmer = dataclasses.replace(session.confirmer, clock=clock, sleep=clock.sleep)
    return dataclasses.replace(accepted, at=clock()), confirmer


def test_a_five_minute_wait_logs_a_line_about_every_ten_seconds_not_one_per_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    with FakePulp(workers=False) as pulp:
        accepted, confirmer = _accepted(pulp, tmp_path, clock)
        capsys.readouterr()
        with pytest.raises(NotPublishedError) as caught:
            confirmer.confirm(accepted, TerminalConsole())  # type: ignore[attr-defined]
        polls = sum(r.path.startswith("/pulp/api/v3/tasks/") for r in pulp.requests)
        origin = pulp.url

    assert caught.value.status == NOT_STORED
    assert "has not stored it after 300 s: its task is still waiting" in caught.value.message
    lines = [line for line in capsys.readouterr().out.splitlines() if "waiting for " in line]
    seconds = [int(line.rsplit(", ", 1)[1].removesuffix(" s")) for line in lines]
    assert lines[0] == f"  waiting for {origin} to store {accepted.dist.filename}: task waiting, 10 s", lines
    assert seconds == list(range(10, 300, 10)), seconds  # one line per ~10 s, in step with the waits
    assert polls > 2 * len(lines), (polls, len(lines))  # the polls are more frequent than the lines
    assert max(clock.sleeps) == 5.0
    assert clock.sleeps[:5] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert clock.now == 1000.0 + 300.0  # the last poll at the deadline, not after it


def test_a_listing_that_never_shows_the_file_is_not_confirmed_at_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    with FakePulp(name_tasks=False, workers=False) as pulp:
        accepted, confirmer = _accepted(pulp, tmp_path, clock, check_url=pulp.simple_url)
        capsys.readouterr()
        with pytest.raises(NotPublishedError) as caught:
            confirmer.confirm(accepted, TerminalConsole())  # type: ignore[attr-defined]
        reads = [how for _, how in pulp.simple_gets]
        listing, origin = f"{pulp.simple_url}demo-pkg/", pulp.url

    assert caught.value.status == NOT_CONFIRMED
    assert f"is not listed on the index after 300 s ({listing})" in caught.value.message
    assert reads
    assert set(reads) == {"origin"}  # every look asked past the cache
    out = capsys.readouterr().out
    assert f"waiting for {origin} to store {accepted.dist.filename}: not listed yet, 10 s" in out
