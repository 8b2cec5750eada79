"""A Simple API project page as typed values: the one place a listing's text becomes data (pure).

What an index lists is outside text, and a hash in particular reaches messages ("the index has sha256:..."). So a
listing is parsed into values that cannot carry anything but what they claim to be:

- **A digest is hex of exactly its algorithm's length** (sha256: 64 digits, sha512: 128, md5: 32; any case, kept in
  lower case). Anything else under a known algorithm's name -- a 5 MB string, escape sequences, a password echoed
  in lower case -- is "not a digest": only the algorithm's name is kept (`IndexFile.not_digests`), never the value.
  An algorithm outside :data:`HEX_LENGTHS` is not one we compare with, and is dropped. IndexFile refuses any other
  value at construction, so no code path can hold, compare or quote a raw listing hash.
- JSON (PEP 691): entries without a string `filename` and `url` are skipped.
- HTML (PEP 503): read by simple_html.scan, in linear time; a page with a form (a login page) or without any sign of
  being a project page is :class:`NotAListing`.

Both parsers check `deadline` (a time.monotonic() value) as they go and raise simple_html.TooSlow once it passed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin

from publisher.index.simple_html import CHECK_EVERY, TooSlow, scan
from publisher.net.bodies import loads

# The hashlib names PEP 503 allows that have a fixed length, and that length in hex digits.
HEX_LENGTHS = {
    name: hashlib.new(name).digest_size * 2
    for name in (
        "md5",
        "sha1",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "sha3_224",
        "sha3_256",
        "sha3_384",
        "sha3_512",
        "blake2b",
        "blake2s",
    )
}
_HEX = re.compile(r"[0-9a-fA-F]+")
# What a link to a distribution ends with: wheels, sdists and the legacy binary formats PyPI still lists.
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".tar", ".egg", ".exe", ".msi")


def is_digest(algo: str, value: str) -> bool:
    """Whether `value` is lower-case hex of exactly `algo`'s digest length."""
    length = HEX_LENGTHS.get(algo)
    return length is not None and len(value) == length and _HEX.fullmatch(value) is not None and value == value.lower()


def read_hashes(pairs: Iterable[tuple[object, object]]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(digests by algorithm, in lower case; the known algorithms whose value is not a digest): see the docstring."""
    digests: dict[str, str] = {}
    not_digests: list[str] = []
    for key, value in pairs:
        algo = key.lower() if isinstance(key, str) else ""
        if algo not in HEX_LENGTHS:
            continue
        if isinstance(value, str) and len(value) == HEX_LENGTHS[algo] and _HEX.fullmatch(value):
            digests.setdefault(algo, value.lower())
        elif algo not in not_digests:
            not_digests.append(algo)
    return digests, tuple(a for a in not_digests if a not in digests)


@dataclass(frozen=True)
class IndexFile:
    filename: str
    href: str  # as listed, without its fragment; resolved against `base` only when asked (`url`)
    hashes: Mapping[str, str] = field(default_factory=dict)  # digests only (see is_digest)
    not_digests: tuple[str, ...] = ()  # algorithms listed with a value that is not a digest (not kept)
    base: str = ""

    def __post_init__(self) -> None:
        if not all(is_digest(algo, value) for algo, value in self.hashes.items()):
            raise ValueError("IndexFile.hashes holds digests only: build it with read_hashes")

    @property
    def url(self) -> str:
        """The file's absolute URL ("" when urllib cannot join it): resolved for the file looked up only, as a
        page of 100,000 files costs a second of urljoin."""
        try:
            return urljoin(self.base, self.href) if self.base else self.href
        except ValueError:
            return ""


@dataclass(frozen=True)
class Listing:
    project: str
    url: str
    files: dict[str, IndexFile]  # empty when the project does not exist


class NotAListing(ValueError):
    """A page that is not a Simple API project page; the message says what it is instead."""


def _index_file(filename: str, href: str, pairs: Iterable[tuple[object, object]], base: str) -> IndexFile:
    digests, not_digests = read_hashes(pairs)
    return IndexFile(filename, href, digests, not_digests, base)


def _fragment_hashes(fragment: str) -> list[tuple[object, object]]:
    algo, sep, value = fragment.partition("=")
    return [(algo, value)] if sep and algo else []


def parse_json(body: str | bytes, base_url: str, *, deadline: float | None = None) -> dict[str, IndexFile]:
    """PEP 691: `files: [{filename, url, hashes: {sha256: ...}}]`; entries of other shapes are skipped."""
    data = loads(body)
    if data is None:
        raise NotAListing("a JSON page that is not valid JSON (or nests too deep)")
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise NotAListing("JSON without a `files` list, so not a PEP 691 project page")
    found: dict[str, IndexFile] = {}
    for number, entry in enumerate(files, start=1):
        if deadline is not None and number % CHECK_EVERY == 0 and time.monotonic() > deadline:
            raise TooSlow(number, len(files))
        if not isinstance(entry, dict):
            continue
        filename, url, hashes = entry.get("filename"), entry.get("url"), entry.get("hashes")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        pairs = hashes.items() if isinstance(hashes, dict) else ()
        found[filename] = _index_file(filename, url, pairs, base_url)
    return found


def parse_html(body: str, base_url: str, *, deadline: float | None = None) -> dict[str, IndexFile]:
    """PEP 503: one anchor per file, the text is the file name, the hash is in the `#sha256=` fragment.

    A page with a form (a login page) or without any sign of being a project page raises NotAListing.
    """
    page = scan(body, deadline=deadline)
    if page.form:
        raise NotAListing("an HTML page with a form or a password field (a login page?)")
    found: dict[str, IndexFile] = {}
    for number, (href, text) in enumerate(page.anchors, start=1):
        if deadline is not None and number % CHECK_EVERY == 0 and time.monotonic() > deadline:
            raise TooSlow(len(body), len(body))  # scanned; reading its links took too long
        target, _, fragment = href.partition("#")
        filename = text or unquote(target.partition("?")[0].rsplit("/", 1)[-1])
        found[filename] = _index_file(filename, target, _fragment_hashes(fragment), base_url)
    links_for = any("links for" in heading.lower() for heading in page.headings)
    dists = any(name.lower().endswith(DIST_SUFFIXES) for name in found)
    if not (page.repository_version or links_for or dists):
        raise NotAListing(
            "an HTML page that is not a PEP 503 project page (no link to a distribution file, no "
            "pypi:repository-version meta tag, no 'Links for' title)"
        )
    return found
