"""The platform rules (tests/platforms.py) stay true to the suite, and the command line's lookups that differ between
operating systems work on each: the `keyring` command found on PATH (`keyring.exe` on Windows), a netrc in the home
directory, and file arguments written with the platform's own separators, as globs or absolute paths.

CI runs this module on Linux, macOS and Windows (ci.yml, jobs `test` and `cli-tests`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest, platforms
from tests.support.builders import Dists
from tests.support.runner import base_env, run_cli
from tests.support.servers import PypiServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# -- the rules -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collected(request: pytest.FixtureRequest) -> list[str]:
    """Every node id of the whole suite, as `pytest --collect-only` lists it (whatever subset runs now): this
    session's own collection when it was the whole suite, else a collection of its own (~5 s)."""
    ids = platforms.collected_ids(request.config)
    if ids is not None:
        return ids
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


@pytest.mark.parametrize("rule", platforms.RULES, ids=lambda rule: rule.reason[:40])
def test_every_pattern_still_names_a_test(rule: platforms.Rule, collected: list[str]) -> None:
    """A renamed or deleted test must not leave a rule that silently matches nothing."""
    for pattern in rule.tests:
        assert any(platforms.matches(pattern, nodeid) for nodeid in collected), f"{pattern} matches no test"
    for fixture in rule.fixtures:
        assert hasattr(conftest, fixture), f"no fixture {fixture} in tests/conftest.py"


def test_patterns_name_modules_directories_tests_and_parameters() -> None:
    nodeid = "tests/test_x.py::test_y[a-b]"
    for pattern in ("tests/", "tests/test_x.py", "tests/test_x.py::test_y", nodeid, "tests/test_x.py::*[a-*]"):
        assert platforms.matches(pattern, nodeid), pattern
    for pattern in ("tests/test_x", "tests/test_x.py::test_", "tests/test_x.py::test_y[a]", "test_x.py", "other/"):
        assert not platforms.matches(pattern, nodeid), pattern
    assert platforms.matches("tests/test_x.py::test_y[a]", "tests/test_x.py::test_y[a]")  # brackets are literal


def test_rules_depend_on_the_platform_and_skip_wins() -> None:
    cancel = "tests/report/test_cancel.py::test_signal_before_the_uploads_stops_at_once"
    assert platforms.rules_for(cancel, (), "linux") == []
    assert platforms.rules_for(cancel, (), "darwin") == []
    assert [r.expected_failure for r in platforms.rules_for(cancel, (), "win32")] == [False]
    uses_devpi = "tests/test_anything.py::test_new"
    assert platforms.rules_for(uses_devpi, ("devpi_index", "tmp_path"), "darwin")
    assert not platforms.rules_for(uses_devpi, ("pypiserver", "tmp_path"), "darwin")


# -- what the command line looks up differently on each platform -------------------------------------------------------


def _publish_args(server: PypiServer, *extra: str) -> list[str]:
    return ["--publish-url", server.upload_url, "--trusted-publishing", "never", "--parallel", "1", *extra]


def _copy(dists: Dists, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(dist, directory / dist.name)) for dist in dists]


def test_keyring_command_is_found_on_path(pypiserver: PypiServer, built_dists: Dists, tmp_path: Path) -> None:
    """keyring-provider subprocess: `keyring` (`keyring.exe` on Windows) from PATH answers for the URL and user."""
    keyring = shutil.which("keyring", path=str(BIN))
    assert keyring is not None, f"no keyring command in {BIN}"
    home = tmp_path / "home"
    home.mkdir()
    store = tmp_path / "keyring-data"
    env = base_env(
        home,
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "XDG_DATA_HOME": str(store),  # where keyrings.alt keeps its file on Linux and macOS
            "LOCALAPPDATA": str(store),  # and on Windows
        },
    )
    subprocess.run(
        [keyring, "set", pypiserver.upload_url, pypiserver.username],
        input=pypiserver.password + "\n",
        text=True,
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    _copy(built_dists, tmp_path / "dist")

    run = run_cli(
        _publish_args(pypiserver, "-u", pypiserver.username, "--keyring-provider", "subprocess"), cwd=tmp_path, env=env
    )

    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted(dist.name for dist in built_dists)
    assert pypiserver.password not in run.output


def test_netrc_in_the_home_directory(pypiserver: PypiServer, built_dists: Dists, tmp_path: Path) -> None:
    """No credentials but `~/.netrc` (the private home is HOME, and USERPROFILE on Windows)."""
    workspace = tmp_path / "workspace"
    _copy(built_dists, workspace / "dist")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(
        f"machine 127.0.0.1 login {pypiserver.username} password {pypiserver.password}\n", encoding="utf-8"
    )

    run = run_cli(_publish_args(pypiserver), cwd=workspace, env={"HOME": str(home)} | _windows_home(home))

    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted(dist.name for dist in built_dists)


def _windows_home(home: Path) -> dict[str, str]:
    return {"USERPROFILE": str(home)} if os.name == "nt" else {}


@pytest.mark.parametrize(
    "form",
    ["glob with the platform's separator", "glob with /", "absolute paths", "packages directory with separators"],
)
def test_file_arguments_in_the_platform_s_own_form(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path, form: str
) -> None:
    workspace = tmp_path / "workspace"
    wheel, sdist = _copy(built_dists, workspace / "build" / "out")
    if form == "glob with the platform's separator":
        files = [os.path.join("build", "out", "*.whl"), os.path.join("build", "out", "*.tar.gz")]
    elif form == "glob with /":
        files = ["build/out/*"]
    elif form == "absolute paths":
        files = [str(wheel), str(sdist)]
    else:
        files = ["--packages-dir", os.path.join("build", "out")]
    creds = ["-u", pypiserver.username, "-p", pypiserver.password]

    run = run_cli(_publish_args(pypiserver, *creds, *files), cwd=workspace, env={})

    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted([wheel.name, sdist.name])
