"""identity.id_token: an ID token for any audience from whichever CI system this runs in, with our diagnostics. The
entry point a later exchange needs (Sigstore signing asks for `sigstore`: GitHub's token service, or in GitLab CI the
SIGSTORE_ID_TOKEN variable)."""

from __future__ import annotations

import jwt
import pytest

from publisher.auth import identity
from publisher.auth.audiences import Destination, for_sigstore, refusal
from publisher.auth.exchange import Exchange, Purpose, open_client
from publisher.config.settings import build_settings
from publisher.net.retry import policy_from
from publisher.report.errors import TokenExchangeError
from tests.auth.test_oidc import RecordingConsole
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.gitlab_oidc import FakeGitLabOIDC

pytestmark = pytest.mark.timeout(60)

SIGNING = Purpose(
    name="Sigstore signing",
    activity="Sigstore signing",
    comment="Sigstore signing",
    then="Then re-run the job.",
    instead="sign elsewhere.",
)
SETTINGS = build_settings({"retries": "1"})
SIGSTORE = for_sigstore("https://fulcio.example")  # where the `sigstore` token goes (attestations.py)


def _aud(token: str) -> object:
    return jwt.decode(token, options={"verify_signature": False})["aud"]


def test_from_github_for_any_audience(github: FakeGitHubOIDC) -> None:
    console = RecordingConsole()
    token = identity.id_token("sigstore", SIGSTORE, github.env, console, settings=SETTINGS, purpose=SIGNING)

    assert token.source == "github"
    assert token.issuer == "GitHub"
    assert token.value == github.issued[-1]
    assert _aud(token.value) == "sigstore"
    assert github.requests[0].query["audience"] == ["sigstore"]
    assert token.value in console.masked
    assert github.request_token in console.masked
    assert token.value not in repr(token)


def test_from_gitlab_reads_the_audiences_variable() -> None:
    with FakeGitLabOIDC() as gitlab:
        env = gitlab.env(SIGSTORE_ID_TOKEN="sigstore", PYPI_ID_TOKEN="pypi")
        console = RecordingConsole()
        token = identity.id_token("sigstore", SIGSTORE, env, console, settings=SETTINGS, purpose=SIGNING)

    assert (token.source, token.value) == ("gitlab", env["SIGSTORE_ID_TOKEN"])
    assert _aud(token.value) == "sigstore"
    assert token.value in console.masked


def test_a_missing_gitlab_variable_shows_the_yaml() -> None:
    with pytest.raises(TokenExchangeError) as info:
        identity.id_token(
            "sigstore", SIGSTORE, {"GITLAB_CI": "true"}, RecordingConsole(), settings=SETTINGS, purpose=SIGNING
        )
    assert info.value.exit_code == 2
    assert (
        "This GitLab CI job has no SIGSTORE_ID_TOKEN variable, so no OpenID Connect (OIDC) token with the audience "
        "`sigstore` for Sigstore signing" in info.value.message
    )
    assert "      id_tokens:\n        SIGSTORE_ID_TOKEN:\n          aud: sigstore" in (info.value.hint or "")


def test_no_ci_system_and_no_permission_are_explained() -> None:
    with pytest.raises(TokenExchangeError) as outside:
        identity.id_token("sigstore", SIGSTORE, {}, RecordingConsole(), settings=SETTINGS, purpose=SIGNING)
    assert outside.value.exit_code == 2
    assert "This is not a GitHub Actions job" in outside.value.message
    assert "no OpenID Connect (OIDC) token for Sigstore signing" in outside.value.message
    assert outside.value.hint == "Outside GitHub Actions and GitLab CI, sign elsewhere."

    with pytest.raises(TokenExchangeError) as unpermitted:
        identity.id_token(
            "sigstore", SIGSTORE, {"GITHUB_ACTIONS": "true"}, RecordingConsole(), settings=SETTINGS, purpose=SIGNING
        )
    assert "id-token: write  # Sigstore signing" in (unpermitted.value.hint or "")


def test_githubs_refusal_is_reported_once_without_the_request_token(github: FakeGitHubOIDC) -> None:
    env = {**github.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "ghs_wrong-request-token"}
    console = RecordingConsole()
    with pytest.raises(TokenExchangeError) as info:
        identity.id_token("sigstore", SIGSTORE, env, console, settings=SETTINGS, purpose=SIGNING)

    assert info.value.exit_code == 1
    assert info.value.reported
    assert console.titles("error") == ["Sigstore signing: no OIDC token"]
    assert "GitHub refused to issue an OIDC token for audience `sigstore` (401 Unauthorized)" in info.value.message
    assert "ghs_wrong-request-token" in console.masked
    assert "ghs_wrong-request-token" not in console.text + str(info.value)


