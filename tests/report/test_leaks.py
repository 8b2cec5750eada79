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
from tests.support.runner import ActionRun, CliRun, run_action, run_cli

pytestmark = pytest.mark.timeout(180)

INDEX = "private-repo"
ENV_PREFIX = "UV_INDEX_PRIVATE_REPO"
USER = "alice"
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
QUICK_RETRIES = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}  # a retried 500 must not slow the matrix down
MASK_LINE = re.compile(r"^::add-mask ?::(.*)$")


def make_secret() -> str:
    return f"S3cr3t-{uuid.uuid4().hex[:16]}/+={uuid.uuid4().hex[:8]}"


def forms(secret: str, username: str | None, *, as_username: bool = False) -> dict[str, str]:
    """Every spelling of a secret a log could carry: as is, URL-encoded, and inside a Basic header (where it is the
    password, or, `as_username`, the username sent with an empty password: a token, the Gemfury style)."""
    found = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "base64": base64.b64encode(secret.encode()).decode(),
    }
    if as_username:
        found["basic-header"] = base64.b64encode(f"{secret}:".encode()).decode()
    elif username is not None:
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


def assert_no_leak(run: ActionRun, secret: str, username: str | None, *, as_username: bool = False) -> None:
    channels = visible(run)
    for form, value in forms(secret, username, as_username=as_username).items():
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
    as_username: bool = False  # the secret is sent as the username, with an empty password

    def forms(self, secret: str) -> dict[str, str]:
        return forms(secret, self.username, as_username=self.as_username)


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
    Source(  # Gemfury's documented form: the token is the username, the password is empty
        "url-token-as-username",
        "",
        lambda s, up, ck: (
            {"publish-url": up.replace("http://", f"http://{quote(s, safe='')}:@"), "check-url": ck},
            {},
        ),
        as_username=True,
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

    def _send_single_request(self, request):  # after the auth flow, so the request carries the header
        raise RuntimeError(f"boom: {request.headers.get('authorization')} {request.url!r} {request.headers!r}")

    httpx.Client._send_single_request = _send_single_request
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
        assert "::error title=Internal error::" in run.stdout, run.stdout
    else:
        assert registry.requests, "the run never reached the registry"
        if failure.skip_existing:  # the failure under test is the check URL's, not the upload's
            assert any(r.method == "GET" and r.path.startswith("/simple/") for r in registry.requests)
        sent = registry.requests[-1].headers.get("authorization", "")
        assert sent == "Basic " + source.forms(secret)["basic-header"]  # the secret really was used
    assert_no_leak(run, secret, source.username, as_username=source.as_username)
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
    assert_no_leak(run, secret, source.username, as_username=source.as_username)
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


# -- JFrog OIDC: the ID token, the access token (and its Basic form) and the username are the secrets ---------------


@pytest.mark.parametrize("status", [401, 403, 500])
def test_jfrog_oidc_with_a_repository_echoing_the_header(status: int, tmp_path: Path, template: Path) -> None:
    """Artifactory (faked) answers every upload with `status`, quoting the Authorization header it got back, decoded:
    the access token of each exchange (renewed before each upload with these 30-second tokens), its Basic form and the
    username must stay hidden, as must the GitHub request token and every ID token."""
    from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC
    from tests.fakes.jfrog import FakeJFrog, IdentityMapping, Integration

    class EchoingArtifactory(FakeJFrog):
        def upload(self, request: Request) -> Response:
            auth = request.headers.get("authorization", "(none)")
            decoded = base64.b64decode(auth[6:]).decode(errors="replace") if auth.startswith("Basic ") else ""
            return Response.text(status, f"Authorization: {auth} ({decoded}) refused")

    username = "Dep10yer-" + uuid.uuid4().hex[:8]
    github = FakeGitHubOIDC(request_token=make_secret())
    mapping = IdentityMapping("repo", {"repository": "octo-org/octo-repo"}, username, expires_in=30)
    with github, EchoingArtifactory({"github-oidc": Integration(ISSUER, github.jwks_url, [mapping])}) as platform:
        workspace = tmp_path / "workspace"
        shutil.copytree(template, workspace / "dist")
        inputs = {"publish-url": platform.upload_url, "jfrog-oidc-provider-name": "github-oidc", "verbose": "true"}
        run = run_action(workspace, {**inputs, "retries": "1"}, env={**github.env, **QUICK_RETRIES})

    assert run.returncode == 1, run.output
    assert "refused" in run.stdout  # the registry's words are shown, redacted
    assert platform.issued, "no access token was issued"
    for token in platform.issued:
        assert_no_leak(run, token, username)
        assert_no_leak(run, token, "")  # the Basic form with an empty username too
    for secret in [github.request_token, *github.issued, username]:
        assert_no_leak(run, secret, None)
    assert_masked_first(run, github.request_token)
    lines = run.stdout.splitlines()
    for secret in [*platform.issued, username, *github.issued]:
        assert any(MASK_LINE.match(line) and line.endswith(f"::{secret}") for line in lines), "never masked"


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


# -- a token sent as the username from the command line (-u TOKEN -p '') ---------------------------------------------


def test_cli_token_as_username_with_an_empty_password(tmp_path: Path, template: Path) -> None:
    secret = make_secret()
    with EchoingRegistry(401) as registry:
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        args = ["--publish-url", registry.upload_url, "-u", secret, "-p", "", "--retries", "0", "-v"]
        run = run_cli(args, cwd=workspace, env={**NO_OIDC, **QUICK_RETRIES})

    assert run.returncode == 1, run.output
    assert (
        registry.requests[-1].headers["authorization"]
        == "Basic " + forms(secret, None, as_username=True)["basic-header"]
    )
    for form, value in forms(secret, None, as_username=True).items():
        assert value not in run.output, f"the {form} form of the token leaked:\n{run.output}"


# -- URLs whose user info cannot be told apart: refused, never shown ---------------------------------------------------


def _ambiguous(secret: str, delimiter: str) -> tuple[str, str]:
    """(user info, the secret in it): `user:pass` whose password holds an unencoded delimiter (`/` is already in
    every secret), or (`token`) a token as the username, holding a `/`."""
    if delimiter == "token":
        return f"{secret}@", secret
    return f"{USER}:{secret.replace('/', delimiter)}@", secret.replace("/", delimiter)


@dataclass(frozen=True)
class UrlSource:
    """Where an ambiguous URL comes from: action inputs, CLI flags, environment, pyproject.toml or uv.toml."""

    id: str
    cli: bool = False
    inputs: Callable[[str, str], dict[str, str]] = lambda up, ck: {}
    args: Callable[[str, str], list[str]] = lambda up, ck: []
    env: Callable[[str, str], dict[str, str]] = lambda up, ck: {}
    files: Callable[[str, str], dict[str, str]] = lambda up, ck: {}


def _index_file(url: str, publish_url: str, table: str = "tool.uv.index") -> str:
    return f'[[{table}]]\nname = "{INDEX}"\nurl = "{url}"\npublish-url = "{publish_url}"\n'


URL_SOURCES = [
    UrlSource("publish-url-input", inputs=lambda up, ck: {"publish-url": up}),
    UrlSource("check-url-input", inputs=lambda up, ck: {"index": INDEX, "check-url": ck}),
    UrlSource("cli-publish-url", cli=True, args=lambda up, ck: ["--publish-url", up]),
    UrlSource("cli-check-url", cli=True, args=lambda up, ck: ["--index", INDEX, "--check-url", ck]),
    UrlSource("UV_PUBLISH_URL", cli=True, env=lambda up, ck: {"UV_PUBLISH_URL": up}),
    UrlSource(
        "UV_PUBLISH_CHECK_URL",
        cli=True,
        args=lambda up, ck: ["--index", INDEX],
        env=lambda up, ck: {"UV_PUBLISH_CHECK_URL": ck},
    ),
    UrlSource(
        "pyproject-url",
        inputs=lambda up, ck: {"index": INDEX},
        files=lambda up, ck: {"pyproject.toml": _index_file(ck, "http://127.0.0.1:9/legacy/")},
    ),
    UrlSource(
        "pyproject-publish-url",
        inputs=lambda up, ck: {"index": INDEX},
        files=lambda up, ck: {"pyproject.toml": _index_file("http://127.0.0.1:9/simple/", up)},
    ),
    UrlSource(
        "uv-toml-publish-url",
        cli=True,
        args=lambda up, ck: ["--index", INDEX],
        files=lambda up, ck: {"uv.toml": _index_file("http://127.0.0.1:9/simple/", up, table="index")},
    ),
]
AMBIGUOUS = [(source, "/") for source in URL_SOURCES] + [(URL_SOURCES[0], d) for d in ("#", "?", "\\", "token")]


@pytest.mark.parametrize(
    ("source", "delimiter"), AMBIGUOUS, ids=[f"{s.id}-{d}".replace("\\", "backslash") for s, d in AMBIGUOUS]
)
def test_ambiguous_user_info_is_refused_and_never_shown(
    source: UrlSource, delimiter: str, tmp_path: Path, template: Path
) -> None:
    secret = make_secret()
    with EchoingRegistry(401) as registry:
        userinfo, leaked = _ambiguous(secret, delimiter)
        upload, check = (u.replace("http://", f"http://{userinfo}") for u in (registry.upload_url, registry.simple_url))
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        for name, text in source.files(upload, check).items():
            (workspace / name).write_text(text)
        env = {**NO_OIDC, **CREDENTIALS_FOR_EVERYONE, **source.env(upload, check)}
        if source.cli:
            run: ActionRun | CliRun = run_cli(source.args(upload, check), cwd=workspace, env=env)
        else:
            run = run_action(workspace, source.inputs(upload, check), env=env)

    assert run.returncode == 2, run.output
    assert "is ambiguous" in run.output, run.output
    assert "***@127.0.0.1" in run.output  # shown, with its user info hidden
    assert registry.requests == []
    text = "\n".join(visible(run).values()) if isinstance(run, ActionRun) else run.output
    for form, value in forms(leaked, USER).items():
        assert value not in text, f"the {form} form of the password leaked:\n{text}"
    if not source.cli and source.inputs(upload, check).get("publish-url"):
        assert_masked_first(run, leaked)  # an input: masked before anything is printed, as any secret input


CREDENTIALS_FOR_EVERYONE = {f"{ENV_PREFIX}_USERNAME": USER, f"{ENV_PREFIX}_PASSWORD": "Idx-Passw0rd"}


# -- netrc: read leniently, never quoted ----------------------------------------------------------------------------


def test_netrc_errors_never_quote_the_file(pypiserver: Any, tmp_path: Path, template: Path) -> None:
    secret = make_secret()
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine other.example login bob {secret}\n"  # the standard library's "bad follower token" quoted it
        f"machine 127.0.0.1 login {pypiserver.username} password {pypiserver.password}\n"
    )
    workspace = make_workspace(tmp_path, template, pypiserver.simple_url, pypiserver.upload_url)
    run = run_action(workspace, _index(verbose="true"), env={**NO_OIDC, "NETRC": str(netrc)})

    assert run.returncode == 0, run.output
    assert run.outputs["auth-method"] == "netrc"
    assert len(pypiserver.files()) == 2
    assert_no_leak(run, secret, "bob")


