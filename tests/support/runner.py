"""Run the product as its users do: the action's entrypoint as GitHub runs it, the CLI as a shell runs it, pip as
a consumer installs from the registry.

Each run gets a clean environment (PATH plus what is passed in, HOME in a fresh temporary directory), so nothing
from the developer's machine (~/.netrc, ~/.pypirc, keyrings, PIP_*/UV_*/TWINE_* variables, proxies) can make a
test pass or fail.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import warm

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "entrypoint.py"
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)
    max_rss: int | None = None  # peak resident memory of the run in bytes, when run with `measure=True`
    seconds: float | None = None  # wall time of the run, when run with `measure=True`

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


@dataclass(frozen=True)
class _Finished:
    returncode: int
    stdout: bytes
    stderr: bytes
    max_rss: int | None = None
    seconds: float | None = None


# Runs the command as its own child and writes that child's peak RSS (KiB on Linux) to the file named first. A
# process's ru_maxrss includes the memory of the process it was spawned from, up to its exec: measured from pytest
# it would count pytest; from this launcher (python -S, ~10 MiB) it counts only the launcher's few MiB.
_MEASURED = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


WARM = warm.Server()


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, what: str, measure: bool) -> _Finished:
    """Run to completion; with `measure`, also the command's peak RSS (see _MEASURED) and its wall time.

    Unmeasured runs of the CLI and the entrypoint are forks of a warm interpreter where that is the same start
    (tests/support/warm.py); measured ones always start fresh."""
    if not measure:
        program = argv[1:] if argv[0] == sys.executable else []
        run = WARM.run if warm.runs_publisher(program) else warm.fresh_run
        ran = run(argv, cwd, env, timeout)
        if isinstance(ran, subprocess.TimeoutExpired):
            raise _timed_out(what, timeout, ran)
        return _Finished(*ran)
    with tempfile.TemporaryDirectory(prefix="measured-") as scratch:
        rss_file = Path(scratch) / "max_rss"
        launcher = [sys.executable, "-S", "-c", _MEASURED, str(rss_file), *argv]
        started = time.monotonic()
        process = subprocess.Popen(
            launcher, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and the command: a session of their own
            stdout, stderr = process.communicate()
            raise _timed_out(what, timeout, subprocess.TimeoutExpired(argv, timeout, stdout, stderr)) from None
        seconds = time.monotonic() - started
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        return _Finished(process.returncode, stdout, stderr, int(rss_file.read_text()) * scale, seconds)


def run_action(
    workspace: Path,
    inputs: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    entrypoint: Path = ENTRYPOINT,
    timeout: float = DEFAULT_TIMEOUT,
    measure: bool = False,
) -> ActionRun:
    """Run `python entrypoint.py` in `workspace` the way the Actions runner starts the container.

    Each input becomes `INPUT_<NAME>` (upper-cased, hyphens kept: `INPUT_PACKAGES-DIR`), as the runner does. The
    GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files are read back into `outputs` and `summary`. With `measure`, the
    run's peak memory and wall time are recorded (`max_rss`, `seconds`).
    """
    with _runner_files(workspace, inputs, env) as (full_env, files):
        argv = [sys.executable, str(entrypoint)]
        result = _run(argv, workspace, full_env, timeout, "the action", measure)
        return _action_run(result.returncode, result.stdout, result.stderr, argv, full_env, files, result)


def _action_run(
    code: int,
    stdout: bytes,
    stderr: bytes,
    argv: list[str],
    env: dict[str, str],
    files: Path,
    measured: _Finished | None = None,
) -> ActionRun:
    return ActionRun(
        returncode=code,
        stdout=_text(stdout),
        stderr=_text(stderr),
        args=argv,
        max_rss=measured.max_rss if measured else None,
        seconds=measured.seconds if measured else None,
        outputs=parse_file_commands((files / "github_output").read_text(encoding="utf-8")),
        summary=(files / "step_summary").read_text(encoding="utf-8"),
        env=env,
    )


@contextmanager
def _runner_files(
    workspace: Path, inputs: Mapping[str, str], env: Mapping[str, str] | None
) -> Iterator[tuple[dict[str, str], Path]]:
    """The environment the runner gives a container step, and the folder of its output and summary files."""
    with tempfile.TemporaryDirectory(prefix="action-run-") as scratch:
        root = Path(scratch)
        home, runner_temp = root / "home", root / "runner-temp"
        home.mkdir()
        runner_temp.mkdir()
        (root / "github_output").touch()
        (root / "step_summary").touch()
        github = {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(root / "github_output"),
            "GITHUB_STEP_SUMMARY": str(root / "step_summary"),
            "RUNNER_TEMP": str(runner_temp),
        }
        inputs_env = {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
        yield base_env(home, {**github, **inputs_env, **(env or {})}), root


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
            expired = subprocess.TimeoutExpired(exc.cmd, timeout, stdout, stderr)
            raise _timed_out("the action", timeout, expired) from None
        return _action_run(self.process.returncode, stdout, stderr, self.argv, self.env, self._files)


@contextmanager
def start_action(
    workspace: Path, inputs: Mapping[str, str], env: Mapping[str, str] | None = None, *, entrypoint: Path = ENTRYPOINT
) -> Iterator[RunningAction]:
    """Start the action as `run_action` does, without waiting: for tests that signal it while it runs."""
    with _runner_files(workspace, inputs, env) as (full_env, files):
        argv = [sys.executable, str(entrypoint)]
        process = subprocess.Popen(argv, cwd=workspace, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            yield RunningAction(process, argv, full_env, files)
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
    measure: bool = False,
) -> CliRun:
    """Run `python -m publisher ARGS` in `cwd` with a clean environment (HOME is empty: no ~/.netrc sneaks in).

    With `measure`, the run's peak memory and wall time are recorded (`max_rss`, `seconds`)."""
    with tempfile.TemporaryDirectory(prefix="cli-run-") as home:
        argv = [sys.executable, "-m", "publisher", *args]
        result = _run(argv, cwd, base_env(Path(home), env), timeout, "the CLI", measure)
        return CliRun(
            result.returncode,
            _text(result.stdout),
            _text(result.stderr),
            argv,
            max_rss=result.max_rss,
            seconds=result.seconds,
        )


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
