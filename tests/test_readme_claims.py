"""What the docs say about the command line and about uv holds (issue 13): docs/command-line.md's flag list is the
parser's, and README.md's "Why" says what uv does with `UV_INDEX_<NAME>_*`, measured here with the uv in the test
environment against two pypiserver instances on loopback."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from publisher.__main__ import parser
from tests.support.builders import Dists, make_workspace
from tests.support.runner import base_env
from tests.support.servers import PypiServer, executable

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMMAND_LINE = ROOT / "docs" / "command-line.md"


def _section(path: Path, heading: str) -> str:
    text = "\n" + path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_flag_list_names_every_flag_of_the_command_line() -> None:
    match = re.search(r"^Flags: (.+?)\.\n", _section(COMMAND_LINE, "# Command line"), re.S | re.M)
    assert match is not None, "docs/command-line.md has no `Flags: ...` list"
    listed = set(re.findall(r"`(-[^`]+)`", match.group(1)))
    for action in parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        spelled = "/".join(sorted(action.option_strings, key=len))  # `-u/--username`
        assert spelled in listed, f"docs/command-line.md's flag list lacks `{spelled}`"


@pytest.mark.timeout(180)
def test_why_says_exactly_what_uv_does_with_the_index_variables(built_dists: Dists, tmp_path: Path) -> None:
    """README's Why, and the measurement behind it: uv's upload works when publish-url is on the index url's host
    (scheme, host and port), and fails with "Missing credentials for: URL", naming no variable, when it is on
    another."""
    why = _section(README, "## Why")
    assert "ignores those variables" not in why
    measured = re.search(r"uv (\d+\.\d+\.\d+)", why)
    assert measured is not None, "the Why section names the uv version it measured"
    assert "credential cache" in why
    assert "Missing credentials for: <publish-url>" in why
    assert "same host" in why
    _measure_uv(built_dists, tmp_path)


def _uv_publish(workspace: Path, server: PypiServer) -> subprocess.CompletedProcess[str]:
    uv = executable("uv")  # a test dependency, in the venv
    with tempfile.TemporaryDirectory(prefix="uv-home-") as home:
        env = base_env(
            Path(home),
            {
                "XDG_CONFIG_HOME": home,  # no user uv.toml
                "UV_CACHE_DIR": str(Path(home) / "cache"),
                "UV_INDEX_PRIVATE_REPO_USERNAME": server.username,
                "UV_INDEX_PRIVATE_REPO_PASSWORD": server.password,
            },
        )
        argv = [uv, "publish", "--index", "private-repo", "--trusted-publishing", "never"]
        return subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True, timeout=120, check=False)


def _measure_uv(built_dists: Dists, tmp_path: Path) -> None:
    with PypiServer(workdir=tmp_path / "a") as reading, PypiServer(workdir=tmp_path / "b") as other:
        same = make_workspace(
            tmp_path / "same",
            simple_url=reading.simple_url,
            upload_url=reading.upload_url,
            dists=list(built_dists),
        )
        worked = _uv_publish(same, reading)
        assert worked.returncode == 0, worked.stdout + worked.stderr
        assert reading.files() == sorted(d.name for d in built_dists)

        elsewhere = make_workspace(
            tmp_path / "elsewhere",
            simple_url=f"{reading.url}/nothing-here/",  # the index `url` on the first server: not the upload's host
            upload_url=other.upload_url,
            dists=list(built_dists),
        )
        failed = _uv_publish(elsewhere, other)
        assert failed.returncode != 0, failed.stdout + failed.stderr
        assert f"Missing credentials for: {other.upload_url}" in failed.stderr
        assert "UV_INDEX" not in failed.stderr
        assert other.files() == []
