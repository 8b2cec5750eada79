"""The test bed proves itself with other people's clients (twine, pip, devpi), never with our publisher.

If these pass, a failing publisher test points at the publisher: the servers really store what is uploaded, really
refuse bad passwords with the registry's own status, the dists really install, and the runner really hands the
entrypoint a clean Actions-like environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.support.builders import Dists, build_project, module_name
from tests.support.runner import base_env, parse_file_commands, pip_install, run_action, run_installed
from tests.support.servers import DevpiIndex, DevpiServer, PypiServer, ServerError

pytestmark = pytest.mark.timeout(120)


def twine_upload(url: str, username: str, password: str, files: Sequence[Path], home: Path) -> str:
    """Upload with the real twine; returns its output and raises AssertionError with it when twine fails."""
    result = _twine(url, username, password, files, home)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _twine(
    url: str, username: str, password: str, files: Sequence[Path], home: Path
) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)  # empty HOME: no ~/.pypirc, no keyring
    argv = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar", "--verbose"]
    argv += ["--repository-url", url, "-u", username, "-p", password, *map(str, files)]
    env = base_env(home, {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def assert_installs_and_imports(simple_url: str, target: Path, name: str = "demo-pkg", version: str = "1.0.0") -> None:
    """pip installs `name==version` from the index alone, and the installed module is the one imported."""
    pip_install(simple_url, f"{name}=={version}", target)
    module = module_name(name)
    result = run_installed(target, f"import {module} as m; print(m.__version__); print(m.hello()); print(m.__file__)")
    assert result.returncode == 0, result.stderr
    got_version, greeting, location = result.stdout.splitlines()
    assert got_version == version
    assert greeting == f"hello from {name} {version}"
    assert Path(location).is_relative_to(target)


def raw_post(url: str, authorization: str | None = None) -> tuple[int, dict[str, str]]:
    """A bare multipart POST with no file: enough to see how the server treats the credentials alone.

    Header names come back lower-cased (servers differ: waitress sends `Www-Authenticate`)."""
    boundary = "testbedboundary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n--{boundary}--\r\n'
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


# -- builds ------------------------------------------------------------------------------------------------------------


def test_built_dists_are_real_and_reproducible(built_dists: Dists, tmp_path: Path) -> None:
    wheel, sdist = built_dists
    assert wheel.name == "demo_pkg-1.0.0-py3-none-any.whl"
    assert sdist.name == "demo_pkg-1.0.0.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.testzip() is None
        metadata = archive.read("demo_pkg-1.0.0.dist-info/METADATA").decode()
        assert "demo_pkg/__init__.py" in archive.namelist()
    assert "Name: demo-pkg\n" in metadata
    assert "Version: 1.0.0\n" in metadata
    assert "Requires-Python: >=3.8" in metadata
    assert "A package built by the publish-dists test bed." in metadata  # the README is the long description
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert {
        "demo_pkg-1.0.0/PKG-INFO",
        "demo_pkg-1.0.0/pyproject.toml",
        "demo_pkg-1.0.0/src/demo_pkg/__init__.py",
    } <= set(names)

    again = build_project(tmp_path / "again")
    assert again.wheel.read_bytes() == wheel.read_bytes()
    other = build_project(tmp_path / "other", readme="Another README, so other bytes under the same name.\n")
    assert (other.wheel.name, other.sdist.name) == (wheel.name, sdist.name)
    assert other.wheel.read_bytes() != wheel.read_bytes()
    assert other.sdist.read_bytes() != sdist.read_bytes()


def test_dist_factory_builds_other_names_and_versions(dist_factory: Callable[..., Dists]) -> None:
    dists = dist_factory("Other.Name_pkg", "2.0.1rc1", extra_metadata='license = "MIT"')
    assert dists.wheel.name == "other_name_pkg-2.0.1rc1-py3-none-any.whl"
    assert dists.sdist.name == "other_name_pkg-2.0.1rc1.tar.gz"
    with zipfile.ZipFile(dists.wheel) as archive:
        metadata = archive.read("other_name_pkg-2.0.1rc1.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata


# -- pypiserver --------------------------------------------------------------------------------------------------------


def test_pypiserver_stores_what_twine_uploads_and_pip_installs_it(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    assert pypiserver.files() == []
    twine_upload(pypiserver.upload_url, pypiserver.username, pypiserver.password, built_dists, tmp_path / "home")

    assert pypiserver.files() == sorted(p.name for p in built_dists)
    for dist in built_dists:
        assert pypiserver.read(dist.name) == dist.read_bytes()
    assert_installs_and_imports(pypiserver.simple_url, tmp_path / "site")


def test_pypiserver_refuses_a_wrong_password_with_403(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    result = _twine(pypiserver.upload_url, pypiserver.username, "Wr0ng-Passw0rd", [built_dists.wheel], tmp_path / "h")
    assert result.returncode != 0
    assert "403 Forbidden" in result.stdout + result.stderr
    assert pypiserver.files() == []
    status, headers = raw_post(pypiserver.upload_url)  # no credentials at all: a challenge, not a refusal
    assert status == 401
    assert headers.get("www-authenticate", "").startswith("Basic")


def test_pypiserver_add_user_works_while_running(pypiserver: PypiServer, built_dists: Dists, tmp_path: Path) -> None:
    token = pypiserver.add_user("__token__", "pypi-testbed-token-123")
    assert token == "pypi-testbed-token-123"
    twine_upload(pypiserver.upload_url, "__token__", token, [built_dists.wheel], tmp_path / "home")
    assert pypiserver.files() == [built_dists.wheel.name]


def test_pypiserver_without_authentication(tmp_path: Path, built_dists: Dists) -> None:
    with PypiServer(workdir=tmp_path / "open", authenticate=".") as server:
        twine_upload(server.upload_url, "anyone", "anything", [built_dists.sdist], tmp_path / "home")
        assert server.files() == [built_dists.sdist.name]


def test_pypiserver_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    server = PypiServer(workdir=tmp_path / "broken", extra_args=["--no-such-option"])
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"(?s)exited with status 2.*--no-such-option"):
        server.start()
    assert time.monotonic() - started < 10  # fails fast instead of waiting for the timeout
    assert not server.is_running()


def test_stop_kills_the_server(tmp_path: Path) -> None:
    server = PypiServer(workdir=tmp_path / "short-lived").start()
    pid, port = server.pid, server.port
    assert pid is not None
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


# -- devpi -------------------------------------------------------------------------------------------------------------


def test_devpi_stores_what_twine_uploads_and_pip_installs_it(
    devpi: DevpiServer, devpi_index: DevpiIndex, built_dists: Dists, tmp_path: Path
) -> None:
    assert devpi_index.upload_url == devpi.upload_url_for(devpi_index.name)
    assert devpi_index.simple_url == devpi.simple_url_for(devpi_index.name)
    assert devpi_index.files() == []
    twine_upload(devpi_index.upload_url, devpi_index.username, devpi_index.password, built_dists, tmp_path / "home")

    assert devpi_index.files() == sorted(p.name for p in built_dists)
    assert devpi.files(devpi_index.name) == devpi_index.files()
    assert devpi_index.read(built_dists.wheel.name) == built_dists.wheel.read_bytes()
    assert_installs_and_imports(devpi_index.simple_url, tmp_path / "site")


def test_devpi_refuses_a_wrong_password_with_401(devpi_index: DevpiIndex, built_dists: Dists, tmp_path: Path) -> None:
    result = _twine(devpi_index.upload_url, devpi_index.username, "Wr0ng-Passw0rd", [built_dists.wheel], tmp_path / "h")
    assert result.returncode != 0
    assert "401 Unauthorized" in result.stdout + result.stderr
    assert devpi_index.files() == []


def test_devpi_index_is_fresh_and_non_volatile(devpi_index: DevpiIndex, built_dists: Dists, tmp_path: Path) -> None:
    """An identical re-upload is accepted (200); other bytes under a taken name are refused (409)."""
    creds = (devpi_index.upload_url, devpi_index.username, devpi_index.password)
    twine_upload(*creds, [built_dists.wheel], tmp_path / "home")
    twine_upload(*creds, [built_dists.wheel], tmp_path / "home")
    other = build_project(tmp_path / "other", readme="Different bytes, same file name.\n")
    result = _twine(*creds, [other.wheel], tmp_path / "home")
    assert result.returncode != 0
    assert "409 Conflict" in result.stdout + result.stderr
    assert devpi_index.read(built_dists.wheel.name) == built_dists.wheel.read_bytes()


# -- the runner --------------------------------------------------------------------------------------------------------

FAKE_ENTRYPOINT = """\
import json, os, sys
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    out.write("simple=plain value\\n")
    out.write("multi<<ghadelimiter_123\\nfirst line\\nsecond=line\\n\\nfourth line\\nghadelimiter_123\\n")
