"""The native entry (native/action.yml): the same contract as the container action, run by the runner's own Python.

Each run goes through tests/support/composite.py, which executes the composite action's steps as the runner does
(expressions, step `env:`, file commands, `bash -eo pipefail`), and is compared with the container run of the same
inputs (entrypoint.py started as the Docker action starts it, tests/support/runner.run_action): the same exit
status, outputs and job summary, against the real pypiserver and the trusted-publishing fakes.

The install step is real: a venv under RUNNER_TEMP, `pip install --require-hashes --no-deps --only-binary=:all: -r
requirements.lock`. To stay offline it reads the wheels from `.wheelhouse/`, which `make wheelhouse` downloads before
the tests run (the same files, checked against the same hashes). One RUNNER_TEMP serves the session, as one job
serves its steps: the venv is made once and reused, which is itself under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.trusted_index import FakeTrustedIndex
from tests.support.composite import Job, load_action, stand_in_path
from tests.support.runner import ActionRun, run_action
from tests.support.servers import PypiServer

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"
INDEX_ENV = "UV_INDEX_PRIVATE_REPO"
DURATION = re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b")

pytestmark = pytest.mark.timeout(300)


# --- the manifest ---------------------------------------------------------------------------------------------


def test_native_manifest_declares_exactly_the_container_inputs_and_outputs() -> None:
    container, native = load_action(ROOT), load_action(NATIVE)
    assert native["inputs"] == container["inputs"]  # names, defaults, descriptions, required
    assert list(native["inputs"]) == list(container["inputs"])  # type: ignore[arg-type]
    outputs = native["outputs"]
    assert isinstance(outputs, dict)
    assert {name: spec["description"] for name, spec in outputs.items()} == {
        name: spec["description"]
        for name, spec in container["outputs"].items()  # type: ignore[attr-defined]
    }
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.publish.outputs.{name} }}}}", name
    assert container["runs"] == {"using": "docker", "image": "Dockerfile"}  # action.yml stays the container action


def test_every_input_reaches_the_entrypoint_as_the_containers_variable_and_no_script_holds_an_expression() -> None:
    """INPUT_<NAME> with hyphens kept, as the runner names them for a Docker action, each from `${{ inputs.NAME }}`;
    `${{ }}` appears only in `env:` values, never in a `run:` script (zizmor's template-injection, and more)."""
    native = load_action(NATIVE)
    steps = native["runs"]["steps"]  # type: ignore[index]
    publish = next(step for step in steps if step.get("id") == "publish")
    passed = {key: value for key, value in publish["env"].items() if key.startswith("INPUT_")}
    assert passed == {f"INPUT_{name.upper()}": f"${{{{ inputs.{name} }}}}" for name in native["inputs"]}  # type: ignore[union-attr]
    for step in steps:
        assert "${{" not in step["run"], step["name"]


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The lock's wheels for this platform, fetched by `make wheelhouse` (a step of `make test`, so no test reaches a
    registry), checked by hash again when installed. A wheelhouse of another lock is refused, not used."""
    target = ROOT / ".wheelhouse"
    lock = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    stamp = target / ".lock-sha256"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != lock:
        pytest.fail(f"{target} is missing or was made for another requirements.lock: run `make wheelhouse`")
    return target


@pytest.fixture(scope="session")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")


def offline_pip(wheelhouse: Path) -> dict[str, str]:
    """The job's pip settings: only the wheelhouse, no machine configuration."""
    return {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}


@pytest.fixture
def job(tmp_path: Path, wheelhouse: Path, runner_temp: Path, workspace: Path) -> Job:
    return Job(workspace=workspace, temp=runner_temp, home=tmp_path / "home", env=offline_pip(wheelhouse))


def clear(server: PypiServer) -> None:
    """Empty the registry between the container run and the native run, so both meet the same state."""
    for path in server.packages_dir.iterdir():
        path.unlink()
    assert server.files() == []


def assert_same(native: ActionRun, container: ActionRun) -> None:
    """Same exit status, outputs and job summary (durations aside); the same annotations in the log."""
    assert native.returncode == container.returncode, native.output + "\n-----\n" + container.output
    assert native.outputs == {name: container.outputs.get(name, "") for name in native.outputs}
    assert _plain(native.summary, native) == _plain(container.summary, container)
    annotations = re.compile(r"^::(?:error|warning|notice)[ :].*$", re.M)
    assert annotations.findall(_plain(native.stdout, native)) == annotations.findall(
        _plain(container.stdout, container)
    )


