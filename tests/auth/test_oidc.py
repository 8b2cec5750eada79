"""Trusted publishing against local fakes of GitHub's token service and a PyPI-like index: the exchange, every
diagnostic, retries, and that neither the GitHub JWT nor the minted token is ever printed."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from publisher.auth import exchange, identity, trusted_publishing
from publisher.config.settings import Settings, build_settings
from publisher.net.retry import RETRY_AFTER_CAP
from publisher.report.errors import TrustedPublishingError
from publisher.version import USER_AGENT
from tests.fakes.github_oidc import FakeGitHubOIDC, default_claims
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher, refused

ACTION = Settings()

pytestmark = pytest.mark.timeout(60)


class RecordingConsole:
    """Records every call; `text` is everything a user could read (annotations, logs, summary, outputs)."""

    verbose = True

    def __init__(self) -> None:
        self.masked: list[str] = []
        self.calls: list[tuple[str, str, str | None]] = []  # (method, message, title)

    def mask(self, secret: str | None) -> None:
        if secret:
            self.masked.append(secret)

    def info(self, message: str) -> None:
        self.calls.append(("info", message, None))

    def debug(self, message: str) -> None:
        self.calls.append(("debug", message, None))

    def warning(self, message: str, title: str | None = None) -> None:
        self.calls.append(("warning", message, title))

    def error(self, message: str, title: str | None = None) -> None:
        self.calls.append(("error", message, title))

    def group(self, title: str) -> AbstractContextManager[None]:
        self.calls.append(("group", title, None))
        return nullcontext()

    def set_output(self, name: str, value: str) -> None:
        self.calls.append(("output", f"{name}={value}", None))

    def summary(self, markdown: str) -> None:
        self.calls.append(("summary", markdown, None))

    def of(self, method: str) -> list[str]:
        return [message for m, message, _ in self.calls if m == method]

    def titles(self, method: str) -> list[str | None]:
        return [title for m, _, title in self.calls if m == method]

    @property
    def text(self) -> str:
        return "\n".join(f"{title or ''} {message}" for _, message, title in self.calls)


def _env(github: FakeGitHubOIDC, **extra: str) -> dict[str, str]:
    """The job's variables, with retry.py's first backoff cut to nothing so retries cost no time."""
    return {**github.env, "GITHUB_ACTIONS": "true", "PUBLISHER_RETRY_BASE_DELAY": "0", **extra}


def _settings(**raw: Any) -> Settings:
    return build_settings({"trusted-publishing": "always", **raw})


def _mint(index: FakeTrustedIndex, env: dict[str, str], console: RecordingConsole, **kwargs: Any) -> str:
    settings = kwargs.pop("settings", None) or _settings()
    return trusted_publishing.mint_token(index.upload_url, env, console, settings=settings, **kwargs)[0]


def _assert_no_secrets(github: FakeGitHubOIDC, index: FakeTrustedIndex, *texts: str) -> None:
    secrets = [*github.issued, *index.minted, github.request_token]
    assert secrets, "expected the fakes to have issued something"
    for text in texts:
        for secret in secrets:
            assert secret not in text
            assert secret.split(".")[-1] not in text  # not even the JWT's signature part


def _raise(
    index: FakeTrustedIndex, env: dict[str, str], console: RecordingConsole, **kw: Any
) -> TrustedPublishingError:
    with pytest.raises(TrustedPublishingError) as info:
        _mint(index, env, console, **kw)
    return info.value


# -- the exchange -------------------------------------------------------------------------------------------------


def test_exchange_returns_the_minted_token_masked(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    console = RecordingConsole()
    token = _mint(index, _env(github), console)

    assert token in index.minted
    assert token.startswith("pypi-")
    assert len(github.issued) == 1
    assert github.issued[0] in console.masked
    assert token in console.masked
    assert github.request_token in console.masked
    # GitHub was asked for the index's audience on the URL that already had `?api-version=2.0`, with the bearer token
    (request,) = github.requests
    assert request.query == {"api-version": ["2.0"], "audience": [index.audience]}
    assert request.headers["authorization"] == f"bearer {github.request_token}"
    assert [(r.method, r.path) for r in index.requests] == [("GET", "/_/oidc/audience"), ("POST", "/_/oidc/mint-token")]
    assert all(r.headers["user-agent"] == USER_AGENT for r in [*index.requests, *github.requests])
    assert json.loads(index.requests[1].body) == {"token": github.issued[0]}
    assert index.mint_claims[0]["repository"] == "octo-org/octo-repo"
    assert not console.of("error")
    assert not console.of("warning")
    assert not console.of("summary")
    (expiry,) = [line for line in console.of("info") if "Minted" in line]
    until = time.strftime("%H:%M:%S", time.gmtime(next(iter(index.minted.values()))))
    assert f"valid until {until} UTC" in expiry
    _assert_no_secrets(github, index, console.text)


def test_the_minted_token_uploads_and_anything_else_is_refused(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    token = _mint(index, _env(github), RecordingConsole())
    content = b"PK\x03\x04 not really a wheel \r\n\r\n--boundary-lookalike\r\n\x00\xff"
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "demo",
        "version": "1.0.0",
        "filetype": "bdist_wheel",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }
    files = {"content": ("demo-1.0.0-py3-none-any.whl", content, "application/octet-stream")}

    def post(auth: tuple[str, str] | None, data: dict[str, str] = fields) -> httpx.Response:
        return httpx.post(index.upload_url, data=data, files=files, auth=auth, timeout=10)

    assert post(None).status_code == 403
    assert post(("__token__", "pypi-not-minted-here")).status_code == 403
    assert post(("someone", token)).status_code == 403
    assert post(("__token__", github.issued[0])).status_code == 403  # the JWT itself is not an upload token
    assert post(("__token__", token), {**fields, "sha256_digest": "0" * 64}).status_code == 400
    assert not index.files
    assert post(("__token__", token)).status_code == 200
    stored = index.files["demo-1.0.0-py3-none-any.whl"]
    assert stored.content == content
    assert stored.sha256 == fields["sha256_digest"]
    assert stored.fields["name"] == ["demo"]
    assert post(("__token__", token)).status_code == 400  # file already exists


def test_request_url_without_a_query_string_gets_one() -> None:
    assert identity.with_audience("https://t.example/idtoken?api-version=2.0", "pypi") == (
        "https://t.example/idtoken?api-version=2.0&audience=pypi"
    )
    assert identity.with_audience("https://t.example/idtoken", "pypi") == "https://t.example/idtoken?audience=pypi"
    assert identity.with_audience("https://t.example/idtoken?", "a b&c") == "https://t.example/idtoken?audience=a+b%26c"


def test_plain_http_to_a_remote_index_is_refused_before_any_request(github: FakeGitHubOIDC) -> None:
    console = RecordingConsole()
    with pytest.raises(TrustedPublishingError, match="plain http") as info:
        trusted_publishing.mint_token("http://index.example/legacy/", _env(github), console, settings=_settings())
    assert info.value.exit_code == 2
    assert not github.requests


# -- the index's audience endpoint --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title", "phrase"),
    [
        (404, "Trusted publishing not supported", "does not support trusted publishing"),
        (403, "Trusted publishing disabled", "has it disabled"),
        (500, "Trusted publishing: unexpected answer", "answered 500"),
        (418, "Trusted publishing: unexpected answer", "answered 418"),
    ],
)
def test_audience_failures_name_the_url_and_stop_before_github(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, status: int, title: str, phrase: str
) -> None:
    index.audience_status = status
    console = RecordingConsole()
    error = _raise(index, _env(github), console, settings=_settings(retries=1))

    url = f"{index.url}/_/oidc/audience"
    assert phrase in error.message
    assert url in error.message
    assert error.exit_code == 1
    assert error.hint
    assert error.reported  # annotated and summarised here, so run.main must not annotate it again
    assert console.titles("error") == [title]
    (annotation,) = console.of("error")
    (summary,) = console.of("summary")
    for text in (annotation, summary):
        assert url in text
        assert phrase in text
        assert error.hint in text
    assert summary.startswith(f"### {title}")
    assert not github.requests
    expected_attempts = 2 if status == 500 else 1
    assert len(index.requests) == expected_attempts


def test_transient_503_on_the_audience_endpoint_is_retried(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    index.fail_next["/_/oidc/audience"] = [503]
    console = RecordingConsole()
    token = _mint(index, _env(github), console)

    assert token in index.minted
    assert [r.path for r in index.requests].count("/_/oidc/audience") == 2
    (notice,) = console.of("warning")  # retry.py's notice, as for uploads
    assert notice.startswith("Trusted publishing audience: HTTP 503")
    assert "retry 1/3" in notice
    assert not console.of("error")


def test_retry_after_is_honoured_but_capped(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("publisher.auth.exchange.time.sleep", pauses.append)
    index.fail_next["/_/oidc/audience"] = [503, 503]
    original = index.handle

    def with_retry_after(request: Any) -> Any:
        response = original(request)
        if response.status == 503:
            response.headers["Retry-After"] = "3600" if len(pauses) == 0 else "abc"
        return response

    monkeypatch.setattr(index, "handle", with_retry_after)
    _mint(index, _env(github, PUBLISHER_RETRY_BASE_DELAY="1"), RecordingConsole())
    assert pauses[0] == RETRY_AFTER_CAP  # Retry-After: 3600 waited out only up to the cap
    assert 1.0 <= pauses[1] <= 2.0  # an unreadable Retry-After: the second backoff step (2 s, half of it jitter)
    assert len(pauses) == 2


def test_unreachable_index_is_reported_after_the_retries(github: FakeGitHubOIDC) -> None:
    with FakeTrustedIndex(github.public_key) as gone:
        url = gone.upload_url
    console = RecordingConsole()
    with pytest.raises(TrustedPublishingError, match="Could not reach") as info:
        trusted_publishing.mint_token(url, _env(github), console, settings=_settings(retries=1))
    assert "after 2 attempt(s)" in info.value.message
    assert console.titles("error") == ["Trusted publishing: index unreachable"]


# -- GitHub's token service ---------------------------------------------------------------------------------------


def test_transient_failures_at_github_are_retried(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    github.fail_next = [502, 429]
    token = _mint(index, _env(github), RecordingConsole())
    assert token in index.minted
    assert len(github.requests) == 3


def test_github_refusal_is_explained_without_the_request_token(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    env = {**_env(github), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "ghs_wrong-but-still-secret"}
    console = RecordingConsole()
    error = _raise(index, env, console)

    assert "GitHub refused to issue an OIDC token for audience `127.0.0.1` (401 Unauthorized)" in error.message
    assert "Bad credentials" in error.message
    assert "id-token: write" in (error.hint or "")
    assert "ghs_wrong-but-still-secret" in console.masked
    for text in (console.text, str(error)):
        assert "ghs_wrong-but-still-secret" not in text
        assert "api-version" not in text  # the request URL is shown without its query


# -- the token exchange -------------------------------------------------------------------------------------------


def test_mint_refusal_lists_every_error_and_the_claims(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    index.publisher = Publisher("octo-org/other-repo", "release.yml")
    console = RecordingConsole()
    error = _raise(index, _env(github), console)

    assert error.exit_code == 1
    assert "invalid-publisher: valid token, but no corresponding publisher" in error.message
    (annotation,) = console.of("error")
    (summary,) = console.of("summary")
    claims = github.claims
    for text in (annotation, summary):
        assert "- `invalid-publisher`: `valid token, but no corresponding publisher" in text
        assert f"- `sub`: `{claims['sub']}`" in text
        assert "- `repository`: `octo-org/octo-repo`" in text
        assert "- `repository_owner`: `octo-org`" in text
        assert f"- `repository_owner_id`: `{claims['repository_owner_id']}`" in text
        assert f"- `workflow_ref`: `{claims['workflow_ref']}`" in text
        assert f"- `job_workflow_ref`: `{claims['job_workflow_ref']}`" in text
        assert "- `ref`: `refs/tags/v1.0.0`" in text
        assert "- `environment`: `pypi`" in text
        assert "pypi.org/manage" not in text  # not a PyPI host: no link to PyPI's settings
    assert console.titles("error") == ["Trusted publishing: token exchange refused"]
    assert not console.of("warning")
    _assert_no_secrets(github, index, console.text, str(error))


def test_every_error_code_is_shown_and_missing_claims_say_so(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.claims = {k: v for k, v in default_claims(environment=None).items() if k != "repository_owner_id"}
    errors = [("invalid-publisher", "no corresponding publisher"), ("invalid-environment", "environment mismatch")]
    monkeypatch.setattr(index, "mint_token", lambda request: refused(*errors))
    console = RecordingConsole()
    error = _raise(index, _env(github), console)

    assert "invalid-publisher: no corresponding publisher; invalid-environment: environment mismatch" in error.message
    (annotation,) = console.of("error")
    (summary,) = console.of("summary")
    for text in (annotation, summary):
        assert (
            "- `invalid-publisher`: `no corresponding publisher`\n- `invalid-environment`: `environment mismatch`"
            in text
        )
        assert "- `environment`: `MISSING`" in text
        assert "- `repository_owner_id`: `MISSING`" in text
    _assert_no_secrets(github, index, console.text, str(error))


def test_unexpected_mint_answer_is_a_server_problem(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import Response

    monkeypatch.setattr(index, "mint_token", lambda request: Response.text(400, "<html>Bad gateway page</html>"))
    console = RecordingConsole()
    error = _raise(index, _env(github), console)
    assert "unexpected 400 Bad Request response" in error.message
    assert "re-run" in (error.hint or "")
    _assert_no_secrets(github, index, console.text, str(error))


def test_transient_mint_failure_retries_with_a_fresh_jwt(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    index.fail_next["/_/oidc/mint-token"] = [503]
    token = _mint(index, _env(github), RecordingConsole())
    assert token in index.minted
    assert len(github.issued) == 2  # PyPI refuses a JWT it has already seen, so the retry asks GitHub again
    assert json.loads(index.requests[-1].body) == {"token": github.issued[1]}


def test_reusable_workflow_warning_on_refusal(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    github.claims["job_workflow_ref"] = "octo-org/octo-repo/.github/workflows/publish-reusable.yml@refs/tags/v1.0.0"
    console = RecordingConsole()
    error = _raise(index, _env(github), console)  # the publisher names release.yml, PyPI sees publish-reusable.yml

    (warning,) = console.of("warning")
    assert "reusable workflow" in warning
    assert "`publish-reusable.yml`" in warning
    assert github.claims["workflow_ref"] in warning
    assert console.titles("warning") == ["Trusted publishing from a reusable workflow"]
    (annotation,) = console.of("error")
    (summary,) = console.of("summary")
    for text in (annotation, summary):
        assert "reusable workflow" in text
        assert "`publish-reusable.yml`" in text
        assert github.claims["workflow_ref"] in text
    _assert_no_secrets(github, index, console.text, str(error))


def test_reusable_workflow_registered_as_pypi_sees_it_works(github: FakeGitHubOIDC, index: FakeTrustedIndex) -> None:
    github.claims["job_workflow_ref"] = "octo-org/octo-repo/.github/workflows/publish-reusable.yml@refs/tags/v1.0.0"
    index.publisher = Publisher("octo-org/octo-repo", "publish-reusable.yml")
    console = RecordingConsole()
    assert _mint(index, _env(github), console) in index.minted
    assert not console.of("warning")


def test_pypi_hosts_get_a_prefilled_trusted_publisher_link() -> None:
    claims = default_claims("Octo-Org/octo-repo", "release.yml")
    base = "provider=github&owner=Octo-Org&repository=octo-repo&workflow_filename=release.yml"
    assert trusted_publishing.publisher_links("https://upload.pypi.org/legacy/", claims) == [
        f"https://pypi.org/manage/account/publishing/?{base}"
    ]
    assert trusted_publishing.publisher_links(
        "https://test.pypi.org/legacy/", claims, ["demo", "Demo_Pkg", "demo-pkg"]
    ) == [
        f"https://test.pypi.org/manage/project/demo/settings/publishing/?{base}",
        f"https://test.pypi.org/manage/project/demo-pkg/settings/publishing/?{base}",  # as PyPI spells it, once
    ]
    assert trusted_publishing.publisher_links("https://pypi.example.com/legacy/", claims) == []
    assert trusted_publishing.publisher_links("https://upload.pypi.org/legacy/", {}) == []


def test_pypi_link_is_in_the_refusal_for_pypi_hosts(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pretend the loopback index is upload.pypi.org for the link only; every request still goes to 127.0.0.1."""
    index.publisher = Publisher("octo-org/other-repo")
    monkeypatch.setitem(trusted_publishing.PYPI_SITES, "127.0.0.1", "https://pypi.org")
    console = RecordingConsole()
    _raise(index, _env(github), console, project_names=["Demo_Pkg"])
    (annotation,) = console.of("error")
    (summary,) = console.of("summary")
    for text in (annotation, summary):
        assert (
            "https://pypi.org/manage/project/demo-pkg/settings/publishing/?provider=github&owner=octo-org"
            "&repository=octo-repo&workflow_filename=release.yml"
        ) in text
        assert "environment name `pypi`" in text  # not prefilled by the link: say what to type
        assert "pending* publisher" in text
        assert "https://pypi.org/manage/account/publishing/" in text


