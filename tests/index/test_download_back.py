"""verify-published downloads the listed file back and compares its sha256: against a real pypiserver behind a
counting proxy (the good case, and a proxy that serves other bytes under the file's URL), and a hostile index (a
listing whose URL is on another origin; a file that is huge or drips)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.fakes.fault_proxy import Fault, FaultProxy
from tests.fakes.hostile import Answer, HostileServer
from tests.support.builders import Dists, build_wheel, make_workspace
from tests.support.runner import run_action, run_cli
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)

INDEX = "private-repo"
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}
MIB = 1024 * 1024
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"


def _env(server: PypiServer) -> dict[str, str]:
    return {
        **FAST,
        "UV_INDEX_PRIVATE_REPO_USERNAME": server.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": server.password,
    }


def _cell(summary: str, name: str) -> str:
    return summary.split(f"| `{name}` |", 1)[1].splitlines()[0]


def test_each_published_file_is_downloaded_back_and_matches(
    tmp_path: Path, pypiserver: PypiServer, built_dists: Dists
) -> None:
    with FaultProxy(pypiserver.url) as proxy:
        root = make_workspace(
            tmp_path / "ws", simple_url=f"{proxy.url}/simple/", upload_url=f"{proxy.url}/", dists=list(built_dists)
        )
        run = run_action(root, {"index": INDEX, "verify-published": "true"}, _env(pypiserver))

    assert run.returncode == 0, run.output
    assert json.loads(run.outputs["published"]) == [built_dists.wheel.name, built_dists.sdist.name]
    gets = [path for method, path, _ in proxy.received if method == "GET"]
    for name in (built_dists.wheel.name, built_dists.sdist.name):
        downloads = [path for path in gets if path.endswith(f"/{name}")]
        assert len(downloads) == 1, gets  # downloaded back once, from the origin the listing is on
        assert "listed and downloaded back with the same sha256" in _cell(run.summary, name)
    file_reads = [headers for method, path, headers in proxy.received if method == "GET" and "/simple/" not in path]
    assert all("authorization" in headers for headers in file_reads)  # the read credentials, on their own origin


def test_bytes_served_other_than_the_listed_sha256_are_not_published(
    tmp_path: Path, pypiserver: PypiServer, built_dists: Dists
) -> None:
    """The listing is pypiserver's own (the right sha256); the file's URL answers with other bytes."""
    other = Fault("status", 200, {"Content-Type": "application/octet-stream"}, body=b"PK\x03\x04 not what was built")
    files = FaultProxy(pypiserver.url, match=lambda method, path: method == "GET" and "/packages/" in path)
    with files as proxy:
        url = proxy.url
        proxy.script(other)
        root = make_workspace(
            tmp_path / "ws", simple_url=f"{proxy.url}/simple/", upload_url=f"{proxy.url}/", dists=list(built_dists)
        )
        run = run_action(root, {"index": INDEX, "verify-published": "true"}, _env(pypiserver))

    wheel = built_dists.wheel
    assert run.returncode == 1, run.output
    theirs = hashlib.sha256(other.body).hexdigest()
    ours = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (
        f"::error title=Accepted%2C not stored::{wheel.name} is listed with the local sha256 but served with other "
        f"contents: downloading it from {url}/packages/{wheel.name} gave sha256:{theirs}, the local file has "
        f"sha256:{ours}."
    ) in run.stdout
    assert json.loads(run.outputs["published"]) == []
    assert "accepted, not stored: `served with other contents" in _cell(run.summary, wheel.name)
    assert [m for m, _, _ in proxy.received].count("POST") == 1  # the sdist never followed


def _project(root: Path) -> Path:
    (root / "dist").mkdir(parents=True)
    build_wheel(root / "dist", "demo-pkg", "1.0.0")
    return root


def _listing(wheel: bytes, url: str) -> Answer:
    entry = {"filename": WHEEL, "url": url, "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()}}
    return Answer.json(200, {"meta": {"api-version": "1.1"}, "files": [entry]}, "application/vnd.pypi.simple.v1+json")


def _cli(project: Path, index: HostileServer, *extra: str) -> tuple[int, str, float]:
    args = ["--publish-url", f"{index.url}/legacy/", "--check-url", f"{index.url}/simple/", "-u", "alice", "-p", "pw"]
    started = time.monotonic()
    run = run_cli([*args, "--verify-published", "--retries", "0", *extra], project, FAST, timeout=90)
    return run.returncode, run.stdout + run.stderr, time.monotonic() - started


def test_a_listing_url_on_another_origin_is_refused_without_a_request(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    wheel = (project / "dist" / WHEEL).read_bytes()
    with HostileServer({f"/files/{WHEEL}": Answer(200, {}, wheel)}) as elsewhere:
        routes = {
            "/legacy/": Answer.text(200, "OK"),
            "/simple/demo-pkg/": _listing(wheel, f"{elsewhere.url}/files/{WHEEL}"),
        }
        with HostileServer(routes) as index:
            code, output, _ = _cli(project, index)
            expected = (
                f"error: Accepted, not confirmed: {WHEEL} is listed with the local sha256, but at {elsewhere.url}/"
                f"files/{WHEEL}, on another origin than the check URL ({index.url}): it was not downloaded back"
            )
        assert elsewhere.requests == []
    assert code == 1, output
    assert expected in output
    assert "  published:" not in output
    assert "accepted, not confirmed: listed on another origin, not downloaded back" in output


def test_a_redirect_off_the_check_urls_origin_is_not_followed(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    wheel = (project / "dist" / WHEEL).read_bytes()
    with HostileServer({f"/files/{WHEEL}": Answer(200, {}, wheel)}) as elsewhere:
        routes = {
            "/legacy/": Answer.text(200, "OK"),
            "/simple/demo-pkg/": _listing(wheel, f"/files/{WHEEL}"),
            f"/files/{WHEEL}": Answer.redirect(f"{elsewhere.url}/files/{WHEEL}"),
        }
        with HostileServer(routes) as index:
            code, output, _ = _cli(project, index)
        assert elsewhere.requests == []
    assert code == 1, output
    assert "could not be downloaded back to prove its bytes: Downloading" in output
    assert "another origin: the redirect was not followed." in output


def test_a_huge_download_reads_no_more_than_the_local_file(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    wheel = (project / "dist" / WHEEL).read_bytes()
    routes = {
        "/legacy/": Answer.text(200, "OK"),
        "/simple/demo-pkg/": _listing(wheel, f"/files/{WHEEL}"),
        f"/files/{WHEEL}": Answer.huge(2000 * MIB, content_type="application/zip"),
    }
    with HostileServer(routes) as index:
        code, output, seconds = _cli(project, index)
        expected = f"served with other contents: downloading it from {index.url}/files/{WHEEL} gave more than "
    assert code == 1, output
    assert expected in output
    assert seconds < 30, seconds  # 2000 MiB were never read


def test_a_slow_download_ends_at_the_confirm_timeout(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    wheel = (project / "dist" / WHEEL).read_bytes()
    routes = {
        "/legacy/": Answer.text(200, "OK"),
        "/simple/demo-pkg/": _listing(wheel, f"/files/{WHEEL}"),
        f"/files/{WHEEL}": Answer.drip_body(0.2, body=wheel, content_type="application/zip"),
    }
    with HostileServer(routes) as index:
        code, output, seconds = _cli(project, index, "--confirm-timeout", "1")
    assert code == 1, output
    assert f"{WHEEL} is listed with the local sha256 but could not be downloaded back" in output
    assert seconds < 1 + 10 + 15, seconds  # the confirmation's deadline, its grace, the run's start and end


@pytest.mark.parametrize(
    ("url", "check_url", "allowed"),
    [
        ("http://127.0.0.1:8080/packages/x.whl", "http://127.0.0.1:8080/simple/", True),
        ("http://127.0.0.1:8081/packages/x.whl", "http://127.0.0.1:8080/simple/", False),
        # PyPI's and TestPyPI's listings name their own files hosts, by design: accepted over https only
        ("https://files.pythonhosted.org/packages/ab/x.whl", "https://pypi.org/simple/", True),
        ("https://test-files.pythonhosted.org/packages/ab/x.whl", "https://test.pypi.org/simple/", True),
        ("http://files.pythonhosted.org/packages/ab/x.whl", "https://pypi.org/simple/", False),
        ("https://files.pythonhosted.org:8443/packages/ab/x.whl", "https://pypi.org/simple/", False),
        ("https://test-files.pythonhosted.org/packages/ab/x.whl", "https://pypi.org/simple/", False),
        ("https://files.pythonhosted.org/packages/ab/x.whl", "https://pypi.example.org/simple/", False),
        ("https://files.pythonhosted.org/packages/ab/x.whl", "https://corp.example/simple/", False),
        ("ftp://127.0.0.1/x.whl", "http://127.0.0.1/simple/", False),
    ],
)
def test_where_a_file_may_be_downloaded_back_from(url: str, check_url: str, allowed: bool) -> None:
    """The check URL's origin; besides it only PyPI's and TestPyPI's own files hosts, for their own listings (so
    verify-published works against PyPI, whose files are on another host by design)."""
    from publisher.index.download_back import may_download_from

    assert may_download_from(url, check_url) is allowed