def _plain(text: str, run: ActionRun) -> str:
    """Durations and the run's own HOME (a temporary directory each) put aside."""
    return DURATION.sub("<t>", text.replace(run.env["HOME"], "~"))


# --- pypiserver -----------------------------------------------------------------------------------------------


def test_publishes_to_pypiserver_exactly_as_the_container(pypiserver: PypiServer, workspace: Path, job: Job) -> None:
    env = {f"{INDEX_ENV}_USERNAME": pypiserver.username, f"{INDEX_ENV}_PASSWORD": pypiserver.password}
    inputs = {"index": "private-repo"}
    container = run_action(workspace, inputs, env=env)
    assert container.returncode == 0, container.output
    stored = {name: pypiserver.read(name) for name in pypiserver.files()}
    clear(pypiserver)

    native = job.run(NATIVE, inputs, env=env)

    assert native.returncode == 0, native.output
    assert {name: pypiserver.read(name) for name in pypiserver.files()} == stored
    assert len(json.loads(native.outputs["published"])) == 2
    assert native.outputs["auth-method"] == "password"
    assert_same(native, container)
    assert pypiserver.password not in native.visible

    # A second step of the same job: the venv is reused, everything is skipped, as the container says.
    again_container = run_action(workspace, {**inputs, "skip-existing": "true"}, env=env)
    started = time.monotonic()
    again = job.run(NATIVE, {**inputs, "skip-existing": "true"}, env=env)
    assert time.monotonic() - started < 15, "a warm run should take seconds"
    assert "Reusing the publish-dists environment made earlier in this job" in again.stdout
    assert sorted(json.loads(again.outputs["skipped"])) == sorted(stored)
    assert_same(again, again_container)


@pytest.mark.parametrize(
    ("case", "inputs", "env"),
    [
        ("wrong-password", {"index": "private-repo"}, {f"{INDEX_ENV}_USERNAME": "alice", f"{INDEX_ENV}_PASSWORD": "x"}),
        ("no-credentials", {"index": "private-repo"}, {}),
        ("bad-input", {"index": "private-repo", "parallel": "many"}, {}),
        ("unknown-index", {"index": "nope"}, {}),
        ("dry-run", {"index": "private-repo", "dry-run": "true", "username": "alice", "password": "x"}, {}),
    ],
)
def test_failures_and_dry_run_match_the_container(
    pypiserver: PypiServer, workspace: Path, job: Job, case: str, inputs: dict[str, str], env: dict[str, str]
) -> None:
    container = run_action(workspace, inputs, env=env)
    native = job.run(NATIVE, inputs, env=env)
    assert container.returncode in (0, 1, 2), container.output
    assert_same(native, container)
    assert pypiserver.files() == []


def test_netrc_in_the_home_directory(pypiserver: PypiServer, workspace: Path, job: Job) -> None:
    """~/.netrc, or ~/_netrc on Windows (where curl and requests look first): the runner's home, read natively."""
    name = "_netrc" if os.name == "nt" else ".netrc"
    job.home.mkdir(parents=True, exist_ok=True)
    (job.home / name).write_text(
        f"machine 127.0.0.1 login {pypiserver.username} password {pypiserver.password}\n", encoding="utf-8"
    )
    run = job.run(NATIVE, {"index": "private-repo"})
    assert run.returncode == 0, run.output
    assert run.outputs["auth-method"] == "netrc"
    assert len(pypiserver.files()) == 2


