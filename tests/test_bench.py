"""`make bench` leaves the tree clean and `make bench-report` writes BENCHMARKS.md without machine paths (issue 13):
the benchmark script, run for real (quick, one run per case) against pypiserver, and its report rendered."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench.py"
TRACKED = ROOT / "BENCHMARKS.md"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _machine_paths() -> list[str]:
    """Paths of this machine a report must not name."""
    paths = {sys.executable, sys.prefix, str(Path(sys.executable).parent), str(ROOT), str(Path.home())}
    return sorted(p for p in paths if len(p) > 1)


def _assert_no_paths(text: str) -> None:
    for path in _machine_paths():
        assert path not in text, f"the report names {path}"
    assert not re.search(r"(?<![\w:/.])/(?:[\w.-]+/)+[\w.-]+", text), "the report holds a file system path"


@pytest.mark.timeout(300)
def test_make_bench_writes_under_its_own_directory_and_bench_report_renders_benchmarks_md(tmp_path: Path) -> None:
    tracked_before = TRACKED.read_bytes()
    out = tmp_path / "bench"
    argv = [sys.executable, str(SCRIPT), "--quick", "--runs", "1", "--big-runs", "1", "--out", str(out)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=280, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert TRACKED.read_bytes() == tracked_before, "make bench rewrote the tracked BENCHMARKS.md"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".bench/results.json"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "the default results directory, .bench/, must be git-ignored"
    assert sorted(p.name for p in out.iterdir()) == ["BENCHMARKS.md", "results.json"]  # the inputs are gone
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    assert set(results["samples"]) == {"1", "2", "3", "4", "4b"}
    _assert_no_paths((out / "BENCHMARKS.md").read_text())

    report = [sys.executable, str(SCRIPT), "--report", "--results", str(out / "results.json")]
    refused = subprocess.run([*report, "--output", str(tmp_path / "B.md")], capture_output=True, text=True, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--quick" in refused.stderr
    assert not (tmp_path / "B.md").exists()

    results["quick"] = False  # as a full run records it
    (out / "results.json").write_text(json.dumps(results))
    written = subprocess.run([*report, "--output", str(tmp_path / "B.md")], capture_output=True, text=True, check=False)
    assert written.returncode == 0, written.stdout + written.stderr
    document = (tmp_path / "B.md").read_text()
    assert document.startswith("# Benchmarks\n")
    assert "written from those results by `make bench-report`" in document
    _assert_no_paths(document)


def test_the_machine_is_described_without_its_paths() -> None:
    lines = "\n".join(_load().machine())
    assert f"Python {sys.version.split()[0]}" in lines
    _assert_no_paths(lines)


def test_the_tracked_report_names_no_machine_path() -> None:
    _assert_no_paths(TRACKED.read_text(encoding="utf-8"))
