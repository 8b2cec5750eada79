"""A check URL's listing as hostile text: hash values that are not digests, a read password echoed back in another
case, and HTML built to be slow to parse. End to end through the command line and the action, measured, against
tests/fakes/hostile.py."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from publisher.report.console import ActionsConsole
from publisher.report.github_limits import ANNOTATION_CAP, SUMMARY_CAP
from tests.fakes.hostile import Answer, HostileServer
from tests.support.builders import build_wheel
from tests.support.runner import CliRun, run_action, run_cli

pytestmark = [pytest.mark.timeout(90), pytest.mark.serial]  # wall-time bounds

MIB = 1024 * 1024
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
FAST = {"PUBLISHER_REQUEST_DEADLINE": "5", "PUBLISHER_RETRY_BASE_DELAY": "0.01"}
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
HOSTILE_HASH = "\x1b[31mRED\x1b[0m\n::error::forged\u202eexe.txt"
# A read password that is hex of a sha256's length, in upper case: an index echoing it lower-cased as a "digest"
# gets past a case-sensitive mask.
HEX_PASSWORD = "ABCDEF0123456789" * 4


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-listing")
    (root / "dist").mkdir()
    build_wheel(root / "dist", "demo-pkg", "1.0.0")
    return root


def _listing(hashes: dict[str, object]) -> Answer:
    entry = {"filename": WHEEL, "url": f"/files/{WHEEL}", "hashes": hashes}
    return Answer.json(200, {"meta": {"api-version": "1.1"}, "files": [entry]}, "application/vnd.pypi.simple.v1+json")


def _cli(project: Path, server: HostileServer, *extra: str, password: str = "pw") -> CliRun:  # noqa: S107
    args = ["--publish-url", f"{server.url}/legacy/", "--check-url", f"{server.url}/simple/", "-u", "alice"]
    return run_cli([*args, "-p", password, "--retries", "0", *extra], project, FAST, timeout=60, measure=True)


def test_a_hash_that_is_not_a_digest_is_named_never_quoted(project: Path) -> None:
    """Escapes, a newline and a right-to-left override in a listing's sha256: the run says it is not a digest and
    compares by downloading the file; not one character of the value reaches the output."""
    wheel = (project / "dist" / WHEEL).read_bytes()
    routes = {
        "/simple/demo-pkg/": _listing({"sha256": HOSTILE_HASH}),
        f"/files/{WHEEL}": Answer(200, {"Content-Type": "application/zip"}, wheel),
    }
    with HostileServer(routes) as registry:
        run = _cli(project, registry, "--skip-existing")
    assert run.returncode == 0, run.output
    assert "with a sha256 that is not a sha256 digest (not 64 hexadecimal digits)" in run.stderr
    assert "skipped" in run.output
    for fragment in ("\x1b", "RED", "forged", "\u202e", "exe.txt"):
        assert fragment not in run.output, fragment
    assert registry.paths() == ["/simple/demo-pkg/", f"/files/{WHEEL}"]  # compared by the file's bytes


def test_a_huge_hash_costs_neither_the_summary_nor_the_annotations(project: Path, tmp_path: Path) -> None:
    """A 5 MB "sha256" with other contents on the index: the run fails as it should, its summary and annotations
    stay small, and nothing of the value is shown."""
    routes = {
        "/simple/demo-pkg/": _listing({"sha256": "f" * (5 * 1000 * 1000)}),
        f"/files/{WHEEL}": Answer(200, {"Content-Type": "application/zip"}, b"other bytes"),
    }
    workspace = tmp_path / "workspace"
    shutil.copytree(project, workspace)
    with HostileServer(routes) as registry:
        inputs = {
            "publish-url": f"{registry.url}/legacy/",
            "check-url": f"{registry.url}/simple/",
            "skip-existing": "true",
            "username": "alice",
            "password": "pw",
            "retries": "0",
        }
        run = run_action(workspace, inputs, {**FAST, **NO_OIDC}, measure=True)
    assert run.returncode == 1, run.output
    assert "already exists on the index with different contents" in run.output
    assert "fffff" not in run.output
    assert "fffff" not in run.summary
    assert len(run.summary.encode()) < 64 * 1024
    assert max(len(line) for line in run.stdout.splitlines()) < ANNOTATION_CAP + 1000
    assert registry.paths("POST") == []


def test_a_read_password_echoed_lower_case_as_a_digest_is_redacted(project: Path) -> None:
    echoed = HEX_PASSWORD.lower()
    routes = {"/simple/demo-pkg/": _listing({"sha256": echoed})}
    with HostileServer(routes) as registry:
        run = _cli(project, registry, "--skip-existing", password=HEX_PASSWORD)
    assert run.returncode == 1, run.output
    assert "already exists on the index with different contents: the index has sha256:***" in run.stderr
    assert echoed not in run.output.lower()


def _hostile_html(size: int) -> bytes:
    """`<a>` over and over: the slowest page for a tag reader (html.parser takes ~2 s of CPU per MiB of it)."""
    return b"<html><head><title>Links for demo-pkg</title></head><body>" + b"<a>" * (size // 3)


def test_parsing_a_hostile_html_listing_ends_with_confirm_timeout(project: Path) -> None:
    """The registry accepts (202) and its check URL serves 24 MiB of `<a>`: the confirmation ends near its
    confirm-timeout of 5 s (parsing stops at it, plus a grace of 2 s), not minutes later."""
    page = _hostile_html(24 * MIB)
    routes = {
        "/legacy/": Answer.text(202, "Accepted"),
        "/simple/demo-pkg/": Answer(200, {"Content-Type": "text/html"}, page),
    }
    with HostileServer(routes) as registry:
        run = _cli(project, registry, "--confirm-timeout", "5")
    assert run.returncode == 1, run.output
    assert "accepted, not confirmed" in run.output
    assert "could not be parsed in the time allowed" in run.output
    assert run.seconds is not None
    assert run.seconds < 15, f"the run took {run.seconds:.1f} s:\n{run.output}"


def test_a_normal_multi_mib_html_listing_is_still_read(project: Path) -> None:
    """A real-looking page of 40,000 files (~6 MiB), the wheel among them with its sha256: skipped as identical."""
    wheel = (project / "dist" / WHEEL).read_bytes()
    digest = hashlib.sha256(wheel).hexdigest()
    rows = [
        f'<a href="/files/demo_pkg-0.{n}-py3-none-any.whl#sha256={"0" * 64}" data-requires-python="&gt;=3.9">'
        f"demo_pkg-0.{n}-py3-none-any.whl</a><br>\n"
        for n in range(40_000)
    ]
    rows.append(f'<a href="/files/{WHEEL}#sha256={digest}">{WHEEL}</a><br>\n')
    page = "<html><body><h1>Links for demo-pkg</h1>\n" + "".join(rows) + "</body></html>"
    assert len(page) > 5 * MIB
    with HostileServer({"/simple/demo-pkg/": Answer.html(200, page)}) as registry:
        run = _cli(project, registry, "--skip-existing")
    assert run.returncode == 0, run.output
    assert "skipped" in run.output
    assert registry.paths("POST") == []


def test_the_summary_never_exceeds_githubs_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever is appended, the step summary file stays within 1 MiB and says where it was cut."""
    path = tmp_path / "summary.md"
    path.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))  # where github-action-utils writes
    console = ActionsConsole(environ={"GITHUB_STEP_SUMMARY": str(path)})
    console.summary("### first\n\n" + "| a | b |\n" * 1000)
    console.summary("```\n" + ("x" * 100 + "\n") * 20_000 + "```\n")
    console.summary("### never shown\n")
    text = path.read_text()
    assert len(text.encode()) <= SUMMARY_CAP
    assert text.startswith("### first")
    assert "The rest of this summary was cut" in text
    assert text.count("```") % 2 == 0  # the note is not inside a code block
    assert "never shown" not in text
