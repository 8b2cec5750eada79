"""Every `uses:` in the docs, the examples and the workflows names the current release of its action.

The current releases are kept in the shared pins file, `../shared/facts/action-pins.md` beside the repository (in a
git worktree: beside the main checkout), a table of `| action | newest release | commit SHA | ... |`. Docs and
examples write `owner/name@vMAJOR` (what users copy); workflows pin the full commit SHA with its `# vX.Y.Z` comment,
and both the SHA and the tag must be the pins file's. Nothing is skipped: a missing pins file, an action the pins
file does not know (unless listed in OTHER_MAJORS below with where its major came from), or a scan that finds no
`uses:` at all, fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PINS = Path("shared") / "facts" / "action-pins.md"
PINS_ENV = "PUBLISHER_ACTION_PINS"  # another place for the pins file (never a way to skip this test)

# Actions the docs use that the pins file does not list: their current major, read from their own releases.
OTHER_MAJORS = {
    "aws-actions/configure-aws-credentials": "v6",  # v6.2.2, 2026-07 (aws-actions/configure-aws-credentials)
}
# The docs' placeholder for this action itself (`OWNER/REPO@v1`, `OWNER/REPO/native@v1`, `OWNER/REPO@<SHA> # main`),
# and local actions.
PLACEHOLDER = "OWNER/REPO"

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>\S+))?")
ROW = re.compile(r"^\|\s*(?P<action>[\w.-]+/[\w.-]+)\s*\|\s*(?P<tag>v\d+\.\d+\.\d+)\s*\|\s*(?P<sha>[0-9a-f]{40})\s*\|")


@dataclass(frozen=True)
class Pin:
    tag: str
    sha: str

    @property
    def major(self) -> str:
        return self.tag.split(".")[0]


def _git(*args: str) -> str:
    """What `git -C ROOT <args>` prints, stripped; "" when git fails or is missing."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _main_checkout() -> Path | None:
    """The main checkout of this repository when ROOT is a linked worktree (its .git is a file)."""
    common = _git("rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(common).parent if common else None


def _origin_checkout() -> Path | None:
    """The local repository this one was cloned from (a fresh clone in a temporary folder, as before a stop)."""
    url = _git("config", "--get", "remote.origin.url").removeprefix("file://")
    return Path(url) if url and "://" not in url and Path(url).is_dir() else None


def pins_file() -> Path:
    if os.environ.get(PINS_ENV):
        candidates = [Path(os.environ[PINS_ENV])]
    else:
        main, origin = _main_checkout(), _origin_checkout()
        candidates = [ROOT.parent / PINS] + [c.parent / PINS for c in (main, origin) if c is not None]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.fail(
        f"The action pins file is missing: looked for {', '.join(str(c) for c in candidates)}. It lists the current "
        f"release of every action (`../{PINS.as_posix()}` beside the repository); set {PINS_ENV} to its path if it "
        "lives elsewhere. This test does not skip."
    )


@cache
def pins() -> dict[str, Pin]:
    found = {}
    for line in pins_file().read_text(encoding="utf-8").splitlines():
        row = ROW.match(line)
        if row:
            found[row["action"]] = Pin(row["tag"], row["sha"])
    assert len(found) >= 5, "the pins file's table was not understood (| action | vX.Y.Z | sha | ...)"
    return found


def _files(kind: str) -> list[Path]:
    if kind == "workflows":
        return sorted(p for p in (ROOT / ".github" / "workflows").glob("*") if p.is_file())
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    examples = sorted(p for p in (ROOT / "examples").glob("**/*") if p.is_file() and "__pycache__" not in p.parts)
    return docs + examples


def _uses(paths: list[Path]) -> list[tuple[str, str, str | None]]:
    """(where, ref, comment) of every `uses:` line."""
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file in examples/ holds no workflow
        for number, line in enumerate(text.splitlines(), 1):
            match = USES.match(line)
            if match:
                found.append((f"{path.relative_to(ROOT)}:{number}", match["ref"], match["comment"]))
    return found


def _action(ref: str) -> tuple[str, str]:
    """`owner/name[/path]@version` -> (`owner/name`, version)."""
    name, _, version = ref.partition("@")
    return "/".join(name.split("/")[:2]), version


def doc_problem(ref: str, comment: str | None, known: dict[str, Pin]) -> str | None:
    """What is wrong with a `uses:` in the docs or examples (None: nothing)."""
    if ref.startswith("./") or ref.startswith((f"{PLACEHOLDER}@", f"{PLACEHOLDER}/")):  # the action, its native entry
        return None
    action, version = _action(ref)
    if action in known:
        pin = known[action]
        if version == pin.major or (version == pin.sha and comment == pin.tag):
            return None
        return f"{ref}: the current release is {pin.tag} (write @{pin.major}, or @{pin.sha} # {pin.tag})"
    if action in OTHER_MAJORS:
        return None if version == OTHER_MAJORS[action] else f"{ref}: the current major is {OTHER_MAJORS[action]}"
    return f"{ref}: not in the pins file nor in OTHER_MAJORS: add its current release to one of them"


def workflow_problem(ref: str, comment: str | None, known: dict[str, Pin]) -> str | None:
    """What is wrong with a `uses:` in a workflow (None: nothing): the pins file's SHA and tag, nothing else."""
    if ref.startswith("./"):
        return None
    action, version = _action(ref)
    pin = known.get(action)
    if pin is None:
        return f"{ref}: not in the pins file (workflows pin only actions it lists)"
    if version != pin.sha or comment != pin.tag:
        return f"{ref} # {comment}: the pins file says {pin.sha} # {pin.tag}"
    return None


@pytest.mark.parametrize("kind", ["docs and examples", "workflows"])
def test_every_uses_names_the_current_release(kind: str) -> None:
    found = _uses(_files("workflows" if kind == "workflows" else "docs"))
    assert found, f"no `uses:` found in the {kind}: has the layout changed?"
    check = workflow_problem if kind == "workflows" else doc_problem
    problems = [f"{where}: {problem}" for where, ref, comment in found if (problem := check(ref, comment, pins()))]
    assert problems == [], "\n".join(problems)


def test_the_checks_catch_old_and_unknown_pins() -> None:
    known = {"actions/checkout": Pin("v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1")}
    assert doc_problem("actions/checkout@v7", None, known) is None
    assert doc_problem("actions/checkout@v4", None, known) is not None
    assert doc_problem("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1", known) is None
    assert doc_problem("someone/else@v1", None, known) is not None
    assert doc_problem("aws-actions/configure-aws-credentials@v4", None, known) is not None
    assert doc_problem("OWNER/REPO@v1", None, known) is None
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert workflow_problem(f"actions/checkout@{sha}", "v7.0.1", known) is None
    assert workflow_problem(f"actions/checkout@{sha}", "v7.0.0", known) is not None  # the comment must match too
    assert workflow_problem("actions/checkout@" + "0" * 40, "v7.0.1", known) is not None
    assert workflow_problem("actions/checkout@v7", None, known) is not None
    assert USES.match("      - uses: actions/checkout@v7 # v7.0.1")["comment"] == "v7.0.1"  # type: ignore[index]
    assert USES.match("GitLab has no `uses:`: run the command line") is None