def test_keyring_command_of_the_runner_comes_before_the_actions_own(
    pypiserver: PypiServer, workspace: Path, job: Job, tmp_path: Path
) -> None:
    """keyring-provider subprocess: the `keyring` on the runner's PATH (keyring.exe on Windows), with its owner's
    backend, answers; the action's venv adds its own keyring only at the end of PATH."""
    bindir = Path(sys.executable).parent
    env = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": str(tmp_path / "data")}
    if os.name == "nt":
        env["LOCALAPPDATA"] = str(tmp_path / "data")
    subprocess.run(
        [str(bindir / "keyring"), "set", pypiserver.upload_url, pypiserver.username],
        input=pypiserver.password + "\n",
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    env[f"{INDEX_ENV}_USERNAME"] = pypiserver.username
    run = job.run(NATIVE, {"index": "private-repo", "keyring-provider": "subprocess"}, env=env)
    assert run.returncode == 0, run.output
    assert run.outputs["auth-method"] == "keyring"
    assert len(pypiserver.files()) == 2


# --- trusted publishing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["automatic", "always"])
def test_trusted_publishing_matches_the_container(
    github: FakeGitHubOIDC,
    index: FakeTrustedIndex,
    tp_workspace: Path,
    wheelhouse: Path,
    runner_temp: Path,
    tmp_path: Path,
    mode: str,
) -> None:
    """The OIDC variables reach the process as on Linux: the ID token is fetched, exchanged, masked, used."""
    inputs = {"publish-url": index.upload_url, "trusted-publishing": mode}
    container = run_action(tp_workspace, inputs, env=github.env)
    assert container.returncode == 0, container.output
    stored = {name: file.content for name, file in index.files.items()}
    index.files.clear()
    before = set(index.minted)

    job = Job(workspace=tp_workspace, temp=runner_temp, home=tmp_path / "home", env=offline_pip(wheelhouse))
    native = job.run(NATIVE, inputs, env=github.env)

    assert native.returncode == 0, native.output
    assert {name: file.content for name, file in index.files.items()} == stored
    assert native.outputs["auth-method"] == "trusted-publishing"
    assert_same(native, container)
    masks = re.findall(r"^::add-mask ?::(.*)$", native.stdout, re.M)
    ours = set(index.minted) - before
    assert len(ours) == 1
    for secret in [*github.issued, *ours]:
        assert secret not in native.visible
    assert ours <= set(masks)


def test_trusted_publishing_without_id_token_permission_matches_the_container(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, tp_workspace: Path, wheelhouse: Path, runner_temp: Path
) -> None:
    no_oidc = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}
    inputs = {"publish-url": index.upload_url, "trusted-publishing": "always"}
    container = run_action(tp_workspace, inputs, env=no_oidc)
    job = Job(workspace=tp_workspace, temp=runner_temp, home=tp_workspace.parent / "home", env=offline_pip(wheelhouse))
    native = job.run(NATIVE, inputs, env=no_oidc)
    assert container.returncode == 2, container.output
    assert_same(native, container)
    assert index.files == {}


