"""JFrog OIDC end to end: the action's entrypoint (and the CLI), the fake GitHub token service, and a fake JFrog
Platform (tests/fakes/jfrog.py) whose Access verifies the ID token against GitHub's keys and maps its claims, and whose
Artifactory repository accepts only the access tokens Access issued, until they expire.

Every diagnostic is checked in its one `::error` annotation and in the job summary; every secret (the GitHub request
token, each ID token, each access token, its Basic form, the username) must be masked before it could be printed and
absent from stdout, stderr, the summary and the outputs."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from publisher.auth import identity, jfrog
from publisher.config.settings import build_settings
from publisher.report.errors import ConfigError
from tests.fakes import Request, Response
from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC, default_claims
from tests.fakes.gitlab_oidc import ISSUER as GITLAB_ISSUER
from tests.fakes.gitlab_oidc import FakeGitLabOIDC
from tests.fakes.jfrog import TOKEN_PATH, FakeJFrog, IdentityMapping, Integration
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import ActionRun, run_action, run_cli

pytestmark = pytest.mark.timeout(120)

PROVIDER = "github-oidc"
USERNAME = "gh-publisher"
MAPPING_CLAIMS = ("repository", "ref", "workflow_ref", "environment", "sub")
MASK = re.compile(r"^::add-mask ?::(.*)$", re.M)
ANNOTATION = re.compile(r"^::(error|warning)(?: ([^:]*))?::(.*)$", re.M)
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0"}


def _integration(github: FakeGitHubOIDC, *mappings: IdentityMapping, audience: str | None = None) -> Integration:
    mappings = mappings or (IdentityMapping("octo-repo", {"repository": "octo-org/octo-repo"}, USERNAME),)
    return Integration(ISSUER, github.jwks_url, list(mappings), audience)


@pytest.fixture
def platform(github: FakeGitHubOIDC) -> Iterator[FakeJFrog]:
    with FakeJFrog({PROVIDER: _integration(github)}) as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "dist").mkdir(parents=True)
    build_wheel(root / "dist", "jf-demo", "1.0.0")
    build_sdist(root / "dist", "jf-demo", "1.0.0")
    return root


def _inputs(platform: FakeJFrog, **extra: str) -> dict[str, str]:
    return {"publish-url": platform.upload_url, "jfrog-oidc-provider-name": PROVIDER, "verbose": "true", **extra}


def _dists(workspace: Path) -> list[str]:
    return sorted((p.name for p in (workspace / "dist").iterdir()), key=lambda n: (not n.endswith(".whl"), n))


def _unescape(value: str) -> str:
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        value = value.replace(escaped, plain)
    return value


def _annotations(run: ActionRun, level: str = "error") -> list[tuple[str, str]]:
    found = []
    for kind, properties, message in ANNOTATION.findall(run.stdout):
        if kind == level:
            title = next(
                (_unescape(p.split("=", 1)[1]) for p in (properties or "").split(",") if p.startswith("title=")), ""
            )
            found.append((title, _unescape(message)))
    return found


def _diagnostic(run: ActionRun, title: str, *phrases: str) -> str:
    """The run's one error annotation has `title` and every phrase, and so does the job summary."""
    annotations = _annotations(run)
    assert len(annotations) == 1, annotations
    found_title, message = annotations[0]
    assert found_title == title, annotations
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in the annotation:\n{message}"
        assert phrase in run.summary, f"{phrase!r} not in the job summary:\n{run.summary}"
    return message


def _secrets(github: FakeGitHubOIDC, *platforms: FakeJFrog) -> dict[str, str]:
    """Every secret of a run, in every form a log could carry it, by a name for the failure message."""
    found = {"request token": github.request_token}
    for n, token in enumerate(github.issued):
        found[f"ID token {n}"] = token
        found[f"ID token {n}, signature"] = token.rsplit(".", 1)[-1]
    for platform in platforms:
        for n, (token, issued) in enumerate(platform.issued.items()):
            found[f"access token {n}"] = token
            found[f"access token {n}, signature"] = token.rsplit(".", 1)[-1]
            for user in (issued.username, ""):
                found[f"access token {n}, Basic ({user or 'no user'})"] = base64.b64encode(
                    f"{user}:{token}".encode()
                ).decode()
            found[f"access token {n}, url-encoded"] = quote(token, safe="")
            found[f"access token {n}, form-encoded"] = quote_plus(token)
            found[f"username {issued.username}"] = issued.username
    return found


