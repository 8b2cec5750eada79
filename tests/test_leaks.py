"""The leak matrix: every failure path x every way a secret can be passed in; no secret may reach the log.

A distinctive secret (`S3cr3t-<uuid>` with `/+=` in it, so its URL-encoded form differs) goes in through one
source at a time, and each run fails in a different way: a real registry refusing a wrong password, a hostile
registry echoing the Authorization header back in a 401/403/500 body or from the skip-existing check URL, an
unexpected exception whose text carries the header, and a trusted-publishing exchange that fails. Neither the secret,
nor its URL-encoded form, nor the base64 of the Basic header may appear in stdout, stderr, the job summary or the
outputs, except in the `::add-mask::` lines that register it; and the secret's own `::add-mask::` line must come
before any other line, since the runner only hides what it was told about before.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import ActionRun, run_action

pytestmark = pytest.mark.timeout(180)

INDEX = "private-repo"
ENV_PREFIX = "UV_INDEX_PRIVATE_REPO"
USER = "alice"
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
QUICK_RETRIES = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}  # a retried 500 must not slow the matrix down
MASK_LINE = re.compile(r"^::add-mask ?::(.*)$")


def make_secret() -> str:
    return f"S3cr3t-{uuid.uuid4().hex[:16]}/+={uuid.uuid4().hex[:8]}"


def forms(secret: str, username: str | None) -> dict[str, str]:
    """Every spelling of a secret a log could carry: as is, URL-encoded, and inside a Basic header."""
    found = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "base64": base64.b64encode(secret.encode()).decode(),
    }
    if username is not None:
        found["basic-header"] = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return found


def visible(run: ActionRun) -> dict[str, str]:
    """What a reader sees, per channel; `::add-mask::` lines are the masking mechanism and so are left out."""
    stdout = "\n".join(line for line in run.stdout.splitlines() if not MASK_LINE.match(line))
    return {
        "stdout": stdout,
        "stderr": run.stderr,
        "summary": run.summary,
        "outputs": "\n".join(f"{k}={v}" for k, v in run.outputs.items()),
    }


def assert_no_leak(run: ActionRun, secret: str, username: str | None) -> None:
    channels = visible(run)
    for form, value in forms(secret, username).items():
        for channel, text in channels.items():
            assert value not in text, f"the {form} form of the secret leaked to {channel}:\n{text}"


def assert_masked_first(run: ActionRun, secret: str) -> None:
    """The secret's `::add-mask::` line exists and nothing but other mask registrations precedes it."""
    lines = run.stdout.splitlines()
    mask_at = next((n for n, line in enumerate(lines) if MASK_LINE.match(line) and line.endswith(f"::{secret}")), None)
    assert mask_at is not None, f"the secret was never masked:\n{run.stdout}"
    before = [line for line in lines[:mask_at] if not MASK_LINE.match(line)]
    assert before == [], f"printed before the secret was masked: {before}"


# -- sources: how the secret reaches the action ---------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Inputs and environment carrying `secret` to a registry at `upload_url`; `username` as sent in Basic auth."""

    id: str
    username: str
    configure: Callable[[str, str, str], tuple[dict[str, str], dict[str, str]]]  # (secret, upload, check) -> ...


def _index(**extra: str) -> dict[str, str]:
    return {"index": INDEX, **extra}


SOURCES = [
    Source("password-input", USER, lambda s, up, ck: (_index(username=USER, password=s), {})),
    Source("token-input", "__token__", lambda s, up, ck: (_index(token=s), {})),
    Source("UV_PUBLISH_TOKEN", "__token__", lambda s, up, ck: (_index(), {"UV_PUBLISH_TOKEN": s})),
    Source(
        "UV_PUBLISH_PASSWORD",
        USER,
        lambda s, up, ck: (_index(), {"UV_PUBLISH_USERNAME": USER, "UV_PUBLISH_PASSWORD": s}),
    ),
    Source(
        "UV_INDEX_NAME_PASSWORD",
        USER,
        lambda s, up, ck: (_index(), {f"{ENV_PREFIX}_USERNAME": USER, f"{ENV_PREFIX}_PASSWORD": s}),
    ),
    Source(
        "url-userinfo",
        USER,
        lambda s, up, ck: (
            {"publish-url": up.replace("http://", f"http://{USER}:{quote(s, safe='')}@"), "check-url": ck},
            {},
        ),
    ),
]


