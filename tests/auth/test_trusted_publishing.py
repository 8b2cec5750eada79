"""Trusted publishing end to end: the action's entrypoint, a fake GitHub token service and a fake PyPI-like index
that only accepts uploads with the token it minted. Exit status, outputs, job summary and secrecy are checked, and
every diagnostic is checked twice: in its one `::error` annotation (decoded) and in the job summary."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from publisher import run
from publisher.auth import identity, trusted_publishing
from publisher.config.settings import build_settings
from publisher.report import results as report
from tests.fakes import Request, Response
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher
from tests.support.runner import ActionRun, run_action

pytestmark = pytest.mark.timeout(120)

MASK = re.compile(r"^::add-mask ?::(.*)$", re.M)  # github-action-utils writes `::add-mask ::value`
ANNOTATION = re.compile(r"^::(error|warning)(?: ([^:]*))?::(.*)$", re.M)
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}  # as in a job without id-token
PERMISSION_SNIPPET = "    jobs:\n      publish:\n        permissions:\n          id-token: write"
CLAIM_NAMES = (
    "sub",
    "repository",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "job_workflow_ref",
    "ref",
    "environment",
)


def _inputs(index: FakeTrustedIndex, mode: str | None = None, **extra: str) -> dict[str, str]:
    inputs = {"publish-url": index.upload_url, "packages-dir": "dist", **extra}
    if mode is not None:
        inputs["trusted-publishing"] = mode
    return inputs


def _dists(workspace: Path) -> list[Path]:
    return sorted((workspace / "dist").iterdir(), key=lambda p: (not p.name.endswith(".whl"), p.name))


def _visible(run: ActionRun) -> str:
    """Everything a reader of the log, summary or outputs sees, minus the `::add-mask::` registrations."""
    return "\n".join([MASK.sub("", run.stdout), run.stderr, run.summary, json.dumps(run.outputs)])


def _unescape(value: str) -> str:
    """Undo the workflow-command escaping (`%25` last, so an escaped `%0A` in the text stays as written)."""
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        value = value.replace(escaped, plain)
    return value


def _annotations(run: ActionRun, level: str = "error") -> list[tuple[str, str]]:
    """(title, message) of every `::error` (or `::warning`) annotation in the log, decoded."""
    found = []
    for kind, properties, message in ANNOTATION.findall(run.stdout):
        if kind != level:
            continue
        title = ""
        for prop in (properties or "").split(","):
            name, _, value = prop.partition("=")
            if name.strip() == "title":
                title = _unescape(value)
        found.append((title, _unescape(message)))
    return found


def _diagnostic(run: ActionRun, title: str, *phrases: str) -> str:
    """The run's one error annotation has `title` and every phrase, and so does the job summary; returns it."""
    annotations = _annotations(run)
    assert len(annotations) == 1, annotations  # one failure, one annotation (not one per layer it went through)
    (found_title, message) = annotations[0]
    assert found_title == title
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in the annotation:\n{message}"
        assert phrase in run.summary, f"{phrase!r} not in the job summary:\n{run.summary}"
    return message


