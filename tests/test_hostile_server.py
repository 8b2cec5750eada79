"""A hostile registry cannot make a run slow, big or confused: each case bounded in time and memory.

Unit level first (the functions that read what a registry sent), end to end through the real command line and
action further down, against tests/fakes/hostile.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.auth import trusted_publishing
from publisher.auth.model import NO_CREDENTIALS, ReadAuth
from publisher.config.settings import build_settings
from publisher.dists.collect import Dist
from publisher.dists.digests import file_digests
from publisher.index.client import make_client
from publisher.index.existing import Checker, Existing
from publisher.index.upload import registry_message
from publisher.net.retry import RetryPolicy
from publisher.report.console import TerminalConsole
from publisher.report.errors import TrustedPublishingError, UploadError
from tests.fakes import Request
from tests.fakes import Response as FakeResponse
from tests.fakes.github_oidc import TOKEN_PATH, FakeGitHubOIDC
from tests.fakes.hostile import Answer, HostileServer, Route
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher
from tests.support.budget import within
from tests.support.builders import build_wheel
from tests.support.runner import CliRun, run_action, run_cli

pytestmark = [pytest.mark.timeout(60), pytest.mark.serial]  # wall-time and memory bounds

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


# -- the check URL: a 200 is a listing only when it looks like one --------------------------------------------------

CONTENT = b"pretend wheel bytes\n" * 50
UNIT_ENV = {"PUBLISHER_REQUEST_DEADLINE": "2"}


@pytest.fixture
def dist(tmp_path: Path) -> Dist:
    path = tmp_path / WHEEL
    path.write_bytes(CONTENT)
    return Dist(path, "bdist_wheel", "demo-pkg", "1.0.0", "py3", {}, len(CONTENT))


def check(server: HostileServer, dist: Dist, client: httpx.Client | None = None) -> Existing:
    http = client or make_client(NO_CREDENTIALS, TerminalConsole(), UNIT_ENV)
    with http:
        checker = Checker(http, f"{server.url}/simple/", ReadAuth(None, "no credentials"), RetryPolicy(retries=0))
        return checker.compare(dist, file_digests(dist.path), TerminalConsole())


@pytest.mark.parametrize(
    "answer",
    [
        Answer.json(200, []),
        Answer.json(200, "just a string"),
        Answer.json(200, {}),
        Answer.json(200, {"meta": {"api-version": "1.1"}, "name": "demo-pkg"}),
        Answer.json(200, {"files": {"filename": WHEEL}}),
        Answer.json(200, "[" * 100_000, "application/vnd.pypi.simple.v1+json"),
        Answer.json(200, '{"files": [' + "1" * 5000 + "]}"),
        Answer.html(200, "<![;" * 1000),
        Answer.html(200, "<html><body><h1>Welcome</h1><p>Nothing to see.</p></body></html>"),
        Answer.text(200, f'<a href="/files/{WHEEL}">{WHEEL}</a>', "application/octet-stream"),
    ],
    ids=[
        "json-list",
        "json-string",
        "json-empty-object",
        "json-meta-only",
        "json-files-object",
        "json-deep",
        "json-huge-number",
        "html-parser-bait",
        "html-no-project-page",
        "octet-stream",
    ],
)
def test_odd_listings_are_errors_not_absent(answer: Answer, dist: Dist) -> None:
    with (
        HostileServer({"/simple/demo-pkg/": answer}) as server,
        within(seconds=2, mib=32),
        pytest.raises(UploadError, match="Not treating this as 'file absent'"),
    ):
        check(server, dist)


def test_listing_entries_of_the_wrong_type_are_skipped(dist: Dist) -> None:
    """Entries without a string filename and url are not files; one with a number for its url is not fetched."""
    entries = [5, "x", None, {"filename": 3, "url": "/a"}, {"filename": WHEEL, "url": 7}, {"filename": WHEEL}]
    with (
        HostileServer({"/simple/demo-pkg/": Answer.json(200, {"files": entries})}) as server,
        within(seconds=2, mib=16),
    ):
        found = check(server, dist)
    assert found.verdict == "absent"
    assert server.paths() == ["/simple/demo-pkg/"]


def test_a_hash_that_is_not_a_string_is_ignored(dist: Dist) -> None:
    """`1e999` is infinity to json.loads: not a digest to compare with, so the file is downloaded instead."""
    listing = f'{{"files": [{{"filename": "{WHEEL}", "url": "/files/{WHEEL}", "hashes": {{"sha256": 1e999}}}}]}}'
    routes: dict[str, Route] = {
        "/simple/demo-pkg/": Answer.json(200, listing),
        f"/files/{WHEEL}": Answer(200, {"Content-Type": "application/zip"}, CONTENT),
    }
    with HostileServer(routes) as server, within(seconds=2, mib=16):
        found = check(server, dist)
    assert found.verdict == "identical"
    assert server.paths() == ["/simple/demo-pkg/", f"/files/{WHEEL}"]


def test_an_https_listing_is_not_followed_to_plain_http(dist: Dist) -> None:
    """No TLS server needed: httpx's MockTransport answers as the index and its redirect target would."""
    seen: list[str] = []

    def index(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.scheme == "https":
            return httpx.Response(301, headers={"Location": "http://index.example/simple/demo-pkg/"})
        return httpx.Response(200, html=f'<a href="/files/{WHEEL}#sha256=00">{WHEEL}</a>')

    mock = httpx.Client(transport=httpx.MockTransport(index))
    checker = Checker(mock, "https://index.example/simple/", ReadAuth(None, "none"), RetryPolicy(retries=0))
    with within(seconds=2, mib=16), pytest.raises(UploadError, match="redirected from https to plain http"):
        checker.compare(dist, file_digests(dist.path), TerminalConsole())
    assert seen == ["https://index.example/simple/demo-pkg/"]


# -- trusted publishing: every JSON answer read for what it must hold, within bounds --------------------------------


def _mint(index_url: str, github_env: dict[str, str]) -> tuple[str, float | None]:
    settings = build_settings({"trusted-publishing": "always", "retries": "0"})
    env = {**github_env, "GITHUB_ACTIONS": "true", "PUBLISHER_RETRY_BASE_DELAY": "0", **UNIT_ENV}
    return trusted_publishing.mint_token(f"{index_url}/legacy/", env, TerminalConsole(), settings=settings)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Answer.json(200, "[" * 100_000), "The answer held no audience"),
        (Answer.json(200, '{"audience": ' + "[" * 100_000), "The answer held no audience"),
        (Answer.json(503, '{"message": ' * 100_000), "answered 503"),
        (Answer.huge(300 * MIB, fill=b'{"audience": "'), "The answer held no audience"),
    ],
    ids=["deep-200", "deep-member", "deep-503", "huge"],
)
def test_odd_audience_answers_are_explained(answer: Answer, said: str) -> None:
    with FakeGitHubOIDC() as github, HostileServer({"/_/oidc/audience": answer}) as index:
        with within(seconds=3, mib=32), pytest.raises(TrustedPublishingError, match=said):
            _mint(index.url, github.env)
        assert not github.requests