# --- the install step -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("programs", "found"),
    [
        ({}, "found none"),
        (
            {"python3": 'case "$*" in *print*) echo 3.10 ;; *) exit 1 ;; esac', "python": "exit 9009"},
            "found python3 3.10",
        ),
    ],
    ids=["no-python", "python-3.10"],
)
def test_without_python_311_the_error_names_actions_setup_python(
    tmp_path: Path, wheelhouse: Path, programs: dict[str, str], found: str
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {**offline_pip(wheelhouse), "PATH": stand_in_path(tmp_path / "bin", **programs)}
    job = Job(workspace=workspace, temp=tmp_path / "temp", home=tmp_path / "home", env=env)
    run = job.run(NATIVE, {"index": "private-repo"})
    assert run.returncode == 2, run.output
    (error,) = re.findall(r"^::error title=No Python 3\.11\+ on PATH::(.*)$", run.stdout, re.M)
    assert "uses: actions/setup-python" in error
    assert found in error
    assert run.outputs == dict.fromkeys(("published", "skipped", "publish-url", "auth-method"), "")


def test_a_changed_lock_makes_the_venv_again(tmp_path: Path, wheelhouse: Path) -> None:
    """The reused venv is the one made from these exact lock bytes and this interpreter; a stale one is made again."""
    action = _mini_action(tmp_path, wheelhouse)
    lock = action.parent / "requirements.lock"
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    job = Job(workspace=workspace, temp=tmp_path / "temp", home=tmp_path / "home", env=offline_pip(wheelhouse))
    stamp = job.temp / "publish-dists-native" / "publish-dists.stamp"

    first = job.run(action, {})
    assert "Install publish-dists's pinned dependencies" in first.stdout, first.output
    assert stamp.read_text(encoding="utf-8").startswith(hashlib.sha256(lock.read_bytes()).hexdigest())
    assert "Reusing" in job.run(action, {}).stdout

    lock.write_text(lock.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    third = job.run(action, {})
    assert "Install publish-dists's pinned dependencies" in third.stdout
    assert "Reusing" not in third.stdout


def test_a_lock_hash_that_does_not_match_stops_the_install(tmp_path: Path, wheelhouse: Path) -> None:
    """--require-hashes: a wheel whose bytes are not the ones pinned is refused, and the step fails."""
    action = tmp_path / "action"
    shutil.copytree(NATIVE, action / "native")
    wheel = next(wheelhouse.glob("packaging-*.whl"))
    version = wheel.name.split("-")[1]
    (action / "requirements.lock").write_text(f"packaging=={version} --hash=sha256:{'0' * 64}\n", encoding="utf-8")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    job = Job(workspace=workspace, temp=tmp_path / "temp", home=tmp_path / "home", env=offline_pip(wheelhouse))
    run = job.run(action / "native", {})
    assert run.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in run.output
    assert not (job.temp / "publish-dists-native" / "publish-dists.stamp").exists()


def _mini_action(tmp_path: Path, wheelhouse: Path, run_py: str | None = None) -> Path:
    """A copy of native/ beside a lock naming one wheel (and optionally another run.py): the install step for real,
    in a second instead of a minute."""
    action = tmp_path / "action"
    shutil.copytree(NATIVE, action / "native")
    wheel = next(wheelhouse.glob("packaging-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (action / "requirements.lock").write_text(
        f"packaging=={wheel.name.split('-')[1]} \\\n    --hash=sha256:{digest}\n", encoding="utf-8"
    )
    if run_py is not None:
        (action / "native" / "run.py").write_text(run_py, encoding="utf-8")
    return action / "native"


def test_the_publish_step_execs_python_so_the_runners_signals_reach_it(tmp_path: Path, wheelhouse: Path) -> None:
    """The runner signals the step's process (SIGINT, SIGTERM; Ctrl+C, Ctrl+Break on Windows): `exec` makes that
    process Python itself, whose handlers (publisher/report/cancel.py) stop the uploads in order. Here the step's Python
    reports its parent: the harness, not a bash in between. It also reports the interpreter flags the step uses."""
    report = (
        "import os, sys\n"
        "with open(os.environ['GITHUB_OUTPUT'], 'a', encoding='utf-8') as out:\n"
        "    out.write(f'published={os.getppid()}\\n')\n"
        "    out.write(f'skipped={sys.flags.isolated},{sys.flags.utf8_mode},{sys.stdout.encoding}\\n')\n"
    )
    action = _mini_action(tmp_path, wheelhouse, report)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    job = Job(workspace=workspace, temp=tmp_path / "temp", home=tmp_path / "home", env=offline_pip(wheelhouse))
    run = job.run(action, {})
    assert run.returncode == 0, run.output
    assert run.outputs["published"] == str(os.getpid())
    assert run.outputs["skipped"] == "1,1,utf-8"


def test_the_lock_is_universal() -> None:
    """One lock for Linux, macOS and Windows on Python 3.11+: platform-specific requirements carry markers rather
    than being resolved for this machine alone (keyring's Windows backend needs pywin32-ctypes, its Linux one
    SecretStorage and jeepney), and scripts/lock.sh resolves with --universal from 3.11 with hashes."""
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert re.search(r"^pywin32-ctypes==\S+ ; sys_platform == 'win32'", lock, re.M)
    assert re.search(r"^secretstorage==\S+ ; sys_platform == 'linux'", lock, re.M)
    assert re.search(r"^backports-tarfile==\S+ ; python_full_version < '3.12'", lock, re.M)
    script = (ROOT / "scripts" / "lock.sh").read_text(encoding="utf-8")
    for option in ("--universal", "--python-version 3.11", "--generate-hashes"):
        assert option in script


def test_a_python_without_pip_installs_with_the_venvs_own_pip(tmp_path: Path, wheelhouse: Path) -> None:
    """A runner Python that has venv but no pip (a Debian python3 with python3-venv only): the venv gets its bundled
    pip (ensurepip) and that installs the lock."""
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    bindir = bare / ("Scripts" if os.name == "nt" else "bin")
    action = _mini_action(tmp_path, wheelhouse)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    path = os.pathsep.join([str(bindir), os.environ.get("PATH", "")])
    job = Job(workspace=workspace, temp=tmp_path / "temp", home=tmp_path / "home", env=offline_pip(wheelhouse))
    job.env["PATH"] = path
    run = job.run(action, {})
    assert "Install publish-dists's pinned dependencies" in run.stdout, run.output
    venv = job.temp / "publish-dists-native"
    assert (venv / "publish-dists.stamp").is_file(), run.output
    assert list(venv.glob("lib*/python*/site-packages/pip")) or list(venv.glob("Lib/site-packages/pip"))
    assert list(venv.glob("lib*/python*/site-packages/packaging")) or list(venv.glob("Lib/site-packages/packaging"))
