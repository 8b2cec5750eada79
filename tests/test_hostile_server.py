"""A hostile registry cannot make a run slow, big or confused: each case bounded in time and memory.

Unit level first (the functions that read what a registry sent), end to end through the real command line and
action further down, against tests/fakes/hostile.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from publisher.upload import registry_message
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.hostile import Answer, HostileServer
from tests.support.budget import within
from tests.support.builders import build_wheel
from tests.support.runner import CliRun, run_action, run_cli

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}


def _answer(status: int, body: str, content_type: str = "text/html") -> httpx.Response:
    return httpx.Response(
        status,
        content=body.encode(),
        headers={"Content-Type": content_type},
        request=httpx.Request("POST", "http://x/"),
    )


# -- registry messages: linear in the body, whatever markup it holds ------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "body",
    [
        "<" * MIB,
        "<script" * 100_000,
        "<style" * 100_000,
        "<body>" + "<head" * 100_000,
        "<script>" * 100_000 + "</style>",
        "<a" * 300_000,
    ],
    ids=["lt", "script", "style", "head", "script-open", "unclosed-tags"],
)
def test_registry_message_takes_linear_time_on_redos_bait(body: str) -> None:
    with within(seconds=1.0, mib=64):
        message = registry_message(_answer(400, body), limit=2000)
    assert message.startswith("Bad Request")
    assert len(message) <= 2003


# -- end to end: the command line and the action against a hostile registry ----------------------------------------
#
# Each run is measured (wall time, peak RSS of the process): a bounded run finishes in a few seconds within ~100 MiB
# (the Python process alone is ~40 MiB). PUBLISHER_REQUEST_DEADLINE is 1 s so a dripping server costs 1 s, not 300.

FAST = {"PUBLISHER_REQUEST_DEADLINE": "1", "PUBLISHER_RETRY_BASE_DELAY": "0.01"}
ANSWER_RSS = 100 * MIB  # a bounded answer: the interpreter plus at most 64 KiB
LISTING_RSS = 250 * MIB  # a listing is read up to 64 MiB before it is refused
HUGE = 300 * MIB


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with the demo wheel in dist/; runs only read it."""
    root = tmp_path_factory.mktemp("hostile-project")
    (root / "dist").mkdir()
    build_wheel(root / "dist", "demo-pkg", "1.0.0")
    return root


def cli(project: Path, server: HostileServer, *extra: str, env: dict[str, str] | None = None) -> CliRun:
    """Upload the wheel to `server` (/legacy/, check URL /simple/) with no retries, measured."""
    args = ["--publish-url", f"{server.url}/legacy/", "--check-url", f"{server.url}/simple/", "-u", "alice"]
    return run_cli(
        [*args, "-p", "pw", "--retries", "0", *extra], project, {**FAST, **(env or {})}, timeout=30, measure=True
    )


def assert_bounded(run: CliRun, *, seconds: float, rss: int = ANSWER_RSS) -> None:
    assert run.seconds is not None
    assert run.max_rss is not None
    assert run.seconds < seconds, f"the run took {run.seconds:.1f} s:\n{run.output}"
    assert run.max_rss < rss, f"the run peaked at {run.max_rss / MIB:.0f} MiB:\n{run.output}"


@pytest.mark.parametrize("drip", ["headers", "body"])
def test_an_answer_dripping_one_byte_at_a_time_ends_at_the_deadline(project: Path, drip: str) -> None:
    answer = Answer.drip_headers(every=0.25) if drip == "headers" else Answer.drip_body(every=0.25, status=400)
    with HostileServer({"/legacy/": answer}) as registry:
        url = registry.url
        run = cli(project, registry)
    assert run.returncode == 1, run.output
    assert "deadline of 1 s passed" in run.output
    assert f"{url}/legacy/" in run.output
    assert "PUBLISHER_REQUEST_DEADLINE" in run.output
    assert_bounded(run, seconds=6)