with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
    summary.write("### Summary\\n| a | b |\\n")
print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
print("to stderr", file=sys.stderr)
sys.exit(3)
"""


def test_run_action_gives_a_clean_actions_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_LEAKY_PASSWORD", "from-the-developer-machine")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    script = tmp_path / "entrypoint.py"
    script.write_text(FAKE_ENTRYPOINT)
    workspace = tmp_path / "workspace"
    workspace.mkdir()

    run = run_action(workspace, {"packages-dir": "out", "index": "x"}, env={"EXTRA": "1"}, entrypoint=script)

    assert run.returncode == 3
    assert run.stderr.strip() == "to stderr"
    seen = json.loads(run.stdout)
    env = seen["env"]
    assert Path(seen["cwd"]) == workspace
    assert env["INPUT_PACKAGES-DIR"] == "out"
    assert env["INPUT_INDEX"] == "x"
    assert env["EXTRA"] == "1"
    assert env["GITHUB_ACTIONS"] == "true"
    assert env["GITHUB_WORKSPACE"] == str(workspace)
    assert Path(env["RUNNER_TEMP"]).name == "runner-temp"
    assert env["HOME"] != os.environ.get("HOME")
    assert "UV_INDEX_LEAKY_PASSWORD" not in env
    assert "PIP_INDEX_URL" not in env
    assert run.outputs == {"simple": "plain value", "multi": "first line\nsecond=line\n\nfourth line"}
    assert run.summary == "### Summary\n| a | b |\n"


def test_parse_file_commands() -> None:
    text = "a=1\nb<<EOF\nx\ny=z\nEOF\nc=with=equals\na=2\n"
    assert parse_file_commands(text) == {"a": "2", "b": "x\ny=z", "c": "with=equals"}
    with pytest.raises(ValueError, match="never closes"):
        parse_file_commands("b<<EOF\nx\n")
