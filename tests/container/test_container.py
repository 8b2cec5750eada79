"""The built image, run the way GitHub's runner runs a Docker action, against the test bed's real pypiserver.

Why: every other test runs the code from the source tree; only this proves the image itself works (the lock
installed, the entrypoint path, the /github/workspace layout, file commands, masking). `make container-test` builds
the image and sets PUBLISHER_IMAGE; without it these tests skip, so plain `make test` needs no podman.

The `docker run` below copies the runner's (actions/runner, DockerCommandManager.DockerRun and
ContainerActionHandler): `--workdir /github/workspace --rm`, every variable passed as a bare `-e NAME` with its value
in the engine's environment (so no secret is on a command line), `-e GITHUB_ACTIONS=true -e CI=true`, the four
bind mounts (home, workflow, file_commands, workspace), paths under them translated to container paths, RUNNER_TEMP
left as the host path it is, and the directories owned by the runner's user (uid 1001 on GitHub-hosted runners)
while the container runs as root. Two differences: no /var/run/docker.sock mount (there is no Docker daemon here;
the action never uses it), and `--network host` instead of the job's bridge network, so the container reaches the
test bed's server on 127.0.0.1 and no test traffic leaves the loopback interface.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.support.builders import Dists
from tests.support.runner import ActionRun, parse_file_commands
from tests.support.servers import PypiServer

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("PUBLISHER_IMAGE", "")
BASE_IMAGE = os.environ.get("PUBLISHER_BASE_IMAGE", "")
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
RUNNER_UID = 1001  # the `runner` user of GitHub-hosted Ubuntu runners, which owns the workspace
ADDED_BYTES_BUDGET = 80_000_000  # what the Dockerfile adds to its base; 52 MB when this was written

pytestmark = [
    pytest.mark.skipif(not IMAGE, reason="PUBLISHER_IMAGE is not set: run `make container-test`"),
    pytest.mark.timeout(300),
]

INDEX = "private-repo"  # the name tests/conftest.py's `workspace` declares for the `pypiserver`
ENV_PREFIX = "UV_INDEX_PRIVATE_REPO"


def engine() -> str:
    found = shutil.which(ENGINE)
    if found is None:
        pytest.fail(f"{ENGINE} is not installed: run `make container-test` (it installs podman)")
    return found


def action_defaults() -> dict[str, str]:
    """Every input of action.yml with its default ('' when none): the runner passes them all as INPUT_*."""
    action = YAML(typ="safe", pure=True).load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return {name: str((spec or {}).get("default", "")) for name, spec in action["inputs"].items()}


def input_variable(name: str) -> str:
    """The runner's name for an input: upper case, spaces to `_`, hyphens kept (`INPUT_PACKAGES-DIR`)."""
    return "INPUT_" + name.replace(" ", "_").upper()