def _assert_secrets_hidden(run: ActionRun, github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    visible = _visible(run)
    for secret in [*github.issued, *index.minted, github.request_token]:
        assert secret not in visible
    masked = MASK.findall(run.stdout)
    for secret in [*github.issued, *index.minted]:  # each was registered as a mask
        assert secret in masked


def test_publishes_with_the_minted_token(github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path) -> None:
    run = run_action(tp_workspace, _inputs(index), env=github.env)

    assert run.returncode == 0, run.stdout + run.stderr
    dists = _dists(tp_workspace)
    assert sorted(index.files) == sorted(d.name for d in dists)
    for dist in dists:
        stored = index.files[dist.name]
        assert stored.content == dist.read_bytes()
        assert stored.fields["sha256_digest"] == [hashlib.sha256(dist.read_bytes()).hexdigest()]
    assert run.outputs["auth-method"] == "trusted-publishing"
    assert json.loads(run.outputs["published"]) == [d.name for d in dists]
    assert len(index.minted) == 1
    assert github.requests[0].query["audience"] == [index.audience]
    assert not _annotations(run)
    assert not _annotations(run, "warning")
    assert "Minted a short-lived upload token (valid until" in run.stdout
    _assert_secrets_hidden(run, github, index)


def test_token_is_minted_again_before_it_expires(github: FakeGitHubOIDC, tp_workspace: Path) -> None:
    """Tokens that expire within the renewal margin (60 s) are minted again, with a new JWT, before each upload:
    the fake accepts only unexpired tokens it minted and each JWT once, so a stale token or a reused JWT fails."""
    publisher = Publisher("octo-org/octo-repo", "release.yml")
    with FakeTrustedIndex(github.public_key, publisher=publisher, token_lifetime=30) as index:
        run = run_action(tp_workspace, _inputs(index, parallel="1"), env=github.env)
        assert run.returncode == 0, run.output
        assert sorted(index.files) == sorted(d.name for d in _dists(tp_workspace))
        assert len(index.minted) == 3  # the first token, then one before each of the two uploads
        assert len(set(index.upload_tokens)) == 2
        assert len(github.requests) == 3  # a fresh JWT for each exchange
        assert run.stdout.count("Minted a short-lived upload token") == 3
        _assert_secrets_hidden(run, github, index)


def test_always_publishes_too(github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path) -> None:
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["auth-method"] == "trusted-publishing"
    assert len(index.files) == 2
    _assert_secrets_hidden(run, github, index)


def test_never_does_not_even_ask(github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path) -> None:
    run = run_action(tp_workspace, _inputs(index, "never"), env=github.env)
    assert run.returncode == 2
    assert "Missing credentials" in run.stdout
    assert not github.requests
    assert not index.requests


def test_automatic_without_variables_falls_through_to_missing_credentials(
    index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    run = run_action(tp_workspace, _inputs(index), env=NO_OIDC)
    assert run.returncode == 2
    message = _diagnostic(
        run,
        "Missing credentials",
        "trusted publishing (`trusted-publishing: automatic`)",
        "id-token: write",  # the missing-credentials hint still points at trusted publishing
    )
    assert "fork" not in message
    assert "Trusted publishing was not possible" not in message  # not set up is not a failure to explain
    assert not index.requests
    assert not index.files


def test_always_without_variables_explains_the_permission(index: FakeTrustedIndex, tp_workspace: Path) -> None:
    run = run_action(tp_workspace, _inputs(index, "always"), env=NO_OIDC)
    assert run.returncode == 2
    _diagnostic(
        run,
        "Trusted publishing failed",
        "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
        PERMISSION_SNIPPET,  # the YAML, indentation intact, in the annotation and in the summary
        identity.GITHUB_PERMISSIONS_URL,
    )
    assert not index.requests
    assert json.loads(run.outputs["published"]) == []


def _fork_event(tmp_path: Path) -> dict[str, str]:
    """The environment of a `pull_request` run for a pull request from someone's fork (no OIDC variables)."""
    event = tmp_path / "event.json"
    pull = {
        "head": {"repo": {"full_name": "someone/octo-repo", "fork": True}},
        "base": {"repo": {"full_name": "octo-org/octo-repo", "fork": False}},
    }
    event.write_text(json.dumps({"pull_request": pull}), encoding="utf-8")
    return {**NO_OIDC, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}


FORK_PHRASES = (
    "pull request from the fork `someone/octo-repo` into `octo-org/octo-repo`",
    "never gives workflows running for pull requests from forks an OIDC token",
    "a tag push",
    "a release",
    "workflow_dispatch",
)


def test_fork_pull_request_explains_forks(index: FakeTrustedIndex, tp_workspace: Path, tmp_path: Path) -> None:
    run = run_action(tp_workspace, _inputs(index, "always"), env=_fork_event(tmp_path))
    assert run.returncode == 2
    _diagnostic(run, "Trusted publishing failed", *FORK_PHRASES)
    assert not index.requests


def test_fork_pull_request_in_automatic_mode_says_why_credentials_are_missing(
    index: FakeTrustedIndex, tp_workspace: Path, tmp_path: Path
) -> None:
    run = run_action(tp_workspace, _inputs(index), env=_fork_event(tmp_path))
    assert run.returncode == 2
    _diagnostic(run, "Missing credentials", "Trusted publishing was not possible", *FORK_PHRASES)
    assert not index.requests


@pytest.mark.parametrize(
    ("status", "title", "phrase"),
    [
        (404, "Trusted publishing not supported", "does not support trusted publishing"),
        (403, "Trusted publishing disabled", "supports trusted publishing but has it disabled"),
        (500, "Trusted publishing: unexpected answer", "did not say which OIDC audience to request"),
    ],
)
def test_audience_failures_name_the_url(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path, status: int, title: str, phrase: str
) -> None:
    index.audience_status = status
    run = run_action(tp_workspace, _inputs(index, "always", retries="0"), env=github.env)
    assert run.returncode == 1
    url = f"{index.url}/_/oidc/audience"
    _diagnostic(run, title, phrase, f"{url} answered {status}")
    assert not github.requests
    assert not index.files


def test_audience_404_with_automatic_ends_as_missing_credentials(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    index.audience_status = 404
    run = run_action(tp_workspace, _inputs(index), env=github.env)
    assert run.returncode == 2
    errors = _annotations(run)
    assert [title for title, _ in errors] == ["Trusted publishing not supported", "Missing credentials"]
    assert "Trusted publishing was not possible" in errors[1][1]
    assert "does not support trusted publishing" in errors[1][1]
    assert "Trusted publishing was not possible" in run.summary
    assert not index.files


def test_mint_refusal_dumps_the_claims(github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path) -> None:
    index.publisher = Publisher("octo-org/another-repo", "release.yml")
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)

    assert run.returncode == 1
    claims = [f"- `{name}`: `{github.claims[name]}`" for name in CLAIM_NAMES]
    _diagnostic(
        run,
        "Trusted publishing: token exchange refused",
        "- `invalid-publisher`: `valid token, but no corresponding publisher",
        *claims,
        "- `sub`: `repo:octo-org/octo-repo:environment:pypi`",
        trusted_publishing.TROUBLESHOOTING_URL,
    )
    assert not _annotations(run, "warning")  # not a reusable workflow
    assert not index.files
    assert not index.minted
    assert json.loads(run.outputs["published"]) == []
    _assert_secrets_hidden(run, github, index)


def test_automatic_mint_refusal_is_an_authentication_failure_not_missing_credentials(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    """The index has trusted publishing and refused this workflow: say so (exit 1), once, not "Missing credentials"."""
    index.publisher = Publisher("octo-org/another-repo", "release.yml")
    run = run_action(tp_workspace, _inputs(index), env=github.env)
    assert run.returncode == 1, run.output
    assert [title for title, _ in _annotations(run)] == ["Trusted publishing: token exchange refused"]
    assert "Missing credentials" not in run.output
    assert not index.files


def test_always_with_a_username_is_a_configuration_error(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    inputs = _inputs(index, "always", username="someone", password="s3cret-Passw0rd")
    run = run_action(tp_workspace, inputs, env=github.env)
    assert run.returncode == 2
    _diagnostic(
        run,
        "Configuration error",
        "`trusted-publishing: always` forbids other credentials, and these are configured: `username` input / "
        "`password` input",
        "set `trusted-publishing: automatic`",
    )
    assert "s3cret-Passw0rd" not in _visible(run)
    assert not github.requests
    assert not index.requests


def test_explicit_token_wins_over_trusted_publishing_in_automatic(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    """A configured token is used as is, so this fake index (which knows no such token) refuses it: exit 1."""
    run = run_action(tp_workspace, _inputs(index, token="pypi-configured-but-unknown"), env=github.env)
    assert run.returncode == 1
    assert run.outputs["auth-method"] == "token"
    assert not github.requests
    assert "pypi-configured-but-unknown" not in _visible(run)


def test_reusable_workflow_is_warned_about_and_explained(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    """The publisher names the calling workflow (release.yml), PyPI matches the reusable one: refused, and why."""
    reusable = "octo-org/octo-repo/.github/workflows/publish-reusable.yml@refs/tags/v1.0.0"
    github.claims["job_workflow_ref"] = reusable
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)

    assert run.returncode == 1
    phrases = ("runs inside a reusable workflow", f"`job_workflow_ref` is `{reusable}`", "`publish-reusable.yml`")
    _diagnostic(run, "Trusted publishing: token exchange refused", "invalid-publisher", *phrases)
    ((title, warning),) = _annotations(run, "warning")
    assert title == "Trusted publishing from a reusable workflow"
    for phrase in phrases:
        assert phrase in warning
    _assert_secrets_hidden(run, github, index)


class _Recorder:
    """An in-process console: records annotations and the summary (the action's own console is tested above)."""

    verbose = False

    def __init__(self) -> None:
        self.errors: list[tuple[str | None, str]] = []
        self.summaries: list[str] = []
        self.masked: list[str] = []

    def mask(self, secret: str | None) -> None:
        if secret:
            self.masked.append(secret)

    def info(self, message: str) -> None:
        pass

    def debug(self, message: str) -> None:
        pass

    def warning(self, message: str, title: str | None = None) -> None:
        pass

    def error(self, message: str, title: str | None = None) -> None:
        self.errors.append((title, message))

    def group(self, title: str) -> AbstractContextManager[None]:
        return nullcontext()

    def set_output(self, name: str, value: str) -> None:
        pass

    def summary(self, markdown: str) -> None:
        self.summaries.append(markdown)


def test_the_publisher_link_names_the_projects_being_published(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline hands the dists' project names to the exchange. In process, so that the loopback index can pass
    for upload.pypi.org when the link is built (every request still goes to 127.0.0.1)."""
    monkeypatch.setitem(trusted_publishing.PYPI_SITES, "127.0.0.1", "https://pypi.org")
    index.publisher = Publisher("octo-org/another-repo", "release.yml")
    settings = build_settings(
        {**_inputs(index, "always"), "working-directory": str(tp_workspace)},
    )
    console = _Recorder()

    assert run.main(settings, {**github.env, "GITHUB_ACTIONS": "true"}, console) == 1
    link = (
        "https://pypi.org/manage/project/tp-demo/settings/publishing/?provider=github&owner=octo-org"
        "&repository=octo-repo&workflow_filename=release.yml"
    )
    ((title, annotation),) = console.errors
    assert title == "Trusted publishing: token exchange refused"
    assert link in annotation
    assert any(link in summary for summary in console.summaries)
    assert annotation.count("/manage/project/") == 1  # a wheel and an sdist of one project: one link


@pytest.mark.parametrize("error", ["plain", "quotes ```yaml\npermissions: {}\n``` inline", "a ```` longer run"])
def test_the_summary_error_block_cannot_be_closed_by_the_message(error: str) -> None:
    markdown = report.summary_markdown(report.Report(publish_url="https://upload.example/", error=error))
    fence = report.code_fence(error)
    assert len(fence) >= 4
    assert f"\n{fence}\n{error}\n{fence}\n" in markdown
    inner = markdown.split(f"\n{fence}\n", 1)[1].rsplit(f"\n{fence}\n", 1)[0]
    assert fence not in inner  # the message holds no backtick run as long as the fence


class _BackgroundTrustedIndex(FakeTrustedIndex):
    """The trusted-publishing index storing in the background: it answers an upload it accepted with 202 and a task
    on its own origin, and that task (readable by anyone) has completed."""

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/tasks/"):
            return Response.json(200, {"state": "completed", "error": None})
        answer = super().handle(request)
        if (request.method, request.path) == ("POST", "/legacy/") and answer.status == 200:
            return Response.json(202, {"task": f"/tasks/{len(self.files)}/"})
        return answer


def test_a_registrys_task_is_followed_without_the_minted_token(github: FakeGitHubOIDC, tp_workspace: Path) -> None:
    """A minted token goes to the publish URL only: the task on the same origin is asked without credentials."""
    with _BackgroundTrustedIndex(github.public_key, publisher=Publisher("octo-org/octo-repo", "release.yml")) as index:
        run = run_action(tp_workspace, _inputs(index), env=github.env)
        polls = [r for r in index.requests if r.path.startswith("/tasks/")]
        uploads = [r for r in index.requests if r.path == "/legacy/"]

    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.outputs["published"]) == [d.name for d in _dists(tp_workspace)]
    assert len(polls) >= 2
    assert all("authorization" not in r.headers for r in polls), [r.headers for r in polls]
    assert all(r.headers["authorization"].startswith("Basic ") for r in uploads)
    assert "not checked on the index: no check URL" in run.summary


# -- the index's audience: a token only for the index itself (audiences.py) --------------------------------------------

REFUSED_AUDIENCES = {
    "sigstore": "it is Sigstore's audience",
    "SigStore": "it is Sigstore's audience",
    "pypi": "it is PyPI's audience, accepted only from pypi.org or upload.pypi.org",
    "testpypi": "it is TestPyPI's audience, accepted only from test.pypi.org or upload.test.pypi.org",
    "sts.amazonaws.com": "it is a cloud provider's token-exchange audience",
    "api://AzureADTokenExchange": "it is a cloud provider's token-exchange audience",
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q": "a cloud provider's",
    "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q": "a cloud provider's",
    "vault": "VAULT_ID_TOKEN, a variable that belongs to that service",
    "https://vault.example.com": "it names a secrets manager",
    "npm:registry.npmjs.org": "an index other than PyPI must answer an audience that names its own host (127.0.0.1",
    "https://127.0.0.2": "an index other than PyPI must answer an audience that names its own host",
    "127.0.0.1\n::warning::pwned": "it holds control or invisible characters",
}


@pytest.mark.parametrize("audience", list(REFUSED_AUDIENCES))
def test_an_audience_of_another_service_is_refused_before_any_token(
    github: FakeGitHubOIDC, tp_workspace: Path, audience: str
) -> None:
    """Issue 17 #1: the index names the audience, and a token for another service's would let it act as this job
    there (sign as the workflow with `sigstore`, publish to PyPI with `pypi`): no token is even requested."""
    publisher = Publisher("octo-org/octo-repo", "release.yml")
    with FakeTrustedIndex(github.public_key, publisher=publisher, audience=audience) as index:
        run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)
        assert [r.path for r in index.requests] == ["/_/oidc/audience"]  # nothing minted: no token sent
        url = index.url
    assert run.returncode == 1, run.output
    assert not github.requests  # no token requested for that audience
    ((title, message),) = _annotations(run)
    assert title == "Trusted publishing: audience refused"
    escaped = audience.replace("\n", "\\n")
    assert f"The index at {url} answered the OIDC audience `{escaped}`, which is refused: " in message
    assert REFUSED_AUDIENCES[audience] in message
    assert "No token was requested or read." in message
    assert not any(line.startswith("::warning::pwned") for line in run.stdout.splitlines())
    assert not index.files


@pytest.mark.parametrize("audience", ["127.0.0.1", "http://127.0.0.1", "https://127.0.0.1/oidc"])
def test_an_audience_naming_the_index_host_is_used(github: FakeGitHubOIDC, tp_workspace: Path, audience: str) -> None:
    publisher = Publisher("octo-org/octo-repo", "release.yml")
    with FakeTrustedIndex(github.public_key, publisher=publisher, audience=audience) as index:
        run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)
        assert run.returncode == 0, run.output
        assert github.requests[0].query["audience"] == [audience]
        assert len(index.files) == 2


def test_a_token_too_short_to_be_one_is_refused(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    """Issue 17 #9: an exchange answering `"token": "e"` would have `e` masked (the whole log unreadable) and sent."""
    original = index.mint_token

    def short(request: Request) -> Response:
        original(request)
        return Response.json(200, {"success": True, "token": "e", "expires": 2_000_000_000})

    index.mint_token = short  # type: ignore[method-assign]
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)
    assert run.returncode == 1, run.output
    assert "no token of at least 16 characters in the answer" in run.output
    assert not any(m.strip() == "e" for m in MASK.findall(run.stdout))
    assert not index.files
