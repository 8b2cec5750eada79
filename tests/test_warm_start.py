"""The warm interpreter (tests/support/warm.py) starts a run as a fresh interpreter would, or not at all.

Most CLI and action runs of the suite are forks of it, so these tests hold it to a fresh start side by side: the
same program, arguments, environment and working directory give the same interpreter state, output and exit
status, whichever way it was started; what it cannot start the same way it leaves to a fresh start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import warm
from tests.support.runner import base_env, run_action, run_cli

pytestmark = pytest.mark.timeout(60)  # Linux only: tests/platforms.py


@pytest.fixture(autouse=True)
def _forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests compare forked runs with fresh ones, so they fork even under PUBLISHER_TESTS_FRESH=1."""
    monkeypatch.delenv("PUBLISHER_TESTS_FRESH", raising=False)


# Prints what a program sees of the start it was given (not its pid, which differs by design).
PROBE = r"""
import gc, json, os, signal, sys, threading
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
print(json.dumps({
    "argv": sys.argv,
    "path0": sys.path[0],
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "main": sys.modules["__main__"].__dict__.get("__file__"),
    "main_names": sorted(n for n in vars(sys.modules["__main__"]) if not n.startswith("__")),
    "streams": [[s.encoding, s.errors, s.line_buffering, s.seekable(), s.fileno(), s.mode] for s in
                (sys.stdin, sys.stdout, sys.stderr)],
    "dunder_streams": [sys.__stdout__ is sys.stdout, sys.__stderr__ is sys.stderr, sys.__stdin__ is sys.stdin],
    "signals": {n: str(signal.getsignal(getattr(signal, n))) for n in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD")},
    "gc": gc.isenabled(),
    "threads": threading.active_count(),
    "fds": fds,
}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def _fresh(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=30, check=False)
    return done.returncode, done.stdout, done.stderr


def _warm(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 30) -> tuple[int, bytes, bytes]:
    server = warm.Server()
    assert server.forkable(argv, env)
    ran = server.run(argv, cwd, env, timeout)
    assert not isinstance(ran, subprocess.TimeoutExpired)
    return ran


@pytest.fixture
def probe(tmp_path: Path) -> tuple[list[str], Path, dict[str, str]]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    cwd = tmp_path / "work"
    cwd.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return [sys.executable, str(script), "3"], cwd, base_env(home, {"SOME_SETTING": "x y"})


def test_a_forked_program_sees_the_start_a_fresh_one_sees(probe: tuple[list[str], Path, dict[str, str]]) -> None:
    argv, cwd, env = probe
    fresh, forked = _fresh(argv, cwd, env), _warm(argv, cwd, env)
    assert forked[0] == fresh[0] == 3
    assert forked[2] == fresh[2] == b"to stderr\n"
    seen_fresh, seen_forked = json.loads(fresh[1]), json.loads(forked[1])
    assert seen_forked == seen_fresh
    assert seen_forked["env"] == env
    assert seen_forked["fds"] in (None, [0, 1, 2, 3])  # 3: the listing of /proc/self/fd itself


def test_an_uncaught_exception_is_shown_and_ends_the_run_as_in_a_fresh_one(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import atexit\natexit.register(print, 'atexit ran')\ndef f():\n    raise ValueError('boom')\nf()\n"
    )
    env = base_env(tmp_path)
    fresh, forked = (
        _fresh([sys.executable, str(script)], tmp_path, env),
        _warm([sys.executable, str(script)], tmp_path, env),
    )
    assert forked == fresh
    assert fresh[0] == 1
    assert b"ValueError: boom" in fresh[2]
    assert fresh[1] == b"atexit ran\n"


def test_the_cli_and_the_action_print_and_exit_as_fresh_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input (exit 2) and --version, compared byte for byte with fresh runs of the same commands."""
    (tmp_path / "pyproject.toml").write_text('[[tool.uv.index]]\nname = "a"\nurl = "https://a.invalid/simple/"\n')
    runs = {
        "version": lambda: run_cli(["--version"], tmp_path),
        "unknown index": lambda: run_cli(["--index", "nope"], tmp_path),
        "action": lambda: run_action(tmp_path, {"index": "nope"}),
    }
    forked = {name: run() for name, run in runs.items()}
    monkeypatch.setenv("PUBLISHER_TESTS_FRESH", "1")
    assert not warm.Server().forkable([sys.executable, "-m", "publisher"], base_env(tmp_path))  # fresh from here
    fresh = {name: run() for name, run in runs.items()}
    for name in runs:
        got, expected = forked[name], fresh[name]
        assert (got.returncode, _homeless(got.stdout), _homeless(got.stderr)) == (
            expected.returncode,
            _homeless(expected.stdout),
            _homeless(expected.stderr),
        ), name
    assert forked["unknown index"].returncode == 2
    assert forked["action"].returncode == 2


def _homeless(text: str) -> str:
    """Each run has a home of its own (a temporary directory): its name aside."""
    return re.sub(r"(cli|action)-run-\w+", "<home>", text)


def test_a_run_past_its_timeout_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "sleep.py"
    script.write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    server = warm.Server()
    started = time.monotonic()
    ran = server.run([sys.executable, str(script)], tmp_path, base_env(tmp_path), timeout=1.0)
    assert isinstance(ran, subprocess.TimeoutExpired)
    assert time.monotonic() - started < 10
    pid = int(ran.stdout or b"")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


def test_a_keyboard_interrupt_ends_the_run_by_sigint_as_in_a_fresh_one(tmp_path: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text("raise KeyboardInterrupt\n")
    env = base_env(tmp_path)
    fresh, forked = (
        _fresh([sys.executable, str(script)], tmp_path, env),
        _warm([sys.executable, str(script)], tmp_path, env),
    )
    assert forked == fresh
    assert fresh[0] == -signal.SIGINT


@pytest.mark.parametrize(
    "setting",
    [
        {"PYTHONPATH": "/elsewhere"},
        {"PYTHONUTF8": "0"},
        {"LANG": "C"},
        {"LC_ALL": "C"},
        {"PYDANTIC_DISABLE_PLUGINS": ""},
    ],
    ids=lambda setting: next(iter(setting)),
)
def test_what_the_interpreter_reads_at_start_makes_a_fresh_start(tmp_path: Path, setting: dict[str, str]) -> None:
    server = warm.Server()
    argv = [sys.executable, "-m", "publisher", "--version"]
    assert server.run(argv, tmp_path, base_env(tmp_path), 30)[0] == 0  # type: ignore[index]
    assert server.forkable(argv, base_env(tmp_path))
    assert not server.forkable(argv, base_env(tmp_path, setting))


def test_only_what_this_interpreter_would_run_is_forked(tmp_path: Path) -> None:
    server = warm.Server()
    env = base_env(tmp_path)
    other = tmp_path / "other-python-script"
    other.write_text("#!/usr/bin/python3\nprint(1)\n")
    console = tmp_path / "ours"
    console.write_text(f"#!{sys.executable}\nprint(1)\n")
    assert server.forkable([sys.executable, "-m", "publisher"], env)
    assert server.forkable([str(console), "--flag"], env)
    assert not server.forkable(["/usr/bin/python3", "-m", "publisher"], env)
    assert not server.forkable([str(other)], env)
    assert not server.forkable(["/bin/true"], env)
