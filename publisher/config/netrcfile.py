"""A lenient netrc reader, as curl and requests read the file: one bad entry costs that entry, not the run.

The standard library's `netrc` refuses the whole file at the first token it does not expect and quotes that token
in its error, so a typo in another host's entry both blocks the upload and prints a password. Here:

- tokens are separated by whitespace; a token may be double-quoted (curl 7.84+), with `\\"`, `\\\\`, `\\n`, `\\r`,
  `\\t` escapes and any other `\\x` read as `x`; a quoted token is never a keyword;
- keywords (case-insensitive, as in curl): `machine NAME` and `default` start an entry; `login`, `password` and
  `account` take the next token as their value (unless it is an unquoted `machine`, `default` or `macdef`: then
  the value is missing, and a typo cannot swallow the next entry); `macdef NAME` ends the entry and skips the
  macro, up to the next empty line; any other token is ignored; a line whose first token starts with `#` is a
  comment;
- an entry with an unterminated quote, or a keyword with no value before the end of the file, is kept but marked
  unusable (`problem`), and parsing goes on; problems name the line, never the text on it.

Lookup follows netrc(5): the first usable `machine` entry for the host (case-insensitive), else `default`; when the
caller knows the username, only entries with that login count (curl's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from publisher.config import files

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)("?)|(\S+)')
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_VALUE_KEYWORDS = ("login", "password", "account")
_ENTRY_KEYWORDS = ("machine", "default", "macdef")  # unquoted, never a value: a missing value must not eat an entry


@dataclass
class Entry:
    """One `machine` (or `default`, machine None) entry. Values are never part of repr or of any message."""

    machine: str | None
    line: int
    login: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    problem: str | None = None  # why the entry cannot be used, in words that show nothing from the file


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool
    line: int
    problem: str | None = None


def read(path: Path) -> bytes:
    """The file's bytes through files.read_config: a regular file of at most 1 MiB, or ConfigError."""
    return files.read_config(
        path, "the netrc file", hint="Point NETRC at a regular netrc file under 1 MiB, or remove what is at its path."
    )


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def _tokens(text: str) -> list[_Token]:
    """Every token with its line number; macro bodies and comment lines left out."""
    found: list[_Token] = []
    in_macro = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_macro:
            in_macro = bool(line.strip())
            continue
        for position, match in enumerate(_TOKEN.finditer(line)):
            quoted, closed, bare = match.groups()
            if bare is not None:
                if position == 0 and bare.startswith("#"):
                    break
                found.append(_Token(bare, False, number))
                if bare.lower() == "macdef":
                    in_macro = True
                    break  # the macro's name and the rest of the line belong to it
            elif closed:
                found.append(_Token(_unescape(quoted), True, number))
            else:
                found.append(_Token("", True, number, f"an unterminated quote on line {number}"))
                break
    return found


def _value(tokens: list[_Token], index: int) -> _Token | None:
    """The token at `index` when it can be a value (possibly a broken one): None at the end, or for a keyword that
    starts an entry."""
    if index >= len(tokens):
        return None
    token = tokens[index]
    if not token.quoted and token.text.lower() in _ENTRY_KEYWORDS:
        return None
    return token


def parse(text: str) -> list[Entry]:
    """Every entry in file order, usable or not."""
    entries: list[Entry] = []
    current: Entry | None = None
    tokens = _tokens(text)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        keyword = "" if token.quoted else token.text.lower()
        if token.problem is not None:
            if current is not None and current.problem is None:
                current.problem = token.problem
        elif keyword in ("machine", "default"):
            current = Entry(None, token.line)
            entries.append(current)
            if keyword == "machine":
                name = _value(tokens, index)
                if name is None:
                    current.problem = f"`machine` on line {token.line} has no name"
                else:
                    current.machine, current.problem, index = name.text, name.problem, index + 1
        elif keyword == "macdef":
            current = None
        elif keyword in _VALUE_KEYWORDS and current is not None:
            value = _value(tokens, index)
            index += value is not None
            if value is None or value.problem is not None:
                missing = f"`{keyword}` on line {token.line} has no value"
                current.problem = current.problem or (value.problem if value else None) or missing
            elif keyword != "account":
                setattr(current, keyword, value.text)
    return entries


def lookup(entries: list[Entry], host: str, username: str | None = None) -> tuple[Entry | None, list[Entry]]:
    """(the entry to use, the unusable entries that would have matched): a machine entry first, then `default`."""
    host = host.lower()
    wanted = [e for e in entries if e.machine is not None and e.machine.lower() == host]
    wanted += [e for e in entries if e.machine is None]
    wanted = [e for e in wanted if username is None or e.login == username or e.problem is not None]
    broken = []
    for entry in wanted:
        if entry.problem is not None:
            broken.append(entry)
        elif entry.login:
            return entry, broken
    return None, broken
