"""The check URL's Simple API pages, read as pip reads them: PEP 691 JSON and PEP 503 HTML, hashes from either, and
the comparison that decides skip / fail. A fake index serves pages the real test servers cannot (no hashes, only
sha512 or md5), and records what it was asked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.auth.model import Credentials, ReadAuth
from publisher.auth.reading import read_auth
from publisher.config.target import Target
from publisher.dists.collect import Dist
from publisher.dists.digests import file_digests
from publisher.index.existing import Checker, project_url
from publisher.index.listing import HEX_LENGTHS, IndexFile, parse_html, parse_json, read_hashes
from publisher.index.simple_html import TooSlow, scan
from publisher.net.retry import RetryPolicy
from publisher.report.console import TerminalConsole
from publisher.report.errors import AuthenticationError
from tests.fakes import FakeServer, Request, Response

WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
CONTENT = b"pretend wheel bytes\n" * 50


def test_project_url_normalises_and_drops_credentials() -> None:
    assert project_url("https://u:p@host/simple", "Demo_Pkg.x") == "https://host/simple/demo-pkg-x/"
    assert project_url("https://host/simple/", "demo") == "https://host/simple/demo/"


def test_parse_json_resolves_urls_and_lowercases_hashes() -> None:
    body = (
        '{"meta": {"api-version": "1.1"}, "name": "demo-pkg", "files": ['
        f'{{"filename": "{WHEEL}", "url": "../../packages/{WHEEL}", "hashes": {{"SHA256": "{"AB" * 32}"}}}},'
        '{"filename": "demo_pkg-1.0.0.tar.gz", "url": "https://files.example/x.tar.gz", "hashes": {}},'
        '{"url": "no-filename-is-ignored"}]}'
    )
    files = parse_json(body, "https://host/simple/demo-pkg/")
    assert set(files) == {WHEEL, "demo_pkg-1.0.0.tar.gz"}
    assert files[WHEEL].url == f"https://host/packages/{WHEEL}"
    assert files[WHEEL].hashes == {"sha256": "ab" * 32}
    assert files["demo_pkg-1.0.0.tar.gz"].hashes == {}


def test_parse_html_reads_anchor_text_and_fragment_hash() -> None:
    body = f"""<!DOCTYPE html><html><body><h1>Links for demo-pkg</h1>
    <a href="/packages/{WHEEL}#sha256={"DEADBEEF" * 8}" data-requires-python="&gt;=3.9">{WHEEL}</a><br>
    <a href="../../packages/demo_pkg-1.0.0.tar.gz"></a>
    </body></html>"""
    files = parse_html(body, "http://127.0.0.1:1/simple/demo-pkg/")
    assert files[WHEEL].url == f"http://127.0.0.1:1/packages/{WHEEL}"
    assert files[WHEEL].hashes == {"sha256": "deadbeef" * 8}
    assert files["demo_pkg-1.0.0.tar.gz"].hashes == {}  # name taken from the URL when the anchor has no text


class SimpleIndex(FakeServer):
    """A Simple API project page in HTML, with the file's hash as configured, and the file itself."""

    def __init__(self, fragment: str | None, stored: bytes = CONTENT, status: int = 200) -> None:
        super().__init__()
        self.fragment, self.stored, self.status = fragment, stored, status

    def handle(self, request: Request) -> Response:
        if request.path == "/simple/demo-pkg/":
            if self.status != 200:
                return Response.text(self.status, "go away")
            href = f"/files/{WHEEL}" + (f"#{self.fragment}" if self.fragment else "")
            return Response(200, f'<a href="{href}">{WHEEL}</a>'.encode(), {"Content-Type": "text/html"})
        if request.path == f"/files/{WHEEL}":
            return Response(200, self.stored, {"Content-Type": "application/octet-stream"})
        return Response.text(404, "not found")


@pytest.fixture
def dist(tmp_path: Path) -> Dist:
    path = tmp_path / WHEEL
    path.write_bytes(CONTENT)
    return Dist(path, "bdist_wheel", "demo-pkg", "1.0.0", "py3", {}, len(CONTENT))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def _compare(index: SimpleIndex, client: httpx.Client, dist: Dist) -> tuple[str, str, str]:
    checker = Checker(client, f"{index.url}/simple/", ReadAuth(None, "no credentials"), RetryPolicy(retries=0))
    found = checker.compare(dist, file_digests(dist.path), TerminalConsole())
    return found.verdict, found.their_digest, found.our_digest