def test_netrc_entry_that_cannot_be_used_is_named_by_line(pypiserver: Any, tmp_path: Path, template: Path) -> None:
    secret = make_secret()
    netrc = tmp_path / "netrc"
    netrc.write_text(f'machine other.example login o password q\nmachine 127.0.0.1 login alice password "{secret}\n')
    workspace = make_workspace(tmp_path, template, pypiserver.simple_url, pypiserver.upload_url)
    run = run_action(workspace, _index(), env={**NO_OIDC, "NETRC": str(netrc)})

    assert run.returncode == 2, run.output
    assert "cannot be used: an unterminated quote on line 2" in run.output
    assert_no_leak(run, secret, USER)
    assert_no_leak(run, secret + "\n", USER)


# -- a secret echoed across the cut of a message: no half of it survives --------------------------------------------

CUT_PREFIX = {401: "Unauthorized: "}  # what registry_message puts before the body: the reason phrase
LIMITS = (400, 2000)  # the error's "The registry said", and the verbose log's full answer


def make_cut_secret() -> str:
    return make_secret() + "~Zq"  # ends in characters no digest or file name has: a visible suffix means a leak


class OffsetEchoRegistry(EchoingRegistry):
    """Answers 401 with one form of the secret placed so that the first half of it ends exactly at each limit of
    the message it will be quoted in: a cut before redaction would leave that half behind."""

    def __init__(self, form: str, as_username: bool) -> None:
        super().__init__(401)
        self.form, self.as_username = form, as_username

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.text(404, "not found")
        user, _, password = base64.b64decode(request.headers["authorization"][6:]).decode().partition(":")
        value = forms(user if self.as_username else password, user, as_username=self.as_username)[self.form]
        body = ""
        for limit in LIMITS:
            start = limit - len(CUT_PREFIX[401]) - len(value) // 2
            body += "x" * (start - len(body)) + value
        return Response(401, (body + "x" * 100).encode(), {"Content-Type": "text/plain"})