def test_a_deeply_nested_github_answer_is_explained() -> None:
    index_routes: dict[str, Route] = {"/_/oidc/audience": Answer.json(200, {"audience": "127.0.0.1"})}
    with HostileServer(index_routes) as index, HostileServer({TOKEN_PATH: Answer.json(200, "[" * 100_000)}) as github:
        env = {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{github.url}{TOKEN_PATH}?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
        }
        with within(seconds=3, mib=32), pytest.raises(TrustedPublishingError, match="without a token"):
            _mint(index.url, env)
        assert github.paths() == [TOKEN_PATH]


class OddMinter(FakeTrustedIndex):
    """A trusted-publishing index whose token exchange answers `answer` (a JSON text) with `status`."""

    def __init__(self, public_key: Any, status: int, answer: str) -> None:
        super().__init__(public_key, publisher=Publisher("octo-org/octo-repo", "release.yml"))
        self.status, self.answer = status, answer

    def mint_token(self, request: Request) -> FakeResponse:
        return FakeResponse(self.status, self.answer.encode(), {"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("status", "answer", "said"),
    [
        (200, "[" * 100_000, "no token of at least 16 characters in the answer"),
        (400, '{"errors": ' + "[" * 100_000, "unexpected 400"),
    ],
    ids=["deep-200", "deep-errors"],
)
def test_odd_token_exchange_answers_are_explained(status: int, answer: str, said: str) -> None:
    with (
        FakeGitHubOIDC() as github,
        OddMinter(github.public_key, status, answer) as index,
        within(seconds=3, mib=32),
        pytest.raises(TrustedPublishingError, match=said),
    ):
        _mint(index.url, github.env)


@pytest.mark.parametrize("expires", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_an_expiry_that_is_not_a_time_is_ignored(expires: str) -> None:
    answer = f'{{"success": true, "token": "pypi-minted-0123456789", "expires": {expires}}}'
    with FakeGitHubOIDC() as github, OddMinter(github.public_key, 200, answer) as index, within(seconds=3, mib=32):
        token, expiry = _mint(index.url, github.env)
    assert (token, expiry) == ("pypi-minted-0123456789", None)  # the default lifetime applies: renewed in time


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


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Answer.login_page(), "a form or a password field (a login page?)"),
        (Answer.text(200, "Welcome to the proxy"), "Content-Type text/plain, not a Simple API page"),
        (Answer.json(200, "[" * 100_000), "not valid JSON (or nests too deep)"),
        (Answer.json(200, {"files": 5}), "JSON without a `files` list"),
    ],
    ids=["login-page", "plain-text", "deep-json", "files-not-a-list"],
)
def test_a_200_that_is_not_a_listing_stops_the_run(project: Path, answer: Answer, said: str) -> None:
    with HostileServer({"/simple/demo-pkg/": answer}) as registry:
        url = registry.url
        run = cli(project, registry, "--skip-existing")
    assert run.returncode == 1, run.output
    assert f"The check URL answered 200 for demo-pkg at {url}/simple/demo-pkg/" in run.output
    assert said in run.output
    assert "Not treating this as 'file absent'" in run.output
    assert registry.paths("POST") == []
    assert_bounded(run, seconds=5)


