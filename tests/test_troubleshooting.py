"""The troubleshooting pages (docs/troubleshooting/<area>.md) are keyed by the messages the tool prints; these tests
keep the two in step.

Each entry is a heading of its page (so a link can point at it) holding the message as the user sees it
(placeholders such as `<index>` for the parts that vary) followed by a line naming the annotation title and the exit
status:

    ## ``Index not found: `<index>`. Found indexes: <names> (in <file>).``

    Error *No upload target*, exit status 2.

Most entries are produced for real here: the CLI (or the action's entrypoint, for what only happens in Actions) is
run on the bad input against pypiserver, a local fake or nothing at all, and the entry's message (placeholders read
as wildcards), title and exit status must match what was printed. The few entries that are not produced are checked
against the message templates in publisher/**/*.py instead, so a reworded message still fails here.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC
from tests.fakes.gitlab_oidc import FakeGitLabOIDC
from tests.fakes.hostile import Answer, HostileServer
from tests.fakes.jfrog import FakeJFrog, IdentityMapping, Integration
from tests.fakes.pulp import FakePulp
from tests.fakes.trusted_index import GITLAB_VARIABLE, FakeTrustedIndex, GitLabPublisher, Publisher
from tests.support.builders import Dists, build_project, make_workspace, pulp_dists
from tests.support.composite import Job, stand_in_path
from tests.support.runner import run_action, run_cli, start_action
from tests.support.servers import PypiServer, free_port
from tests.support.tls import self_signed, server_context

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "troubleshooting"
INDEX = "private-repo"
PREFIX = "UV_INDEX_PRIVATE_REPO"
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0.01", "PUBLISHER_READ_TIMEOUT": "5"}
PRODUCED_AT_LEAST = 12

# -- the docs side ------------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^## (`+)(.+?)\1\s*$")
_STATUS = re.compile(r"^(Error|Warning|Notice) \*(.+?)\*, exit status (\d+)\.")
_PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")


@dataclass(frozen=True)
class Entry:
    message: str  # as written in the docs, placeholders included
    severity: str  # "error", "warning" or "notice", as the terminal prints it
    title: str
    exit_code: int

    def pieces(self) -> list[str]:
        """The literal text between placeholders."""
        return _PLACEHOLDER.split(self.message)

    def pattern(self) -> re.Pattern[str]:
        """How the terminal shows it: `error: <title>: <message>` at the start of a line, placeholders as wildcards."""
        message = ".+?".join(re.escape(piece) for piece in self.pieces())
        return re.compile(f"^{self.severity}: {re.escape(self.title)}: {message}", re.M)


@cache
def entries() -> tuple[Entry, ...]:
    pages = sorted(p for p in PAGES.glob("*.md") if p.name != "index.md")
    assert pages, f"no troubleshooting pages in {PAGES}"
    found = []
    for page in pages:
        found.extend(_page_entries(page))
    return tuple(found)


def _page_entries(page: Path) -> list[Entry]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        message = heading[2].strip() if heading[2].startswith(" ") and heading[2].endswith(" ") else heading[2]
        following = next((line for line in lines[number + 1 :] if line.strip()), "")
        status = _STATUS.match(following)
        assert status is not None, (
            f"{page.name}: entry `{message}`: the line after it must read `Error *Title*, exit status N.`"
        )
        found.append(Entry(message, status[1].lower(), status[2], int(status[3])))
    return found


def entry_for(key: str) -> Entry:
    matching = [e for e in entries() if key in e.message]
    assert len(matching) == 1, f"{key!r} should pick exactly one troubleshooting entry, got {matching}"
    return matching[0]


# -- what the tool printed ----------------------------------------------------------------------------------------

_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def _unescape(text: str, *, prop: bool = False) -> str:
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def terminal_form(stdout: str) -> str:
    """Workflow-command annotations (`::error title=T::message`) rewritten as the terminal prints them."""
    lines = []
    for line in stdout.splitlines():
        command = _COMMAND.match(line)
        if command is None:
            lines.append(line)
            continue
        props = dict(p.split("=", 1) for p in (command[2] or "").split(",") if "=" in p)
        title = _unescape(props.get("title", ""), prop=True)
        lines.append(f"{command[1]}: {title}: {_unescape(command[3])}" if title else f"{command[1]}: {command[3]}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Printed:
    text: str
    code: int


class Bed:
    """What the cases need, created on first use: a workspace, pypiserver, fakes, and the CLI or action to run."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path, stack: list[Callable[[], None]]) -> None:
        self.request = request
        self.tmp = tmp_path
        self._cleanups = stack

    @cached_property
    def dists(self) -> Dists:
        return build_project(self.tmp / "built")

    @cached_property
    def pypiserver(self) -> PypiServer:
        return self.request.getfixturevalue("pypiserver")  # type: ignore[no-any-return]

    @cached_property
    def nowhere(self) -> str:
        """A loopback URL nothing listens on (connections are refused)."""
        return f"http://127.0.0.1:{free_port()}"

    def fake(self, server: FakeServer) -> FakeServer:
        server.start()
        self.on_teardown(server.stop)
        return server

    def on_teardown(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def workspace(self, *, simple_url: str | None = None, upload_url: str | None = None, dists: bool = True) -> Path:
        """A checkout declaring index `private-repo` (by default on a closed port) with the wheel and sdist."""
        root = self.tmp / f"ws{len(list(self.tmp.glob('ws*')))}"
        return make_workspace(
            root,
            simple_url=simple_url or f"{self.nowhere}/simple/",
            upload_url=upload_url or f"{self.nowhere}/",
            dists=list(self.dists) if dists else [],
            index_name=INDEX,
        )

    def creds(self) -> dict[str, str]:
        return {f"{PREFIX}_USERNAME": self.pypiserver.username, f"{PREFIX}_PASSWORD": self.pypiserver.password}

    def cli(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Printed:
        run = run_cli(list(args), cwd or self.workspace(), {**FAST, **(env or {})})
        return Printed(run.stdout + "\n" + run.stderr, run.returncode)

    def action(self, workspace: Path, inputs: dict[str, str], env: dict[str, str] | None = None) -> Printed:
        run = run_action(workspace, inputs, {**FAST, **(env or {})})
        return Printed(terminal_form(run.stdout) + "\n" + run.stderr, run.returncode)


class Answering(FakeServer):
    """A registry that gives every request the same answer."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response

    def handle(self, request: Request) -> Response:
        return self.response


CASES: dict[str, Callable[[Bed], Printed]] = {}


def case(key: str) -> Callable[[Callable[[Bed], Printed]], Callable[[Bed], Printed]]:
    """Register how to produce the message of the one troubleshooting entry whose message contains `key`."""

    def register(produce: Callable[[Bed], Printed]) -> Callable[[Bed], Printed]:
        assert key not in CASES
        CASES[key] = produce
        return produce

    return register


# configuration ----------------------------------------------------------------------------------------------------


@case("No source gave a password or token")
def _missing_credentials(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX)


@case("is set but")
def _password_without_username(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, env={f"{PREFIX}_PASSWORD": "s3cret"})


@case("cannot be combined with a username or password")
def _token_with_password(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, "-t", "pypi-Tok3n", "-u", "alice", "-p", "s3cret")


@case("No index was named, so the files go to PyPI")
def _no_index_named(bed: Bed) -> Printed:
    server = bed.pypiserver  # the check URL only: a dry run sends nothing to PyPI
    return bed.cli("--dry-run", "--check-url", server.simple_url, "-u", "alice", "-p", "s3cret")


@case("Index not found:")
def _unknown_index(bed: Bed) -> Printed:
    return bed.cli("--index", "Private-Repo")


@case("No indexes were found")
def _no_indexes(bed: Bed) -> Printed:
    workspace = bed.workspace()
    (workspace / "pyproject.toml").write_text('[project]\nname = "demo-pkg"\nversion = "1.0.0"\n')
    return bed.cli("--index", INDEX, cwd=workspace)


@case("Index is missing a publish URL")
def _no_publish_url(bed: Bed) -> Printed:
    workspace = bed.workspace()
    (workspace / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "{INDEX}"\nurl = "{bed.nowhere}/simple/"\n')
    return bed.cli("--index", INDEX, cwd=workspace)


@case("is not valid TOML")
def _toml_syntax(bed: Bed) -> Printed:
    workspace = bed.workspace()
    (workspace / "pyproject.toml").write_text(f'[[tool.uv.index]\nname = "{INDEX}"\n')
    return bed.cli("--index", INDEX, cwd=workspace)


@case("not found (working directory")
def _no_pyproject(bed: Bed) -> Printed:
    workspace = bed.workspace()
    (workspace / "pyproject.toml").unlink()
    return bed.cli("--index", INDEX, cwd=workspace)


@case("Refusing to send credentials over plain http")
def _plain_http(bed: Bed) -> Printed:
    return bed.cli("--publish-url", "http://registry.invalid/legacy/", "-u", "alice", "-p", "s3cret")


@case("is ambiguous: it has an `@` after the end of its host part")
def _ambiguous_userinfo(bed: Bed) -> Printed:
    return bed.cli("--publish-url", "https://alice:pa/ss@registry.invalid/legacy/")


@case("contains whitespace or a control character")
def _whitespace_in_a_url(bed: Bed) -> Printed:
    return bed.cli("--publish-url", "https://registry.invalid/leg acy/", "-u", "alice", "-p", "s3cret")


@case("Refusing to request an OIDC token")
def _token_request_over_http(bed: Bed) -> Printed:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "http://token.invalid/idtoken?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "never-sent-request-token",
    }
    return bed.cli("--publish-url", "https://registry.invalid/legacy/", "--trusted-publishing", "always", env=env)


@case("is not a valid .pypirc")
def _malformed_pypirc(bed: Bed) -> Printed:
    home = bed.tmp / "home-malformed"
    home.mkdir()
    (home / ".pypirc").write_text("[distutils]\nindex-servers = corp\n[corp]\npassword s3cret\n")
    return bed.cli("--index", "corp", env={"HOME": str(home)})


@case("named by")
def _named_pypirc_missing(bed: Bed) -> Printed:
    return bed.action(bed.workspace(), {"index": "corp", "pypirc": "ci/.pypirc"})


# the files --------------------------------------------------------------------------------------------------------


@case("the file name contains control characters")
def _control_characters_in_a_name(bed: Bed) -> Printed:
    workspace = bed.workspace(dists=False)
    shutil.copy(bed.dists.wheel, workspace / "dist" / bed.dists.wheel.name.replace("-any", "-any\nx"))
    return bed.cli("--index", INDEX, cwd=workspace)


@case("is not a PEP 740 attestation")
def _broken_attestation(bed: Bed) -> Printed:
    workspace = bed.workspace()
    (workspace / "dist" / f"{bed.dists.wheel.name}.publish.attestation").write_text('{"version": 1}')
    return bed.cli("--index", INDEX, cwd=workspace)


@case("No distributions (.whl or .tar.gz) found")
def _no_dists(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, cwd=bed.workspace(dists=False))


@case("Packages directory")
def _no_packages_dir(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, "--packages-dir", "build/dist")


@case("No file matches")
def _no_file_matches(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, "dist/*.whl", cwd=bed.workspace(dists=False))


@case("metadata says Name")
def _renamed_project(bed: Bed) -> Printed:
    workspace = bed.workspace(dists=False)
    shutil.copy(bed.dists.wheel, workspace / "dist" / bed.dists.wheel.name.replace("demo_pkg", "other_pkg"))
    return bed.cli("--index", INDEX, cwd=workspace)


@case("metadata says Version")
def _renamed_version(bed: Bed) -> Printed:
    workspace = bed.workspace(dists=False)
    shutil.copy(bed.dists.wheel, workspace / "dist" / bed.dists.wheel.name.replace("1.0.0", "1.0.1"))
    return bed.cli("--index", INDEX, cwd=workspace)


@case("problem(s) in <n> file(s); nothing was uploaded:")
def _invalid_metadata(bed: Bed) -> Printed:
    broken = build_project(bed.tmp / "broken", readme=".. no-such-directive::\n\n`unclosed\n", readme_type="text/x-rst")
    workspace = bed.workspace(dists=False)
    shutil.copy(broken.wheel, workspace / "dist")
    return bed.cli("--index", INDEX, cwd=workspace)


@case("files cannot be uploaded; nothing was uploaded:")
def _several_bad_files(bed: Bed) -> Printed:
    workspace = bed.workspace()
    for name in ("demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"):
        (workspace / "dist" / name).write_bytes(b"")
    return bed.cli("--index", INDEX, cwd=workspace)


@case("the release-age and one-sdist rules were not checked")
def _release_rules_not_checked(bed: Bed) -> Printed:
    api = bed.fake(Answering(Response.text(503, "unavailable")))
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=f"{api.url}/simple/", upload_url=server.upload_url)
    return bed.cli("--index", INDEX, "--preflight", "pypi", cwd=workspace, env=bed.creds())


# the registry's answers -------------------------------------------------------------------------------------------


@case("the registry rejected the credentials")
def _upload_refused_credentials(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    env = {f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": "wrong"}
    return bed.cli("--index", INDEX, cwd=workspace, env=env)


@case("(looking for files of")
def _check_url_refused(bed: Bed) -> Printed:
    server = PypiServer(workdir=bed.tmp / "private", authenticate="update,list").start()  # reads need a password
    bed.on_teardown(server.stop)
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    env = {
        "UV_PUBLISH_USERNAME": server.username,
        "UV_PUBLISH_PASSWORD": server.password,
        f"{PREFIX}_USERNAME": server.username,  # read credentials that the check URL refuses
        f"{PREFIX}_PASSWORD": "wrong-read-password",
    }
    return bed.cli("--index", INDEX, "--skip-existing", cwd=workspace, env=env)


@case("with identical contents")
def _identical_without_skip_existing(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    first = bed.cli("--index", INDEX, cwd=workspace, env=bed.creds())
    assert first.code == 0, first.text
    return bed.cli("--index", INDEX, cwd=workspace, env=bed.creds())


@case("already exists on <url>")
def _duplicate_without_check_url(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    args = ["--publish-url", server.upload_url, "-u", server.username, "-p", server.password]
    first = bed.cli(*args, cwd=workspace)
    assert first.code == 0, first.text
    return bed.cli(*args, cwd=workspace)


@case("already exists on the index with different contents")
def _different_contents(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    first = bed.cli("--index", INDEX, cwd=workspace, env=bed.creds())
    assert first.code == 0, first.text
    rebuilt = build_project(bed.tmp / "rebuilt", readme="# demo-pkg\n\nRebuilt: same name, other bytes.\n")
    for dist in rebuilt:
        shutil.copy(dist, workspace / "dist" / dist.name)
    return bed.cli("--index", INDEX, "--skip-existing", cwd=workspace, env=bed.creds())


@case("but its contents could not be compared")
def _skipped_without_verification(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    args = ["--publish-url", server.upload_url, "-u", server.username, "-p", server.password]
    first = bed.cli(*args, cwd=workspace)
    assert first.code == 0, first.text
    return bed.cli(*args, "--skip-existing", cwd=workspace)


@case("was redirected")
def _redirected(bed: Bed) -> Printed:
    fake = bed.fake(Answering(Response(308, b"", {"Location": "https://registry.example/upload/"})))
    return bed.cli("--publish-url", f"{fake.url}/upload", "-u", "alice", "-p", "s3cret")


@case("(after <n> attempts)")
def _registry_kept_failing(bed: Bed) -> Printed:
    fake = bed.fake(Answering(Response.text(503, "upstream connect error or disconnect/reset before headers")))
    return bed.cli("--publish-url", f"{fake.url}/", "-u", "alice", "-p", "s3cret", "--retries", "2")


@case("uploading <file>. The registry said")
def _other_refusal(bed: Bed) -> Printed:
    refusal = "Invalid distribution metadata: 'invalid' is an invalid value for Metadata-Version."
    fake = bed.fake(Answering(Response.text(400, refusal)))
    return bed.cli("--publish-url", f"{fake.url}/", "-u", "alice", "-p", "s3cret")


@case("Could not upload <file> to <url> after <n> attempt(s): <error>")
def _unreachable(bed: Bed) -> Printed:
    return bed.cli("--publish-url", f"{bed.nowhere}/", "-u", "alice", "-p", "s3cret", "--retries", "1")


def _http_server(bed: Bed, *, tls: bool) -> int:
    """The port of Python's http.server on loopback (it answers 400 to a TLS hello), with TLS by a certificate
    nobody trusts when `tls`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    if tls:
        server.socket = server_context(self_signed(bed.tmp)).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    bed.on_teardown(server.server_close)
    bed.on_teardown(server.shutdown)
    return int(server.server_address[1])


@case("its certificate is not trusted here")
def _untrusted_certificate(bed: Bed) -> Printed:
    url = f"https://127.0.0.1:{_http_server(bed, tls=True)}/legacy/"
    return bed.cli("--publish-url", url, "-u", "alice", "-p", "s3cret")


@case("the handshake was refused")
def _https_to_a_plain_http_port(bed: Bed) -> Printed:
    url = f"https://127.0.0.1:{_http_server(bed, tls=False)}/legacy/"
    return bed.cli("--publish-url", url, "-u", "alice", "-p", "s3cret")


@case("but with <what>. Not treating this as 'file absent'")
def _not_a_listing(bed: Bed) -> Printed:
    fake = bed.fake(Answering(Response.text(200, "Welcome! Please sign in.")))
    args = ["--publish-url", f"{fake.url}/", "--check-url", f"{fake.url}/simple/", "--skip-existing"]
    return bed.cli(*args, "-u", "alice", "-p", "s3cret")


@case("Could not check")
def _check_url_unreachable(bed: Bed) -> Printed:
    fake = bed.fake(Answering(Response.text(200, "OK")))
    args = ["--publish-url", f"{fake.url}/", "--check-url", f"{bed.nowhere}/simple/", "--skip-existing"]
    return bed.cli(*args, "-u", "alice", "-p", "s3cret", "--retries", "0")


# an asynchronous registry (the fake Pulp) ---------------------------------------------------------------------------


def _pulp(bed: Bed, **options: object) -> tuple[FakePulp, Path]:
    """The fake Pulp, started for this case, and a workspace declaring it as the index (dists it accepts)."""
    pulp = FakePulp(**options)  # type: ignore[arg-type]
    bed.fake(pulp)
    dists = pulp_dists(bed.tmp / "pulp-dists")
    root = bed.tmp / f"pulp-ws{len(list(bed.tmp.glob('pulp-ws*')))}"
    return pulp, make_workspace(root, simple_url=pulp.simple_url, upload_url=pulp.upload_url, dists=list(dists))


PULP_CREDENTIALS = {f"{PREFIX}_USERNAME": "alice", f"{PREFIX}_PASSWORD": "pulp-password"}


@case("to confirm uploads on, and none is set for")
def _verify_without_check_url(bed: Bed) -> Printed:
    return bed.cli("--publish-url", f"{bed.nowhere}/", "-u", "alice", "-p", "s3cret", "--verify-published")


@case("but not stored: the registry's task")
def _task_failed(bed: Bed) -> Printed:
    wheel = pulp_dists(bed.tmp / "pulp-dists").wheel.name
    _, workspace = _pulp(bed, fail={wheel: "Unable to read the metadata of the wheel: no METADATA file."})
    return bed.cli("--index", INDEX, cwd=workspace, env=PULP_CREDENTIALS)


@case("but the registry has not stored it after")
def _task_never_runs(bed: Bed) -> Printed:
    _, workspace = _pulp(bed, workers=False)
    return bed.cli("--index", INDEX, "--confirm-timeout", "1", cwd=workspace, env=PULP_CREDENTIALS)


@case("is listed with other contents")
def _race_lost(bed: Bed) -> Printed:
    pulp, first = _pulp(bed, workers=False)
    second = make_workspace(bed.tmp / "second", simple_url=pulp.simple_url, upload_url=pulp.upload_url)
    rebuilt = pulp_dists(bed.tmp / "rebuilt", readme="# demo-pkg\n\nBuilt again: same name, other bytes.\n")
    shutil.copy(rebuilt.wheel, second / "dist")
    for wheel_only in (first, second):
        for sdist in (wheel_only / "dist").glob("*.tar.gz"):
            sdist.unlink()
    env = {**FAST, **PULP_CREDENTIALS}
    with start_action(first, {"index": INDEX}, env) as loser:
        _until(lambda: len(pulp.uploads) == 1)
        with start_action(second, {"index": INDEX}, env) as winner:
            _until(lambda: len(pulp.uploads) == 2)
            pulp.start_worker()  # both tasks complete at once, in upload order: the second file wins
            assert winner.wait().returncode == 0
            run = loser.wait()
    return Printed(terminal_form(run.stdout) + "\n" + run.stderr, run.returncode)


@case("but is not listed on the index after")
def _not_listed(bed: Bed) -> Printed:
    _, workspace = _pulp(bed, name_tasks=False, workers=False)
    return bed.cli("--index", INDEX, "--confirm-timeout", "1", cwd=workspace, env=PULP_CREDENTIALS)


@case("and there is no check URL to look for it")
def _no_task_no_check_url(bed: Bed) -> Printed:
    pulp, workspace = _pulp(bed, name_tasks=False)
    return bed.cli("--publish-url", pulp.upload_url, "-u", "alice", "-p", "pulp-password", cwd=workspace)


@case("but could not be confirmed on the index")
def _check_url_refused_during_confirmation(bed: Bed) -> Printed:
    pulp, workspace = _pulp(bed)
    check_url = pulp.simple_url.replace("http://", "http://bob:wrong-read-password@")
    return bed.cli("--index", INDEX, "--check-url", check_url, cwd=workspace, env=PULP_CREDENTIALS)


@case("Confirming through the check URL instead")
def _task_not_readable(bed: Bed) -> Printed:
    _, workspace = _pulp(bed, tasks_visible=False)
    return bed.cli("--index", INDEX, cwd=workspace, env=PULP_CREDENTIALS)


# verify-published's download back ----------------------------------------------------------------------------------


def _listed(bed: Bed, file: Answer, link: str | None = None) -> Printed:
    """An index that accepts the upload and lists the wheel with its sha256 at `link` (by default its own
    /files/<wheel>, answering `file`); the run verifies what it published."""
    wheel = bed.dists.wheel
    index = HostileServer()
    index.start()
    bed.on_teardown(index.stop)
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    entry = {"filename": wheel.name, "url": link or f"/files/{wheel.name}", "hashes": {"sha256": sha256}}
    page = {"meta": {"api-version": "1.1"}, "files": [entry]}
    listing = Answer.json(200, page, "application/vnd.pypi.simple.v1+json")
    index.routes.update(
        {"/legacy/": Answer.text(200, "OK"), "/simple/demo-pkg/": listing, f"/files/{wheel.name}": file}
    )
    workspace = bed.workspace(simple_url=f"{index.url}/simple/", upload_url=f"{index.url}/legacy/")
    env = {f"{PREFIX}_USERNAME": "alice", f"{PREFIX}_PASSWORD": "s3cret"}
    return bed.cli("--index", INDEX, "--verify-published", "--confirm-timeout", "2", cwd=workspace, env=env)


@case("but served with other contents")
def _served_other_bytes(bed: Bed) -> Printed:
    return _listed(bed, Answer(200, {"Content-Type": "application/zip"}, b"PK\x03\x04 other bytes"))


@case("on another origin than the check URL")
def _listed_elsewhere(bed: Bed) -> Printed:
    return _listed(bed, Answer.text(500, "never asked"), f"{bed.nowhere}/files/{bed.dists.wheel.name}")


@case("could not be downloaded back to prove its bytes")
def _not_downloadable(bed: Bed) -> Printed:
    return _listed(bed, Answer.text(404, "not found"))


@case("but not at a usable http(s) URL")
def _listed_at_no_url(bed: Bed) -> Printed:
    return _listed(bed, Answer.text(500, "never asked"), f"ftp://files.invalid/{bed.dists.wheel.name}")


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@case("The real run would fail on")
def _dry_run_would_fail(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    first = bed.cli("--index", INDEX, cwd=workspace, env=bed.creds())
    assert first.code == 0, first.text
    return bed.cli("--index", INDEX, "--dry-run", cwd=workspace, env=bed.creds())


# trusted publishing -----------------------------------------------------------------------------------------------


def _trusted(bed: Bed, *, audience_status: int = 200, publisher: Publisher | None = None) -> Printed:
    github: FakeGitHubOIDC = bed.request.getfixturevalue("github")
    index = FakeTrustedIndex(github.public_key, publisher=publisher, audience_status=audience_status)
    bed.fake(index)
    workspace = bed.workspace()
    return bed.cli("--publish-url", index.upload_url, "--trusted-publishing", "always", cwd=workspace, env=github.env)


@case("token from GitHub for trusted publishing")
def _no_id_token_permission(bed: Bed) -> Printed:
    return bed.action(bed.workspace(), {"publish-url": f"{bed.nowhere}/", "trusted-publishing": "always"}, NO_OIDC)


@case("This is not a GitHub Actions job")
def _not_in_actions(bed: Bed) -> Printed:
    return bed.cli("--publish-url", f"{bed.nowhere}/", "--trusted-publishing", "always")


@case("for a pull request from the fork")
def _fork_pull_request(bed: Bed) -> Printed:
    event = bed.tmp / "event.json"
    pull = {
        "head": {"repo": {"full_name": "someone/octo-repo", "fork": True}},
        "base": {"repo": {"full_name": "octo-org/octo-repo", "fork": False}},
    }
    event.write_text(json.dumps({"pull_request": pull}), encoding="utf-8")
    env = {**NO_OIDC, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
    return bed.action(bed.workspace(), {"publish-url": f"{bed.nowhere}/", "trusted-publishing": "always"}, env)


@case("does not support trusted publishing")
def _audience_404(bed: Bed) -> Printed:
    return _trusted(bed, audience_status=404)


@case("has it disabled")
def _audience_403(bed: Bed) -> Printed:
    return _trusted(bed, audience_status=403)


@case("refused to exchange GitHub's OIDC token")
def _mint_refused(bed: Bed) -> Printed:
    return _trusted(bed, publisher=Publisher("octo-org/another-repo", "release.yml"))


@case("forbids other credentials, and these are configured")
def _always_with_other_credentials(bed: Bed) -> Printed:
    return bed.cli("--index", INDEX, "--trusted-publishing", "always", "-u", "alice", "-p", "s3cret")


@case("OIDC token over plain http to")
def _trusted_publishing_over_http(bed: Bed) -> Printed:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{bed.nowhere}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "never-sent-request-token",
    }
    return bed.cli("--publish-url", "http://registry.invalid/legacy/", "--trusted-publishing", "always", env=env)


@case("This GitLab CI job has no")
def _gitlab_without_id_token(bed: Bed) -> Printed:
    gitlab = FakeGitLabOIDC()
    bed.fake(gitlab)
    index = FakeTrustedIndex(gitlab.public_key, publisher=GitLabPublisher(), gitlab_key=gitlab.public_key)
    bed.fake(index)
    args = ["--publish-url", index.upload_url, "--trusted-publishing", "always"]
    return bed.cli(*args, env={"GITLAB_CI": "true"})


@case("answered the OIDC audience")
def _index_asks_for_sigstore(bed: Bed) -> Printed:
    github: FakeGitHubOIDC = bed.request.getfixturevalue("github")
    index = FakeTrustedIndex(github.public_key, publisher=Publisher("octo-org/octo-repo", "release.yml"))
    index.audience = "sigstore"
    bed.fake(index)
    return bed.cli("--publish-url", index.upload_url, "--trusted-publishing", "always", env=github.env)


@case("was issued for the audience")
def _gitlab_variable_of_another_audience(bed: Bed) -> Printed:
    gitlab = FakeGitLabOIDC()
    bed.fake(gitlab)
    index = FakeTrustedIndex(gitlab.public_key, publisher=GitLabPublisher(), gitlab_key=gitlab.public_key)
    bed.fake(index)
    env = {**gitlab.env(), GITLAB_VARIABLE: gitlab.issue("https://vault.example.com")}
    return bed.cli("--publish-url", index.upload_url, "--trusted-publishing", "always", env=env)


# JFrog OIDC ---------------------------------------------------------------------------------------------------------

PROVIDER = "github-oidc"


def _jfrog(bed: Bed, *, audience: str | None = None) -> tuple[FakeGitHubOIDC, FakeJFrog]:
    github: FakeGitHubOIDC = bed.request.getfixturevalue("github")
    mapping = IdentityMapping("octo-repo", {"repository": "octo-org/octo-repo"})
    platform = FakeJFrog({PROVIDER: Integration(ISSUER, github.jwks_url, [mapping], audience)})
    bed.fake(platform)
    return github, platform


def _jfrog_action(bed: Bed, platform_url: str, env: dict[str, str], **inputs: str) -> Printed:
    return bed.action(
        bed.workspace(),
        {"publish-url": platform_url, "jfrog-oidc-provider-name": PROVIDER, "retries": "0", **inputs},
        env,
    )


@case("token from GitHub for the JFrog OIDC token exchange")
def _jfrog_without_id_token(bed: Bed) -> Printed:
    return _jfrog_action(bed, f"{bed.nowhere}/artifactory/api/pypi/pypi-local", NO_OIDC)


@case("OIDC token for an access token")
def _jfrog_refused(bed: Bed) -> Printed:
    github, platform = _jfrog(bed)
    return _jfrog_action(bed, platform.upload_url, github.env, **{"jfrog-oidc-provider-name": "github-odic"})


@case("refused the OIDC token for the integration")
def _jfrog_audience(bed: Bed) -> Printed:
    github, platform = _jfrog(bed, audience="jfrog-github")
    return _jfrog_action(bed, platform.upload_url, github.env, **{"jfrog-oidc-audience": "jfrog"})


@case("Asking for the OIDC audience")
def _jfrog_sigstore_audience(bed: Bed) -> Printed:
    github, platform = _jfrog(bed)
    return _jfrog_action(bed, platform.upload_url, github.env, **{"jfrog-oidc-audience": "sigstore"})


@case("answered the OIDC token exchange")
def _jfrog_unexpected(bed: Bed) -> Printed:
    github: FakeGitHubOIDC = bed.request.getfixturevalue("github")
    old = bed.fake(Answering(Response(404, b"<html>Not Found</html>", {"Content-Type": "text/html"})))
    return _jfrog_action(bed, f"{old.url}/artifactory/api/pypi/pypi-local", github.env)


@case("for the JFrog OIDC token exchange after")
def _jfrog_unreachable(bed: Bed) -> Printed:
    github: FakeGitHubOIDC = bed.request.getfixturevalue("github")
    return _jfrog_action(bed, f"{bed.nowhere}/artifactory/api/pypi/pypi-local", github.env)


@case("is not known in this GitLab CI job")
def _jfrog_gitlab_without_audience(bed: Bed) -> Printed:
    env = {"GITLAB_CI": "true", "JFROG_ID_TOKEN": "never-read", "JFROG_OIDC_PROVIDER_NAME": PROVIDER}
    return bed.cli("--publish-url", f"{bed.nowhere}/artifactory/api/pypi/pypi-local", env=env)


@case("Refusing the JFrog OIDC token exchange over plain http")
def _jfrog_over_http(bed: Bed) -> Printed:
    args = [
        "--publish-url",
        "https://registry.invalid/artifactory/api/pypi/local",
        "--jfrog-url",
        "http://jfrog.invalid",
    ]
    return bed.cli(*args, "--jfrog-oidc-provider-name", PROVIDER)


@case("segment to take the JFrog Platform's URL from")
def _jfrog_url_not_derived(bed: Bed) -> Printed:
    return bed.cli("--publish-url", "https://registry.invalid/pypi/local/", "--jfrog-oidc-provider-name", PROVIDER)


@case("came first in the credential chain")
def _jfrog_not_used(bed: Bed) -> Printed:
    server = bed.pypiserver
    workspace = bed.workspace(simple_url=server.simple_url, upload_url=server.upload_url)
    return bed.cli("--index", INDEX, "--jfrog-oidc-provider-name", PROVIDER, cwd=workspace, env=bed.creds())


# -- the native action's install step (native/setup.sh), run as the runner runs the composite action ---------------

NATIVE = ROOT / "native"
NO_VENV = 'case "$*" in *print*) echo 3.12 ;; *"-m venv"*) exit 1 ;; *) exit 0 ;; esac'  # a Python without venv


def _native(bed: Bed, action: Path = NATIVE, path: str | None = None) -> Printed:
    workspace = bed.workspace()
    env = {"PATH": path} if path is not None else {}
    job = Job(workspace=workspace, temp=bed.tmp / "runner-temp", home=bed.tmp / "runner-home", env=env)
    run = job.run(action, {"index": INDEX})
    return Printed(terminal_form(run.stdout) + "\n" + run.stderr, run.returncode)


@case("The native publish-dists action runs on the runner's own Python")
def _native_without_python(bed: Bed) -> Printed:
    return _native(bed, path=stand_in_path(bed.tmp / "bin"))


@case("has no working venv module")
def _native_without_venv(bed: Bed) -> Printed:
    return _native(bed, path=stand_in_path(bed.tmp / "bin", python3=NO_VENV))


@case("requirements.lock is missing next to the native action")
def _native_copied_alone(bed: Bed) -> Printed:
    shutil.copytree(NATIVE, bed.tmp / "copied" / "native")
    return _native(bed, bed.tmp / "copied" / "native")


# -- the tests ----------------------------------------------------------------------------------------------------


@pytest.fixture
def bed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bed]:
    cleanups: list[Callable[[], None]] = []
    try:
        yield Bed(request, tmp_path, cleanups)
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


@pytest.mark.parametrize("key", CASES)
def test_readme_entry_matches_the_printed_message(key: str, bed: Bed) -> None:
    entry = entry_for(key)
    printed = CASES[key](bed)
    assert entry.pattern().search(printed.text), (
        f"docs/troubleshooting entry\n    {entry.severity}: {entry.title}: {entry.message}\n"
        f"does not match what was printed (exit {printed.code}):\n{printed.text}"
    )
    assert printed.code == entry.exit_code, f"the docs say exit status {entry.exit_code}:\n{printed.text}"
    shown = re.search(rf"^{entry.severity}: {re.escape(entry.title)}: (.*)$", printed.text, re.M)
    assert shown is not None
    assert not repeats_title(entry.title, shown.group(1)), f"the message repeats its title: {shown.group(0)}"


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def repeats_title(title: str, message: str) -> bool:
    """Whether a message begins by saying its title again, as `error: Missing credentials: Missing credentials for
    index ...` did: one of its first two words shares a stem (its first 5 letters) with a word of the title (words
    of 4 letters or more). A message that begins with a placeholder (a file name, a status, a URL) does not begin
    with words of ours, and is not checked."""
    first_line = message.split("\n", 1)[0]
    if not first_line.lstrip("`'\" ")[:1].isalpha():
        return False
    lead = _PLACEHOLDER.split(first_line)[0]
    title_stems = {word.lower()[:5] for word in _WORD.findall(title) if len(word) >= 4}
    return any(word.lower()[:5] in title_stems for word in _WORD.findall(lead)[:2] if len(word) >= 4)


def test_no_readme_entry_repeats_its_title() -> None:
    """The terminal prints `error: <title>: <message>` and an annotation shows the title above the message: a
    message that starts with its title reads it twice."""
    assert repeats_title("Missing credentials", "Missing credentials for index `x` (https://h/). Looked for:")
    assert repeats_title("Cancelled", "Cancelled by SIGTERM: no new upload was started")
    assert repeats_title("Configuration error", "Invalid configuration:\n  - --retries is 'x'")
    assert repeats_title("Index not resolved", "Index not found: `x`.")
    assert repeats_title("Upload failed", "Uploading x.whl to https://h/ was redirected (308)")
    assert not repeats_title("Missing credentials", "No source gave a password or token for index `x`.")
    assert not repeats_title("Upload failed", "<file> already exists on <url>.")
    assert not repeats_title("Upload failed", "Could not upload x.whl to https://h/ after 4 attempt(s)")
    repeating = [f"{e.title}: {e.message}" for e in entries() if repeats_title(e.title, e.message)]
    assert repeating == []


def _error_titles() -> dict[str, str]:
    """Every error class's name -> its title."""
    import publisher.index.predict
    import publisher.report.cancel
    import publisher.report.errors

    titles: dict[str, str] = {}
    pending = [publisher.report.errors.PublishError]
    while pending:
        cls = pending.pop()
        titles[cls.__name__] = cls.title
        pending += cls.__subclasses__()
    assert {"Cancelled", "WouldFail", "MissingCredentialsError"} <= set(titles)  # the modules above define them
    return titles


def _text_of(node: ast.expr | None, constants: dict[str, str], assigned: dict[str, ast.expr]) -> str | None:
    """A message expression as a template, fields as `<field>`; None when it is not built from literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.sub(r"\{[a-z_]*\}", "<field>", node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else "<field>" for p in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text_of(node.left, constants, assigned)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _text_of(node.func.value, constants, assigned)
    if isinstance(node, ast.Name):
        if node.id in constants:
            return re.sub(r"\{[a-z_]*\}", "<field>", constants[node.id])
        if node.id in assigned:
            return _text_of(assigned[node.id], constants, {})
    return None


def _titled_messages() -> list[tuple[str, str, str]]:
    """(where, title, message template) for every error raised with a title and every titled annotation:
    `SomeError(message)`, `console.error(message, title=...)` / `.warning(...)`, and oidc's `fail(title, message)`."""
    titles = _error_titles()
    found = []
    for path in sorted((ROOT / "publisher").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            assigned = {
                target.id: node.value
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
                keyword = next((k.value for k in call.keywords if k.arg == "title"), None)
                title, message = None, None
                if name in titles and call.args:
                    title, message = titles[name], call.args[0]
                elif name in ("error", "warning") and isinstance(keyword, ast.Constant) and call.args:
                    title, message = str(keyword.value), call.args[0]
                elif name == "fail" and len(call.args) >= 2:
                    title, message = _text_of(call.args[0], constants, assigned), call.args[1]
                text = _text_of(message, constants, assigned) if message is not None else None
                if title and text:
                    found.append((f"{path.name}:{call.lineno}", title, text))
    return found


def test_no_message_in_the_source_repeats_its_title() -> None:
    found = _titled_messages()
    assert len(found) > 60, "the source scan found too few messages: has the code's shape changed?"
    repeating = [f"{where}: {title}: {text[:80]}" for where, title, text in found if repeats_title(title, text)]
    assert repeating == []


def _templates() -> list[str]:
    """Every string literal in publisher/**/*.py, with each f-string field and `{name}` format field as `\\x00`."""
    found = []
    for path in sorted((ROOT / "publisher").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                found.append(
                    "".join(
                        part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "\x00"
                        for part in node.values
                    )
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(re.sub(r"\{[a-z_]+\}", "\x00", node.value))
    return found


def _source_only() -> list[Entry]:
    """Entries no case produces; empty when the section cannot be read (the tests below then say why)."""
    try:
        produced = {entry_for(key) for key in CASES}
        return [e for e in entries() if e not in produced]
    except AssertionError:
        return []


@pytest.mark.parametrize("entry", _source_only(), ids=lambda e: e.message[:50])
def test_entries_not_produced_here_match_a_message_in_the_source(entry: Entry) -> None:
    """The literal parts of the docs' message appear, in order, in one message template of the code."""
    pattern = re.compile(".+?".join(re.escape(piece) for piece in entry.pieces()), re.S)
    assert any(pattern.search(template) for template in _templates()), (
        f"no message in publisher/**/*.py matches the troubleshooting entry `{entry.message}`"
    )


def test_the_section_covers_the_common_failures() -> None:
    assert len(entries()) >= 20
    assert len({e.message for e in entries()}) == len(entries()), "an entry is listed twice"
    produced = [entry_for(key) for key in CASES]  # each key picks exactly one entry
    assert len(set(produced)) == len(CASES) >= PRODUCED_AT_LEAST
    for required in (
        "No source gave a password or token",
        "Index not found:",
        "Index is missing a publish URL",
        "is not valid TOML",
        "No distributions (.whl or .tar.gz) found",
        "metadata says Name",
        "problem(s) in <n> file(s); nothing was uploaded:",
        "the release-age and one-sdist rules were not checked",
        "Refusing to send credentials over plain http",
        "the registry rejected the credentials",
        "(looking for files of",
        "already exists on <url>",
        "already exists on the index with different contents",
        "was redirected",
        "(after <n> attempts)",
        "token from GitHub for trusted publishing",
        "does not support trusted publishing",
        "refused to exchange GitHub's OIDC token",
    ):
        assert required in CASES, f"{required!r} must be produced for real, not only checked against the source"


def test_terminal_form_reads_workflow_commands() -> None:
    stdout = "::error title=Trusted publishing%3A token exchange refused::first line%0Asecond 100%25\nplain line"
    assert terminal_form(stdout) == (
        "error: Trusted publishing: token exchange refused: first line\nsecond 100%\nplain line"
    )


def test_placeholders_become_wildcards() -> None:
    entry = Entry("Index not found: `<index>`. Found indexes: <names> (in <file>).", "error", "No upload target", 2)
    printed = "error: No upload target: Index not found: `nope`. Found indexes: `a`, `b` (in pyproject.toml).\nhint"
    assert entry.pattern().search(printed)
    assert not entry.pattern().search(printed.replace("Found indexes", "Indexes found"))