def test_without_project_names_the_link_is_the_pending_publisher_form() -> None:
    claims = default_claims(environment=None)
    text = trusted_publishing.publisher_help("https://upload.pypi.org/legacy/", claims)
    assert text is not None
    assert "https://pypi.org/manage/account/publishing/?provider=github" in text
    assert "project name" in text
    assert "environment name" not in text
    assert trusted_publishing.publisher_help("https://pypi.example.com/legacy/", claims) is None


def test_claims_are_decoded_without_verification() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "repo:a/b:ref:refs/heads/main", "n": 1}, key, algorithm="RS256")
    assert exchange.decode_claims(token) == {"sub": "repo:a/b:ref:refs/heads/main", "n": 1}
    assert exchange.decode_claims("not-a-jwt") == {}
    assert exchange.decode_claims("a.!!!.c") == {}
    assert exchange.decode_claims("a." + base64.urlsafe_b64encode(b"[1]").decode().rstrip("=") + ".c") == {}


# -- the fake index verifies like PyPI ----------------------------------------------------------------------------


def _exchange(index: FakeTrustedIndex, token: str) -> httpx.Response:
    return httpx.post(f"{index.url}/_/oidc/mint-token", json={"token": token}, timeout=10)


def test_fake_index_verifies_signature_audience_expiry_and_reuse(
    github: FakeGitHubOIDC, index: FakeTrustedIndex
) -> None:
    def code(response: httpx.Response) -> str:
        assert response.status_code == 422
        return str(response.json()["errors"][0]["code"])

    forged = jwt.encode(
        {
            **github.claims,
            "aud": index.audience,
            "jti": "x",
            "iat": int(time.time()),
            "nbf": 0,
            "exp": int(time.time()) + 60,
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
    )
    assert code(_exchange(index, forged)) == "invalid-token"
    assert code(_exchange(index, github.issue("sigstore"))) == "invalid-token"
    assert code(_exchange(index, github.issue(index.audience, exp=int(time.time()) - 10))) == "invalid-token"
    good = github.issue(index.audience)
    assert _exchange(index, good).status_code == 200
    assert code(_exchange(index, good)) == "invalid-reuse-token"
    assert code(httpx.post(f"{index.url}/_/oidc/mint-token", content=b"{}", timeout=10)) == "invalid-payload"


# -- no OIDC variables ----------------------------------------------------------------------------------------------


def test_missing_variables_explain_the_permission() -> None:
    error = trusted_publishing.missing_permission_error({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"}, ACTION)
    assert error.exit_code == 2
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" in error.message
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in error.message
    assert "\n    jobs:\n      publish:\n        permissions:\n          id-token: write" in (error.hint or "")
    assert "id-token: write" in (error.hint or "")
    assert "fork" not in str(error)


def test_missing_variables_outside_actions_say_so() -> None:
    error = trusted_publishing.missing_permission_error({}, ACTION)
    assert "This is not a GitHub Actions job" in error.message
    assert error.exit_code == 2


def _event(tmp_path: Path, head: str | None, base: str = "octo-org/octo-repo", fork: bool | None = None) -> Path:
    head_repo = None if head is None else {"full_name": head, "fork": head != base if fork is None else fork}
    payload = {"pull_request": {"head": {"repo": head_repo}, "base": {"repo": {"full_name": base, "fork": False}}}}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


@pytest.mark.parametrize("event_name", ["pull_request", "pull_request_review", "pull_request_review_comment"])
def test_missing_variables_on_a_fork_pull_request_explain_forks(tmp_path: Path, event_name: str) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(_event(tmp_path, "someone/octo-repo")),
    }
    error = trusted_publishing.missing_permission_error(env, ACTION)
    assert f"`{event_name}`" in error.message
    assert "`someone/octo-repo`" in error.message
    assert "never gives" in error.message
    assert "fork" in error.message
    hint = error.hint or ""
    assert "workflow_dispatch" in hint
    assert "release" in hint
    assert "tag" in hint
    assert error.exit_code == 2
    assert not error.reported  # nothing printed yet: run.main annotates it, once


def test_pull_request_target_is_not_treated_as_a_fork(tmp_path: Path) -> None:
    """pull_request_target runs in the base repository, where `id-token: write` does work: say so, not "fork"."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request_target",
        "GITHUB_EVENT_PATH": str(_event(tmp_path, "someone/octo-repo")),
    }
    assert identity.fork_pull_request(env) is None
    error = trusted_publishing.missing_permission_error(env, ACTION)
    assert "fork" not in error.message
    assert "id-token: write" in (error.hint or "")


def test_fork_detection_edge_cases(tmp_path: Path) -> None:
    def env(path: Path | str, event: str = "pull_request") -> dict[str, str]:
        return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(path)}

    assert identity.fork_pull_request(env(_event(tmp_path, "octo-org/octo-repo"))) is None  # same repository
    assert identity.fork_pull_request(env(_event(tmp_path, "someone/x"), event="push")) is None
    assert identity.fork_pull_request(env(tmp_path / "missing.json")) is None
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert identity.fork_pull_request(env(tmp_path / "bad.json")) is None
    deleted = identity.fork_pull_request(env(_event(tmp_path, None)))
    assert deleted is not None
    assert deleted["head"] == "a deleted fork"
    flagged = identity.fork_pull_request(env(_event(tmp_path, "octo-org/octo-repo", fork=True)))
    assert flagged is not None


def test_mint_without_variables_raises_the_permission_error(index: FakeTrustedIndex) -> None:
    console = RecordingConsole()
    with pytest.raises(TrustedPublishingError, match="id-token") as info:
        trusted_publishing.mint_token(index.upload_url, {"GITHUB_ACTIONS": "true"}, console, settings=_settings())
    assert info.value.exit_code == 2
    assert not index.requests


# --- renewal before expiry -----------------------------------------------------------------------------------------


def test_renewing_token_mints_again_only_near_expiry_and_once_across_threads() -> None:
    import threading

    now = [1000.0]
    minted: list[str] = []

    def renew() -> tuple[str, float | None]:
        minted.append(f"token-{len(minted) + 1}")
        return minted[-1], now[0] + 900

    token = exchange.RenewingToken("token-0", 1900.0, renew, clock=lambda: now[0], margin=60)
    assert token.current() == "token-0"
    now[0] = 1839.0  # 61 s left: still good
    assert token.current() == "token-0"
    now[0] = 1841.0  # 59 s left: renew, once, however many uploads ask at the same moment
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(token.current())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["token-1"] * 8
    assert (minted, token.renewals) == (["token-1"], 1)


def test_renewing_token_assumes_pypis_lifetime_when_the_index_gives_none() -> None:
    now = [0.0]
    token = exchange.RenewingToken("first", None, lambda: ("second", None), clock=lambda: now[0], margin=60)
    now[0] = exchange.DEFAULT_LIFETIME - 61
    assert token.current() == "first"
    now[0] = exchange.DEFAULT_LIFETIME - 59
    assert token.current() == "second"


def test_a_failed_renewal_is_raised_again_not_retried_by_every_upload() -> None:
    now = [0.0]
    attempts: list[int] = []

    def renew() -> tuple[str, float | None]:
        attempts.append(1)
        raise TrustedPublishingError("the index refused the OIDC token", exit_code=1)

    token = exchange.RenewingToken("first", 100.0, renew, clock=lambda: now[0], margin=60)
    now[0] = 50.0
    for _ in range(3):
        with pytest.raises(TrustedPublishingError, match="refused"):
            token.current()
    assert len(attempts) == 1
