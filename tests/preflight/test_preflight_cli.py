"""Preflight end to end: the CLI and the action against the local pypiserver, with files that each break one of
PyPI's rules. A refusal is exit 2 with every problem of every file listed in PyPI's words, and nothing is stored;
the dry run says the same; `basic` (any other index) takes what only PyPI refuses. The release rules are asked of a
local fake JSON API; not being able to ask it is a warning, never a refusal."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.dists.collect import load
from publisher.preflight.remote import json_url, release_problems
from tests.fakes import FakeServer, Request, Response
from tests.support.builders import Dists, build_project, make_workspace
from tests.support.dist_edits import add_header, rename, rewrite_sdist
from tests.support.runner import run_action, run_cli
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(180)

INDEX = "private-repo"
PREFIX = "UV_INDEX_PRIVATE_REPO"
LINUX = "demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl"
PRIVATE = "private_pkg-2.0.0-py3-none-any.whl"
LICENSED = "demo_pkg-1.0.0.tar.gz"


def _creds(server: PypiServer) -> dict[str, str]:
    return {f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": server.password}


@pytest.fixture
def broken(tmp_path: Path) -> list[Path]:
    """Three files, each breaking one PyPI rule: a platform tag, a `Private ::` classifier, a missing License-File."""
    demo = build_project(tmp_path / "demo")
    private = build_project(
        tmp_path / "private", "private-pkg", "2.0.0", extra_metadata='classifiers = ["Private :: Do Not Upload"]'
    )
    rewrite_sdist(demo.sdist, metadata=add_header("License-File: LICENSE"))
    return [rename(demo.wheel, LINUX), private.wheel, demo.sdist]


def _workspace(root: Path, server: PypiServer, dists: list[Path], simple_url: str | None = None) -> Path:
    return make_workspace(
        root, simple_url=simple_url or server.simple_url, upload_url=server.upload_url, dists=dists, index_name=INDEX
    )


def _assert_every_problem_listed(text: str) -> None:
    assert "Preflight (pypi rules): 3 problem(s) in 3 file(s); nothing was uploaded:" in text, text
    assert f"Binary wheel '{LINUX}' has an unsupported platform tag 'linux_x86_64'." in text
    assert "'Private :: Do Not Upload' is not a valid classifier." in text
    assert f"License-File LICENSE does not exist in distribution file {LICENSED} at demo_pkg-1.0.0/LICENSE" in text
    assert "rule: warehouse/forklift/legacy.py" in text
    assert "rule: warehouse/forklift/metadata.py" in text


def test_every_problem_of_every_file_is_refused_before_anything_is_sent(
    pypiserver: PypiServer, broken: list[Path], tmp_path: Path
) -> None:
    workspace = _workspace(tmp_path / "ws", pypiserver, broken)
    for dry_run in ([], ["--dry-run"]):
        run = run_cli(["--index", INDEX, "--preflight", "pypi", *dry_run], cwd=workspace, env=_creds(pypiserver))
        text = run.stdout + run.stderr
        assert run.returncode == 2, text
        _assert_every_problem_listed(text)
        assert "error: Files break the index's rules: Preflight (pypi rules)" in text
        assert pypiserver.files() == []


def test_any_other_index_takes_what_only_pypi_refuses(
    pypiserver: PypiServer, broken: list[Path], tmp_path: Path
) -> None:
    """`auto` against an index that is not PyPI applies the index-neutral rules only: all three go up."""
    workspace = _workspace(tmp_path / "ws", pypiserver, broken)
    run = run_cli(["--index", INDEX], cwd=workspace, env=_creds(pypiserver))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Preflight (basic rules: 3 file(s) passed)." in run.stdout
    assert pypiserver.files() == sorted(p.name for p in broken)


def test_the_action_input_and_the_job_summary(pypiserver: PypiServer, broken: list[Path], tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", pypiserver, broken)
    run = run_action(workspace, {"index": INDEX, "preflight": "pypi"}, env=_creds(pypiserver))
    assert run.returncode == 2, run.stdout
    assert "**Preflight**: pypi rules: refused" in run.summary
    assert f"- `{LINUX}: Binary wheel '{LINUX}' has an unsupported platform tag 'linux_x86_64'.`" in run.summary
    assert pypiserver.files() == []

    good = _workspace(tmp_path / "good", pypiserver, [broken[1]])
    passed = run_action(good, {"index": INDEX, "preflight": "basic"}, env=_creds(pypiserver))
    assert passed.returncode == 0, passed.stdout
    assert "**Preflight**: basic rules: 1 file(s) passed" in passed.summary


def test_verify_metadata_false_is_preflight_off(pypiserver: PypiServer, broken: list[Path], tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", pypiserver, broken)
    run = run_action(
        workspace, {"index": INDEX, "preflight": "pypi", "verify-metadata": "false"}, env=_creds(pypiserver)
    )
    assert run.returncode == 0, run.stdout
    assert "**Preflight**: off: no checks" in run.summary
    assert len(pypiserver.files()) == 3


# -- the release rules, asked of a JSON API ------------------------------------------------------------------------


class FakeJsonApi(FakeServer):
    """A Simple API that lists nothing and a JSON API that answers what `releases` holds for a release."""

    def __init__(self, releases: dict[str, list[dict[str, str]]], status: int = 200) -> None:
        super().__init__()
        self.releases, self.status = releases, status

    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return Response.text(405, "read only")
        if request.path.startswith("/simple/"):
            return Response.text(404, "not found")
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "pypi" or parts[3] != "json":
            return Response.text(404, "not found")
        if self.status != 200:
            return Response.text(self.status, "unavailable")
        files = self.releases.get(f"{parts[1]}=={parts[2]}")
        return Response.text(404, "no such release") if files is None else Response.json(200, {"urls": files})


def _file(name: str, kind: str, days_ago: float) -> dict[str, str]:
    when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    return {"filename": name, "packagetype": kind, "upload_time_iso_8601": when}


def _run(workspace: Path, server: PypiServer, *extra: str) -> tuple[int, str]:
    run = run_cli(["--index", INDEX, "--preflight", "pypi", *extra], cwd=workspace, env=_creds(server))
    return run.returncode, run.stdout + run.stderr


def test_a_release_too_old_for_new_files_and_a_second_sdist(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    release = [
        _file("demo_pkg-1.0.0-cp311-cp311-win_amd64.whl", "bdist_wheel", 30),
        _file("demo-pkg-1.0.0.tar.gz", "sdist", 30),
    ]
    with FakeJsonApi({"demo-pkg==1.0.0": release}) as api:
        workspace = _workspace(tmp_path / "ws", pypiserver, list(built_dists), simple_url=f"{api.url}/simple/")
        code, text = _run(workspace, pypiserver)
        asked = [r.path for r in api.requests]
    assert code == 2, text
    assert "Preflight (pypi rules): 2 problem(s) in 2 file(s)" in text
    assert "Uploading new files to releases older than 14 days is not allowed." in text
    assert asked == ["/pypi/demo-pkg/1.0.0/json"]  # once for the release, before anything else
    assert pypiserver.files() == []

    recent = [_file("demo-pkg-1.0.0.tar.gz", "sdist", 1)]
    with FakeJsonApi({"demo-pkg==1.0.0": recent}) as api:
        workspace = _workspace(tmp_path / "ws2", pypiserver, list(built_dists), simple_url=f"{api.url}/simple/")
        code, text = _run(workspace, pypiserver)
    assert code == 2, text
    assert f"{built_dists.sdist.name}: Only one sdist may be uploaded per release." in text
    assert "1 problem(s) in 1 file(s)" in text  # the wheel may still be added to a recent release


def test_a_json_api_that_cannot_be_asked_is_a_warning(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    with FakeJsonApi({}, status=503) as api:
        workspace = _workspace(tmp_path / "ws", pypiserver, list(built_dists), simple_url=f"{api.url}/simple/")
        code, text = _run(workspace, pypiserver)
    assert code == 0, text
    assert "warning: Release rules not checked: Preflight could not ask http://127.0.0.1:" in text
    assert "(HTTP 503); the release-age and one-sdist rules were not checked." in text
    assert pypiserver.files() == sorted(p.name for p in built_dists)


def test_release_rules_leave_files_already_there_to_skip_existing(tmp_path: Path) -> None:
    dists = [load(p) for p in build_project(tmp_path)]
    now = datetime.now(UTC)
    held = [_file(d.filename, d.filetype, 400) for d in dists]
    assert release_problems(dists, held, now) == []  # the same names: skip-existing's (or the duplicate's) business
    assert release_problems(dists, [], now) == []  # a new release
    fresh_wheel = [_file("demo_pkg-1.0.0-py3-none-win32.whl", "bdist_wheel", 13)]
    assert release_problems(dists, fresh_wheel, now) == []


def test_an_odd_json_answer_is_no_crash(tmp_path: Path) -> None:
    dists = [load(p) for p in build_project(tmp_path)]
    odd: list[dict[str, object]] = [
        {"filename": ["a"], "packagetype": {"x": 1}, "upload_time_iso_8601": 5},
        {"filename": None, "upload_time_iso_8601": "not a date"},
        {"packagetype": "sdist", "upload_time_iso_8601": "2001-01-01T00:00:00"},
    ]
    found = release_problems(dists, odd, datetime.now(UTC))
    assert [p.rule for p in found] == 2 * ["Uploading new files to releases older than 14 days is not allowed."]


def test_the_json_api_url_sits_beside_the_simple_api() -> None:
    assert json_url("https://pypi.org/simple/", "Demo.Pkg", "1.0") == "https://pypi.org/pypi/demo-pkg/1.0/json"
    assert json_url("https://u:p@h.example/repo/simple", "x", "2") == "https://h.example/repo/pypi/x/2/json"
    assert json_url("https://h.example/api/packages/", "x", "2") is None
    assert (
        json.dumps(json_url("http://127.0.0.1:1/simple/", "a_b", "1!2.0"))
        == '"http://127.0.0.1:1/pypi/a-b/1%212.0/json"'
    )


def test_every_file_that_cannot_be_read_is_named_at_once(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    """The checks before preflight (a file name that disagrees with its metadata, an empty file) list every bad file
    too, not the first one only."""
    renamed = tmp_path / "demo_pkg-2.0.0-py3-none-any.whl"
    shutil.copy(built_dists.wheel, renamed)
    empty = tmp_path / "other_pkg-1.0.0.tar.gz"
    empty.write_bytes(b"")
    workspace = _workspace(tmp_path / "ws", pypiserver, [renamed, empty, built_dists.sdist])
    run = run_cli(["--index", INDEX], cwd=workspace, env=_creds(pypiserver))
    text = run.stdout + run.stderr
    assert run.returncode == 2, text
    assert "2 files cannot be uploaded; nothing was uploaded:" in text
    assert "demo_pkg-2.0.0-py3-none-any.whl: metadata says Version `1.0.0`, the file name says `2.0.0`." in text
    assert "other_pkg-1.0.0.tar.gz: the file is empty (0 bytes). Rebuild the distribution." in text
    assert pypiserver.files() == []