@pytest.mark.parametrize("algo", ["sha256", "sha512", "md5"])
def test_identical_by_whatever_hash_the_index_publishes(algo: str, client: httpx.Client, dist: Dist) -> None:
    digest = hashlib.new(algo, CONTENT).hexdigest()
    with SimpleIndex(f"{algo}={digest}") as index:
        verdict, theirs, ours = _compare(index, client, dist)
    assert (verdict, theirs, ours) == ("identical", f"{algo}:{digest}", f"{algo}:{digest}")
    assert [r.path for r in index.requests] == ["/simple/demo-pkg/"]  # no download needed


def test_strongest_published_hash_wins(client: httpx.Client, dist: Dist) -> None:
    """An index listing md5 and sha512 (no sha256) is compared by sha512, whatever the alphabet says."""
    sha512 = hashlib.sha512(CONTENT).hexdigest()
    checker = Checker(client, "http://127.0.0.1:9/simple/", ReadAuth(None, "none"), RetryPolicy(retries=0))
    both = IndexFile(WHEEL, "http://127.0.0.1:9/never-downloaded", {"md5": "0" * 32, "sha512": sha512})
    algo, theirs, ours = checker._digests(both, dist, file_digests(dist.path), TerminalConsole())
    assert (algo, theirs, ours) == ("sha512", sha512, sha512)


@pytest.mark.parametrize(("stored", "verdict"), [(CONTENT, "identical"), (b"other bytes", "different")])
def test_no_published_hash_downloads_and_compares(
    stored: bytes, verdict: str, client: httpx.Client, dist: Dist
) -> None:
    with SimpleIndex(None, stored=stored) as index:
        got, theirs, ours = _compare(index, client, dist)
    assert got == verdict
    assert theirs == "sha256:" + hashlib.sha256(stored).hexdigest()
    assert ours == "sha256:" + hashlib.sha256(CONTENT).hexdigest()
    assert [r.path for r in index.requests] == ["/simple/demo-pkg/", f"/files/{WHEEL}"]


class FileHost(FakeServer):
    """Another origin serving the file, as a CDN behind an index's listing would."""

    def handle(self, request: Request) -> Response:
        return Response(200, CONTENT, {"Content-Type": "application/octet-stream"})


def test_read_credentials_go_to_the_check_urls_origin_only(client: httpx.Client, dist: Dist) -> None:
    with FileHost() as cdn, SimpleIndex(None) as index:
        listing = f'<a href="{cdn.url}/files/{WHEEL}">{WHEEL}</a>'.encode()
        index.handle = lambda request: (  # type: ignore[method-assign]
            Response(200, listing, {"Content-Type": "text/html"})
            if request.path == "/simple/demo-pkg/"
            else Response.text(404, "not found")
        )
        auth = ReadAuth(("reader", "r3ad-pw"), "test", origin=index.url)
        checker = Checker(client, f"{index.url}/simple/", auth, RetryPolicy(0))
        found = checker.compare(dist, file_digests(dist.path), TerminalConsole())
    assert found.verdict == "identical"
    assert index.requests[0].headers.get("authorization", "").startswith("Basic ")  # the index: credentials
    assert [r.path for r in cdn.requests] == [f"/files/{WHEEL}"]
    assert "authorization" not in cdn.requests[0].headers  # another origin: none


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_is_an_error_never_absent(status: int, client: httpx.Client, dist: Dist) -> None:
    with SimpleIndex("sha256=00", status=status) as index:
        url = index.url
        with pytest.raises(AuthenticationError) as caught:
            _compare(index, client, dist)
    assert f"{status} from the check URL {url}/simple/demo-pkg/" in caught.value.message
    assert "Not treating this as 'file absent'" in caught.value.message


def test_project_404_means_absent(client: httpx.Client, dist: Dist) -> None:
    renamed = Dist(dist.path, "bdist_wheel", "other-pkg", "1.0.0", "py3", {}, dist.size)
    with SimpleIndex("sha256=00") as index:
        verdict, _, _ = _compare(index, client, renamed)
    assert verdict == "absent"


def test_upload_credentials_are_lent_to_the_same_host_only() -> None:
    """Without read credentials of its own, the check URL gets the upload credentials only on the upload host."""
    creds = Credentials("alice", "s3cret", "password", "UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD")
    target = Target("https://up.example/legacy/", "https://up.example/simple/")
    assert read_auth("https://up.example/simple/", target, creds, {}).auth == ("alice", "s3cret")
    assert read_auth("https://read.example/simple/", target, creds, {}).auth is None
    assert read_auth("http://read.example/simple/", target, creds, {}).auth is None  # never over plain http


