"""Run the product as its users do: the action's entrypoint as GitHub runs it, the CLI as a shell runs it, pip as
a consumer installs from the registry.

Each run gets a clean environment (PATH plus what is passed in, HOME in a fresh temporary directory), so nothing
from the developer's machine (~/.netrc, ~/.pypirc, keyrings, PIP_*/UV_*/TWINE_* variables, proxies) can make a
test pass or fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "entrypoint.py"
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        """stdout then stderr, for assertion messages."""
        return self.stdout + self.stderr


@dataclass(frozen=True)
class ActionRun(CliRun):
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def visible(self) -> str:
        """Everything a reader of the log, summary or outputs sees; `::add-mask::` registrations are the masking
        mechanism itself (github-action-utils writes them as `::add-mask ::value`) and are left out."""
        log = "\n".join(line for line in self.stdout.splitlines() if not re.match(r"::add-mask ?::", line))
        return "\n".join([log, self.stderr, self.summary, *self.outputs.values()])


# What a Windows process needs from its parent's environment: without SYSTEMROOT, Winsock cannot load its providers
# (every socket fails with WinError 10106); without PATHEXT, Python 3.11's shutil.which finds no `keyring.exe`.
_WINDOWS_SYSTEM = ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "PROCESSOR_ARCHITECTURE", "TEMP", "TMP")


def base_env(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, a private HOME, UTF-8, and nothing else from the calling environment; `env` is laid over it.

    On Windows the home is also USERPROFILE (where `~` and Path.home() point), APPDATA and LOCALAPPDATA (uv's and
    keyring's configuration), and the system variables any Windows process needs are kept.
    """
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    if os.name == "nt":
        base |= {name: os.environ[name] for name in _WINDOWS_SYSTEM if name in os.environ}
        base |= {
            "USERPROFILE": str(home),
            "APPDATA": str(home / "AppData" / "Roaming"),
            "LOCALAPPDATA": str(home / "AppData" / "Local"),
        }
    return {**base, **(env or {})}


def parse_file_commands(text: str) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT-style file: `name=value` lines and `name<<DELIM` ... `DELIM` blocks (later wins)."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        heredoc, equals = line.find("<<"), line.find("=")
        if heredoc != -1 and (equals == -1 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"output {name!r}: delimiter {delimiter!r} never closes")
            i += 1
            values[name] = "\n".join(body)
        elif equals != -1:
            values[line[:equals]] = line[equals + 1 :]
        else:
            raise ValueError(f"not a file command: {line!r}")
    return values


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def _timed_out(what: str, timeout: float, exc: subprocess.TimeoutExpired) -> AssertionError:
    return AssertionError(
        f"{what} ran for more than {timeout} s\n--- stdout\n{_text(exc.stdout)}\n--- stderr\n{_text(exc.stderr)}"
    )


def run_action(
    workspace: Path,
    inputs: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    entrypoint: Path = ENTRYPOINT,
    timeout: float = DEFAULT_TIMEOUT,
) -> ActionRun:
    """Run `python entrypoint.py` in `workspace` the way the Actions runner starts the container.

    Each input becomes `INPUT_<NAME>` (upper-cased, hyphens kept: `INPUT_PACKAGES-DIR`), as the runner does. The
    GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files are read back into `outputs` and `summary`.
    """
    with start_action(workspace, inputs, env, entrypoint=entrypoint) as running:
        return running.wait(timeout)


class RunningAction:
    """An action run in progress (see `start_action`): its process, and `wait()` for the finished ActionRun."""

    def __init__(self, process: subprocess.Popen[bytes], argv: list[str], env: dict[str, str], files: Path) -> None:
        self.process, self.argv, self.env, self._files = process, argv, env, files

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> ActionRun:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise _timed_out(
                "the action", timeout, subprocess.TimeoutExpired(exc.cmd, timeout, stdout, stderr)
            ) from None
        return ActionRun(
            returncode=self.process.returncode,
            stdout=_text(stdout),
            stderr=_text(stderr),
            args=self.argv,
            outputs=parse_file_commands((self._files / "github_output").read_text(encoding="utf-8")),
            summary=(self._files / "step_summary").read_text(encoding="utf-8"),
            env=self.env,
        )


@contextmanager
def start_action(
    workspace: Path, inputs: Mapping[str, str], env: Mapping[str, str] | None = None, *, entrypoint: Path = ENTRYPOINT
) -> Iterator[RunningAction]:
    """Start the action as `run_action` does, without waiting: for tests that signal it while it runs."""
    with tempfile.TemporaryDirectory(prefix="action-run-") as scratch:
        root = Path(scratch)
        home, runner_temp = root / "home", root / "runner-temp"
        home.mkdir()
        runner_temp.mkdir()
        output_file, summary_file = root / "github_output", root / "step_summary"
        output_file.touch()
        summary_file.touch()
        github = {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            "RUNNER_TEMP": str(runner_temp),
        }
        inputs_env = {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
        full_env = base_env(home, {**github, **inputs_env, **(env or {})})
        argv = [sys.executable, str(entrypoint)]
        process = subprocess.Popen(argv, cwd=workspace, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            yield RunningAction(process, argv, full_env, root)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> CliRun:
    """Run `python -m publisher ARGS` in `cwd` with a clean environment (HOME is empty: no ~/.netrc sneaks in)."""
    with tempfile.TemporaryDirectory(prefix="cli-run-") as home:
        argv = [sys.executable, "-m", "publisher", *args]
        try:
            result = subprocess.run(
                argv, cwd=cwd, env=base_env(Path(home), env), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise _timed_out("the CLI", timeout, exc) from None
        return CliRun(result.returncode, _text(result.stdout), _text(result.stderr), argv)


def pip_install(simple_url: str, requirement: str, target_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Install `requirement` from one Simple index into `target_dir` (pip config, cache and PIP_* ignored).

    Returns `target_dir`: put it on PYTHONPATH to import what the registry served.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pip-home-") as home:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--index-url",
            simple_url,
            "--target",
            str(target_dir),
            requirement,
        ]
        env = base_env(Path(home), {"PIP_CONFIG_FILE": os.devnull})
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"pip could not install {requirement} from {simple_url} ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return target_dir


def run_installed(target_dir: Path, code: str, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `python -c CODE` with only `target_dir` added to the path: imports come from what pip installed."""
    with tempfile.TemporaryDirectory(prefix="py-home-") as home:
        env = base_env(Path(home), {"PYTHONPATH": str(target_dir), "PYTHONNOUSERSITE": "1"})
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
