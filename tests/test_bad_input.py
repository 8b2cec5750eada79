"""Bad input is refused with exit 2 and a message that says what is wrong, where, and how to fix it.

Issue "Never half-publish, never overwrite, never leak": every problem that can be found before an upload must
be found before the first request. The index in each workspace points at a loopback tripwire that records every
connection, so "nothing was sent" is asserted, not assumed.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import run_action, run_cli

pytestmark = pytest.mark.timeout(120)

INDEX = "private-repo"
ENV_PREFIX = "UV_INDEX_PRIVATE_REPO"
CREDS = {f"{ENV_PREFIX}_USERNAME": "alice", f"{ENV_PREFIX}_PASSWORD": "Tr1pw1re-Passw0rd"}
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"


class Tripwire:
    """A loopback HTTP server that records every connection and request line; it should never see one."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.requests: list[str] = []
        tripwire = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                tripwire.requests.append(self.requestline)
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the lists above are the log."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                tripwire.connections.append(client_address)  # even a connection that never sends a request
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    server = Tripwire()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel and sdist, built once and copied into each case's workspace."""
    out = tmp_path_factory.mktemp("template-dists")
    wheel = Path(build_wheel(out, "demo-pkg", "1.0.0"))
    if wheel.name != WHEEL:  # the phrases below name the file; only the tags can differ, and nothing checks them
        wheel.rename(out / WHEEL)
    build_sdist(out, "demo-pkg", "1.0.0")
    assert sorted(p.name for p in out.iterdir()) == sorted([WHEEL, SDIST]), list(out.iterdir())
    return out


def pyproject_text(url: str, extra: str = "") -> str:
    return (
        '[project]\nname = "demo-pkg"\nversion = "1.0.0"\n\n'
        f'[[tool.uv.index]]\nname = "{INDEX}"\nurl = "{url}/simple/"\npublish-url = "{url}/"\nexplicit = true\n' + extra
    )


@pytest.fixture
def ws(tmp_path: Path, template: Path, tripwire: Tripwire) -> Path:
    """A checkout whose index `private-repo` is the tripwire, with a good wheel and sdist in dist/."""
    workspace = tmp_path / "workspace"
    (workspace / "dist").mkdir(parents=True)
    (workspace / "pyproject.toml").write_text(pyproject_text(tripwire.url))
    for dist in template.iterdir():
        shutil.copy(dist, workspace / "dist" / dist.name)
    return workspace


# -- helpers that break a workspace in one specific way ------------------------------------------------------------


