"""The one path for text that did not come from our own code: file names, metadata, registry bodies and headers,
OIDC answers, URLs, environment values, exception texts.

Such text is hostile until it went through here. A registry that echoes our Authorization header back, a file
name with a newline in it, an `/_/oidc/audience` answer of `\\n::warning::...`: none of them may add a line of
their own to the log, start a workflow command, break a job-summary table row, or show a secret.

- :func:`inline` -- outside text as one printable line: known secrets redacted first (in any case), then every
  control, line- or paragraph-separator and bidirectional-override character written as a visible escape (`\\n`,
  `\\x1b`, `\\u202e`), then cut to length. Redacting before cutting means no half of a secret survives the cut.
- :func:`exact` -- a name (file, path, URL without userinfo) escaped the same way but not redacted: outputs and
  summaries carry exact names.
- :func:`code` / :func:`cell` -- the same, as a Markdown code span (no HTML, link or image can render from it)
  and as a table cell (a `|` cannot end the cell).
- :func:`defuse` -- the last step of every line printed to stdout (console.py): a line that GitHub's runner would
  read as a workflow command is made plain text (`ActionCommand.TryParseV2`: the left-trimmed line starts with
  `::`; `TryParse`: `##[` anywhere in the line).

Secrets are kept out of our own messages by construction (we never format one in); :func:`register_secret`
(called by `Console.mask`) lets :func:`inline` take them out of text we did not write.
"""

from __future__ import annotations

import re
import threading

# C0 and C1 controls (newline and tab included: outside text gets no line or column of its own), DEL, the
# Unicode line and paragraph separators, bidirectional controls (text that reads differently from what it is),
# byte-order marks and lone surrogates (an undecodable file name from the OS: no terminal can print one).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")  # where the runner (.NET ReadLine) splits its input
_SURROGATES = re.compile("[\ud800-\udfff]")  # cannot be encoded: the write itself would fail
# A command marker of a CI system: GitHub's legacy `##[cmd]`, Azure Pipelines' `##vso[...]`, TeamCity's `##teamcity[`.
_MARKER = re.compile(r"##(?=[A-Za-z]*\[)")
_ZWSP = "\u200b"  # not whitespace to .NET's TrimStart, invisible to the reader

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

REDACTED = "***"

# Shorter values are neither redacted here nor masked in the log (console.py): masking `e` would turn every `e` of the
# job's log into `***`, and a one-letter password turned `202 Accepted` into `202 Acce***ted`; an exchange's hostile
# answer could do it on purpose. 8 is GitLab's minimum for a masked variable. Our own messages never print a secret
# of any length; a shorter password is only left unredacted in text a registry sends back.
MIN_SECRET_LENGTH = 8


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def register_secret(secret: str | None) -> bool:
    """Remember a secret so :func:`inline` redacts it from outside text; False if shorter than MIN_SECRET_LENGTH or
    already known."""
    global _pattern
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return False
    with _secrets_lock:
        if secret in _secrets:
            return False
        _secrets.add(secret)
        _pattern = None
    return True


def forget_secrets() -> None:
    """For tests that run several pipelines in one process."""
    global _pattern
    with _secrets_lock:
        _secrets.clear()
        _pattern = None


def redact(text: str) -> str:
    """Every registered secret in `text`, in any case, replaced by `***`, longest first, in one linear pass."""
    global _pattern
    if not _secrets:
        return text
    with _secrets_lock:
        if _pattern is None:
            # In any case: a registry or a listing may echo a secret upper- or lower-cased, and the runner's own
            # mask compares case-sensitively.
            alternatives = "|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True))
            _pattern = re.compile(alternatives, re.IGNORECASE)
        pattern = _pattern
    return pattern.sub(REDACTED, text)


def inline(value: object, limit: int | None = None) -> str:
    """Outside text as one printable line: secrets redacted, unprintables escaped, then cut to `limit` characters.

    For what may quote a secret back: registry bodies and headers, OIDC answers, exception texts.
    """
    text = _UNPRINTABLE.sub(_escape, redact(str(value)))
    if limit is not None and len(text) > limit:
        return text[:limit].rstrip() + "..."
    return text


def exact(value: object, limit: int | None = None) -> str:
    """A name as one printable line, otherwise exact: file names, paths, URLs without userinfo, index names.

    Not redacted: a file name or URL that happens to contain a short secret (`-p demo` and `demo-1.0.whl`) must
    be shown as it is, and holds no secret by construction (URLs are shown without their userinfo).
    """
    text = _UNPRINTABLE.sub(_escape, str(value))
    return text[:limit].rstrip() + "..." if limit is not None and len(text) > limit else text


def has_unprintable(text: str) -> bool:
    """Whether `text` holds a character :func:`inline` would escape (for refusing such file names outright)."""
    return _UNPRINTABLE.search(text) is not None


def code(value: object, limit: int | None = None, *, name: bool = False) -> str:
    """A Markdown code span of :func:`inline` text (:func:`exact` for a `name`): rendered verbatim, never as HTML,
    a link or an image."""
    text = exact(value) if name else inline(value, limit)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(value: object, limit: int | None = None, *, name: bool = False) -> str:
    """A job-summary table cell: a code span whose `|` cannot end the cell (GFM reads `\\|` first, in spans too)."""
    return code(value, limit, name=name).replace("|", "\\|")


def defuse(text: str) -> str:
    """Text as it may reach stdout: no line of it can be read as a workflow command by GitHub's runner.

    Applied to everything echoed, whatever its origin, so a forgotten :func:`inline` still cannot start a
    command. A zero-width space goes before a line's leading `::` and inside every `##[`: invisible to the reader,
    not trimmed by the runner (and inside Azure's `##vso[` and TeamCity's `##teamcity[`, for the command line
    in other CI systems). A lone carriage return, a line break to the runner and a cursor move to a terminal,
    becomes the line break it is read as; a lone surrogate, which no stream can encode, is escaped.
    """
    if not text.isascii():
        text = _SURROGATES.sub(_escape, text)
    if "::" not in text and "##" not in text and "\r" not in text:
        return text
    lines = []
    for line in _LINE_BREAKS.split(text):
        if line.lstrip().startswith("::"):
            line = _ZWSP + line
        lines.append(_MARKER.sub("##" + _ZWSP, line))
    return "\n".join(lines)