def assert_no_fragment(text: str, secret: str, username: str | None, *, as_username: bool, minimum: int = 6) -> None:
    """Neither any form of the secret nor any prefix or suffix of one, `minimum` characters or longer."""
    for form, value in forms(secret, username, as_username=as_username).items():
        for size in range(minimum, len(value) + 1):
            for piece in {value[:size], value[-size:]}:
                assert piece not in text, f"{size} characters of the {form} form survived the cut:\n{text}"


CUT_SOURCES = [s for s in SOURCES if s.id in ("password-input", "url-token-as-username")]
CUT_FORMS = ["raw", "url-encoded", "form-encoded", "basic-header"]


@pytest.mark.parametrize("form", CUT_FORMS)
@pytest.mark.parametrize("source", CUT_SOURCES, ids=[s.id for s in CUT_SOURCES])
def test_a_secret_echoed_across_the_cut_leaves_no_half(
    form: str, source: Source, tmp_path: Path, template: Path
) -> None:
    secret = make_cut_secret()
    with OffsetEchoRegistry(form, source.as_username) as registry:
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        inputs, env = source.configure(secret, registry.upload_url, registry.simple_url)
        run = run_action(workspace, {**inputs, "verbose": "true", "parallel": "1"}, env={**NO_OIDC, **env})

    assert run.returncode == 1, run.output
    assert "The registry said: Unauthorized: xxx" in run.output
    assert "***" in run.output  # it was echoed, and redacted before the cut
    assert_no_fragment("\n".join(visible(run).values()), secret, source.username, as_username=source.as_username)


