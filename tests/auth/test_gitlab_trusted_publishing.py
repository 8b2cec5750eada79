"""Trusted publishing from GitLab CI, through the command line as a GitLab job runs it: the ID token comes from the
job's `id_tokens:` variable named after the index's audience (`PYPI_ID_TOKEN` on PyPI; the fake, on 127.0.0.1, answers
its host: `_27_0_0_1_ID_TOKEN`), and the fake
index verifies it as PyPI verifies a GitLab token (issuer `https://gitlab.com`, signature, audience, expiry, `jti`
once) and matches a GitLab trusted publisher on `sub`, `project_path` and `ci_config_ref_uri`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.gitlab_oidc import FakeGitLabOIDC, default_claims
from tests.fakes.trusted_index import AUDIENCE, FakeTrustedIndex, GitLabPublisher, Publisher
from tests.fakes.trusted_index import GITLAB_VARIABLE as VARIABLE
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import CliRun, run_cli

pytestmark = pytest.mark.timeout(120)

YAML = "    publish:\n      id_tokens:\n        {variable}:\n          aud: {audience}"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLabOIDC]:
    with FakeGitLabOIDC() as fake:
        yield fake


@pytest.fixture
def github_key() -> rsa.RSAPublicKey:
    """PyPI trusts GitHub too: the index knows GitHub's key, and a GitHub publisher must not match a GitLab token."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


@pytest.fixture
def index(gitlab: FakeGitLabOIDC, github_key: rsa.RSAPublicKey) -> Iterator[FakeTrustedIndex]:
    publisher = GitLabPublisher("octo-group", "octo-project", ".gitlab-ci.yml", "pypi")
    with FakeTrustedIndex(github_key, publisher=publisher, gitlab_key=gitlab.public_key) as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "dist").mkdir(parents=True)
    build_wheel(root / "dist", "gl-demo", "1.0.0")
    build_sdist(root / "dist", "gl-demo", "1.0.0")
    return root


def _publish(index: FakeTrustedIndex, workspace: Path, env: dict[str, str], *args: str) -> CliRun:
    return run_cli(["--publish-url", index.upload_url, *args], workspace, {"PUBLISHER_RETRY_BASE_DELAY": "0", **env})


def test_publishes_with_pypi_id_token(gitlab: FakeGitLabOIDC, index: FakeTrustedIndex, workspace: Path) -> None:
    env = gitlab.env(**{VARIABLE: AUDIENCE})
    run = _publish(index, workspace, env)

    assert run.returncode == 0, run.output
    assert sorted(index.files) == sorted(p.name for p in (workspace / "dist").iterdir())
    assert "(auth: trusted-publishing)" in run.stdout
    assert "Trusted publishing: exchanging a GitLab OIDC token at" in run.stdout
    assert index.mint_claims[0]["project_path"] == "octo-group/octo-project"
    assert index.mint_claims[0]["iss"] == "https://gitlab.com"
    assert len(index.minted) == 1
    for secret in [env[VARIABLE], *index.minted]:
        assert secret not in run.output


def test_the_audience_names_the_variable_read(
    gitlab: FakeGitLabOIDC, github_key: rsa.RSAPublicKey, workspace: Path
) -> None:
    """An index answering `http://127.0.0.1` (a URL on its host) gets the token of HTTP___127_0_0_1_ID_TOKEN."""
    publisher = GitLabPublisher("octo-group", "octo-project", ".gitlab-ci.yml")
    audience = "http://127.0.0.1"
    with FakeTrustedIndex(github_key, publisher=publisher, gitlab_key=gitlab.public_key, audience=audience) as index:
        env = gitlab.env(**{VARIABLE: AUDIENCE, "HTTP___127_0_0_1_ID_TOKEN": audience})
        run = _publish(index, workspace, env, "--trusted-publishing", "always")
        assert run.returncode == 0, run.output
        assert index.mint_claims[0]["aud"] == audience


