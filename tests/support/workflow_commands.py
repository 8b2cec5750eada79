"""What GitHub's runner reads as workflow commands in a step's output, ported from actions/runner.

`src/Runner.Common/ActionCommand.cs`: the output is split into lines as .NET's `ReadLine` does (`\\r\\n`, `\\r` or
`\\n`); `TryParseV2` takes a line that, left-trimmed of .NET white space, starts with `::` and has a second `::`,
the command being the text up to the first space; the older `TryParse` takes `##[command]` anywhere in a line.
Every name counts as registered here (stricter than the runner, whose list changes between versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# .NET's Char.IsWhiteSpace: Unicode space separators, line and paragraph separators, U+0009-U+000D, U+0085, U+00A0.
_DOTNET_SPACE = "\t\n\x0b\x0c\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000\x20"
)
_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Command:
    name: str
    properties: str
    data: str


def lines(output: str) -> list[str]:
    """The output split where the runner splits it."""
    return _LINES.split(output)


def parse_line(line: str) -> Command | None:
    """The command the runner would run for this line, or None for plain text."""
    trimmed = line.lstrip(_DOTNET_SPACE)
    if trimmed.startswith("::"):
        end = trimmed.find("::", 2)
        if end >= 0:
            info = trimmed[2:end]
            name, _, properties = info.partition(" ")
            if name:
                return Command(name, properties, trimmed[end + 2 :])
    start = line.find("##[")
    if start >= 0:
        close = line.find("]", start)
        if close >= 0:
            name, _, properties = line[start + 3 : close].partition(" ")
            if name:
                return Command(name, properties, line[close + 1 :])
    return None


def commands(output: str) -> list[Command]:
    """Every command the runner would run for this output, in order."""
    return [command for line in lines(output) if (command := parse_line(line)) is not None]


def shape(output: str) -> list[str | None]:
    """One entry per line: the command's name, or None for plain text. Two outputs of one template with different
    outside text must have the same shape: the text added no line and no command."""
    return [command.name if (command := parse_line(line)) else None for line in lines(output)]
