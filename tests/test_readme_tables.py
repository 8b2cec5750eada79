"""README.md's inputs/outputs tables are generated from action.yml; these tests keep the generator honest and
fail when someone edits one file without regenerating the other."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme_tables.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rt = _load()

ACTION = textwrap.dedent(
    """\
    name: t
    description: t
    inputs:
      index:
        description: Name of a [[tool.uv.index]] entry.
        required: false
      packages-dir:
        description: >-
          Directory holding
          the dists | wheels.
        default: dist
      token:
        description: Sent with the username __token__ (see UV_INDEX_<NAME>_PASSWORD).
        required: true
      retries:
        description: Retries.
        default: 3
    outputs:
      published:
        description: JSON array of the file names uploaded.
    runs:
      using: docker
      image: Dockerfile
    """
)

README = textwrap.dedent(
    """\
    # t

    ## Inputs

    <!-- inputs:start -->
    stale
    <!-- inputs:end -->

    ## Outputs

    <!-- outputs:start -->
    <!-- outputs:end -->

    Tail.
    """
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    action = tmp_path / "action.yml"
    action.write_text(ACTION, encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    return action, readme


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


def test_inputs_table_has_names_descriptions_and_defaults(files: tuple[Path, Path]) -> None:
    table = rt.inputs_table(rt.load_action(files[0]))
    assert table.splitlines() == [
        "| Input | Description | Default |",
        "| --- | --- | --- |",
        "| `index` | Name of a [[tool.uv.index]] entry. |  |",
        "| `packages-dir` | Directory holding the dists \\| wheels. | `dist` |",
        "| `token` | Sent with the username `__token__` (see `UV_INDEX_<NAME>_PASSWORD`). | *required* |",
        "| `retries` | Retries. | `3` |",
    ]


def test_outputs_table(files: tuple[Path, Path]) -> None:
    assert rt.outputs_table(rt.load_action(files[0])).splitlines()[2] == (
        "| `published` | JSON array of the file names uploaded. |"
    )


def test_check_fails_then_write_fixes_and_is_idempotent(files: tuple[Path, Path]) -> None:
    action, readme = files
    stale = _run("--check", "--action", action, "--readme", readme)
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    assert "-stale" in stale.stderr  # the diff shows what would change

    assert _run("--write", "--action", action, "--readme", readme).returncode == 0
    text = readme.read_text(encoding="utf-8")
    assert "stale" not in text
    assert "<!-- inputs:start -->\n| Input |" in text
    assert "| `retries` | Retries. | `3` |\n<!-- inputs:end -->" in text
    assert "<!-- outputs:start -->\n| Output |" in text
    assert text.endswith("Tail.\n")

    assert _run("--check", "--action", action, "--readme", readme).returncode == 0
    assert _run("--write", "--action", action, "--readme", readme).stdout == ""  # nothing to update
    assert readme.read_text(encoding="utf-8") == text


def test_missing_markers_is_an_error(files: tuple[Path, Path]) -> None:
    action, readme = files
    readme.write_text("# no markers\n", encoding="utf-8")
    result = _run("--check", "--action", action, "--readme", readme)
    assert result.returncode == 2
    assert "inputs:start" in result.stderr


def test_readme_is_in_sync_with_action_yml() -> None:
    """The real README: regenerate with `python scripts/readme_tables.py --write` after editing action.yml."""
    result = _run("--check")
    assert result.returncode == 0, result.stderr