# -- registries that fail -------------------------------------------------------------------------------------------


class EchoingRegistry(FakeServer):
    """A hostile or buggy registry: answers `status` and quotes the request's Authorization header back."""

    def __init__(self, upload_status: int, check_status: int = 404) -> None:
        super().__init__()
        self.upload_status = upload_status
        self.check_status = check_status

    @property
    def upload_url(self) -> str:
        return f"{self.url}/legacy/"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def handle(self, request: Request) -> Response:
        status = self.upload_status if request.method == "POST" else self.check_status
        auth = request.headers.get("authorization", "(none)")
        decoded = ""
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode(errors="replace")
        body = f"<html><body><h1>{status}</h1><p>Authorization: {auth} ({decoded}) for {request.path}</p></body></html>"
        return Response(
            status,
            body.encode(),
            {"Content-Type": "text/html", "WWW-Authenticate": f'Basic realm="{auth}"', "X-Echo": auth},
        )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("leak-dists")
    build_wheel(out, "leak-demo", "1.0.0")
    build_sdist(out, "leak-demo", "1.0.0")
    return out


def make_workspace(root: Path, template: Path, simple_url: str, upload_url: str) -> Path:
    workspace = root / "workspace"
    shutil.copytree(template, workspace / "dist")
    (workspace / "pyproject.toml").write_text(
        '[project]\nname = "leak-demo"\nversion = "1.0.0"\n\n'
        f'[[tool.uv.index]]\nname = "{INDEX}"\nurl = "{simple_url}"\npublish-url = "{upload_url}"\n'
    )
    return workspace


CRASH = textwrap.dedent(
    """
    # Injected by test_leaks: an unexpected exception whose text carries the Authorization header and the URL.
    import httpx

    def _send(self, request, *args, **kwargs):
        raise RuntimeError(f"boom: {request.headers.get('authorization')} {request.url!r} {request.headers!r}")

    httpx.Client.send = _send
    """
)


@dataclass(frozen=True)
class Failure:
    id: str
    upload_status: int
    check_status: int = 404
    skip_existing: bool = False
    crash: bool = False


FAILURES = [
    Failure("upload-401-echo", 401),
    Failure("upload-403-echo", 403),
    Failure("upload-500-echo", 500),
    Failure("check-url-401", 401, check_status=401, skip_existing=True),
    Failure("check-url-403", 403, check_status=403, skip_existing=True),
    Failure("check-url-500", 500, check_status=500, skip_existing=True),
    Failure("unexpected-exception", 200, crash=True),
]


@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
@pytest.mark.parametrize("failure", FAILURES, ids=[f.id for f in FAILURES])
def test_hostile_registry_never_sees_a_secret_in_the_log(
    failure: Failure, source: Source, tmp_path: Path, template: Path
) -> None:
    secret = make_secret()
    with EchoingRegistry(failure.upload_status, failure.check_status) as registry:
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        inputs, env = source.configure(secret, registry.upload_url, registry.simple_url)
        inputs |= {"verbose": "true", "retries": "1", "parallel": "2"}
        if failure.skip_existing:
            inputs["skip-existing"] = "true"
        if failure.crash:
            hook = tmp_path / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(CRASH)
            env["PYTHONPATH"] = str(hook)
        run = run_action(workspace, inputs, env={**NO_OIDC, **QUICK_RETRIES, **env})

    assert run.returncode == 1, run.stdout + run.stderr
    if failure.crash:
        assert "Unexpected error" in run.stdout, run.stdout
    else:
        assert registry.requests, "the run never reached the registry"
        if failure.skip_existing:  # the failure under test is the check URL's, not the upload's
            assert any(r.method == "GET" and r.path.startswith("/simple/") for r in registry.requests)
        sent = registry.requests[-1].headers.get("authorization", "")
        assert sent == "Basic " + forms(secret, source.username)["basic-header"]  # the secret really was used
    assert_no_leak(run, secret, source.username)
    assert_masked_first(run, secret)