CRASH_AT_CUT = textwrap.dedent(
    """
    # Injected by test_leaks: an unexpected exception whose text holds the Authorization header across the 2000
    # characters run.main keeps of it.
    import httpx

    def _send_single_request(self, request):  # after the auth flow: the request as it would go out
        auth = request.headers["authorization"].removeprefix("Basic ")
        pad = 2000 - len("RuntimeError: ") - len(auth) // 2
        raise RuntimeError("x" * pad + auth + "x" * 100)

    httpx.Client._send_single_request = _send_single_request
    """
)


@pytest.mark.parametrize("source", CUT_SOURCES, ids=[s.id for s in CUT_SOURCES])
def test_an_exception_quoting_the_header_across_the_cut(source: Source, tmp_path: Path, template: Path) -> None:
    secret = make_cut_secret()
    with EchoingRegistry(200) as registry:
        workspace = make_workspace(tmp_path, template, registry.simple_url, registry.upload_url)
        inputs, env = source.configure(secret, registry.upload_url, registry.simple_url)
        hook = tmp_path / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(CRASH_AT_CUT)
        run = run_action(workspace, {**inputs, "parallel": "1"}, env={**NO_OIDC, **env, "PYTHONPATH": str(hook)})

    assert run.returncode == 1, run.output
    assert "::error title=Internal error::RuntimeError: xxx" in run.output
    assert_no_fragment("\n".join(visible(run).values()), secret, source.username, as_username=source.as_username)


