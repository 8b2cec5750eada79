"""'Published' means stored and listed: a registry that stores uploads in the background (tests/fakes/pulp.py).

Every test runs the action's entrypoint as GitHub does against the fake Pulp (202 + a task; the file is listed only
once its task has completed). Pulp refuses Metadata-Version 2.5 (hatchling's default), so the dists here are built
with 2.4, as a Pulp user must.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.fakes.pulp import FakePulp
from tests.support.builders import Dists, make_workspace, pulp_dists
from tests.support.runner import ActionRun, run_action, start_action

pytestmark = pytest.mark.timeout(120)

INDEX = "private-repo"
CREDENTIALS = {"UV_INDEX_PRIVATE_REPO_USERNAME": "alice", "UV_INDEX_PRIVATE_REPO_PASSWORD": "pulp-password"}
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}


@pytest.fixture
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    return pulp_dists(tmp_path_factory.mktemp("dists"))


@pytest.fixture
def pulp() -> Iterator[FakePulp]:
    with FakePulp() as fake:
        yield fake


def workspace(root: Path, pulp: FakePulp, files: list[Path], *, check: bool = True) -> Path:
    """A checkout declaring the fake as index `private-repo` (with its Simple API as `url`, unless not `check`)."""
    root = make_workspace(root, simple_url=pulp.simple_url, upload_url=pulp.upload_url, dists=files, index_name=INDEX)
    if not check:  # the index is only an upload URL: no check URL at all
        (root / "pyproject.toml").write_text('[project]\nname = "demo-pkg"\nversion = "1.0.0"\n')
    return root


def publish(root: Path, inputs: dict[str, str] | None = None, *, check: bool = True, pulp: FakePulp) -> ActionRun:
    if check:
        return run_action(root, {"index": INDEX, **(inputs or {})}, {**FAST, **CREDENTIALS})
    direct = {"publish-url": pulp.upload_url, "username": "alice", "password": "pulp-password"}
    return run_action(root, {**direct, **(inputs or {})}, FAST)


def row(run: ActionRun, name: str) -> str:
    """The job summary's result cell of one file (its last cell)."""
    return run.summary.split(f"| `{name}` |", 1)[1].splitlines()[0].rsplit("|", 2)[1].strip()


def task_url(pulp: FakePulp, number: int = 0) -> str:
    return f"{pulp.url}/pulp/api/v3/tasks/{pulp.uploads[number].task_id}/"


# -- stored after a delay -------------------------------------------------------------------------------------------


def test_stored_after_a_delay_is_published_and_listed_when_the_tool_returns(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(waiting=0.4, running=0.8) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, list(dists)), pulp=pulp)
        listed_at_return = pulp.listed("demo-pkg")

        assert run.returncode == 0, run.output
        assert json.loads(run.outputs["published"]) == [dists.wheel.name, dists.sdist.name]
        local = {d.name: _sha256(d) for d in dists}
        assert listed_at_return == local  # both stored and listed, with our bytes, by the time the tool returned
        wheel, sdist = pulp.uploads
        assert sdist.created >= (wheel.finished(pulp.waiting, pulp.running) or 0)  # sdists wait for stored wheels
        # Each file's confirmation asked for a fresh page: the cache in front would have served the wheel's page
        # (without the sdist) for 600 s.
        assert pulp.simple_gets
        assert all(how == "origin" for _, how in pulp.simple_gets), pulp.simple_gets
        assert f"following the registry's task {task_url(pulp, 0)}" in run.stdout
        assert "published: `stored (task completed) and listed with the same sha256" in row(run, dists.sdist.name)
        assert "Published 2 file(s)" in run.stdout


def test_task_polls_use_the_upload_credentials_and_back_off(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(waiting=1.0, running=1.0) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, [dists.wheel]), pulp=pulp)
        assert run.returncode == 0, run.output
        polls = [r for r in pulp.requests if r.path.startswith("/pulp/api/v3/tasks/")]
        assert all(r.headers.get("authorization", "").startswith("Basic ") for r in polls)
        assert 3 <= len(polls) <= 8, len(polls)  # 2 s of backoff from 0.25 s: a handful of polls, not hundreds