@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_wrong_password_at_a_real_registry(pypiserver: Any, source: Source, tmp_path: Path, template: Path) -> None:
    secret = make_secret()
    workspace = make_workspace(tmp_path, template, pypiserver.simple_url, pypiserver.upload_url)
    inputs, env = source.configure(secret, pypiserver.upload_url, pypiserver.simple_url)
    run = run_action(workspace, {**inputs, "verbose": "true"}, env={**NO_OIDC, **env})

    assert run.returncode == 1, run.stdout + run.stderr
    assert "Authentication failed" in run.stdout
    assert pypiserver.files() == []
    assert_no_leak(run, secret, source.username)
    assert_masked_first(run, secret)


# -- trusted publishing: the OIDC request token and the JWT are the secrets -------------------------------------------


@pytest.fixture
def oidc_fakes() -> Iterator[tuple[Any, Any]]:
    from tests.fakes.github_oidc import FakeGitHubOIDC
    from tests.fakes.trusted_index import FakeTrustedIndex, Publisher, refused

    class EchoingTrustedIndex(FakeTrustedIndex):
        """Refuses every exchange and, like a careless server, quotes the token it was given."""

        def mint_token(self, request: Request) -> Response:
            token = json.loads(request.body).get("token", "")
            return refused(("invalid-publisher", f"no publisher matches token {token}"))

    github = FakeGitHubOIDC(request_token=make_secret())
    with (
        github,
        EchoingTrustedIndex(github.public_key, publisher=Publisher("octo-org/octo-repo", "release.yml")) as index,
    ):
        yield github, index


def test_trusted_publishing_mint_failure(oidc_fakes: tuple[Any, Any], tmp_path: Path, template: Path) -> None:
    github, index = oidc_fakes
    workspace = tmp_path / "workspace"
    shutil.copytree(template, workspace / "dist")
    run = run_action(
        workspace, {"publish-url": index.upload_url, "trusted-publishing": "always", "verbose": "true"}, env=github.env
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "invalid-publisher" in run.stdout
    assert github.issued, "no ID token was requested"
    for secret in [github.request_token, *github.issued]:
        assert_no_leak(run, secret, None)
    assert_masked_first(run, github.request_token)
    # The ID token exists only once fetched, so it cannot be masked first; it must be masked, and never shown.
    assert any(MASK_LINE.match(line) and line.endswith(github.issued[0]) for line in run.stdout.splitlines())


def test_check_url_read_credentials_differ_from_upload_credentials(tmp_path: Path, template: Path) -> None:
    """skip-existing reads the index with UV_INDEX_<NAME>_* while uploading with a token: both pairs must stay hidden,
    in every form, when the check URL echoes the Basic header it was sent."""
    token, password = make_secret(), make_secret()
    with EchoingRegistry(401, check_status=401) as registry:
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        env = {**NO_OIDC, **QUICK_RETRIES, f"{ENV_PREFIX}_USERNAME": USER, f"{ENV_PREFIX}_PASSWORD": password}
        run = run_action(workspace, _index(token=token, **{"skip-existing": "true", "verbose": "true"}), env=env)

    assert run.returncode == 1, run.stdout + run.stderr
    assert any(r.method == "GET" for r in registry.requests)
    assert_no_leak(run, token, "__token__")
    assert_no_leak(run, password, USER)
    assert_masked_first(run, token)
    assert_masked_first(run, password)
