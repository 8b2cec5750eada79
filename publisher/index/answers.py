"""What the registry said: its words from an answer (HTML stripped), and whether they mean "already there".

The body is the registry's (at most bounds.ANSWER_CAP of it, see bodies.py), so every step here is linear in its
length: blocks are removed by scanning for tag tokens (`re.finditer`, one search per close), tags by a pattern
applied only where every `<` has a `>` after it; never by a pattern that scans the rest of the text again at each
`<` (`<(script|style)\\b.*?</\\1>` took 30 s on 300 kB of `<`).
The result is the same as those patterns give on real pages.
"""

from __future__ import annotations

import re

import httpx

from publisher.auth.model import Credentials
from publisher.report import safe

_BLOCK_OPEN = {
    ("script", "style"): re.compile(r"<(script|style)\b", re.I),
    ("head",): re.compile(r"<(head)\b", re.I),
}
_BODY = re.compile(r"<body\b", re.I)
_TAG = re.compile(r"<[^>]+>")


def _drop_blocks(text: str, names: tuple[str, ...]) -> str:
    """Each `<name ...>...</name>` block (first close after the open, case-insensitive) replaced by a space.

    Linear: every search for a close starts after the previous block, and a name whose close is missing from some
    point on is never searched for again (no later open of it can be closed either).
    """
    closes = {name: re.compile(f"</{name}>", re.I) for name in names}
    unclosed: set[str] = set()
    out: list[str] = []
    position = 0
    for match in _BLOCK_OPEN[names].finditer(text):
        start, name = match.start(), match.group(1).lower()
        if start < position or name in unclosed:
            continue  # inside a block already dropped, or a name that is never closed again
        close = closes[name].search(text, match.end())
        if close is None:
            unclosed.add(name)
            continue
        out += [text[position:start], " "]
        position = close.end()
    out.append(text[position:])
    return "".join(out)


def _drop_tags(text: str) -> str:
    """Each `<...>` (at least one character inside) replaced by a space, as `re.sub("<[^>]+>", " ", text)` does,
    but only up to the last `>`: after it no `<` can start a tag, and the pattern would scan to the end from each."""
    last = text.rfind(">")
    return _TAG.sub(" ", text[: last + 1]) + text[last + 1 :]


def strip_markup(body: str) -> str:
    """Text of an HTML (or any) body: scripts and styles dropped, the <head> too when there is a <body>, tags
    removed, entities decoded, whitespace collapsed.

    The <head> goes when the page has a <body>: its <title> only repeats the <h1> (pypiserver, devpi, PyPI) or names
    the product (Nexus), and would push the registry's sentence towards the message's limit.
    """
    body = _drop_blocks(body, ("script", "style"))
    if _BODY.search(body):
        body = _drop_blocks(body, ("head",))
    text = _drop_tags(body)
    if "&" in text:  # html.unescape leaves a text without one as it is; its entity tables load only when needed
        import html

        text = html.unescape(text)
    return " ".join(text.split())


def registry_message(response: httpx.Response, limit: int = 400) -> str:
    """The registry's own words: reason phrase plus the body's text, one printable line of at most `limit`."""
    try:
        body = response.text
    except (UnicodeDecodeError, LookupError, httpx.ResponseNotRead):
        body = ""
    text = strip_markup(body)
    reason = response.reason_phrase or ""
    if reason and reason.lower() not in text.lower():
        text = f"{reason}: {text}" if text else reason
    return safe.inline(text, limit)


# What each registry answers to a file name it already has (see the facts file); 409 means it on every registry.
# Nexus says "Repository does not allow updating assets" (OrientDB) or "<path>.whl cannot be updated" (H2 and
# PostgreSQL, 3.70+); Azure's feeds say "already contains file".
_DUPLICATE_WORDS = re.compile(
    r"already exists|already contains file|file-name-reuse|updating asset|cannot be updated|"
    r"has already been (?:taken|used)|overwrite",
    re.I,
)


def is_duplicate_answer(status: int, message: str) -> bool:
    """PyPI/GitLab/Nexus 400, Artifactory 403 (with their words), pypiserver/devpi/Azure 409."""
    return status == 409 or (status in (400, 403) and bool(_DUPLICATE_WORDS.search(message)))


def is_identical_answer(status: int, message: str) -> bool:
    """devpi's 200 for a byte-identical re-upload to a non-volatile index: nothing was stored."""
    return 200 <= status < 300 and "identical file" in message.lower()


def auth_hint(url: str, credentials: Credentials) -> str:
    """What to check after a 401/403, with the one registry-specific trap we know of where it applies."""
    if credentials.method == "jfrog-oidc":
        return (
            "The access token has the token scope of the identity mapping that matched this run: give that user (or "
            "group) permission to deploy to this repository in JFrog, or make a mapping with such a scope match first "
            "(its claims JSON and priority)."
        )
    hint = "Check that the secret behind that source is current and may upload to this repository."
    lowered = url.lower()
    if "artifactory" in lowered or "jfrog" in lowered:
        hint += " JFrog Artifactory wants your username (not `__token__`) with an identity token as the password."
    elif credentials.username == "__token__" and not any(h in lowered for h in ("pypi.org", "pythonhosted.org")):
        hint += " `__token__` is PyPI's convention; most private registries want a real username with the token."
    return hint