# -- a listing's hashes are typed: a digest is hex of its algorithm's length, nothing else is kept ------------------


@pytest.mark.parametrize(
    "value",
    [
        "\x1b[31m" + "0" * 60,  # escapes
        "0" * 32 + "\n" + "0" * 31,  # a newline
        "\u202e" + "0" * 63,  # a right-to-left override
        "f" * 5_000_000,  # 5 MB
        "0" * 63,  # one digit short
        "0" * 65,  # one too many
        "g" * 64,  # not hex
        "s3cret-read-password",
        "",
        5,
        None,
    ],
    ids=["ansi", "newline", "rlo", "5MB", "short", "long", "not-hex", "password", "empty", "number", "null"],
)
def test_a_value_that_is_not_a_digest_is_named_not_kept(value: object) -> None:
    digests, not_digests = read_hashes([("SHA256", value), ("md5", "A" * 32), ("whirlpool", "x")])
    assert digests == {"md5": "a" * 32}  # kept in lower case
    assert not_digests == ("sha256",)  # an unknown algorithm is dropped, not named
    with pytest.raises(ValueError, match="digests only"):
        IndexFile(WHEEL, "/x", {"sha256": str(value)})


def test_hex_lengths_are_hashlibs() -> None:
    assert (HEX_LENGTHS["sha256"], HEX_LENGTHS["sha512"], HEX_LENGTHS["md5"]) == (64, 128, 32)
    assert all(len(hashlib.new(name, b"").hexdigest()) == length for name, length in HEX_LENGTHS.items())


class Recording(TerminalConsole):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str, title: str | None = None) -> None:
        self.warnings.append(message)


def test_not_a_digest_is_said_once_and_the_file_is_compared_by_its_bytes(client: httpx.Client, dist: Dist) -> None:
    with SimpleIndex("sha256=\x1b[2J" + "A" * 62) as index:
        checker = Checker(client, f"{index.url}/simple/", ReadAuth(None, "none"), RetryPolicy(retries=0))
        console = Recording()
        first = checker.compare(dist, file_digests(dist.path), console, fresh=True)
        again = checker.compare(dist, file_digests(dist.path), console, fresh=True)
    assert first.verdict == again.verdict == "identical"
    assert console.warnings == [
        f"The check URL lists {WHEEL} with a sha256 that is not a sha256 digest (not 64 hexadecimal digits); it was "
        "not used and is not shown. Comparing by another hash or by downloading the file instead."
    ]
    assert [r.path for r in index.requests].count(f"/files/{WHEEL}") == 2


# -- HTML pages: a linear scanner that reads real pages as html.parser does, under a deadline ------------------------

PAGES = [
    f'<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"><title>Links for demo</title>'
    f'</head><body><h1>Links for demo</h1><a href="/f/{WHEEL}#sha256={"a" * 64}" data-dist-info-metadata="sha256='
    f'{"b" * 64}">{WHEEL}</a><br/><a href=\'../x.tar.gz\' >x &amp; y.tar.gz</a>\n<!-- <a href="/no">no</a> -->'
    '<script>var s = "<a href=/no>no</a>";</script><A HREF="/caps.zip">Caps.zip</A></body></html>',
    '<html><body><form action="/login"><input type="password" name="p"></form></body></html>',
    "<a href=/unquoted.whl>unquoted.whl</a><a title='it''s'>t</a><a href=\"/q>uoted.whl\">q.whl</a>",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_scanner_reads_pages_as_html_parser_does(page: str) -> None:
    from html.parser import HTMLParser

    class Reference(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.anchors: list[tuple[str, str]] = []
            self.form = self.meta = False
            self.href: str | None = None
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "a":
                self.href, self.text = values.get("href") or "", []
            self.meta |= tag == "meta" and values.get("name") == "pypi:repository-version"
            self.form |= tag == "form" or (tag == "input" and values.get("type") == "password")

        def handle_data(self, data: str) -> None:
            if self.href is not None:
                self.text.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag == "a" and self.href is not None:
                self.anchors.append((self.href, "".join(self.text).strip()))
                self.href = None

    reference = Reference()
    reference.feed(page)
    scanned = scan(page)
    assert scanned.anchors == reference.anchors
    assert (scanned.form, scanned.repository_version) == (reference.form, reference.meta)


def test_the_scanner_stops_at_its_deadline() -> None:
    ticks = iter(range(1_000_000))
    with pytest.raises(TooSlow) as info:
        scan("<a>" * 100_000, deadline=2.5, clock=lambda: float(next(ticks)))
    assert 0 < info.value.done < info.value.total == 300_000
