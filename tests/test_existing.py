"""The check URL's Simple API pages, read as pip reads them: PEP 691 JSON and PEP 503 HTML, hashes from either, and
the comparison that decides skip / fail. A fake index serves pages the real test servers cannot (no hashes, only
sha512 or md5), and records what it was asked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.console import TerminalConsole
from publisher.credentials import Credentials, ReadAuth, read_auth
from publisher.digests import file_digests
from publisher.dists import Dist
from publisher.errors import AuthenticationError
from publisher.existing import Checker, IndexFile, parse_html, parse_json, project_url
from publisher.index import Target
from publisher.retry import RetryPolicy
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