def _visible(run: ActionRun) -> dict[str, str]:
    return {
        "stdout": MASK.sub("", run.stdout),
        "stderr": run.stderr,
        "summary": run.summary,
        "outputs": json.dumps(run.outputs),
    }


def _assert_no_secret(run: ActionRun, github: FakeGitHubOIDC, *platforms: FakeJFrog) -> None:
    secrets = _secrets(github, *platforms)
    assert len(secrets) >= 3, "expected the fakes to have issued something"
    for channel, text in _visible(run).items():
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} leaked to {channel}:\n{text}"


def _mask_line(run: ActionRun, secret: str) -> int:
    lines = run.stdout.splitlines()
    found = [n for n, line in enumerate(lines) if (m := MASK.match(line)) and m.group(1) == secret]
    assert found, f"never masked: {secret[:12]}..."
    return found[0]


def _line(run: ActionRun, phrase: str) -> int:
    return next(n for n, line in enumerate(run.stdout.splitlines()) if phrase in line and not MASK.match(line))


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


# -- success ------------------------------------------------------------------------------------------------------


def test_publishes_with_a_jfrog_access_token(github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path) -> None:
    run = run_action(workspace, _inputs(platform), env=github.env)

    assert run.returncode == 0, run.output
    names = _dists(workspace)
    assert sorted(platform.files) == sorted(names)
    assert json.loads(run.outputs["published"]) == names
    assert run.outputs["auth-method"] == "jfrog-oidc"
    assert run.outputs["publish-url"] == platform.upload_url
    assert "(auth: jfrog-oidc)" in run.stdout
    # The exchange as documented: no Authorization header, no audience or project key when none is configured,
    # GitHub asked for no audience (its default applies: the owner's URL).
    exchange_requests = [r for r in platform.requests if r.path == TOKEN_PATH]
    assert len(exchange_requests) == len(platform.exchanges) >= 1
    assert all("authorization" not in r.headers for r in exchange_requests)
    body = platform.exchanges[0]["body"]
    assert body == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "subject_token": github.issued[0],
        "provider_name": PROVIDER,
    }
    assert "audience" not in github.requests[0].query
    assert platform.exchanges[0]["claims"]["aud"] == "https://github.com/octo-org"
    # Uploaded with the answer's username and an access token Access issued; the check URL got nothing.
    assert [(user, token in platform.issued) for user, token, _ in platform.uploads] == [(USERNAME, True)] * 2
    assert not [r for r in platform.requests if r.method == "GET"]
    assert "JFrog OIDC: exchanging a GitHub OIDC token at " + platform.url in run.stdout
    assert not _annotations(run)
    assert not _annotations(run, "warning")
    _assert_no_secret(run, github, platform)
    first_token = next(iter(platform.issued))
    assert _mask_line(run, first_token) < _line(run, "Got a short-lived JFrog access token")
    assert _mask_line(run, github.issued[0]) < _line(run, f"> POST {platform.token_url}")
    assert _mask_line(run, USERNAME) < _line(run, "Got a short-lived JFrog access token")
    basic = base64.b64encode(f"{USERNAME}:{first_token}".encode()).decode()
    assert _mask_line(run, basic) < _line(run, "Uploading ")


def test_audience_and_project_key_are_sent_when_set(github: FakeGitHubOIDC, workspace: Path) -> None:
    """The project's own mapping (priority 9) is chosen over the global one (priority 1) for its project key."""
    mappings = (
        IdentityMapping("global", {"repository": "octo-org/octo-repo"}, "global-user", priority=1),
        IdentityMapping("project", {"repository": "octo-org/octo-repo"}, "project-user", priority=9, project_key="prj"),
    )
    with FakeJFrog({PROVIDER: _integration(github, *mappings, audience="jfrog-github")}) as platform:
        inputs = _inputs(platform, **{"jfrog-oidc-audience": "jfrog-github", "jfrog-project-key": "prj"})
        run = run_action(workspace, inputs, env=github.env)

        assert run.returncode == 0, run.output
        assert platform.exchanges[0]["body"]["audience"] == "jfrog-github"
        assert platform.exchanges[0]["body"]["project_key"] == "prj"
        assert platform.exchanges[0]["claims"]["aud"] == "jfrog-github"  # the same audience asked of GitHub
        assert github.requests[0].query["audience"] == ["jfrog-github"]
        assert {user for user, _, _ in platform.uploads} == {"project-user"}
        _assert_no_secret(run, github, platform)