def test_an_insecure_request_url_is_refused_before_any_request() -> None:
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://token.example/x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t0ken"}
    with pytest.raises(Exception, match="Refusing to request an OIDC token") as info:
        identity.id_token("sigstore", SIGSTORE, env, RecordingConsole(), settings=SETTINGS, purpose=SIGNING)
    assert "Or sign elsewhere." in str(info.value)


def test_github_comes_first_then_gitlab(github: FakeGitHubOIDC) -> None:
    """As `id` and uv look: a GitHub job that happens to carry GITLAB_CI still gets GitHub's token."""
    with FakeGitLabOIDC() as gitlab:
        both = {**gitlab.env(SIGSTORE_ID_TOKEN="sigstore"), **github.env}
        assert identity.source(both) == "github"
        assert identity.source(gitlab.env()) == "gitlab"
        assert identity.source({"GITLAB_CI": ""}) is None
        token = identity.id_token("sigstore", SIGSTORE, both, RecordingConsole(), settings=SETTINGS, purpose=SIGNING)
        assert (token.source, token.value) == ("github", github.issued[-1])


# -- which audience may be requested for which destination (audiences.py, issue 17) -----------------------------------

INDEX = Destination("https://pkgs.example.com", "index")
SETTING = Destination("https://acme.jfrog.io", "settings")


@pytest.mark.parametrize(
    ("audience", "destination", "allowed"),
    [
        ("sigstore", SIGSTORE, True),  # attestations' own request: the one way to a `sigstore` token
        ("pypi", SIGSTORE, False),
        ("sigstore", INDEX, False),
        ("SIGSTORE", SETTING, False),
        ("pypi", Destination("https://upload.pypi.org", "index"), True),
        ("pypi", Destination("https://pypi.org", "index"), True),
        ("testpypi", Destination("https://test.pypi.org", "index"), True),
        ("testpypi", Destination("https://upload.pypi.org", "index"), False),
        ("pypi", Destination("https://test.pypi.org", "index"), False),
        ("PyPI", INDEX, False),
        ("pypi", SETTING, False),
        ("pkgs.example.com", INDEX, True),
        ("PKGS.example.com", INDEX, True),
        ("https://pkgs.example.com", INDEX, True),
        ("https://pkgs.example.com/oidc", INDEX, True),
        ("https://user@evil.example.com", INDEX, False),
        ("http://[broken", INDEX, False),
        ("example.com", INDEX, False),
        ("jfrog-github", INDEX, False),  # an index must name itself...
        ("jfrog-github", SETTING, True),  # ...the workflow's own setting need not
        (None, SETTING, True),  # GitHub's default audience, as setup-jfrog-cli asks
        (None, INDEX, False),
        ("sts.amazonaws.com", SETTING, False),
        ("api://AzureADTokenExchange", SETTING, False),
        ("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q", SETTING, False),
        ("vault", SETTING, False),
        ("my-vault-role", SETTING, False),
        ("npm", SETTING, False),
        ("jfrog\u202egithub", SETTING, False),
    ],
)
def test_the_audience_rule(audience: str | None, destination: Destination, allowed: bool) -> None:
    assert (refusal(audience, destination) is None) is allowed


def test_only_sigstore_is_requested_for_sigstore(github: FakeGitHubOIDC) -> None:
    with pytest.raises(TokenExchangeError) as info:
        identity.id_token("pypi", SIGSTORE, github.env, RecordingConsole(), settings=SETTINGS, purpose=SIGNING)
    assert info.value.exit_code == 1
    assert "only `sigstore` is requested for Sigstore" in info.value.message
    assert not github.requests


def test_a_sigstore_token_is_never_fetched_for_an_index(github: FakeGitHubOIDC) -> None:
    console = RecordingConsole()
    with open_client({}) as client:
        exchange = Exchange(client, console, policy_from(1, {}), SIGNING, "")
        with pytest.raises(TokenExchangeError) as info:
            identity.fetch(exchange, github.env, "sigstore", INDEX)
    assert info.value.exit_code == 1
    assert "answered the OIDC audience `sigstore`, which is refused: it is Sigstore's" in info.value.message
    assert console.titles("error") == ["Sigstore signing: audience refused"]
    assert not github.requests
