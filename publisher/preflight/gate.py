"""Which rules apply, and the one pass over every file before anything is sent: all problems of all files are
gathered, then refused together (PreflightError, exit 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from publisher.config.settings import Settings
from publisher.dists.collect import Dist
from publisher.preflight.problems import PreflightError, Problem
from publisher.preflight.rules_metadata import basic_metadata_problems, pypi_metadata_problems
from publisher.preflight.rules_wheel import archive_problems
from publisher.report.console import Console

Mode = Literal["auto", "pypi", "basic", "off"]
Rules = Literal["pypi", "basic", "off"]
PYPI_HOSTS = frozenset({"upload.pypi.org", "pypi.org", "test.pypi.org", "upload.test.pypi.org"})


def resolve_mode(settings: Settings, publish_url: str) -> Rules:
    """`auto` means PyPI's rules for PyPI and TestPyPI and the index-neutral ones elsewhere; `verify-metadata:
    false`, the older spelling, means off."""
    if not settings.verify_metadata:
        return "off"
    if settings.preflight != "auto":
        return settings.preflight
    host = (urlsplit(publish_url).hostname or "").lower().rstrip(".")
    return "pypi" if host in PYPI_HOSTS else "basic"


def file_problems(dist: Dist, rules: Rules) -> list[Problem]:
    """Every problem of one file under `rules` (no network)."""
    if rules == "off":
        return []
    pypi = rules == "pypi"
    problems = basic_metadata_problems(dist)
    if pypi:
        from publisher.preflight.rules_names import name_problems  # PyPI's rules only: not loaded elsewhere

        problems += name_problems(dist) + pypi_metadata_problems(dist)
    return problems + archive_problems(dist, pypi)


def run_preflight(
    dists: list[Dist],
    rules: Rules,
    check_url: str | None,
    environ: Mapping[str, str],
    console: Console,
    *,
    front_end: str,
    native_tls: bool,
) -> str:
    """Check every file; raise PreflightError listing every problem, or return the one-line outcome."""
    if rules == "off":
        return "off: no checks"
    problems = [p for dist in dists for p in file_problems(dist, rules)]
    if rules == "pypi":
        from publisher.preflight.remote import index_problems

        problems += index_problems(dists, check_url, environ, console, front_end=front_end, native_tls=native_tls)
    if problems:
        order = {d.filename: n for n, d in enumerate(dists)}
        problems.sort(key=lambda p: order.get(p.file, len(order)))  # file by file, in upload order
        raise PreflightError(problems, rules)
    outcome = f"{rules} rules: {len(dists)} file(s) passed"
    console.info(f"Preflight ({outcome}).")
    return outcome