# -- the task fails, or never runs ----------------------------------------------------------------------------------


def test_a_failed_task_is_accepted_not_stored_with_its_description(tmp_path: Path, dists: Dists) -> None:
    reason = "Unable to read the metadata of demo_pkg-1.0.0-py3-none-any.whl: no METADATA file"
    with FakePulp(fail={dists.wheel.name: reason}) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, list(dists)), pulp=pulp)

        assert run.returncode == 1, run.output
        assert (
            f"::error title=Accepted%2C not stored::{dists.wheel.name} was accepted (202 Accepted) but not stored: "
            in (run.stdout)
        )
        assert f"the registry's task failed: {reason} ({task_url(pulp)})" in run.stdout
        assert row(run, dists.wheel.name).startswith("accepted, not stored: `task failed: Unable to read")
        assert row(run, dists.sdist.name) == "not uploaded"  # sdists never follow a wheel not stored
        assert [u.filename for u in pulp.uploads] == [dists.wheel.name]
        assert json.loads(run.outputs["published"]) == []
        assert json.loads(run.outputs["skipped"]) == []
        assert "Nothing was published" in run.summary
        assert "Accepted, not stored: 1." in run.summary


@pytest.mark.serial  # bounded wall time
def test_a_task_that_never_runs_ends_at_the_deadline_naming_the_task(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(workers=False) as pulp:
        started = time.monotonic()
        run = publish(workspace(tmp_path / "ws", pulp, [dists.wheel]), {"confirm-timeout": "1.5"}, pulp=pulp)
        took = time.monotonic() - started

        assert run.returncode == 1, run.output
        assert (
            f"{dists.wheel.name} was accepted (202 Accepted) but the registry has not stored it after 1.5 s: its task "
            f"is still waiting ({task_url(pulp)})."
        ) in run.stdout
        assert "accepted, not stored" in row(run, dists.wheel.name)
        assert json.loads(run.outputs["published"]) == []
        assert took < 10, took
        assert pulp.state(pulp.uploads[0]) == "waiting"


# -- a 202 without a task ------------------------------------------------------------------------------------------


def test_a_202_without_a_task_is_confirmed_through_the_check_url(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(name_tasks=False) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, list(dists)), pulp=pulp)

        assert run.returncode == 0, run.output
        assert "the answer names no task: looking for it on the index" in run.stdout
        assert json.loads(run.outputs["published"]) == [dists.wheel.name, dists.sdist.name]
        assert pulp.listed("demo-pkg") == {d.name: _sha256(d) for d in dists}
        assert not any(r.path.startswith("/pulp/api/") for r in pulp.requests)


def test_a_202_without_a_task_and_without_a_check_url_is_not_confirmed(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(name_tasks=False) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, list(dists), check=False), check=False, pulp=pulp)

        assert run.returncode == 1, run.output
        assert (
            f"{dists.wheel.name} was accepted (202 Accepted) but could not be confirmed: the answer names no task, and "
            "there is no check URL to look for it."
        ) in run.stdout
        assert "accepted, not confirmed" in row(run, dists.wheel.name)
        assert json.loads(run.outputs["published"]) == []


# -- the race ------------------------------------------------------------------------------------------------------