def test_a_listing_redirected_to_another_origin_is_not_followed(project: Path) -> None:
    with HostileServer({"/sso/login": Answer.login_page()}) as sso, HostileServer() as registry:
        sso_url = sso.url
        registry.routes["/simple/demo-pkg/"] = Answer.redirect(f"{sso.url}/sso/login?next=/simple/demo-pkg/")
        run = cli(project, registry, "--skip-existing")
    assert run.returncode == 1, run.output
    assert f"redirected to {sso_url} (302): a login page?" in run.output
    assert sso.requests == []
    assert registry.paths("POST") == []
    assert_bounded(run, seconds=5)


def test_read_credentials_go_to_the_index_origin_at_every_hop_and_nowhere_else(project: Path, tmp_path: Path) -> None:
    """The listing links the file on a CDN, which redirects back to the index: the CDN gets no credentials, the
    index's own URLs (listing and file) get them, each hop decided on its own."""
    wheel = (project / "dist" / WHEEL).read_bytes()
    with HostileServer() as cdn, HostileServer() as index:

        def file(request: Request) -> Answer:
            if not request.headers.get("authorization", "").startswith("Basic "):
                return Answer.text(401, "credentials needed")
            return Answer(200, {"Content-Type": "application/octet-stream"}, wheel)

        listing = f'<html><body><h1>Links for demo-pkg</h1><a href="{cdn.url}/cdn/{WHEEL}">{WHEEL}</a></body></html>'
        index.routes |= {"/simple/demo-pkg/": Answer.html(200, listing), f"/files/{WHEEL}": file}
        cdn.routes[f"/cdn/{WHEEL}"] = Answer.redirect(f"{index.url}/files/{WHEEL}")
        workspace = tmp_path / "workspace"
        shutil.copytree(project, workspace)
        (workspace / "pyproject.toml").write_text(
            f'[[tool.uv.index]]\nname = "reads"\nurl = "{index.url}/simple/"\npublish-url = "{index.url}/legacy/"\n'
        )
        env = {**FAST, **NO_OIDC, "UV_INDEX_READS_USERNAME": "reader", "UV_INDEX_READS_PASSWORD": "r3ad-pw"}
        run = run_action(workspace, {"index": "reads", "skip-existing": "true", "token": "t0ken"}, env, measure=True)
    assert run.returncode == 0, run.output
    assert run.outputs.get("skipped") == WHEEL or "skipped" in run.output
    assert [r.headers.get("authorization", "") for r in cdn.requests] == [""]
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in index.requests)
    assert index.paths() == ["/simple/demo-pkg/", f"/files/{WHEEL}"]
    assert_bounded(run, seconds=5)


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