def test_without_a_username_in_the_answer_the_access_tokens_subject_names_the_user(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    """setup-jfrog-cli's rule: `jfrt@<id>/users/<name>` -> `<name>`. The fake repository accepts an access token only
    with its own user name (or none), so a wrong one fails the upload."""
    platform.answer_username = False
    run = run_action(workspace, _inputs(platform), env=github.env)

    assert run.returncode == 0, run.output
    assert {user for user, _, _ in platform.uploads} == {USERNAME}
    _assert_no_secret(run, github, platform)


def test_the_cli_reads_the_jfrog_variables(github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path) -> None:
    env = {
        **github.env,
        "GITHUB_ACTIONS": "true",
        "JFROG_OIDC_PROVIDER_NAME": PROVIDER,
        "JFROG_URL": platform.url,
        "JFROG_OIDC_AUDIENCE": "",
    }
    run = run_cli(["--publish-url", platform.upload_url], workspace, env)
    assert run.returncode == 0, run.output
    assert "(auth: jfrog-oidc)" in run.stdout
    assert sorted(platform.files) == sorted(_dists(workspace))
    for secret in _secrets(github, platform).values():
        assert secret not in MASK.sub("", run.stdout) + run.stderr


# -- refusals -----------------------------------------------------------------------------------------------------


def _claims_lines(claims: dict[str, Any]) -> list[str]:
    return [f"- `{name}`: `{claims[name]}`" for name in MAPPING_CLAIMS]


def test_an_unknown_provider_is_named_with_the_claims(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    run = run_action(workspace, _inputs(platform, **{"jfrog-oidc-provider-name": "github-odic"}), env=github.env)

    assert run.returncode == 1, run.output
    _diagnostic(
        run,
        "JFrog OIDC: token exchange refused",
        f"The platform at {platform.url} refused to exchange GitHub's OIDC token for an access token (404 Not Found)",
        "- `NOT_FOUND`: `OIDC integration 'github-odic' was not found`",  # JFrog's own words
        "no OIDC integration named `github-odic`",
        *_claims_lines(github.claims),
        "`jfrog-oidc-provider-name` input",
    )
    assert run.outputs["auth-method"] == "none"
    assert json.loads(run.outputs["published"]) == []
    assert not platform.files
    assert not [r for r in platform.requests if r.path != TOKEN_PATH]  # no upload was even tried
    _assert_no_secret(run, github, platform)


def test_a_fork_does_not_match_the_identity_mapping(github: FakeGitHubOIDC, workspace: Path) -> None:
    """The release workflow run in someone's fork: GitHub's token says `someone/octo-repo`, the mapping names
    `octo-org/octo-repo`, so JFrog refuses, and the claims show why."""
    github.claims = default_claims(repository="someone/octo-repo")
    with FakeJFrog({PROVIDER: _integration(github)}) as platform:
        run = run_action(workspace, _inputs(platform), env=github.env)

        assert run.returncode == 1, run.output
        _diagnostic(
            run,
            "JFrog OIDC: token exchange refused",
            "- `UNAUTHORIZED`: `The token's claims do not match any identity mapping`",
            "none of its identity mappings matches this workflow run",
            "- `repository`: `someone/octo-repo`",
            *_claims_lines(github.claims),
        )
        assert not platform.files
        assert not platform.issued
        _assert_no_secret(run, github, platform)


def test_an_audience_mismatch_is_explained_and_fixed_through_the_input(github: FakeGitHubOIDC, workspace: Path) -> None:
    with FakeJFrog({PROVIDER: _integration(github, audience="jfrog-github")}) as platform:
        run = run_action(workspace, _inputs(platform, **{"jfrog-oidc-audience": "jfrog"}), env=github.env)

        assert run.returncode == 1, run.output
        _diagnostic(
            run,
            "JFrog OIDC: invalid audience",
            "- `BAD_REQUEST`: `Invalid audience`",
            "asked GitHub for the audience `jfrog` (`jfrog-oidc-audience` input) and sent it as `audience`",
            "The token's `aud` claim is `jfrog`",
            "Set `jfrog-oidc-audience` input to the Audience configured on the OIDC integration `github-oidc`",
        )
        assert not platform.files

        fixed = run_action(workspace, _inputs(platform, **{"jfrog-oidc-audience": "jfrog-github"}), env=github.env)
        assert fixed.returncode == 0, fixed.output
        assert sorted(platform.files) == sorted(_dists(workspace))
        assert platform.exchanges[-1]["claims"]["aud"] == "jfrog-github"
        _assert_no_secret(run, github, platform)
        _assert_no_secret(fixed, github, platform)


def test_an_audience_sent_to_an_integration_without_one_says_so(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    run = run_action(workspace, _inputs(platform, **{"jfrog-oidc-audience": "jfrog-github"}), env=github.env)
    assert run.returncode == 1, run.output
    _diagnostic(run, "JFrog OIDC: invalid audience", "`Invalid audience`", "or leave both empty")


def test_no_id_token_is_a_configuration_error_with_the_permission(platform: FakeJFrog, workspace: Path) -> None:
    run = run_action(workspace, _inputs(platform), env=NO_OIDC)

    assert run.returncode == 2, run.output
    _diagnostic(
        run,
        "JFrog OIDC failed",
        "This job cannot request an OpenID Connect (OIDC) token from GitHub for the JFrog OIDC token exchange: "
        "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set in it.",
        "    jobs:\n      publish:\n        permissions:\n          id-token: write  # JFrog OIDC",
        "map this repository to the OIDC integration `github-oidc`",
    )
    assert not platform.requests


def test_a_transient_failure_is_retried_with_a_fresh_id_token(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    platform.fail_next[TOKEN_PATH] = [503, 502]
    run = run_action(workspace, _inputs(platform, parallel="1"), env={**github.env, **FAST})

    assert run.returncode == 0, run.output
    warnings = [message for title, message in _annotations(run, "warning") if title == "Retrying"]
    assert [w.split(":")[0] for w in warnings] == ["JFrog OIDC token exchange"] * 2
    first_exchange = platform.exchanges[0]["body"]["subject_token"]
    assert first_exchange == github.issued[2]  # two refused attempts, each with its own ID token
    _assert_no_secret(run, github, platform)


def test_a_platform_that_keeps_failing_is_an_authentication_failure(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    platform.fail_next[TOKEN_PATH] = [503, 503]
    run = run_action(workspace, _inputs(platform, retries="1"), env={**github.env, **FAST})
    assert run.returncode == 1, run.output
    _diagnostic(run, "JFrog OIDC: unexpected answer", "with an unexpected 503 Service Unavailable response")


def test_a_token_that_expires_between_uploads_is_renewed(github: FakeGitHubOIDC, workspace: Path) -> None:
    """A mapping issuing 2-second tokens, and a repository that takes 2.5 s to store the wheel: the token the wheel
    went up with has expired when the sdist goes, and the fake refuses expired tokens."""
    mapping = IdentityMapping("short", {"repository": "octo-org/octo-repo"}, USERNAME, expires_in=2)
    with FakeJFrog({PROVIDER: _integration(github, mapping)}) as platform:
        platform.upload_delays = [2.5]
        run = run_action(workspace, _inputs(platform, parallel="1"), env=github.env)

        assert run.returncode == 0, run.output
        assert sorted(platform.files) == sorted(_dists(workspace))
        (_, first, _), (_, second, second_at) = platform.uploads
        assert first != second
        assert platform.issued[first].expires < second_at  # it did expire between the uploads
        assert len(github.issued) == len(platform.exchanges) >= 3  # a new ID token for every exchange
        _assert_no_secret(run, github, platform)
        for token in platform.issued:
            assert _mask_line(run, token) >= 0


def test_a_mapping_without_deploy_permission_is_an_authentication_failure(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    platform.deployers = {"release-bot"}
    run = run_action(workspace, _inputs(platform, retries="0"), env=github.env)

    assert run.returncode == 1, run.output
    message = _diagnostic(
        run,
        "Authentication failed",
        "the registry rejected the credentials from JFrog OIDC (integration `github-oidc`) (auth method: jfrog-oidc)",
        "User '***' is not permitted to deploy",  # JFrog quotes the username: masked, so redacted
        "give that user (or group) permission to deploy to this repository in JFrog",
    )
    assert "Artifactory wants your username" not in message
    _assert_no_secret(run, github, platform)


def test_the_duplicate_is_artifactorys_403(github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path) -> None:
    first = run_action(workspace, _inputs(platform), env=github.env)
    assert first.returncode == 0, first.output
    again = run_action(workspace, _inputs(platform), env=github.env)

    assert again.returncode == 1, again.output
    assert "already exists on" in again.stdout
    assert "Not enough permissions to delete/overwrite artifact" in again.stdout
    _assert_no_secret(again, github, platform)


# -- where the tokens go ------------------------------------------------------------------------------------------


def test_the_check_url_reads_with_its_own_credentials_never_the_access_token(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    platform.readers = {"reader": "R3ader-Passw0rd"}
    check_url = platform.simple_url.replace("http://", "http://reader:R3ader-Passw0rd@")
    inputs = _inputs(platform, **{"check-url": check_url, "skip-existing": "true"})
    first = run_action(workspace, inputs, env=github.env)
    assert first.returncode == 0, first.output
    again = run_action(workspace, inputs, env=github.env)

    assert again.returncode == 0, again.output
    assert json.loads(again.outputs["skipped"]) == _dists(workspace)
    reads = [r for r in platform.requests if r.method == "GET"]
    assert reads
    assert {_basic(r) for r in reads} == {("reader", "R3ader-Passw0rd")}
    for run in (first, again):
        assert run.outputs["auth-method"] == "jfrog-oidc"
        _assert_no_secret(run, github, platform)
        assert "R3ader-Passw0rd" not in "\n".join(_visible(run).values())


def test_jfrog_url_on_another_origin_gets_the_id_token_and_nothing_else(
    github: FakeGitHubOIDC, workspace: Path
) -> None:
    """The rule: an explicit jfrog-url may be another origin (the workflow author's input, as publish-url is). Only
    the ID token goes there; the access token goes to the publish URL's origin only."""
    with (
        FakeJFrog({PROVIDER: _integration(github)}) as access,
        FakeJFrog() as repository,
    ):
        repository.issued = access.issued  # one platform reached under two origins: the tokens are the same
        inputs = _inputs(repository, **{"jfrog-url": access.url + "/"})
        run = run_action(workspace, inputs, env=github.env)

        assert run.returncode == 0, run.output
        assert sorted(repository.files) == sorted(_dists(workspace))
        assert [r.path for r in access.requests] == [TOKEN_PATH]
        assert all("authorization" not in r.headers for r in access.requests)
        assert not [r for r in repository.requests if r.path == TOKEN_PATH]
        assert all(github.issued[0] not in r.body.decode(errors="replace") for r in repository.requests)
        assert f"exchanging a GitHub OIDC token at {access.url}" in run.stdout
        _assert_no_secret(run, github, access)


@pytest.mark.parametrize(
    ("inputs", "phrases"),
    [
        (
            {"publish-url": "https://upload.example/pypi/local/"},
            (
                "`jfrog-oidc-provider-name` input is set, but `jfrog-url` input is not, and the publish URL "
                "https://upload.example/pypi/local/ has no `/artifactory/` segment",
            ),
        ),
        (
            {"publish-url": "https://acme.example/artifactory/api/pypi/local", "jfrog-url": "http://acme.example"},
            (
                "Refusing the JFrog OIDC token exchange over plain http to http://acme.example",
                "allow-insecure-http: true",
            ),
        ),
        (
            {"publish-url": "https://acme.example/artifactory/api/pypi/local", "jfrog-url": "https://u:p@acme.example"},
            ("has user info, a query or a fragment",),
        ),
        (
            {"publish-url": "https://acme.example/artifactory/api/pypi/local", "jfrog-url": "acme.example"},
            ("`jfrog-url` input 'acme.example' is not an http:// or https:// URL",),
        ),
    ],
    ids=["no-artifactory-segment", "plain-http", "user-info", "not-a-url"],
)
def test_a_jfrog_url_that_cannot_be_used_is_refused_before_any_request(
    github: FakeGitHubOIDC, workspace: Path, inputs: dict[str, str], phrases: tuple[str, ...]
) -> None:
    run = run_action(workspace, {"jfrog-oidc-provider-name": PROVIDER, **inputs}, env=github.env)
    assert run.returncode == 2, run.output
    _diagnostic(run, "Configuration error", *phrases)
    assert not github.requests


def test_explicit_credentials_come_first_and_say_jfrog_oidc_was_not_used(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    env = {**github.env, "UV_PUBLISH_USERNAME": "alice", "UV_PUBLISH_PASSWORD": "Expl1cit-Passw0rd"}
    run = run_action(workspace, _inputs(platform, retries="0"), env=env)

    assert run.returncode == 1, run.output  # the fake knows no such password
    assert run.outputs["auth-method"] == "password"
    ((title, warning),) = _annotations(run, "warning")
    assert title == "JFrog OIDC not used"
    assert "UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD came first in the credential chain" in warning
    assert not github.requests
    assert not platform.exchanges


def test_trusted_publishing_always_conflicts_with_jfrog_oidc(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path
) -> None:
    run = run_action(workspace, _inputs(platform, **{"trusted-publishing": "always"}), env=github.env)
    assert run.returncode == 2, run.output
    _diagnostic(run, "Configuration error", "and these are configured: `jfrog-oidc-provider-name` input")
    assert not github.requests


# -- a hostile platform -------------------------------------------------------------------------------------------


class EchoingJFrog(FakeJFrog):
    """Refuses every exchange quoting the ID token it got, as a careless server might; and answers 200s whose token
    is of the wrong type."""

    def exchange(self, request: Request) -> Response:
        token = json.loads(request.body).get("subject_token", "")
        return Response.json(401, {"errors": [{"code": "UNAUTHORIZED", "message": f"bad token {token}\n::error::x"}]})


def test_a_platform_quoting_the_id_token_back_shows_it_redacted(github: FakeGitHubOIDC, workspace: Path) -> None:
    with EchoingJFrog({PROVIDER: _integration(github)}) as platform:
        run = run_action(workspace, _inputs(platform), env=github.env)
    assert run.returncode == 1, run.output
    message = _diagnostic(run, "JFrog OIDC: token exchange refused", "- `UNAUTHORIZED`: `bad token ***\\n::error::x`")
    assert github.issued[0] not in message
    _assert_no_secret(run, github)


@pytest.mark.parametrize(
    "answer",
    [
        Response.json(200, {"access_token": 5, "expires_in": "soon"}),
        Response.json(200, ["access_token"]),
        Response(404, b"<html>Not Found</html>", {"Content-Type": "text/html"}),
    ],
    ids=["token-not-a-string", "not-an-object", "old-platform-404"],
)
def test_odd_answers_are_explained(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path, monkeypatch: pytest.MonkeyPatch, answer: Response
) -> None:
    monkeypatch.setattr(platform, "exchange", lambda request: answer)
    run = run_action(workspace, _inputs(platform, retries="0"), env=github.env)
    assert run.returncode == 1, run.output
    _diagnostic(
        run, "JFrog OIDC: unexpected answer", f"The platform at {platform.url} answered the OIDC token exchange"
    )
    assert not platform.files


# -- GitLab CI to JFrog (the command line) ------------------------------------------------------------------------


def test_gitlab_ci_to_jfrog_with_an_audience(workspace: Path) -> None:
    with FakeGitLabOIDC() as gitlab:
        integration = Integration(
            GITLAB_ISSUER,
            gitlab.jwks_url,
            [IdentityMapping("project", {"project_path": "octo-group/octo-project"})],
            audience="jfrog",
        )
        with FakeJFrog({"gitlab": integration}) as platform:
            env = {**gitlab.env(JFROG_ID_TOKEN="jfrog"), "JFROG_OIDC_PROVIDER_NAME": "gitlab"}
            missing = run_cli(["--publish-url", platform.upload_url], workspace, env)
            assert missing.returncode == 2, missing.output
            assert "The audience of the ID token for the JFrog OIDC token exchange is not known" in missing.stderr
            assert "      id_tokens:\n        AUDIENCE_ID_TOKEN:\n          aud: AUDIENCE" in missing.stderr
            assert not platform.requests

            run = run_cli(["--publish-url", platform.upload_url, "--jfrog-oidc-audience", "jfrog"], workspace, env)
            assert run.returncode == 0, run.output
            assert "(auth: jfrog-oidc)" in run.stdout
            assert platform.exchanges[0]["body"]["subject_token"] == env["JFROG_ID_TOKEN"]
            assert platform.exchanges[0]["body"]["audience"] == "jfrog"
            assert env["JFROG_ID_TOKEN"] not in run.output


# -- the pieces ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("publish_url", "platform_url"),
    [
        ("https://acme.jfrog.io/artifactory/api/pypi/pypi-local", "https://acme.jfrog.io"),
        ("https://acme.jfrog.io/artifactory/api/pypi/pypi-local/", "https://acme.jfrog.io"),
        ("https://u:p@acme.example:8443/jfrog/artifactory/api/pypi/r", "https://acme.example:8443/jfrog"),
        ("https://acme.example/Artifactory/api/pypi/r", "https://acme.example"),
        ("https://acme.example/api/pypi/artifactory-local", None),
        ("https://artifactory.example/api/pypi/r", None),
    ],
)
def test_the_platform_url_is_the_publish_url_up_to_artifactory(publish_url: str, platform_url: str | None) -> None:
    assert jfrog.platform_url_from(publish_url) == platform_url


def _access_token(sub: str | None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"sub": sub} if sub is not None else {}, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("answer", "sub", "username"),
    [
        ({"username": "ci-bot"}, "jfrt@01abc/users/other", "ci-bot"),
        ({}, "jfrt@01abc/users/ci-bot", "ci-bot"),
        ({}, "jfac@01abc/users/ci-bot", "ci-bot"),
        ({}, "jfrt@01abc", "jfrt@01abc"),
        ({}, "ci-bot", "ci-bot"),
        ({"username": ""}, None, ""),
        ({"username": 7}, "x/users/y/z", "z"),
    ],
)
def test_the_username_follows_setup_jfrog_cli(answer: dict[str, Any], sub: str | None, username: str) -> None:
    assert jfrog.username_from(answer, _access_token(sub)) == username
    assert jfrog.username_from({}, "not-a-jwt") == ""


def test_gitlab_variables_are_named_as_id_names_them() -> None:
    assert identity.gitlab_variable("pypi") == "PYPI_ID_TOKEN"
    assert identity.gitlab_variable("testpypi") == "TESTPYPI_ID_TOKEN"
    assert identity.gitlab_variable("sigstore") == "SIGSTORE_ID_TOKEN"
    assert identity.gitlab_variable("http://test.audience") == "HTTP___TEST_AUDIENCE_ID_TOKEN"
    assert identity.gitlab_variable("1pypi") == "_PYPI_ID_TOKEN"


def test_config_without_a_provider_is_none() -> None:
    assert jfrog.config(build_settings({}), "https://acme.jfrog.io/artifactory/api/pypi/r") is None
    blank = build_settings({"jfrog-oidc-provider-name": "  ", "jfrog-oidc-audience": ""}, source="cli")
    assert jfrog.config(blank, "https://acme.jfrog.io/artifactory/api/pypi/r") is None
    settings = build_settings({"jfrog-oidc-provider-name": "p", "jfrog-url": "http://127.0.0.1:8081/"}, source="cli")
    cfg = jfrog.config(settings, "https://acme.jfrog.io/artifactory/api/pypi/r")
    assert cfg is not None
    assert cfg.token_url == "http://127.0.0.1:8081/access/api/v1/oidc/token"
    with pytest.raises(ConfigError, match="--jfrog-url"):
        jfrog.config(build_settings({"jfrog-oidc-provider-name": "p"}, source="cli"), "https://x.example/upload/")


# -- the fake verifies like JFrog ---------------------------------------------------------------------------------


def test_the_fake_platform_verifies_what_it_is_sent(github: FakeGitHubOIDC, platform: FakeJFrog) -> None:
    def exchange(**body: Any) -> httpx.Response:
        base = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "provider_name": PROVIDER,
        }
        return httpx.post(platform.token_url, json={**base, **body}, timeout=10)

    def refusal(response: httpx.Response) -> tuple[int, str]:
        (error,) = response.json()["errors"]
        return response.status_code, error["message"]

    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({**github.claims, "aud": "x", "exp": int(time.time()) + 60}, forged_key, algorithm="RS256")
    assert refusal(exchange(subject_token=forged))[0] == 401
    assert refusal(exchange(subject_token=github.issue("x", exp=int(time.time()) - 5)))[0] == 401
    assert refusal(exchange(subject_token=github.issue("x", iss="https://evil.example")))[0] == 401
    assert refusal(exchange(subject_token=github.issue("x"), provider_name="other")) == (
        404,
        "OIDC integration 'other' was not found",
    )
    assert refusal(exchange(subject_token=github.issue("x"), audience="x")) == (400, "Invalid audience")
    assert refusal(exchange(subject_token=github.issue("x", repository="octo-org/other")))[0] == 401
    assert refusal(exchange(subject_token=github.issue("x"), grant_type="password"))[0] == 400
    good = exchange(subject_token=github.issue("x"))
    assert good.status_code == 200
    token = good.json()["access_token"]
    assert good.json()["username"] == USERNAME
    assert jwt.decode(token, options={"verify_signature": False})["sub"].endswith(f"/users/{USERNAME}")

    def upload(auth: tuple[str, str]) -> int:
        content = b"PK\x03\x04 wheel"
        import hashlib

        fields = {"name": "demo", "version": "1.0", "sha256_digest": hashlib.sha256(content).hexdigest()}
        files = {"content": ("demo-1.0-py3-none-any.whl", content)}
        return httpx.post(platform.upload_url, data=fields, files=files, auth=auth, timeout=10).status_code

    assert upload(("someone-else", token)) == 401
    assert upload((USERNAME, github.issued[-1])) == 401  # an ID token is not an access token
    assert upload((USERNAME, "not-issued")) == 401
    assert upload(("", token)) == 201
    assert upload((USERNAME, token)) == 403  # already there: Artifactory's "overwrite" refusal
    platform.issued[token] = type(platform.issued[token])(USERNAME, time.time() - 1)
    assert upload((USERNAME, token)) == 401  # expired


def test_the_fake_matches_claims_json_like_jfrog() -> None:
    from tests.fakes.jfrog import claims_match

    claims = {"repository": "octo-org/octo-repo", "ref": "refs/tags/v1", "extra": {"a": 1, "b": 2}}
    assert claims_match({"repository": "octo-org/octo-repo"}, claims)
    assert claims_match({"repository": "octo-org/octo-repo", "extra": {"a": 1}}, claims)
    assert not claims_match({"repository": "octo-org/octo-repo", "ref": "refs/heads/main"}, claims)
    assert not claims_match({"environment": "pypi"}, claims)
    assert claims_match({}, claims)


# -- issue 17: jfrog-oidc-audience passes the same rule as an index's audience -----------------------------------------


@pytest.mark.parametrize(
    ("audience", "reason"),
    [
        ("sigstore", "it is Sigstore's audience"),
        ("pypi", "it is PyPI's audience, accepted only from pypi.org or upload.pypi.org"),
        ("sts.amazonaws.com", "it is a cloud provider's token-exchange audience"),
        ("vault", "it names a secrets manager"),
    ],
)
def test_an_audience_of_another_service_is_refused(
    github: FakeGitHubOIDC, platform: FakeJFrog, workspace: Path, audience: str, reason: str
) -> None:
    run = run_action(workspace, _inputs(platform, **{"jfrog-oidc-audience": audience}), env=github.env)
    assert run.returncode == 1, run.output
    _diagnostic(
        run,
        "JFrog OIDC: audience refused",
        f"Asking for the OIDC audience `{audience}` set in `jfrog-oidc-audience` input is refused: {reason}",
        "Set `jfrog-oidc-audience` input to the audience configured on the OIDC integration itself",
    )
    assert not github.requests
    assert not platform.exchanges


def test_a_short_access_token_is_not_a_token(github: FakeGitHubOIDC, workspace: Path) -> None:
    """Issue 17 #9: `"access_token": "e"` would mask every `e` of the log (and be sent as a credential)."""

    class ShortTokens(FakeJFrog):
        def handle(self, request: Request) -> Response:
            if request.path == "/access/api/v1/oidc/token":
                return Response.json(200, {"access_token": "e", "username": "u", "expires_in": 60})
            return super().handle(request)

    with ShortTokens({PROVIDER: _integration(github)}) as platform:
        run = run_action(workspace, _inputs(platform, retries="0"), env=github.env)
    assert run.returncode == 1, run.output
    _diagnostic(run, "JFrog OIDC: unexpected answer", "no token of at least 16 characters in the answer")
    assert not re.search(r"^::add-mask ?::(e|u)$", run.stdout, re.M)
