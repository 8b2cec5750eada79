"""The built image, run the way GitHub's runner runs a Docker action, against a real pypiserver on the host.

Why: the unit and end-to-end tests run the code from the source tree; only this proves the image itself works
(lock installed, entrypoint path, /github/workspace layout, file commands, masking). `make container-test`
builds the image and sets PUBLISHER_IMAGE; without it these tests skip, so plain `make test` needs no podman.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("PUBLISHER_IMAGE", "")
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")

pytestmark = pytest.mark.skipif(not IMAGE, reason="PUBLISHER_IMAGE is not set: run `make container-test`")

INDEX = "private-repo"
ENV_PREFIX = "UV_INDEX_PRIVATE_REPO"
USERNAME = "ci-uploader"
PASSWORD = "c0ntainer-Test-pa55word"  # distinctive, so a leak is easy to find in the logs


# --- a real pypiserver on loopback ---------------------------------------------------------------------------


@dataclass
class Server:
    """A pypiserver with one htpasswd user, serving `packages` on 127.0.0.1."""

    port: int
    packages: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upload_url(self) -> str:
        return f"{self.url}/"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def files(self) -> list[str]:
        return sorted(p.name for p in self.packages.iterdir())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    from passlib.apache import HtpasswdFile

    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = HtpasswdFile(str(tmp_path / "htpasswd"), new=True)
    htpasswd.set_password(USERNAME, PASSWORD)
    htpasswd.save()
    port = _free_port()
    log = (tmp_path / "pypiserver.log").open("wb")
    pypi_server = Path(sys.executable).with_name("pypi-server")
    argv = f"run -i 127.0.0.1 -p {port} -P {tmp_path / 'htpasswd'} -a update --disable-fallback {packages}"
    proc = subprocess.Popen(
        [str(pypi_server), *argv.split()],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = Server(port, packages)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{srv.url}/health", timeout=1):  # loopback only
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pypiserver did not start: {(tmp_path / 'pypiserver.log').read_text()}")
                time.sleep(0.1)
        yield srv
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# --- real dists ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A wheel and an sdist built by hatchling (no network: the venv has it)."""
    src = tmp_path_factory.mktemp("src")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "container-demo"\nversion = "1.0.0"\ndescription = "Uploaded by the container test"\n'
        'readme = "README.md"\nrequires-python = ">=3.9"\n',
        encoding="utf-8",
    )
    (src / "README.md").write_text("# container-demo\n\nA *tiny* package.\n", encoding="utf-8")
    (src / "container_demo").mkdir()
    (src / "container_demo" / "__init__.py").write_text('VALUE = "from the container test"\n', encoding="utf-8")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    built = sorted(out.iterdir(), key=lambda p: (not p.name.endswith(".whl"), p.name))
    assert [p.suffix for p in built] == [".whl", ".gz"], built
    return built


@pytest.fixture
def workspace(tmp_path: Path, server: Server, dists: list[Path]) -> Path:
    """The repository checkout GitHub mounts at /github/workspace: a pyproject.toml naming the index, and dist/."""
    ws = tmp_path / "workspace"
    (ws / "dist").mkdir(parents=True)
    (ws / "pyproject.toml").write_text(
        f'[project]\nname = "consumer"\nversion = "0"\n\n'
        f'[[tool.uv.index]]\nname = "{INDEX}"\nurl = "{server.simple_url}"\npublish-url = "{server.upload_url}"\n'
        "explicit = true\n",
        encoding="utf-8",
    )
    for dist in dists:
        shutil.copy2(dist, ws / "dist" / dist.name)
    return ws


# --- running the image like the runner -----------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def _action_defaults() -> dict[str, str]:
    """Every declared input with its default ('' when none): the runner passes them all as INPUT_*."""
    action = YAML(typ="safe", pure=True).load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return {name: str((spec or {}).get("default", "")) for name, spec in action["inputs"].items()}


def parse_output_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT: `name=value` lines or `name<<DELIM` ... `DELIM` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            else:
                raise AssertionError(f"unterminated output {name!r}")
            outputs[name] = "\n".join(value)
        elif line:
            name, value_ = line.split("=", 1)
            outputs[name] = value_
    return outputs