@pytest.mark.parametrize(
    "answer",
    [Answer.huge(HUGE, status=500, fill=b"Server says no. "), Answer.gzip_bomb(HUGE, status=400)],
    ids=["300MiB", "gzip-bomb"],
)
def test_a_huge_error_answer_is_read_only_up_to_its_cap(project: Path, answer: Answer) -> None:
    with HostileServer({"/legacy/": answer}) as registry:
        url = registry.url
        run = cli(project, registry)
    assert run.returncode == 1, run.output
    assert f"{answer.status} from {url}/legacy/" in run.output
    assert "Unexpected error" not in run.output
    assert_bounded(run, seconds=5)


def test_redos_bait_in_an_error_answer_costs_nothing(project: Path) -> None:
    with HostileServer({"/legacy/": Answer.html(400, "<" * MIB)}) as registry:
        url = registry.url
        run = cli(project, registry)
    assert run.returncode == 1, run.output
    assert f"400 from {url}/legacy/" in run.output
    assert_bounded(run, seconds=5)


@pytest.mark.parametrize(
    "answer", [Answer.huge(HUGE, fill=b"<a>"), Answer.gzip_bomb(HUGE)], ids=["300MiB", "gzip-bomb"]
)
def test_a_listing_over_its_cap_is_an_error_naming_the_cap(project: Path, answer: Answer) -> None:
    with HostileServer({"/simple/demo-pkg/": answer}) as registry:
        run = cli(project, registry, "--skip-existing")
    assert run.returncode == 1, run.output
    assert "larger than 64 MiB" in run.output
    assert registry.paths("POST") == []  # nothing uploaded on the strength of a page never read
    assert_bounded(run, seconds=8, rss=LISTING_RSS)


def test_a_dripping_listing_ends_at_the_deadline(project: Path) -> None:
    with HostileServer({"/simple/demo-pkg/": Answer.drip_body(every=0.25)}) as registry:
        url = registry.url
        run = cli(project, registry, "--skip-existing")
    assert run.returncode == 1, run.output
    assert f"Could not check {url}/simple/demo-pkg/" in run.output
    assert "deadline of 1 s passed" in run.output
    assert registry.paths("POST") == []
    assert_bounded(run, seconds=6)


def test_a_listed_file_larger_than_the_local_one_is_different_without_reading_it(project: Path) -> None:
    size = len((project / "dist" / WHEEL).read_bytes())
    listing = Answer.html(200, f'<a href="/files/{WHEEL}">{WHEEL}</a>')  # no hash: the file must be downloaded
    big = Answer.drip_body(every=0.25, body=b"x" * (size + 10_000), after=size + 1, content_type="application/zip")
    with HostileServer({"/simple/demo-pkg/": listing, f"/files/{WHEEL}": big}) as registry:
        run = cli(project, registry, "--skip-existing", env={"PUBLISHER_REQUEST_DEADLINE": "20"})
    assert run.returncode == 1, run.output
    assert f"the index has a file larger than the local one (more than {size} bytes)" in run.output
    assert registry.paths("POST") == []
    assert_bounded(run, seconds=5)


def test_trusted_publishing_answers_are_bounded_by_the_deadline(tmp_path: Path, project: Path) -> None:
    with FakeGitHubOIDC() as github, HostileServer({"/_/oidc/audience": Answer.drip_body(every=0.25)}) as index:
        url = index.url
        workspace = tmp_path / "workspace"
        shutil.copytree(project, workspace)
        inputs = {"publish-url": f"{index.url}/legacy/", "trusted-publishing": "always", "retries": "0"}
        run = run_action(workspace, inputs, {**github.env, **FAST}, measure=True)
    assert run.returncode == 1, run.output
    assert f"Could not reach {url}/_/oidc/audience" in run.output
    assert "deadline of 1 s passed" in run.output
    assert_bounded(run, seconds=6)
