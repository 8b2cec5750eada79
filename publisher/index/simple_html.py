"""What a PEP 503 HTML page holds, read in one linear pass: its anchors, PEP 629 meta tag, forms, title and headings.

html.parser is not fit for a page a hostile server wrote: about 2 s of CPU per MiB of `<a>` or `<`, and fed in
pieces (to look at the clock) it goes quadratic on an unclosed tag. This scanner is a loop over regular
expressions that never backtrack (possessive quantifiers), each character looked at a bounded number of times:

- markup starts at `<` followed by a letter, `/`, `!` or `?`; any other `<` is text, as in HTML5;
- a tag runs to the first `>` outside a quoted attribute value; a quote is special only right after `=`
  (HTML5's rule); a tag with no `>` before the end of the page swallows the rest of it (HTML5 drops it at EOF);
- comments run to `-->`, other `<!...>` and `<?...>` to the next `>`; `script` and `style` are raw text up to their
  end tag, `title` is text up to its end tag (RCDATA);
- tag and attribute names are compared in lower case, the first of two equal attributes counts, values and text
  have their character references decoded (html.unescape, linear).

`deadline` (a time.monotonic() value) is checked every few thousand steps: past it, :class:`TooSlow` says how far
the scan got. Pure otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape

_MARKUP = re.compile(r"<[A-Za-z/!?]")
_WS = r"[\t\n\f\r ]"
_VALUE = r"""(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+)"""  # a quote is special only right after `=`
_TAG = re.compile(rf"""<(/?)([A-Za-z][^\t\n\f\r />]*+)((?:{_WS}++|[^\t\n\f\r >"'=]++|={_WS}*+{_VALUE}|["'])*+)>""")
_ATTR = re.compile(
    r"""([^\t\n\f\r />"'=][^\t\n\f\r />=]*+)(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+("[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+))?"""
)
_RAW_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in ("script", "style", "title")}
CHECK_EVERY = 4096  # steps between looks at the clock
_HEADING_CAP = 1000  # characters kept of a title or heading: enough to find "Links for"


class TooSlow(Exception):
    """The deadline passed while scanning; `done` characters of `total` were read."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"{done} of {total} characters read")
        self.done, self.total = done, total


@dataclass
class Page:
    anchors: list[tuple[str, str]] = field(default_factory=list)  # (href, text), in page order
    repository_version: bool = False  # a PEP 629 <meta name="pypi:repository-version">
    form: bool = False  # a <form> or a password field
    headings: list[str] = field(default_factory=list)  # <title> and <h1> texts


def attributes(text: str) -> dict[str, str]:
    """A tag's attributes, names in lower case, values unquoted and decoded; the first of two equal names wins."""
    found: dict[str, str] = {}
    for match in _ATTR.finditer(text):
        name, value = match.group(1).lower(), match.group(2) or ""
        if value[:1] in ("'", '"') and len(value) >= 2 and value[-1] == value[0]:
            value = value[1:-1]
        found.setdefault(name, unescape(value))
    return found


class _Scan:
    def __init__(self, body: str, clock: Callable[[], float], deadline: float | None) -> None:
        self.body, self.clock, self.deadline = body, clock, deadline
        self.page = Page()
        self.href: str | None = None  # the open anchor's href
        self.text: list[str] = []  # the open anchor's text
        self.heading: list[str] | None = None  # the open <h1>'s text
        self.heading_size = 0

    def data(self, start: int, end: int) -> None:
        if start >= end:
            return
        if self.href is not None:
            self.text.append(self.body[start:end])
        if self.heading is not None and self.heading_size < _HEADING_CAP:
            self.heading.append(self.body[start : min(end, start + _HEADING_CAP)])
            self.heading_size += len(self.heading[-1])

    def start_tag(self, name: str, attrs: str) -> None:
        if name == "a":
            self.href, self.text = attributes(attrs).get("href", ""), []
        elif name == "meta":
            self.page.repository_version |= attributes(attrs).get("name", "").lower() == "pypi:repository-version"
        elif name == "form" or (name == "input" and attributes(attrs).get("type", "").lower() == "password"):
            self.page.form = True
        elif name == "h1":
            self.heading, self.heading_size = [], 0

    def end_tag(self, name: str) -> None:
        if name == "a" and self.href is not None:
            self.page.anchors.append((self.href, unescape("".join(self.text)).strip()))
            self.href = None
        elif name == "h1" and self.heading is not None:
            self.page.headings.append(unescape("".join(self.heading)))
            self.heading = None

    def raw(self, name: str, at: int) -> int | None:
        """Past the raw text of `script`, `style` or `title` starting at `at` (None: it runs to the end)."""
        end = _RAW_END[name].search(self.body, at)
        if end is None:
            return None
        if name == "title":
            self.page.headings.append(unescape(self.body[at : min(end.start(), at + _HEADING_CAP)]))
        close = self.body.find(">", end.end() - 1)
        return len(self.body) if close < 0 else close + 1

    def run(self) -> Page:
        body, position, steps = self.body, 0, 0
        while True:
            steps += 1
            if self.deadline is not None and steps % CHECK_EVERY == 0 and self.clock() > self.deadline:
                raise TooSlow(position, len(body))
            found = _MARKUP.search(body, position)
            if found is None:
                self.data(position, len(body))
                return self.page
            start = found.start()
            self.data(position, start)
            next_position = self.markup(start)
            if next_position is None:  # an unterminated tag or comment: the rest of the page is inside it
                return self.page
            position = next_position

    def markup(self, start: int) -> int | None:
        body = self.body
        kind = body[start + 1]
        if kind in "!?":
            if body.startswith("<!--", start):
                end = body.find("-->", start + 4)
                return None if end < 0 else end + 3
            end = body.find(">", start + 2)
            return None if end < 0 else end + 1
        tag = _TAG.match(body, start)
        if tag is None:
            if kind == "/" and not body[start + 2 : start + 3].isalpha():
                end = body.find(">", start + 2)  # `</` not starting an end tag: a bogus comment in HTML5
                return None if end < 0 else end + 1
            return None
        closing, name, attrs = tag.group(1), tag.group(2).lower(), tag.group(3)
        if closing:
            self.end_tag(name)
            return tag.end()
        self.start_tag(name, attrs)
        if name in _RAW_END:
            return self.raw(name, tag.end())
        return tag.end()


def scan(body: str, *, deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> Page:
    """The page's anchors, meta tag, forms and headings; TooSlow once `deadline` (clock's time) has passed."""
    return _Scan(body, clock, deadline).run()