def test_two_uploads_of_one_name_at_once_the_overwritten_one_is_detected(tmp_path: Path) -> None:
    """Two release jobs upload different bytes under one new file name; both get 202, the last task to complete
    wins, and the run whose file was replaced says so, naming both hashes."""
    ours = pulp_dists(tmp_path / "ours").wheel
    theirs = pulp_dists(tmp_path / "theirs", readme="# demo-pkg\n\nBuilt again: same name, other bytes.\n").wheel
    assert ours.name == theirs.name
    assert _sha256(ours) != _sha256(theirs)
    with FakePulp(workers=False) as pulp:
        first = workspace(tmp_path / "first", pulp, [ours])
        second = workspace(tmp_path / "second", pulp, [theirs])
        with start_action(first, {"index": INDEX}, {**FAST, **CREDENTIALS}) as run_a:
            _wait_for(lambda: len(pulp.uploads) == 1, run_a.process)
            with start_action(second, {"index": INDEX}, {**FAST, **CREDENTIALS}) as run_b:
                _wait_for(lambda: len(pulp.uploads) == 2, run_b.process)
                pulp.start_worker()  # both tasks complete at once, in upload order: the second file wins
                a, b = run_a.wait(), run_b.wait()

    assert pulp.listed("demo-pkg") == {ours.name: _sha256(theirs)}
    assert b.returncode == 0, b.output
    assert a.returncode == 1, a.output
    assert (
        f"{ours.name} is listed with other contents: the index has sha256:{_sha256(theirs)}, the local file has "
        f"sha256:{_sha256(ours)}"
    ) in a.stdout
    assert "accepted, not stored: `listed with other contents" in row(a, ours.name)
    assert json.loads(a.outputs["published"]) == []


# -- re-run after the registry caught up ---------------------------------------------------------------------------


def test_a_rerun_with_skip_existing_after_the_registry_caught_up_skips_what_it_lists(
    tmp_path: Path, dists: Dists
) -> None:
    with FakePulp(name_tasks=False, workers=False) as pulp:
        root = workspace(tmp_path / "ws", pulp, list(dists))
        first = publish(root, {"confirm-timeout": "1"}, pulp=pulp)
        assert first.returncode == 1, first.output
        assert "accepted, not confirmed" in row(first, dists.wheel.name)
        assert "not listed on the index after 1 s" in row(first, dists.wheel.name)

        pulp.start_worker()  # the registry catches up
        _wait_for(lambda: dists.wheel.name in pulp.listed("demo-pkg"))
        second = publish(root, {"skip-existing": "true"}, pulp=pulp)

        assert second.returncode == 0, second.output
        assert json.loads(second.outputs["skipped"]) == [dists.wheel.name]
        assert json.loads(second.outputs["published"]) == [dists.sdist.name]
        assert "already on the index (same sha256)" in row(second, dists.wheel.name)
        assert "Skipped without verification" not in second.stdout
        assert [u.filename for u in pulp.uploads] == [dists.wheel.name, dists.sdist.name]  # the wheel went up once


def test_pulps_refusal_of_a_taken_name_is_read_from_its_reason_phrase(tmp_path: Path, dists: Dists) -> None:
    """A re-run without skip-existing: Pulp answers 400 with its words in the reason phrase and an empty body."""
    with FakePulp() as pulp:
        root = workspace(tmp_path / "ws", pulp, [dists.wheel])
        first = publish(root, pulp=pulp)
        second = publish(root, pulp=pulp)
        upload_url = pulp.upload_url

    assert first.returncode == 0, first.output
    assert second.returncode == 1, second.output
    assert (
        f"{dists.wheel.name} is already on {upload_url} with identical contents (sha256 {_sha256(dists.wheel)}). "
        f"The registry said: 400 Package {dists.wheel.name} already exists in index"
    ) in second.stdout
    assert len(pulp.uploads) == 1  # the second upload was refused, not accepted again


# -- the task URL and its origin -----------------------------------------------------------------------------------


class _Lure(FakeServer):
    """Another origin, answering every request with a completed task: it must never be asked."""

    def handle(self, request: Request) -> Response:
        return Response.json(200, {"state": "completed"})


class _PulpNamingAnotherOrigin(FakePulp):
    """A registry (or a man in the middle) whose 202 names a task on another origin."""

    lure_url = ""

    def upload(self, request: Request) -> Response:
        answer = super().upload(request)
        if answer.status != 202:
            return answer
        return Response.json(202, {"task": f"{self.lure_url}/pulp/api/v3/tasks/{self.uploads[-1].task_id}/"})


def test_a_task_on_another_origin_is_never_asked(tmp_path: Path, dists: Dists) -> None:
    with _Lure() as lure, _PulpNamingAnotherOrigin() as pulp:
        pulp.lure_url = lure.url
        run = publish(workspace(tmp_path / "ws", pulp, [dists.wheel]), pulp=pulp)

        assert lure.requests == []  # no request, so no credentials, ever reached it
        assert run.returncode == 0, run.output  # confirmed through the check URL instead
        assert "::warning title=Task not followed::" in run.stdout
        assert f"the answer names a task on another origin ({lure.url}), which is not asked" in run.stdout
        assert "listed with the same sha256" in row(run, dists.wheel.name)