def test_the_missing_variable_shows_the_id_tokens_yaml(index: FakeTrustedIndex, workspace: Path) -> None:
    run = _publish(index, workspace, {"GITLAB_CI": "true"}, "--trusted-publishing", "always")

    assert run.returncode == 2, run.output
    assert (
        f"error: Trusted publishing failed: This GitLab CI job has no {VARIABLE} variable, so no OpenID Connect "
        f"(OIDC) token with the audience `{AUDIENCE}` for trusted publishing" in run.stderr
    )
    assert YAML.format(variable=VARIABLE, audience=AUDIENCE) in run.stderr
    assert "https://docs.gitlab.com/ci/secrets/id_token_authentication/" in run.stderr
    assert [r.path for r in index.requests] == ["/_/oidc/audience"]  # the audience names the variable
    assert not index.files


def test_automatic_with_other_id_tokens_says_why_credentials_are_missing(
    gitlab: FakeGitLabOIDC, index: FakeTrustedIndex, workspace: Path
) -> None:
    run = _publish(index, workspace, gitlab.env(SIGSTORE_ID_TOKEN="sigstore"))
    assert run.returncode == 2, run.output
    assert "error: Missing credentials: No source gave a password or token for" in run.stderr
    assert f"Trusted publishing was not possible: This GitLab CI job has no {VARIABLE} variable" in run.stderr
    assert YAML.format(variable=VARIABLE, audience=AUDIENCE) in run.stderr
    assert not index.files


def test_automatic_without_id_tokens_asks_nothing(index: FakeTrustedIndex, workspace: Path) -> None:
    run = _publish(index, workspace, {"GITLAB_CI": "true"})
    assert run.returncode == 2, run.output
    assert "error: Missing credentials: No source gave a password or token for" in run.stderr
    assert "a GitLab CI job whose `id_tokens:` holds PYPI_ID_TOKEN" in run.stderr
    assert not index.requests


def test_a_refusal_shows_gitlabs_claims(gitlab: FakeGitLabOIDC, index: FakeTrustedIndex, workspace: Path) -> None:
    """Another project's pipeline: the publisher names octo-group/octo-project."""
    gitlab.claims = default_claims(project_path="someone/octo-project")
    env = gitlab.env(**{VARIABLE: AUDIENCE})
    run = _publish(index, workspace, env)

    assert run.returncode == 1, run.output
    text = run.stderr
    assert "The index at" in text
    assert "refused to exchange GitLab's OIDC token for an upload token (422 Unprocessable Entity)" in text
    assert "- `invalid-publisher`: `valid token, but no corresponding publisher" in text
    assert "the namespace, project, top-level pipeline file path and environment" in text
    for name in ("sub", "project_path", "namespace_path", "ci_config_ref_uri", "ref_path", "environment"):
        assert f"- `{name}`: `{gitlab.claims[name]}`" in text
    assert "- `project_path`: `someone/octo-project`" in text
    assert env[VARIABLE] not in run.output
    assert not index.files


def test_a_github_publisher_does_not_match_a_gitlab_token(
    gitlab: FakeGitLabOIDC, github_key: rsa.RSAPublicKey, workspace: Path
) -> None:
    with FakeTrustedIndex(github_key, publisher=Publisher(), gitlab_key=gitlab.public_key) as index:
        run = _publish(index, workspace, gitlab.env(**{VARIABLE: AUDIENCE}))
        assert run.returncode == 1, run.output
        assert "invalid-publisher" in run.stderr


# -- the fake index verifies a GitLab token as PyPI does ---------------------------------------------------------------


