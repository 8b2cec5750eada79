"""The README stays a front page and the docs site stays whole (issue 18).

README.md says what the tool does, why, and how to start; everything else is a page under docs/, built by
`make docs` from mkdocs.yml's nav. A page missing from the nav is built but reachable from nowhere but a search,
and a README that grows back past 15,000 bytes is the 125 KB README again: both fail here. (Broken links and
anchors fail `make docs` itself, which runs with --strict.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README_LIMIT = 15_000


def _nav_pages(node: Any) -> Iterator[str]:
    """Every page a nav (nested lists of `Title: page.md` mappings and bare `page.md` entries) names."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def nav() -> list[str]:
    config = YAML(typ="rt").load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))  # rt: keeps the !!python tags
    return list(_nav_pages(config["nav"]))


def test_readme_is_at_most_15000_bytes() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes (at most {README_LIMIT}): move the detail to a docs page"


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    listed = nav()
    assert len(pages) > 20, "docs/ holds too few pages: has it moved?"
    assert [p for p in pages if p not in listed] == [], "pages missing from mkdocs.yml's nav"
    assert [p for p in listed if p not in pages] == [], "nav entries without a page"
    assert len(listed) == len(set(listed)), "a page is in the nav twice"


def test_the_readme_links_into_the_docs_and_every_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[^)]*)?\)", readme)
    assert {"docs/preflight.md", "docs/entries.md", "docs/troubleshooting/index.md", "CHANGELOG.md"} <= set(targets)
    assert [t for t in targets if not (ROOT / t).is_file()] == [], "README links to files that do not exist"


def test_the_tables_and_the_quick_starts_stay_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for kept in ("## Why", "<!-- inputs:start -->", "<!-- outputs:start -->", "make demo", "make test"):
        assert kept in readme, f"README.md lost `{kept}`"
    assert "uvx publish-dists --index" in readme, "README.md lost the command-line quick start"
    assert re.search(r"^\s+- uses: OWNER/REPO@v1$", readme, re.M), "README.md lost the action quick start"
