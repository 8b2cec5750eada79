"""Generate README.md's inputs and outputs tables from action.yml, so the two never drift apart.

Usage:
    python scripts/readme_tables.py            print both tables
    python scripts/readme_tables.py --write    rewrite README.md between the markers
    python scripts/readme_tables.py --check    exit 1 (with a diff) when README.md is out of date

Markers: <!-- inputs:start --> ... <!-- inputs:end --> and <!-- outputs:start --> ... <!-- outputs:end -->.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("inputs", "outputs")


class TablesError(Exception):
    """action.yml or README.md is not in the shape this script needs."""


def load_action(path: Path) -> dict[str, Any]:
    """Parse action.yml with a safe loader (the manifest is plain data)."""
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TablesError(f"{path}: expected a mapping at the top level")
    return data


# A word outside code spans that Markdown would mangle (`__token__` turns bold, `<NAME>` vanishes as HTML).
_FRAGILE_WORD = re.compile(r"(?<![\w`])([\w.\[\]-]*[_<>][^\s`]*?)([.,;:)]*)(?=\s|$)")


def _plain(text: str) -> str:
    text = _FRAGILE_WORD.sub(lambda m: f"`{m.group(1)}`{m.group(2)}", text)
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def cell(text: object) -> str:
    """One table cell: a single line, pipes escaped, identifiers that Markdown would mangle put in code spans."""
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):  # even parts are outside backticks
        parts[i] = _plain(parts[i])
    return "`".join(parts).replace("|", "\\|")


def _entries(action: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    entries = action.get(section) or {}
    if not isinstance(entries, Mapping):
        raise TablesError(f"action.yml: `{section}` must be a mapping")
    return entries


def inputs_table(action: Mapping[str, Any]) -> str:
    """Markdown table of the inputs: name, description, default (required inputs say so)."""
    lines = ["| Input | Description | Default |", "| --- | --- | --- |"]
    for name, spec in _entries(action, "inputs").items():
        spec = spec or {}
        if "default" in spec and spec["default"] is not None and str(spec["default"]) != "":
            default = f"`{spec['default']}`"
        elif spec.get("required") in (True, "true"):
            default = "*required*"
        else:
            default = ""
        lines.append(f"| `{name}` | {cell(spec.get('description', ''))} | {default} |")
    return "\n".join(lines)


def outputs_table(action: Mapping[str, Any]) -> str:
    """Markdown table of the outputs: name and description."""
    lines = ["| Output | Description |", "| --- | --- |"]
    for name, spec in _entries(action, "outputs").items():
        lines.append(f"| `{name}` | {cell((spec or {}).get('description', ''))} |")
    return "\n".join(lines)


def render(readme: str, action: Mapping[str, Any]) -> str:
    """README text with each marked section replaced by its generated table."""
    tables = {"inputs": inputs_table(action), "outputs": outputs_table(action)}
    for section in SECTIONS:
        pattern = re.compile(
            rf"(<!-- {section}:start -->)\n?.*?(<!-- {section}:end -->)",
            re.DOTALL,
        )
        matches = pattern.findall(readme)
        if len(matches) != 1:
            raise TablesError(
                f"README: expected one <!-- {section}:start --> ... <!-- {section}:end --> pair, found {len(matches)}"
            )
        readme = pattern.sub(lambda m, s=section: f"{m.group(1)}\n{tables[s]}\n{m.group(2)}", readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the README between the markers")
    mode.add_argument("--check", action="store_true", help="exit 1 when the README is out of date")
    parser.add_argument("--action", type=Path, default=ROOT / "action.yml")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)

    try:
        action = load_action(args.action)
        if not (args.write or args.check):
            print(inputs_table(action), outputs_table(action), sep="\n\n")
            return 0
        current = args.readme.read_text(encoding="utf-8")
        wanted = render(current, action)
    except (OSError, TablesError) as exc:
        print(f"readme_tables: {exc}", file=sys.stderr)
        return 2

    if current == wanted:
        return 0
    if args.write:
        args.readme.write_text(wanted, encoding="utf-8")
        print(f"updated {args.readme}")
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True), wanted.splitlines(keepends=True), str(args.readme), "generated"
    )
    sys.stderr.writelines(diff)
    print(
        f"{args.readme} is out of date with {args.action}: run `python scripts/readme_tables.py --write`",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