def run_action(tmp_path: Path, workspace: Path, inputs: dict[str, str], env: dict[str, str]) -> Run:
    engine = shutil.which(ENGINE)
    if engine is None:
        pytest.fail(f"{ENGINE} is not installed: run `make container-test` (it installs podman)")
    files = tmp_path / "file_commands"
    files.mkdir(exist_ok=True)
    for name in ("output", "summary"):
        (files / name).write_text("", encoding="utf-8")
    merged = {**_action_defaults(), **inputs}
    environment = {
        **{f"INPUT_{name.upper().replace(' ', '_')}": value for name, value in merged.items()},
        "HOME": "/github/home",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_REPOSITORY": "example/consumer",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary",
        "RUNNER_OS": "Linux",
        **env,
    }
    # As the runner's `docker run`, plus --network host so the container reaches the loopback server.
    cmd = [engine, "run", "--rm", "--network", "host", "--workdir", "/github/workspace"]
    cmd += ["-v", f"{workspace}:/github/workspace", "-v", f"{files}:/github/file_commands"]
    for key, value in environment.items():
        cmd += ["-e", f"{key}={value}"]
    proc = subprocess.run([*cmd, IMAGE], capture_output=True, text=True, check=False, timeout=180)
    return Run(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        parse_output_file((files / "output").read_text(encoding="utf-8")),
        (files / "summary").read_text(encoding="utf-8"),
    )


def credentials(password: str = PASSWORD) -> dict[str, str]:
    return {f"{ENV_PREFIX}_USERNAME": USERNAME, f"{ENV_PREFIX}_PASSWORD": password}


def assert_not_leaked(run: Run, secret: str) -> None:
    """The secret may appear only in the `::add-mask::` command that hides it (the runner never prints it)."""
    for line in run.log.splitlines():
        if secret in line:
            assert re.match(r"::add-mask ?::", line.strip()), f"secret printed: {line!r}"
    assert secret not in run.summary
    assert secret not in json.dumps(run.outputs)


# --- tests ---------------------------------------------------------------------------------------------------


def test_publishes_to_the_named_index(tmp_path: Path, server: Server, workspace: Path, dists: list[Path]) -> None:
    run = run_action(tmp_path, workspace, {"index": INDEX, "packages-dir": "dist"}, credentials())
    assert run.returncode == 0, run.log

    names = [d.name for d in dists]
    assert server.files() == sorted(names)
    for dist in dists:
        assert (server.packages / dist.name).read_bytes() == dist.read_bytes()

    assert sorted(json.loads(run.outputs["published"])) == sorted(names)
    assert run.outputs["publish-url"] == server.upload_url
    assert run.outputs["auth-method"] == "password"

    assert re.search(r"^\| File \| Size \| SHA-256 \| Result \|$", run.summary, re.M), run.summary
    for name in names:
        assert f"`{name}`" in run.summary
    assert_not_leaked(run, PASSWORD)


def test_skip_existing_on_a_second_run(tmp_path: Path, server: Server, workspace: Path, dists: list[Path]) -> None:
    names = [d.name for d in dists]
    first = run_action(tmp_path, workspace, {"index": INDEX}, credentials())
    assert first.returncode == 0, first.log
    again = run_action(tmp_path, workspace, {"index": INDEX, "skip-existing": "true"}, credentials())
    assert again.returncode == 0, again.log
    assert json.loads(again.outputs["published"]) == []
    assert sorted(json.loads(again.outputs["skipped"])) == sorted(names)
    assert_not_leaked(again, PASSWORD)


def test_wrong_password_fails_without_leaking_it(tmp_path: Path, server: Server, workspace: Path) -> None:
    wrong = "Wr0ng-but-still-secret"
    run = run_action(tmp_path, workspace, {"index": INDEX}, credentials(wrong))
    assert run.returncode == 1, run.log
    assert "::error" in run.stdout
    assert server.files() == []
    assert json.loads(run.outputs["published"]) == []
    assert_not_leaked(run, wrong)


def test_unknown_index_is_a_configuration_error(tmp_path: Path, server: Server, workspace: Path) -> None:
    run = run_action(tmp_path, workspace, {"index": "no-such-index"}, credentials())
    assert run.returncode == 2, run.log
    assert "::error" in run.stdout
    assert "no-such-index" in run.stdout
    assert server.files() == []


def test_image_keeps_no_build_leftovers() -> None:
    """What the build used (pip, the lock, the CA bundle secret, caches) is not in the final image."""
    engine = shutil.which(ENGINE)
    if engine is None:
        pytest.fail(f"{ENGINE} is not installed: run `make container-test`")
    script = (
        "set -e; "
        'gone() { for x in "$@"; do if command -v "$x" || test -e "$x"; then echo "left: $x"; exit 1; fi; done; }; '
        "gone pip pip3 /opt/venv/bin/pip /tmp/requirements.lock /run/secrets/pip_cert /root/.cache; "
        "test -f /app/entrypoint.py; "
        'test "$(command -v python)" = /opt/venv/bin/python; '
        "python -c 'import publisher, httpx, pydantic, keyring, readme_renderer, github_action_utils'; "
        "python -c 'import sys; assert sys.dont_write_bytecode and sys.flags.dont_write_bytecode'; "
        "echo ok"
    )
    proc = subprocess.run(
        [engine, "run", "--rm", "--entrypoint", "sh", IMAGE, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