def test_a_task_that_cannot_be_read_falls_back_to_the_check_url(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(tasks_visible=False) as pulp:  # Pulp's RBAC without core.view_task for the uploader
        run = publish(workspace(tmp_path / "ws", pulp, [dists.wheel]), pulp=pulp)

        assert run.returncode == 0, run.output
        warning = next(line for line in run.stdout.splitlines() if line.startswith("::warning"))
        assert warning.startswith("::warning title=Task not followed::"), warning
        assert "could not be read (403: Forbidden: " in warning
        assert "You do not have permission to perform this action." in warning
        assert warning.endswith("Confirming through the check URL instead.")
        assert json.loads(run.outputs["published"]) == [dists.wheel.name]


# -- concurrency, order and cancellation ---------------------------------------------------------------------------


def test_confirmations_do_not_hold_up_the_next_upload_and_the_log_stays_in_order(tmp_path: Path, dists: Dists) -> None:
    wheels = [dists.wheel]
    for tag in ("1", "2"):  # more wheels of the release: build tags, as a build matrix makes
        copy = tmp_path / dists.wheel.name.replace("-1.0.0-", f"-1.0.0-{tag}-")
        copy.write_bytes(dists.wheel.read_bytes())
        wheels.append(copy)
    with FakePulp(waiting=0.6, running=0.4) as pulp:
        run = publish(workspace(tmp_path / "ws", pulp, [*wheels, dists.sdist]), {"parallel": "1"}, pulp=pulp)

        assert run.returncode == 0, run.output
        first, *_, last_wheel, sdist = pulp.uploads
        stored = first.finished(pulp.waiting, pulp.running) or 0
        assert last_wheel.created < stored, "the next uploads waited for the first file's task"
        assert sdist.created >= max(u.finished(pulp.waiting, pulp.running) or 0 for u in pulp.uploads[:-1])
        groups = [
            line.removeprefix("::group ::").split(" (")[0] for line in run.stdout.splitlines() if "::group" in line
        ]
        expected = sorted(w.name for w in wheels)
        assert groups == [f"Uploading {name}" for name in [*expected, dists.sdist.name]]
        for name in expected:  # each group holds its own upload and its own confirmation, whole
            group = run.stdout.split(f"::group ::Uploading {name}", 1)[1].split("::endgroup::", 1)[0]
            assert group.count("accepted: 202 Accepted") == 1, group
            assert group.count("published: stored (task completed)") == 1, group


@pytest.mark.serial  # bounded wall time
def test_a_cancelled_run_writes_its_record_while_confirmations_are_pending(tmp_path: Path, dists: Dists) -> None:
    with FakePulp(workers=False) as pulp:
        root = workspace(tmp_path / "ws", pulp, list(dists))
        with start_action(root, {"index": INDEX}, {**FAST, **CREDENTIALS, "PUBLISHER_CANCEL_GRACE": "1"}) as running:
            _wait_for(
                lambda: sum(r.path.startswith("/pulp/api/v3/tasks/") for r in pulp.requests) >= 2, running.process
            )
            signalled = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            run = running.wait(timeout=30)
            took = time.monotonic() - signalled

    assert run.returncode == 128 + signal.SIGTERM, run.output
    assert took < 4, f"exited {took:.1f} s after the signal"
    assert "accepted, not confirmed: `confirmation stopped by the cancellation" in row(run, dists.wheel.name)
    assert row(run, dists.sdist.name) == "not uploaded"
    assert json.loads(run.outputs["published"]) == []
    assert "SIGTERM received: no new upload was started" in run.summary
    assert "Traceback" not in run.output


# -- helpers -------------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for(condition: Callable[[], bool], process: object = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        poll = getattr(process, "poll", None)
        assert poll is None or poll() is None, "the action ended before the condition held"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
