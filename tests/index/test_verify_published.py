"""verify-published against a real pypiserver: each upload is confirmed on the check URL; a proxy that says 200
without storing the file is caught; the inputs are validated before any request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.fakes.fault_proxy import Fault, FaultProxy
from tests.support.builders import Dists, make_workspace
from tests.support.runner import run_action, run_cli
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)

INDEX = "private-repo"
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}


@pytest.fixture
def proxy(pypiserver: PypiServer) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver.url) as running:
        yield running


def _workspace(root: Path, proxy: FaultProxy, dists: Dists) -> Path:
    return make_workspace(root, simple_url=f"{proxy.url}/simple/", upload_url=f"{proxy.url}/", dists=list(dists))


def _env(server: PypiServer) -> dict[str, str]:
    return {
        **FAST,
        "UV_INDEX_PRIVATE_REPO_USERNAME": server.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": server.password,
    }


def test_each_upload_is_confirmed_on_the_check_url(
    tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    root = _workspace(tmp_path / "ws", proxy, built_dists)
    run = run_action(root, {"index": INDEX, "verify-published": "true"}, _env(pypiserver))

    assert run.returncode == 0, run.output
    assert json.loads(run.outputs["published"]) == [built_dists.wheel.name, built_dists.sdist.name]
    requests = [(method, path) for method, path, _ in proxy.received]
    assert requests == [  # one Simple API request per file, and the file downloaded back (test_download_back.py)
        request
        for dist in built_dists
        for request in (("POST", "/"), ("GET", "/simple/demo-pkg/"), ("GET", f"/packages/{dist.name}"))
    ]
    reads = [headers for method, path, headers in proxy.received if method == "GET" and "/simple/" in path]
    assert all(headers.get("cache-control") == "no-cache" for headers in reads), reads
    for name in (built_dists.wheel.name, built_dists.sdist.name):
        cell = run.summary.split(f"| `{name}` |", 1)[1].splitlines()[0]
        assert "published: `listed and downloaded back with the same sha256" in cell, cell


def test_a_proxy_that_answers_200_without_storing_is_caught(
    tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    proxy.script(Fault.status_(200))  # the upload never reaches pypiserver, yet the client hears 200
    root = _workspace(tmp_path / "ws", proxy, built_dists)
    run = run_action(root, {"index": INDEX, "verify-published": "true", "confirm-timeout": "2"}, _env(pypiserver))

    assert run.returncode == 1, run.output
    assert (
        f"::error title=Accepted%2C not confirmed::{built_dists.wheel.name} was accepted (200 OK) but is not listed on "
        f"the index after 2 s ({proxy.url}/simple/demo-pkg/)."
    ) in run.stdout
    assert pypiserver.files() == []
    assert json.loads(run.outputs["published"]) == []
    assert "Accepted, not confirmed: 1." in run.summary
    assert [m for m, _, _ in proxy.received].count("POST") == 1  # the sdist never followed


def test_skip_existing_asks_past_caches_too(
    tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    root = _workspace(tmp_path / "ws", proxy, built_dists)
    run = run_action(root, {"index": INDEX, "skip-existing": "true"}, _env(pypiserver))

    assert run.returncode == 0, run.output
    reads = [headers for method, _, headers in proxy.received if method == "GET"]
    assert reads
    assert all(headers.get("cache-control") == "no-cache" for headers in reads), reads


class _Recording(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response.text(200, "OK")


def test_verify_published_without_a_check_url_is_refused_before_any_request(tmp_path: Path, built_dists: Dists) -> None:
    with _Recording() as registry:
        root = make_workspace(tmp_path / "ws", simple_url="", upload_url="", dists=list(built_dists))
        (root / "pyproject.toml").write_text('[project]\nname = "demo-pkg"\nversion = "1.0.0"\n')
        inputs = {"publish-url": f"{registry.url}/", "username": "alice", "password": "s3cret"}
        action = run_action(root, {**inputs, "verify-published": "true"}, FAST)
        cli = run_cli(["--publish-url", f"{registry.url}/", "-u", "alice", "-p", "s3cret", "--verify-published"], root)

        assert registry.requests == []
    assert action.returncode == 2, action.output
    assert "`verify-published: true` needs a check URL (the index's Simple API) to confirm uploads on" in action.stdout
    assert "Set `check-url` input to the index's Simple API" in action.stdout
    assert cli.returncode == 2, cli.output
    assert "--verify-published needs a check URL" in cli.stderr
    assert "Set --check-url to the index's Simple API" in cli.stderr


@pytest.mark.parametrize("value", ["0", "-5", "abc", "nan", "inf", "21601"])
def test_confirm_timeout_must_be_a_number_of_seconds(tmp_path: Path, built_dists: Dists, value: str) -> None:
    root = make_workspace(tmp_path / "ws", simple_url="http://127.0.0.1:9/simple/", upload_url="http://127.0.0.1:9/")
    action = run_action(root, {"index": INDEX, "confirm-timeout": value}, FAST)
    assert action.returncode == 2, action.output
    assert f"`confirm-timeout` input is '{value}': expected a number of seconds above 0, at most 21600" in (
        action.stdout
    )
    if value != "abc":  # argparse refuses a value that is no float at all (exit 2 with its usage line)
        cli = run_cli(["--index", INDEX, "--confirm-timeout", value], root)
        assert cli.returncode == 2, cli.output
        assert "--confirm-timeout is " in cli.stderr
        assert "expected a number of seconds above 0, at most 21600 (6 hours)" in cli.stderr
