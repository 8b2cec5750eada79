"""Run a composite action's steps the way the Actions runner does, for the native entry (native/action.yml).

What the runner does for each step of a composite action, and so what this does: the `${{ }}` expressions of the
step's `env:` and `run:` are evaluated (the contexts the native action may use: `inputs`, `github.action_path`,
`runner.temp`, `runner.os` and `steps.<id>.outputs`; any other expression is refused, so the action cannot come to
depend on something this harness does not model); the input defaults of action.yml fill what the caller left out;
the step runs as `bash --noprofile --norc -eo pipefail FILE` in the workspace, with the job's environment, what
earlier steps appended to GITHUB_ENV, the step's `env:` over both, and PATH led by what earlier steps appended to
GITHUB_PATH; each step gets fresh GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files; a failing step
ends the action with its exit status; then the action's `outputs:` are evaluated from the steps' outputs.

`Job` is one job on one runner: its RUNNER_TEMP and HOME outlive a single `uses:`, so a second run in the same job
finds what the first left there (as a second publish step would).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from tests.support.runner import DEFAULT_TIMEOUT, ActionRun, _run, _text, base_env, parse_file_commands

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
RUNNER_OS = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}
FILE_COMMANDS = {
    "GITHUB_OUTPUT": "output",
    "GITHUB_ENV": "env",
    "GITHUB_PATH": "path",
    "GITHUB_STEP_SUMMARY": "summary",
}


class UnsupportedAction(AssertionError):
    """The action uses something this harness does not model; extend the harness rather than guess."""


def load_action(action_dir: Path) -> dict[str, object]:
    data = YAML(typ="safe", pure=True).load((action_dir / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def bash() -> str:
    """The runner's `bash`: Git Bash on Windows (not WSL's System32\\bash.exe), else bash on PATH."""
    git_bash = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files"), "Git", "bin", "bash.exe")
    if os.name == "nt" and git_bash.is_file():
        return str(git_bash)
    found = shutil.which("bash")
    if found is None:
        raise UnsupportedAction("bash is not installed")
    return found


@dataclass
class Job:
    """One job: the workspace, RUNNER_TEMP, HOME and the job-level environment (`env`) every step starts from."""

    workspace: Path
    temp: Path  # RUNNER_TEMP: tests share one across runs, as the steps of one job do (the venv is made once)
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def job_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """What every step of the job sees: base_env (PATH led by this Python's directory: the runner's own
        Python, as actions/setup-python puts it on PATH) and the runner's variables, then the job's `env:`."""
        self.temp.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        github = {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": RUNNER_OS.get(sys.platform, sys.platform),
        }
        return base_env(self.home, {"PATH": path, **github, **self.env, **(extra or {})})

    def run(
        self,
        action_dir: Path,
        inputs: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ActionRun:
        """One `uses: ./native` step with `with: inputs`; `env` is the job's environment for it (e.g. secrets)."""
        return _Composite(self, action_dir, load_action(action_dir), inputs, timeout).run(self.job_env(env))


class _Composite:
    def __init__(
        self, job: Job, action_dir: Path, action: dict[str, object], given: Mapping[str, str], timeout: float
    ) -> None:
        runs = action["runs"]
        assert isinstance(runs, dict)
        if runs.get("using") != "composite":
            raise UnsupportedAction(f"not a composite action: runs.using is {runs.get('using')!r}")
        declared = action.get("inputs") or {}
        assert isinstance(declared, dict)
        unknown = set(given) - set(declared)
        if unknown:
            raise UnsupportedAction(f"inputs the action does not declare: {sorted(unknown)}")
        self.inputs = {name: str((spec or {}).get("default", "")) for name, spec in declared.items()}
        self.inputs.update(given)
        self.job, self.action_dir, self.action, self.timeout = job, action_dir, action, timeout
        self.steps: list[dict[str, object]] = list(runs["steps"])
        self.step_outputs: dict[str, dict[str, str]] = {}

    def evaluate(self, text: str) -> str:
        return EXPRESSION.sub(lambda match: self._value(match[1]), text)

    def _value(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] == "inputs" and len(parts) == 2 and parts[1] in self.inputs:
            return self.inputs[parts[1]]
        if expression == "github.action_path":
            return str(self.action_dir)
        if expression == "runner.temp":
            return str(self.job.temp)
        if expression == "runner.os":
            return RUNNER_OS.get(sys.platform, sys.platform)
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.step_outputs.get(parts[1], {}).get(parts[3], "")  # the runner gives "" for a missing one
        raise UnsupportedAction(f"expression the harness does not model: ${{{{ {expression} }}}}")

    def run(self, job_env: dict[str, str]) -> ActionRun:
        stdout, stderr, summary = [], [], []
        added_env: dict[str, str] = {}
        added_path: list[str] = []
        code = 0
        with tempfile.TemporaryDirectory(prefix="composite-", dir=self.job.temp) as scratch:
            for number, step in enumerate(self.steps):
                unsupported = set(step) - {"name", "id", "shell", "env", "run"}
                if unsupported or step.get("shell") != "bash":
                    raise UnsupportedAction(f"step {number}: {sorted(unsupported)} / shell {step.get('shell')!r}")
                files = Path(scratch, f"step{number}")
                files.mkdir()
                commands = {name: files / kind for name, kind in FILE_COMMANDS.items()}
                for path in commands.values():
                    path.touch()
                script = files / "script.sh"
                script.write_text(self.evaluate(str(step["run"])), encoding="utf-8", newline="\n")
                step_env = {key: self.evaluate(str(value)) for key, value in (step.get("env") or {}).items()}
                env = {
                    **job_env,
                    **added_env,
                    "GITHUB_ACTION_PATH": str(self.action_dir),
                    **{name: str(path) for name, path in commands.items()},
                    **step_env,
                }
                env["PATH"] = os.pathsep.join([*reversed(added_path), env["PATH"]])
                argv = [bash(), "--noprofile", "--norc", "-eo", "pipefail", str(script)]
                done = _run(argv, self.job.workspace, env, self.timeout, f"step {step.get('name')}", False)
                stdout.append(_text(done.stdout))
                stderr.append(_text(done.stderr))
                summary.append(commands["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"))
                if "id" in step:
                    self.step_outputs[str(step["id"])] = parse_file_commands(
                        commands["GITHUB_OUTPUT"].read_text(encoding="utf-8")
                    )
                added_env.update(parse_file_commands(commands["GITHUB_ENV"].read_text(encoding="utf-8")))
                added_path += [p for p in commands["GITHUB_PATH"].read_text(encoding="utf-8").splitlines() if p]
                if done.returncode != 0:
                    code = done.returncode
                    break
        declared = self.action.get("outputs") or {}
        assert isinstance(declared, dict)
        outputs = {name: self.evaluate(str(spec.get("value", ""))) for name, spec in declared.items()}
        return ActionRun(
            returncode=code,
            stdout="".join(stdout),
            stderr="".join(stderr),
            args=["uses:", str(self.action_dir)],
            outputs=outputs,
            summary="".join(summary),
            env=job_env,
        )


def stand_in_path(directory: Path, **programs: str) -> str:
    """A PATH holding only bash and the given bash scripts (`name=body`): a runner without (a usable) Python. POSIX
    only: a symlink and #! scripts."""
    directory.mkdir(parents=True)
    shell = Path(bash()).resolve()
    (directory / "bash").symlink_to(shell)
    for name, body in programs.items():
        (directory / name).write_text(f"#!{shell}\n{body}\n", encoding="utf-8")
        (directory / name).chmod(0o755)
    return str(directory)