@dataclass
class GitHubRunner:
    """The host side of one job on a GitHub-hosted runner: RUNNER_TEMP with the runner's three directories, and
    the checkout that is mounted at /github/workspace."""

    temp: Path
    workspace: Path

    @classmethod
    def create(cls, root: Path, workspace: Path) -> GitHubRunner:
        temp = root / "_temp"
        for name in ("_github_home", "_github_workflow", "_runner_file_commands"):
            (temp / name).mkdir(parents=True)
        (temp / "_github_workflow" / "event.json").write_text(
            json.dumps({"ref": "refs/tags/v1.0.0", "repository": {"full_name": "example/consumer"}}),
            encoding="utf-8",
        )
        runner = cls(temp, workspace)
        runner._chown_to_runner_user()
        return runner

    def _chown_to_runner_user(self) -> None:
        """As on GitHub: the runner's user owns everything mounted; only root in the container can write there."""
        if os.geteuid() != 0:
            return
        for top in (self.temp, self.workspace):
            for path in [top, *top.rglob("*")]:
                os.chown(path, RUNNER_UID, RUNNER_UID, follow_symlinks=False)

    def run(
        self, inputs: Mapping[str, str], env: Mapping[str, str] | None = None, *, timeout: float = 120
    ) -> ActionRun:
        """One `uses:` step: fresh file-command files (the runner makes new ones per step), then `docker run`."""
        step = uuid.uuid4()
        files = self.temp / "_runner_file_commands"
        names = {kind: f"{kind}_{step}" for kind in ("set_output", "step_summary", "add_path", "set_env", "save_state")}
        for name in names.values():
            (files / name).touch()
            if os.geteuid() == 0:
                os.chown(files / name, RUNNER_UID, RUNNER_UID)
        github = {
            "HOME": "/github/home",
            "GITHUB_JOB": "publish",
            "GITHUB_REF": "refs/tags/v1.0.0",
            "GITHUB_REF_NAME": "v1.0.0",
            "GITHUB_REF_TYPE": "tag",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REPOSITORY": "example/consumer",
            "GITHUB_REPOSITORY_OWNER": "example",
            "GITHUB_RUN_ID": "1",
            "GITHUB_RUN_NUMBER": "1",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_WORKFLOW": "release",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_EVENT_PATH": "/github/workflow/event.json",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": "https://api.github.com",
            "GITHUB_WORKSPACE": "/github/workspace",
            "GITHUB_ACTION": "__example_publish-dists",
            "GITHUB_ACTION_REPOSITORY": "",
            "GITHUB_ACTION_REF": "",
            "GITHUB_OUTPUT": f"/github/file_commands/{names['set_output']}",
            "GITHUB_STEP_SUMMARY": f"/github/file_commands/{names['step_summary']}",
            "GITHUB_PATH": f"/github/file_commands/{names['add_path']}",
            "GITHUB_ENV": f"/github/file_commands/{names['set_env']}",
            "GITHUB_STATE": f"/github/file_commands/{names['save_state']}",
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "GitHub Actions 1",
            "RUNNER_ENVIRONMENT": "github-hosted",
            "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
            "RUNNER_TEMP": str(self.temp),  # not translated by the runner: a host path the container cannot see
            "RUNNER_WORKSPACE": str(self.workspace.parent),
            "ACTIONS_RUNTIME_URL": "https://pipelines.actions.invalid/",
            "ACTIONS_RUNTIME_TOKEN": "runtime-token-not-for-the-action",
        }
        container_env = {
            **{input_variable(name): value for name, value in {**action_defaults(), **inputs}.items()},
            **github,
            **(env or {}),
        }
        name = f"publish-dists-test-{step.hex[:12]}"
        argv = [engine(), "run", "--name", name, "--label", "publish-dists-test", "--workdir", "/github/workspace"]
        argv += ["--rm"]
        for key in container_env:
            argv += ["-e", key]
        argv += ["-e", "GITHUB_ACTIONS=true", "-e", "CI=true", "--network", "host"]
        for host, target in (
            (self.temp / "_github_home", "/github/home"),
            (self.temp / "_github_workflow", "/github/workflow"),
            (files, "/github/file_commands"),
            (self.workspace, "/github/workspace"),
        ):
            argv += ["-v", f"{host}:{target}"]
        argv.append(IMAGE)
        engine_env = {**os.environ, **container_env}
        try:
            proc = subprocess.run(argv, env=engine_env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            subprocess.run([engine(), "rm", "--force", name], capture_output=True, check=False, timeout=60)
            raise
        return ActionRun(
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            args=argv,
            outputs=parse_file_commands((files / names["set_output"]).read_text(encoding="utf-8")),
            summary=(files / names["step_summary"]).read_text(encoding="utf-8"),
            env=container_env,
        )


@pytest.fixture
def runner(tmp_path: Path, workspace: Path) -> GitHubRunner:
    """A job whose checkout is the test bed's `workspace`: pyproject.toml naming `private-repo`, dists in dist/."""
    return GitHubRunner.create(tmp_path / "runner", workspace)


def credentials(server: PypiServer, password: str | None = None) -> dict[str, str]:
    return {f"{ENV_PREFIX}_USERNAME": server.username, f"{ENV_PREFIX}_PASSWORD": password or server.password}


def assert_not_leaked(run: ActionRun, *secrets: str) -> None:
    """A secret may appear only in the `::add-mask::` command that hides it (the runner never prints that line)."""
    for secret in secrets:
        assert secret not in run.visible, f"{secret!r} is visible in the log, summary or outputs:\n{run.output}"


def assert_server_holds(server: PypiServer, dists: Dists) -> None:
    """The registry stores exactly the built files, byte for byte."""
    assert server.files() == sorted(d.name for d in dists)
    for dist in dists:
        assert server.read(dist.name) == dist.read_bytes(), f"{dist.name} differs on the server"


# --- tests ---------------------------------------------------------------------------------------------------


def test_publishes_to_the_named_index(runner: GitHubRunner, pypiserver: PypiServer, built_dists: Dists) -> None:
    run = runner.run({"index": INDEX}, credentials(pypiserver))
    assert run.returncode == 0, run.output

    assert_server_holds(pypiserver, built_dists)
    names = [built_dists.wheel.name, built_dists.sdist.name]
    assert json.loads(run.outputs["published"]) == names  # wheels first, as uv
    assert json.loads(run.outputs["skipped"]) == []
    assert run.outputs["publish-url"] == pypiserver.upload_url
    assert run.outputs["auth-method"] == "password"

    assert re.search(r"^\| File \| Size \| SHA-256 \| Result \|$", run.summary, re.M), run.summary
    for dist in built_dists:
        assert f"`{dist.name}`" in run.summary
        assert dist.name in run.stdout
    assert_not_leaked(run, pypiserver.password)
    assert "runtime-token-not-for-the-action" not in run.visible


def test_rerun_with_skip_existing(runner: GitHubRunner, pypiserver: PypiServer, built_dists: Dists) -> None:
    """A re-run of a release job: without skip-existing the registry's 409 fails it (exit 1) and nothing changes;
    with it, both files are recognised by sha256 and skipped (exit 0)."""
    first = runner.run({"index": INDEX}, credentials(pypiserver))
    assert first.returncode == 0, first.output

    duplicate = runner.run({"index": INDEX}, credentials(pypiserver))
    assert duplicate.returncode == 1, duplicate.output
    assert "::error" in duplicate.stdout
    assert json.loads(duplicate.outputs["published"]) == []

    again = runner.run({"index": INDEX, "skip-existing": "true"}, credentials(pypiserver))
    assert again.returncode == 0, again.output
    assert json.loads(again.outputs["published"]) == []
    assert json.loads(again.outputs["skipped"]) == [built_dists.wheel.name, built_dists.sdist.name]
    assert "skipped" in again.summary
    assert_server_holds(pypiserver, built_dists)
    for run in (first, duplicate, again):
        assert_not_leaked(run, pypiserver.password)


def test_wrong_password_fails_without_leaking_it(runner: GitHubRunner, pypiserver: PypiServer) -> None:
    """No trusted publishing anywhere (no ACTIONS_ID_TOKEN_* variables): a bad password is exit 1, an annotation,
    nothing uploaded, and the password appears nowhere but in its mask command."""
    wrong = "Wr0ng-but-still-Secret-" + uuid.uuid4().hex[:8]
    run = runner.run({"index": INDEX}, credentials(pypiserver, wrong))
    assert run.returncode == 1, run.output
    assert re.search(r"^::error\b.*403", run.stdout, re.M), run.stdout
    assert pypiserver.files() == []
    assert json.loads(run.outputs["published"]) == []
    assert run.outputs["auth-method"] == "password"
    assert re.search(rf"^::add-mask ?::{re.escape(wrong)}$", run.stdout, re.M), "the password was never masked"
    assert_not_leaked(run, wrong, pypiserver.password)


def test_unknown_index_is_a_configuration_error(runner: GitHubRunner, pypiserver: PypiServer) -> None:
    run = runner.run({"index": "no-such-index"}, credentials(pypiserver))
    assert run.returncode == 2, run.output
    assert re.search(r"^::error\b.*no-such-index", run.stdout, re.M), run.stdout
    assert pypiserver.files() == []


def test_image_runs_as_root_with_an_absolute_entrypoint() -> None:
    """GitHub: "Docker actions must be run by the default Docker user (root)"; a USER would leave the action unable
    to write the runner-owned file_commands (see the uid-1001 ownership above). The entrypoint is absolute because
    the runner overrides the working directory."""
    config = json.loads(
        subprocess.run(
            [engine(), "image", "inspect", "--format", "{{json .Config}}", IMAGE],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert config.get("User") in (None, "", "root", "0"), config.get("User")
    assert config["Entrypoint"] == ["python", "/app/entrypoint.py"]


def test_image_keeps_no_build_leftovers() -> None:
    """What the build used (pip, setuptools, the lock, the CA bundle secret, caches) is not in the final image."""
    script = (
        "set -e; "
        'gone() { for x in "$@"; do if command -v "$x" || test -e "$x"; then echo "left: $x"; exit 1; fi; done; }; '
        "gone pip pip3 gcc cc make /opt/venv/bin/pip /tmp/requirements.lock /run/secrets/pip_cert /root/.cache; "
        "if find / -xdev \\( -name '*.deb' -o -path '/var/lib/apt/lists/*_Packages' \\) | grep .; then exit 1; fi; "
        "test -f /app/entrypoint.py; "
        'test "$(command -v python)" = /opt/venv/bin/python; '
        "python -c 'import publisher, httpx, pydantic, keyring, readme_renderer, github_action_utils'; "
        'python -c \'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ("pip", "setuptools")))\'; '
        "python -c 'import sys; assert sys.dont_write_bytecode and sys.flags.dont_write_bytecode'; "
        "echo ok"
    )
    proc = subprocess.run(
        [engine(), "run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGE, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_image_size_budget() -> None:
    """The layers the Dockerfile adds (venv with the locked dependencies, and our code) stay small."""
    if not BASE_IMAGE:
        pytest.skip("PUBLISHER_BASE_IMAGE is not set (scripts/container-test.sh sets it)")

    def size(image: str) -> int:
        out = subprocess.run(
            [engine(), "image", "inspect", "--format", "{{.Size}}", image],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return int(out.strip())

    total, base = size(IMAGE), size(BASE_IMAGE)
    print(f"image {IMAGE}: {total / 1e6:.1f} MB = base {base / 1e6:.1f} MB + {(total - base) / 1e6:.1f} MB added")
    assert total - base <= ADDED_BYTES_BUDGET, f"the Dockerfile adds {(total - base) / 1e6:.1f} MB"


def test_attests_with_trusted_publishing_inside_the_image(tmp_path: Path, built_dists: Dists) -> None:
    """sigstore and pypi-attestations are installed in the image and sign there: trusted publishing to the fake
    index, Fulcio and Rekor of the offline stack, the index verifying each attestation as PyPI does."""
    from tests.fakes.attestation_check import pypi_check
    from tests.fakes.github_oidc import FakeGitHubOIDC
    from tests.fakes.sigstore_stack import SigstoreStack
    from tests.fakes.trusted_index import FakeTrustedIndex, Publisher

    workspace = tmp_path / "checkout"
    (workspace / "dist").mkdir(parents=True)
    for dist in built_dists:
        shutil.copy(dist, workspace / "dist" / dist.name)
    with FakeGitHubOIDC() as github, SigstoreStack(github=github) as stack:
        (workspace / "sigstore-trust.json").write_text(json.dumps(stack.trust_config), encoding="utf-8")
        os.environ["XDG_CACHE_HOME"] = str(stack.seed_tuf_cache(tmp_path / "xdg"))  # the index fake's verifier
        try:
            publisher = Publisher("octo-org/octo-repo", "release.yml")
            check = pypi_check()
            with FakeTrustedIndex(
                github.public_key, publisher=publisher, simple_api_version="1.3", attestation_check=check
            ) as index:
                runner = GitHubRunner.create(tmp_path / "runner", workspace)
                inputs = {
                    "publish-url": index.upload_url,
                    "check-url": f"{index.url}/simple/",
                    "trusted-publishing": "always",
                }
                env = {
                    **github.env,
                    "GITHUB_REPOSITORY": "octo-org/octo-repo",  # the repository the fake token names
                    "PUBLISHER_SIGSTORE_TRUST_CONFIG": "/github/workspace/sigstore-trust.json",
                }
                run = runner.run(inputs, env)
        finally:
            os.environ.pop("XDG_CACHE_HOME", None)

    assert run.returncode == 0, run.output
    assert sorted(index.files) == sorted(d.name for d in built_dists)
    assert all("attestations" in stored.fields for stored in index.files.values())
    assert "Rekor log index" in run.summary
    assert not list((workspace / "dist").glob("*.publish.attestation"))