def test_the_fake_index_verifies_gitlab_tokens(gitlab: FakeGitLabOIDC, index: FakeTrustedIndex) -> None:
    def code(token: str) -> str:
        response = httpx.post(f"{index.url}/_/oidc/mint-token", json={"token": token}, timeout=10)
        return "ok" if response.status_code == 200 else str(response.json()["errors"][0]["code"])

    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {**gitlab.claims, "aud": AUDIENCE, "jti": "x", "iat": int(time.time()), "nbf": 0, "exp": int(time.time()) + 60},
        forged_key,
        algorithm="RS256",
    )
    assert code(forged) == "invalid-token"
    assert code(gitlab.issue("sigstore")) == "invalid-token"
    assert code(gitlab.issue(AUDIENCE, exp=int(time.time()) - 10)) == "invalid-token"
    assert code(gitlab.issue(AUDIENCE, iss="https://gitlab.example.com")) == "invalid-token"
    other_pipeline = "gitlab.com/octo-group/octo-project//ci/release.yml@refs/tags/v1.0.0"
    assert code(gitlab.issue(AUDIENCE, ci_config_ref_uri=other_pipeline)) == "invalid-publisher"
    assert code(gitlab.issue(AUDIENCE, environment="staging")) == "invalid-publisher"
    assert code(gitlab.issue(AUDIENCE, sub="project_path:someone/octo-project:ref_type:tag:ref:v1.0.0")) == (
        "invalid-publisher"
    )
    by_sha = f"gitlab.com/octo-group/octo-project//.gitlab-ci.yml@{gitlab.claims['sha']}"
    assert code(gitlab.issue(AUDIENCE, ci_config_ref_uri=by_sha, project_path="Octo-Group/Octo-Project")) == "ok"
    good = gitlab.issue(AUDIENCE)
    assert code(good) == "ok"
    assert code(good) == "invalid-reuse-token"


# -- issue 17: the index's audience never reads another service's variable ------------------------------------------


@pytest.mark.parametrize(
    ("audience", "variable", "reason"),
    [
        ("sigstore", "SIGSTORE_ID_TOKEN", "it is Sigstore's audience"),
        (
            "Vault",
            "VAULT_ID_TOKEN",
            "in GitLab CI it would read VAULT_ID_TOKEN, a variable that belongs to that service",
        ),
        ("pypi", "PYPI_ID_TOKEN", "it is PyPI's audience, accepted only from pypi.org or upload.pypi.org"),
        ("aws", "AWS_ID_TOKEN", "in GitLab CI it would read AWS_ID_TOKEN"),
    ],
)
def test_another_services_variable_is_never_read(
    gitlab: FakeGitLabOIDC, github_key: rsa.RSAPublicKey, workspace: Path, audience: str, variable: str, reason: str
) -> None:
    """An index answering `sigstore` would get the job's SIGSTORE_ID_TOKEN, which Fulcio accepts as this pipeline."""
    publisher = GitLabPublisher("octo-group", "octo-project", ".gitlab-ci.yml")
    with FakeTrustedIndex(github_key, publisher=publisher, gitlab_key=gitlab.public_key, audience=audience) as index:
        env = gitlab.env(**{variable: audience, VARIABLE: AUDIENCE})
        run = _publish(index, workspace, env, "--trusted-publishing", "always")
        assert [r.path for r in index.requests] == ["/_/oidc/audience"]
        url = index.url
    assert run.returncode == 1, run.output
    assert f"The index at {url} answered the OIDC audience `{audience}`, which is refused: " in run.stderr
    assert reason in run.stderr
    assert env[variable] not in run.output


def test_a_variable_declared_for_another_audience_is_not_sent(
    gitlab: FakeGitLabOIDC, index: FakeTrustedIndex, workspace: Path
) -> None:
    """The variable's name matches the index's audience, but the job declared it with another `aud:` (another
    service's token): refused, never sent."""
    env = {**gitlab.env(), VARIABLE: gitlab.issue("https://vault.example.com")}
    run = _publish(index, workspace, env, "--trusted-publishing", "always")
    assert run.returncode == 1, run.output
    assert (
        f"The token in {VARIABLE} was issued for the audience (`aud`) `https://vault.example.com`, not `{AUDIENCE}`, "
        "so it is not sent" in run.stderr
    )
    assert [r.path for r in index.requests] == ["/_/oidc/audience"]
    assert env[VARIABLE] not in run.output


def test_the_missing_variable_message_escapes_the_audience(index: FakeTrustedIndex) -> None:
    """Issue 17 #5: the audience is the index's text; it reaches the message and the YAML hint escaped."""
    from publisher.auth import identity, trusted_publishing

    error = identity.gitlab_missing(trusted_publishing.PURPOSE, "127.0.0.1\n::warning::pwned`")
    text = f"{error.message}\n{error.hint}"
    assert "\n::warning::pwned" not in text
    assert "127.0.0.1\\n::warning::pwned`" in text
    assert "with the audience `` 127.0.0.1\\n::warning::pwned` `` for trusted publishing" in error.message