def rewrite_wheel(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Copy a wheel member by member through `change` (None drops the member): build backends refuse to do this."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            data = change(name, old.read(name))
            if data is not None:
                new.writestr(name, data)
    return dst


def edit_metadata(ws: Path, edit: Callable[[bytes], bytes]) -> None:
    wheel = ws / "dist" / WHEEL
    moved = wheel.rename(ws / WHEEL)
    rewrite_wheel(moved, wheel, lambda name, data: edit(data) if name.endswith(".dist-info/METADATA") else data)
    moved.unlink()


def only_wheel(ws: Path) -> None:
    (ws / "dist" / SDIST).unlink()


def replace_in_file(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def setup_toml_error(ws: Path) -> None:
    (ws / "pyproject.toml").write_text('[project]\nname = "demo-pkg"\n[[tool.uv.index]\nname = "private-repo"\n')


def setup_no_publish_url(ws: Path) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('\n[[tool.uv.index]]\nname = "read-only"\nurl = "http://127.0.0.1:9/simple/"\n')


def setup_bad_index_entry(ws: Path) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('\n[[tool.uv.index]]\nname = "mirror"\nurl = "ftp://u:Entry-Passw0rd@mirror.example/simple/"\n')


def setup_nameless_index_entry(ws: Path) -> None:
    with (ws / "pyproject.toml").open("a") as f:
        f.write('\n[[tool.uv.index]]\nurl = "https://mirror.example/simple/"\n')


def setup_no_indexes(ws: Path) -> None:
    (ws / "pyproject.toml").write_text('[project]\nname = "demo-pkg"\nversion = "1.0.0"\n')


def setup_empty_dir(ws: Path) -> None:
    for dist in (ws / "dist").iterdir():
        dist.unlink()


def setup_missing_dir(ws: Path) -> None:
    shutil.rmtree(ws / "dist")


def setup_non_dists(ws: Path) -> None:
    setup_empty_dir(ws)
    (ws / "dist" / "README.txt").write_text("not a distribution\n")
    (ws / "dist" / "demo_pkg-1.0.0-py3-none-any.whl.sha256").write_text("0" * 64 + "\n")


def setup_corrupt_wheel(ws: Path) -> None:
    (ws / "dist" / WHEEL).write_bytes(b"PK\x03\x04 this is not really a zip archive")


def setup_wheel_without_metadata(ws: Path) -> None:
    wheel = ws / "dist" / WHEEL
    moved = wheel.rename(ws / WHEEL)
    rewrite_wheel(moved, wheel, lambda name, data: None if name.endswith(".dist-info/METADATA") else data)


def setup_name_mismatch(ws: Path) -> None:
    edit_metadata(ws, lambda data: data.replace(b"\nName: demo-pkg\n", b"\nName: other-pkg\n"))


def setup_version_mismatch(ws: Path) -> None:
    edit_metadata(ws, lambda data: data.replace(b"\nVersion: 1.0.0\n", b"\nVersion: 2.0.0\n"))


def setup_not_normalised(ws: Path) -> None:
    (ws / "dist" / WHEEL).rename(ws / "dist" / "Demo.Pkg-1.0.0-py3-none-any.whl")


def setup_zip_sdist(ws: Path) -> None:
    with zipfile.ZipFile(ws / "dist" / "demo_pkg-1.0.0.zip", "w") as archive:
        archive.writestr("demo_pkg-1.0.0/PKG-INFO", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n")


def setup_corrupt_sdist(ws: Path) -> None:
    (ws / "dist" / SDIST).write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")


def setup_empty_file(ws: Path) -> None:
    (ws / "dist" / WHEEL).write_bytes(b"")


def setup_unreadable(ws: Path) -> None:
    (ws / "dist" / WHEEL).chmod(0)


def setup_broken_symlink(ws: Path) -> None:
    (ws / "dist" / WHEEL).unlink()
    (ws / "dist" / WHEEL).symlink_to(ws / "gone" / WHEEL)


def setup_fifo(ws: Path) -> None:
    (ws / "dist" / WHEEL).unlink()
    os.mkfifo(ws / "dist" / WHEEL)  # opening it for reading would block forever, for root too


def setup_invalid_metadata(ws: Path) -> None:
    edit_metadata(
        ws, lambda data: data.replace(b"\nName: demo-pkg\n", b"\nName: demo-pkg\nRequires-Dist: httpx >>= 1\n")
    )


def setup_broken_rst(ws: Path) -> None:
    def edit(data: bytes) -> bytes:
        head, _, _ = data.partition(b"\n\n")
        head = b"\n".join(line for line in head.split(b"\n") if not line.startswith(b"Description-Content-Type"))
        return head + b"\nDescription-Content-Type: text/x-rst\n\nTitle\n=====\n\n.. no-such-directive::\n"

    edit_metadata(ws, edit)


# -- the table -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: how to produce it, and the phrases the message must contain (what, where, how to fix)."""

    id: str
    phrases: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=lambda: {"index": INDEX})
    args: tuple[str, ...] | None = None  # set: run the CLI with these arguments instead of the action
    env: dict[str, str] = field(default_factory=lambda: dict(CREDS))
    setup: Callable[[Path], None] | None = None
    code: int = 2
    root_can_read: bool = False  # chmod does not stop root: skip honestly rather than pass vacuously


def _with(**extra: str) -> dict[str, str]:
    return {"index": INDEX, **extra}


CASES = [
    Case(
        "toml-syntax-error",
        ("pyproject.toml is not valid TOML", "at line 3", "[[tool.uv.index]", "Fix the syntax"),
        setup=setup_toml_error,
    ),
    Case(
        "index-not-found",
        ("Index not found: `private_repo`", "Found indexes: `private-repo`", "Did you mean `private-repo`?"),
        inputs=_with(index="private_repo"),
    ),
    Case(
        "index-wrong-case",
        ("Index not found: `Private-Repo`", "Did you mean `private-repo`?", "case-sensitive"),
        inputs=_with(index="Private-Repo"),
    ),
    Case(
        "no-indexes-declared",
        ("No indexes were found, can't use index: `private-repo`", "[[tool.uv.index]]", 'name = "private-repo"'),
        setup=setup_no_indexes,
    ),
    Case(
        "invalid-index-name",
        ("Invalid index name `private repo`", "the `index` input", "ASCII letters, digits"),
        inputs=_with(index="private repo"),
    ),
    Case(
        "index-without-publish-url",
        ("Index is missing a publish URL: `read-only`", "Add `publish-url = "),
        inputs=_with(index="read-only"),
        setup=setup_no_publish_url,
    ),
    Case(
        "index-entry-invalid-fields",
        (
            "index `mirror` is invalid",
            "`url` = 'ftp://mirror.example/simple/'",
            "must be an http:// or https:// URL",
            "Each `[[tool.uv.index]]` entry needs",
        ),
        setup=setup_bad_index_entry,
    ),
    Case("index-entry-without-name", ("index `#2` is invalid", "`name` is missing"), setup=setup_nameless_index_entry),
    Case(
        "index-and-publish-url-conflict",
        (
            "Conflicting upload URLs",
            "index `private-repo`",
            "http://127.0.0.1:9/other/",
            "Set only one of the `index` and `publish-url` inputs",
        ),
        inputs=_with(**{"publish-url": "http://127.0.0.1:9/other/"}),
    ),
    Case(
        "missing-pyproject",
        ("nowhere/pyproject.toml not found", "working directory:", "point `pyproject`"),
        inputs=_with(pyproject="nowhere/pyproject.toml"),
    ),
    Case(
        "empty-packages-dir",
        ("No distributions (.whl or .tar.gz) found in dist", "Build them first"),
        setup=setup_empty_dir,
    ),
    Case(
        "missing-packages-dir",
        ("Packages directory build/out does not exist", "point the `packages-dir` input at"),
        inputs=_with(**{"packages-dir": "build/out"}),
    ),
    Case(
        "non-dist-files-only",
        ("Skipping dist/README.txt: not a wheel", "No distributions (.whl or .tar.gz) found"),
        setup=setup_non_dists,
    ),
    Case(
        "corrupt-wheel-zip",
        (f"dist/{WHEEL}: not a valid wheel (zip) file", "Rebuild the wheel"),
        setup=setup_corrupt_wheel,
    ),
    Case(
        "wheel-without-metadata",
        (f"dist/{WHEEL}: no *.dist-info/METADATA inside the wheel", "Rebuild the wheel"),
        setup=setup_wheel_without_metadata,
    ),
    Case(
        "metadata-name-mismatch",
        ("metadata says Name `other-pkg`, the file name says `demo-pkg`", "rebuild it instead"),
        setup=setup_name_mismatch,
    ),
    Case(
        "metadata-version-mismatch",
        ("metadata says Version `2.0.0`, the file name says `1.0.0`", "rebuild it instead"),
        setup=setup_version_mismatch,
    ),
    Case(
        "non-normalised-file-name",
        (
            "Demo.Pkg-1.0.0-py3-none-any.whl: the project name in the file name is not "
            "normalised (expected `demo_pkg`)",
            "Rebuild with a current build backend",
        ),
        setup=setup_not_normalised,
    ),
    Case(
        "zip-sdist",
        ("demo_pkg-1.0.0.zip: .zip source distributions are no longer accepted", "as .tar.gz"),
        setup=setup_zip_sdist,
    ),
    Case("corrupt-sdist", (f"dist/{SDIST}: not a valid .tar.gz sdist", "Rebuild the sdist"), setup=setup_corrupt_sdist),
    Case("zero-byte-file", (f"dist/{WHEEL}: the file is empty (0 bytes)", "Rebuild"), setup=setup_empty_file),
    Case(
        "unreadable-file",
        (f"dist/{WHEEL}: cannot be read: Permission denied", "may read it"),
        setup=setup_unreadable,
        root_can_read=True,
    ),
    Case(
        "broken-symlink",
        (f"dist/{WHEEL}: cannot be read: broken symbolic link", "Check that the file exists"),
        setup=setup_broken_symlink,
    ),
    Case("fifo-named-like-a-wheel", (f"dist/{WHEEL}: not a regular file", "not a pipe or device"), setup=setup_fifo),
    Case(
        "invalid-metadata",
        (
            "Preflight (basic rules): 1 problem(s) in 1 file(s)",
            "'httpx >>= 1' is invalid for 'requires-dist'",
            "`preflight: off`",
        ),
        setup=setup_invalid_metadata,
    ),
    Case(
        "broken-rst-description",
        (
            "The description failed to render for 'text/x-rst'.",
            'Unknown directive type "no-such-directive"',
            "Fix each problem above",
        ),
        setup=setup_broken_rst,
    ),
    Case(
        "password-without-username",
        ("`password` input is set but `username` input is not", "Set `username` input as well"),
        inputs=_with(password="Lonely-Passw0rd"),
    ),
    Case(
        "index-password-without-username",
        (f"{ENV_PREFIX}_PASSWORD is set but {ENV_PREFIX}_USERNAME is not", f"Set {ENV_PREFIX}_USERNAME as well"),
        env={f"{ENV_PREFIX}_PASSWORD": "Lonely-Passw0rd"},
    ),
    Case(
        "trusted-publishing-always-with-credentials",
        (
            "`trusted-publishing: always` forbids other credentials, and these are "
            f"configured: {ENV_PREFIX}_USERNAME / {ENV_PREFIX}_PASSWORD",
            "Remove those credentials",
        ),
        inputs=_with(**{"trusted-publishing": "always"}),
    ),
    Case(
        "invalid-boolean",
        ("`skip-existing` input is 'maybe': expected true or false", "step's `with:` block"),
        inputs=_with(**{"skip-existing": "maybe"}),
    ),
    Case(
        "unknown-trusted-publishing",
        ("`trusted-publishing` input is 'auto': expected one of: automatic, always, never",),
        inputs=_with(**{"trusted-publishing": "auto"}),
    ),
    Case(
        "invalid-retries",
        ("`retries` input is 'many': expected a whole number from 0 to 10",),
        inputs=_with(retries="many"),
    ),
    Case(
        "retries-too-high",
        ("`retries` input is '11': expected a whole number from 0 to 10",),
        inputs=_with(retries="11"),
    ),
    Case(
        "invalid-parallel",
        ("`parallel` input is '0': expected a whole number from 1 to 32",),
        inputs=_with(parallel="0"),
    ),
    Case(
        "several-bad-inputs-at-once",
        ("`verbose` input is 'loud'", "`dry-run` input is '2'", "`parallel` input is '-1'"),
        inputs=_with(verbose="loud", parallel="-1", **{"dry-run": "2"}),
    ),
    Case(
        "invalid-keyring-provider",
        ("`keyring-provider` input is 'gnome': expected one of: disabled, subprocess",),
        inputs=_with(**{"keyring-provider": "gnome"}),
    ),
    Case(
        "publish-url-not-http",
        (
            "`publish-url` input 'ftp://files.example/upload/' is not an http:// or https:// URL",
            "Give the registry's full upload URL",
        ),
        inputs={"publish-url": "ftp://files.example/upload/"},
    ),
    Case(
        "check-url-not-http",
        ("`check-url` input 'file:///srv/simple/' is not an http:// or https:// URL",),
        inputs=_with(**{"check-url": "file:///srv/simple/"}),
    ),
    Case(
        "credentials-over-plain-http",
        ("Refusing to send credentials over plain http to http://registry.invalid/", "allow-insecure-http: true"),
        inputs={"publish-url": "http://registry.invalid/", "username": "alice", "password": "Plain-Http-Passw0rd"},
        env={},
    ),
    Case(
        "credentials-over-plain-http-upper-case-scheme",
        ("Refusing to send credentials over plain http to HTTP://registry.invalid/", "allow-insecure-http: true"),
        inputs={"publish-url": "HTTP://registry.invalid/", "username": "alice", "password": "Plain-Http-Passw0rd"},
        env={},
    ),
    Case(
        "oidc-request-url-over-plain-http",
        (
            "Refusing to request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not an https:// URL (it points at "
            "http://token.invalid)",
            "GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL itself",
        ),
        inputs=_with(**{"trusted-publishing": "always"}),
        env={
            "ACTIONS_ID_TOKEN_REQUEST_URL": "HTTP://token.invalid/_apis/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "Req-T0ken",
        },
    ),
    Case(
        "publish-url-with-ambiguous-user-info",
        (
            "`publish-url` input 'https://***@registry.invalid/legacy/' is ambiguous: it has an `@` after the end",
            "Percent-encode those characters",
        ),
        inputs={"publish-url": "https://alice:Amb1g/uous@registry.invalid/legacy/"},
    ),
    Case(
        "index-url-with-ambiguous-user-info",
        ("index `private-repo` is invalid: `url` = 'https://***@registry.invalid/simple/': is ambiguous",),
        setup=lambda ws: replace_in_file(
            ws / "pyproject.toml", '\nurl = "http', '\nurl = "https://reader:Amb1g#uous@registry.invalid/simple/"\n#'
        ),
    ),
    Case(
        "cli-check-url-with-ambiguous-user-info",
        ("--check-url 'https://***@registry.invalid/simple/' is ambiguous",),
        args=("--index", INDEX),
        env={**CREDS, "UV_PUBLISH_CHECK_URL": "https://reader:Amb1g?uous@registry.invalid/simple/"},
    ),
    Case(
        "no-credentials",
        (
            "No source gave a password or token for index `private-repo`",
            f"{ENV_PREFIX}_USERNAME / {ENV_PREFIX}_PASSWORD",
            f"Set {ENV_PREFIX}_USERNAME and {ENV_PREFIX}_PASSWORD",
        ),
        env={},
    ),
    # The command line: same checks, flags named the way the user typed them.
    Case(
        "cli-duplicate-dist",
        (f"{WHEEL} is listed twice", "Name each distribution once"),
        args=("--index", INDEX, f"dist/{WHEEL}", f"dist/{WHEEL}"),
    ),
    Case(
        "cli-duplicate-through-glob", (f"{WHEEL} is listed twice",), args=("--index", INDEX, "dist/*", f"dist/{WHEEL}")
    ),
    Case(
        "cli-no-file-matches",
        ("No file matches `dist/*.whl`", "Build the distributions first"),
        args=("--index", INDEX, "dist/*.whl"),
        setup=setup_empty_dir,
    ),
    Case(
        "cli-fifo", (f"dist/{WHEEL}: not a regular file",), args=("--index", INDEX, f"dist/{WHEEL}"), setup=setup_fifo
    ),
    Case("cli-retries-not-a-number", ("argument --retries: invalid int value: 'x'",), args=("--retries", "x")),
    Case(
        "cli-retries-out-of-range",
        ("--retries is 11: expected a whole number from 0 to 10", "the command line"),
        args=("--index", INDEX, "--retries", "11"),
    ),
    Case(
        "cli-invalid-keyring-provider",
        ("argument --keyring-provider: invalid choice: 'gnome'",),
        args=("--keyring-provider", "gnome"),
    ),
    Case(
        "cli-password-without-username",
        ("--password is set but --username is not", "use --token instead"),
        args=("--index", INDEX, "-p", "Lonely-Passw0rd"),
    ),
    Case(
        "cli-unknown-index",
        ("Index not found: `privat-repo`", "Did you mean `private-repo`?"),
        args=("--index", "privat-repo"),
    ),
]


def unescape(text: str) -> str:
    """Undo the workflow-command escaping of annotation messages (`%0A` for a newline)."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_before_any_request(case: Case, ws: Path, tripwire: Tripwire) -> None:
    if case.root_can_read and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (broken-symlink and fifo cover it)")
    if case.setup is not None:
        case.setup(ws)
    env = {**NO_OIDC, **case.env}
    run = run_action(ws, case.inputs, env=env) if case.args is None else run_cli(list(case.args), cwd=ws, env=env)
    text = unescape(run.stdout) + "\n" + run.stderr

    assert run.returncode == case.code, text
    for phrase in case.phrases:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert "Traceback" not in text
    assert tripwire.connections == [], tripwire.requests


def test_tripwire_sees_a_real_run(ws: Path, tripwire: Tripwire) -> None:
    """The control: with nothing wrong, the run does reach the tripwire, so its silence above means something."""
    run = run_action(ws, {"index": INDEX, "retries": "0"}, env={**NO_OIDC, **CREDS})
    assert run.returncode == 1, run.stdout
    assert tripwire.connections
    assert any(line.startswith("POST / ") for line in tripwire.requests), tripwire.requests


def test_no_credentials_lists_every_name_in_order(ws: Path, tripwire: Tripwire) -> None:
    run = run_action(ws, {"index": INDEX}, env=NO_OIDC)
    assert run.returncode == 2
    text = unescape(run.stdout)
    expected = [
        "1. `token` input / UV_PUBLISH_TOKEN",
        "2. `username` input / `password` input",
        "3. UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD",
        f"4. {ENV_PREFIX}_USERNAME / {ENV_PREFIX}_PASSWORD",
        "5. user in the publish URL / password in the publish URL",
        "6. netrc",
        "7. keyring (`keyring-provider: disabled`)",
        "8. trusted publishing (`trusted-publishing: automatic`)",
    ]
    positions = [text.find(name) for name in expected]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
    assert f"({tripwire.url}/)" in text  # which index, and where it points
    assert tripwire.connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://registry.invalid/legacy/",
        "HTTP://registry.invalid/legacy/",  # the scheme, however it is spelt
        "Http://registry.invalid/legacy/",
    ],
)
def test_plain_http_is_refused_before_dns_or_a_client(
    url: str, tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`registry.invalid` must not even be resolved: the refusal comes before any socket or HTTP client exists."""
    import publisher.run
    from publisher.config.settings import build_settings
    from publisher.report.console import TerminalConsole

    touched: list[str] = []

    def forbidden(name: str) -> Callable[..., Any]:
        def trap(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            raise AssertionError(f"{name} called with {args!r}")

        return trap

    monkeypatch.setattr(socket, "getaddrinfo", forbidden("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", forbidden("create_connection"))
    monkeypatch.setattr(publisher.run, "make_client", forbidden("make_client"))
    shutil.copytree(template, tmp_path / "dist")
    settings = build_settings(
        {
            "publish-url": url,
            "username": "alice",
            "password": "Plain-Http-Passw0rd",
            "working-directory": str(tmp_path),
        }
    )
    code = publisher.run.main(settings, {"HOME": str(tmp_path)}, TerminalConsole())

    out = capsys.readouterr()
    assert code == 2
    assert f"Refusing to send credentials over plain http to {url}" in out.err
    assert touched == []
    assert "Plain-Http-Passw0rd" not in out.out + out.err
