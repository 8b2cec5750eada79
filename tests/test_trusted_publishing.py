"""Trusted publishing end to end: the action's entrypoint, a fake GitHub token service and a fake PyPI-like index
that only accepts uploads with the token it minted. Exit status, outputs, job summary and secrecy are checked."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import ActionRun, run_action

pytestmark = pytest.mark.timeout(120)

MASK = re.compile(r"^::add-mask ?::(.*)$", re.M)  # github-action-utils writes `::add-mask ::value`
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}  # as in a job without id-token


@pytest.fixture
def github() -> Iterator[FakeGitHubOIDC]:
    with FakeGitHubOIDC() as fake:
        yield fake


@pytest.fixture
def index(github: FakeGitHubOIDC) -> Iterator[FakeTrustedIndex]:
    with FakeTrustedIndex(github.public_key, publisher=Publisher("octo-org/octo-repo", "release.yml")) as fake:
        yield fake


@pytest.fixture
def tp_workspace(tmp_path: Path) -> Path:
    """A checkout with a wheel and an sdist in dist/, and nothing else: the publish URL comes from the inputs."""
    workspace = tmp_path / "workspace"
    dist = workspace / "dist"
    dist.mkdir(parents=True)
    build_wheel(dist, "tp-demo", "1.0.0")
    build_sdist(dist, "tp-demo", "1.0.0")
    return workspace


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
    assert github.requests[0].query["audience"] == ["pypi"]
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
    assert "Missing credentials" in run.stdout
    assert "trusted publishing (trusted-publishing: automatic)" in run.stdout
    assert "id-token: write" in run.stdout  # the missing-credentials hint still points at trusted publishing
    assert not index.requests
    assert not index.files


def test_always_without_variables_explains_the_permission(index: FakeTrustedIndex, tp_workspace: Path) -> None:
    run = run_action(tp_workspace, _inputs(index, "always"), env=NO_OIDC)
    assert run.returncode == 2
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" in run.stdout
    assert "permissions:" in run.stdout
    assert "id-token: write" in run.stdout
    assert not index.requests
    assert json.loads(run.outputs["published"]) == []


def test_fork_pull_request_explains_forks(index: FakeTrustedIndex, tp_workspace: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    pull = {
        "head": {"repo": {"full_name": "someone/octo-repo", "fork": True}},
        "base": {"repo": {"full_name": "octo-org/octo-repo", "fork": False}},
    }
    event.write_text(json.dumps({"pull_request": pull}), encoding="utf-8")
    env = {**NO_OIDC, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
    run = run_action(tp_workspace, _inputs(index, "always"), env=env)
    assert run.returncode == 2
    assert "someone/octo-repo" in run.stdout
    assert "fork" in run.stdout
    assert "workflow_dispatch" in run.stdout
    assert not index.requests


def test_audience_404_says_the_index_has_no_trusted_publishing(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    index.audience_status = 404
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)
    assert run.returncode == 1
    url = f"{index.url}/_/oidc/audience"
    assert "does not support trusted publishing" in run.stdout
    assert url in run.stdout
    assert "does not support trusted publishing" in run.summary
    assert not github.requests
    assert not index.files


def test_audience_404_with_automatic_ends_as_missing_credentials(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    index.audience_status = 404
    run = run_action(tp_workspace, _inputs(index), env=github.env)
    assert run.returncode == 2
    assert "Missing credentials" in run.stdout
    assert "Trusted publishing was not possible" in run.stdout
    assert "does not support trusted publishing" in run.stdout
    assert not index.files


def test_mint_refusal_dumps_the_claims(github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path) -> None:
    index.publisher = Publisher("octo-org/another-repo", "release.yml")
    run = run_action(tp_workspace, _inputs(index, "always"), env=github.env)

    assert run.returncode == 1
    for text in (run.stdout, run.summary):
        assert "invalid-publisher" in text
        assert "valid token, but no corresponding publisher" in text
        assert "`sub`: `repo:octo-org/octo-repo:environment:pypi`" in text
        assert "`repository`: `octo-org/octo-repo`" in text
        assert "`job_workflow_ref`: `octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.0.0`" in text
        assert "`environment`: `pypi`" in text
    assert not index.files
    assert not index.minted
    assert json.loads(run.outputs["published"]) == []
    _assert_secrets_hidden(run, github, index)


def test_always_with_a_username_is_a_configuration_error(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path
) -> None:
    inputs = _inputs(index, "always", username="someone", password="s3cret-Passw0rd")
    run = run_action(tp_workspace, inputs, env=github.env)
    assert run.returncode == 2
    assert "other credentials are configured" in run.stdout
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