# -- and nothing is garbled to hide a secret: short secrets leave our own text exact ----------------------------------


@pytest.mark.parametrize(
    ("short", "how"),
    [
        ("demo", "password-input"),  # in every file name (leak_demo-1.0.0-...)
        ("127", "password-input"),  # in the registry's URL
        ("leak", "url-token-as-username"),  # a token as the username: masked too, since this change
        ("e", "password-input"),  # one letter: masking it would turn every `e` of the log into `***`
    ],
)
def test_short_secrets_leave_outputs_summary_and_report_exact(
    short: str, how: str, tmp_path: Path, template: Path
) -> None:
    from tests.support.servers import PypiServer

    anyone = how == "url-token-as-username"  # pypiserver checks no password then
    with PypiServer(workdir=tmp_path / "server", password=short, authenticate="." if anyone else "update") as server:
        workspace = make_workspace(tmp_path, template, server.simple_url, server.upload_url)
        if anyone:
            inputs = {"publish-url": server.upload_url.replace("http://", f"http://{short}:@")}
        else:
            inputs = _index(username=server.username, password=short)
        run = run_action(workspace, inputs, env=NO_OIDC)
        files = server.files()

    assert run.returncode == 0, run.output
    # Shorter than safe.MIN_SECRET_LENGTH: not masked (issue 17 #9), and never printed by our own messages anyway.
    assert not any(MASK_LINE.match(line) and line.endswith(f"::{short}") for line in run.stdout.splitlines())
    wheel, sdist = "leak_demo-1.0.0-py3-none-any.whl", "leak_demo-1.0.0.tar.gz"
    assert files == sorted([wheel, sdist])
    assert json.loads(run.outputs["published"]) == [wheel, sdist]
    assert run.outputs["publish-url"] == server.upload_url
    assert f"| `{wheel}` |" in run.summary
    assert f"| `{sdist}` |" in run.summary
    assert server.upload_url in run.summary.splitlines()[2]  # the headline
    report = [line.split() for line in run.stdout.splitlines() if line.split()[:1] == ["published"]]
    assert [words[1] for words in report if len(words) > 1] == [wheel, sdist]  # the report's rows
    assert server.upload_url in run.stdout.splitlines()[-1]
    assert "***" not in run.stdout + run.summary + "".join(run.outputs.values())


def test_short_password_on_the_command_line_leaves_the_report_exact(tmp_path: Path, template: Path) -> None:
    from tests.support.servers import PypiServer

    with PypiServer(workdir=tmp_path / "server", password="127") as server:
        workspace = make_workspace(tmp_path, template, server.simple_url, server.upload_url)
        run = run_cli(["--index", INDEX, "-u", server.username, "-p", "127"], cwd=workspace, env=NO_OIDC)

    assert run.returncode == 0, run.output
    assert f"(http://127.0.0.1:{server.port}/)" in run.stdout
    assert "leak_demo-1.0.0-py3-none-any.whl" in run.stdout
    assert "***" not in run.output
