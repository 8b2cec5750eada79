"""A hostile Fulcio, Rekor or TUF repository cannot make a run slow, big or leaky: sigstore's HTTP goes through the
guarded transport (publisher/attest/sigstore_http.py), under the same byte caps and deadlines as every other request.

End to end through the action, each run measured (wall time, peak RSS) like tests/test_hostile_server.py: the real
offline Sigstore stack for the service that behaves, tests/fakes/hostile.py for the one that does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from publisher.net.retry import RetryPolicy
from publisher.report import safe
from publisher.report.console import TerminalConsole
from tests.fakes import Request
from tests.fakes.attestation_check import pypi_check
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.hostile import Answer, HostileServer, Route
from tests.fakes.sigstore_stack import SigstoreStack
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher
from tests.support.builders import build_wheel
from tests.support.runner import ActionRun, run_action

pytestmark = [pytest.mark.timeout(120), pytest.mark.serial]  # peak-memory and wall-time bounds

MIB = 1024 * 1024
HUGE = 300 * MIB
RSS = 200 * MIB  # the interpreter with sigstore, cryptography and pydantic loaded, plus at most 64 KiB of answer
ROOT = Path(__file__).resolve().parent.parent
FAST = {"PUBLISHER_REQUEST_DEADLINE": "1", "PUBLISHER_RETRY_BASE_DELAY": "0.01"}
FULCIO_PATH = "/api/v2/signingCert"
REKOR_PATH = "/api/v1/log/entries"


@pytest.fixture
def index(
    github: FakeGitHubOIDC, stack: SigstoreStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeTrustedIndex]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(stack.seed_tuf_cache(tmp_path / "xdg-cache")))
    publisher = Publisher("octo-org/octo-repo", "release.yml")
    with FakeTrustedIndex(
        github.public_key, publisher=publisher, simple_api_version="1.3", attestation_check=pypi_check()
    ) as fake:
        yield fake


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sigstore-hostile")
    build_wheel(root / "dist", "attest-demo", "1.0.0")
    return root


def _trust_config(stack: SigstoreStack, tmp_path: Path, *, fulcio: str | None = None, rekor: str | None = None) -> Path:
    """The stack's trust config, with Fulcio's or Rekor's URL pointing at a hostile server."""
    config = stack.trust_config
    if fulcio:
        config["signingConfig"]["caUrls"][0]["url"] = fulcio
    if rekor:
        config["signingConfig"]["rekorTlogUrls"][0]["url"] = rekor
    path = tmp_path / "trust_config.json"
    path.write_text(json.dumps(config))
    return path


def _run(
    github: FakeGitHubOIDC, index: FakeTrustedIndex, workspace: Path, trust: Path, deadline: str = "1"
) -> ActionRun:
    inputs = {
        "publish-url": index.upload_url,
        "check-url": f"{index.url}/simple/",
        "trusted-publishing": "always",
        "retries": "0",
    }
    env = {**github.env, "PUBLISHER_SIGSTORE_TRUST_CONFIG": str(trust), **FAST, "PUBLISHER_REQUEST_DEADLINE": deadline}
    return run_action(workspace, inputs, env, timeout=60, measure=True)


def _assert_bounded(run: ActionRun, *, seconds: float) -> None:
    assert run.seconds is not None
    assert run.max_rss is not None
    assert run.seconds < seconds, f"the run took {run.seconds:.1f} s:\n{run.stdout}"
    assert run.max_rss < RSS, f"the run peaked at {run.max_rss / MIB:.0f} MiB:\n{run.stdout}"


HUGE_ANSWERS = [
    Answer.huge(HUGE, status=200, content_type="application/json", fill=b'{"a": 1} '),
    Answer.huge(HUGE, status=500, fill=b"Fulcio says no. "),
    Answer.gzip_bomb(HUGE, status=200, content_type="application/json"),
]


@pytest.mark.parametrize("answer", HUGE_ANSWERS, ids=["300MiB-200", "300MiB-500", "gzip-bomb"])
def test_a_huge_fulcio_answer_is_read_only_up_to_its_cap(
    github: FakeGitHubOIDC,
    stack: SigstoreStack,
    index: FakeTrustedIndex,
    workspace: Path,
    tmp_path: Path,
    answer: Answer,
) -> None:
    with HostileServer({FULCIO_PATH: answer}) as fulcio:
        # a deadline long enough to read all of it, were it read: only the cap stops it
        run = _run(github, index, workspace, _trust_config(stack, tmp_path, fulcio=fulcio.url), deadline="30")

    assert run.returncode == 1, run.stdout
    _assert_bounded(run, seconds=15)
    assert "issuing the signing certificate failed after 1 attempt(s)" in run.stdout
    if answer.status == 200:
        assert "larger than 64 KiB: not read further" in run.stdout
    else:
        assert "500 Internal Server Error: Fulcio says no." in run.stdout
    assert index.files == {}


@pytest.mark.parametrize("answer", HUGE_ANSWERS[:1], ids=["300MiB-200"])
def test_a_huge_rekor_answer_is_read_only_up_to_its_cap(
    github: FakeGitHubOIDC,
    stack: SigstoreStack,
    index: FakeTrustedIndex,
    workspace: Path,
    tmp_path: Path,
    answer: Answer,
) -> None:
    with HostileServer({REKOR_PATH: answer}) as rekor:
        # a deadline long enough to read all of it, were it read: only the cap stops it
        run = _run(github, index, workspace, _trust_config(stack, tmp_path, rekor=rekor.url), deadline="30")

    assert run.returncode == 1, run.stdout
    _assert_bounded(run, seconds=15)
    assert "logging the attestation of" in run.stdout
    assert "larger than 64 KiB: not read further" in run.stdout
    assert index.files == {}


@pytest.mark.parametrize("drip", ["headers", "body"])
def test_a_dripping_fulcio_ends_at_the_deadline(
    github: FakeGitHubOIDC,
    stack: SigstoreStack,
    index: FakeTrustedIndex,
    workspace: Path,
    tmp_path: Path,
    drip: str,
) -> None:
    answer = Answer.drip_headers(every=0.2) if drip == "headers" else Answer.drip_body(every=0.2, status=200)
    with HostileServer({FULCIO_PATH: answer}) as fulcio:
        run = _run(github, index, workspace, _trust_config(stack, tmp_path, fulcio=fulcio.url))

    assert run.returncode == 1, run.stdout
    said = "issuing the signing certificate failed after 1 attempt(s): did not finish within 1 s"
    assert f"{said} (PUBLISHER_REQUEST_DEADLINE): the per-request deadline of 1 s passed" in run.stdout
    assert index.files == {}
    _assert_bounded(run, seconds=10)


def test_a_fulcio_echoing_the_token_shows_none_of_it(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path, tmp_path: Path
) -> None:
    """The answer is redacted before it is cut: a token longer than the old 2000-character cut loses no prefix."""
    github.claims["padding"] = "p" * 2500  # a long token, as a real one with many claims can be
    seen: list[str] = []

    def echo(request: Request) -> Answer:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        seen.append(token)
        return Answer.text(400, f"Denied for the token {token}")

    with HostileServer({FULCIO_PATH: echo}) as fulcio:
        run = _run(github, index, workspace, _trust_config(stack, tmp_path, fulcio=fulcio.url))

    assert run.returncode == 1, run.stdout
    assert "400 Bad Request: Denied for the token ***" in run.stdout
    assert len(seen) == 1
    assert len(seen[0]) > 2000
    token = seen[0]
    pieces = [token[i : i + 16] for i in range(0, len(token) - 16, 8)]
    masks = [line for line in run.stdout.splitlines() if line.startswith("::add-mask")]
    assert any(line.endswith(token) for line in masks), "the token is masked (the runner never shows that line)"
    shown = "\n".join(line for line in run.stdout.splitlines() if line not in masks)
    leaked = [piece for piece in pieces if piece in shown or piece in run.summary]
    assert leaked == [], "part of the token reached the log"


def test_service_failure_redacts_before_it_cuts() -> None:
    from publisher.attest.sign import _service_failure

    secret = "s3cr3t-" + "x" * 2100
    safe.register_secret(secret)
    try:
        response = requests.Response()
        response.status_code, response.reason, response.encoding = 400, "Bad Request", "utf-8"
        response._content = f"echo: {secret}".encode()
        reason, transient = _service_failure(requests.HTTPError(response=response))
    finally:
        safe.forget_secrets()
    assert reason == "400 Bad Request: echo: ***"
    assert not transient


def test_an_abandoned_call_stops_reading() -> None:
    """A call that ran out of time leaves nothing behind still reading (no worker thread, the connection cut)."""
    from publisher.attest.sign import _ServiceError, _with_retries

    with HostileServer({"/slow": Answer.drip_body(every=0.1, status=200)}) as server:
        session = requests.Session()
        started = time.monotonic()
        with pytest.raises(_ServiceError) as raised:
            _with_retries(
                lambda: session.get(f"{server.url}/slow"),
                RetryPolicy(retries=0),
                1.0,
                "The slow one",
                TerminalConsole(),
            )
        elapsed = time.monotonic() - started
        alive = [t.name for t in threading.enumerate() if t.name == "sigstore"]
    assert raised.value.reason.startswith("did not finish within 1 s (PUBLISHER_REQUEST_DEADLINE)")
    assert elapsed < 3
    assert alive == [], "a worker is still reading the abandoned answer"


def test_every_session_and_tuf_download_is_guarded() -> None:
    """The rule is structural: whatever sigstore or TUF creates goes through the guarded transport, and urllib3
    itself refuses to send."""
    import urllib3
    from tuf.ngclient import updater

    from publisher.attest import sign as attest
    from publisher.attest import sigstore_http

    assert attest.sigstore_http is sigstore_http
    session = requests.Session()
    assert isinstance(session.get_adapter("https://fulcio.example/"), sigstore_http.GuardedAdapter)
    assert isinstance(session.get_adapter("http://127.0.0.1/"), sigstore_http.GuardedAdapter)
    assert updater.Urllib3Fetcher is sigstore_http.GuardedFetcher
    with pytest.raises(sigstore_http.UnguardedRequest):
        urllib3.PoolManager().request("GET", "http://127.0.0.1:9/")


CLIENTS = ("urllib.request", "http.client", "urllib3", "httpx", "aiohttp", "pycurl")


def test_sigstore_and_tuf_reach_the_network_only_through_requests_and_the_fetcher() -> None:
    """A new release that opens connections another way would go around the guard: this fails first."""
    import pypi_attestations
    import sigstore
    import tuf

    allowed = {"tuf/ngclient/urllib3_fetcher.py", "tuf/ngclient/_internal/proxy.py", "tuf/ngclient/updater.py"}
    allowed |= {"tuf/ngclient/requests_fetcher.py", "tuf/ngclient/__init__.py", "sigstore/_internal/oidc/oauth.py"}
    found = []
    for package in (sigstore, tuf, pypi_attestations):
        base = Path(package.__file__).parent
        for path in base.rglob("*.py"):
            shown = f"{base.name}/{path.relative_to(base).as_posix()}"
            text = path.read_text(encoding="utf-8")
            if shown not in allowed and any(f"import {c}" in text or f"from {c} " in text for c in CLIENTS):
                found.append(shown)
    assert found == []


def _dripping_proxy() -> dict[str, Route]:
    """Every CONNECT (its target `host:443` reads as the path `443`) answered one byte every 0.2 s."""
    return {"443": Answer.drip_headers(every=0.2)}


def test_the_tuf_trust_root_fetch_ends_at_the_deadline(tmp_path: Path) -> None:
    """The public instance's trust root comes through TUF; behind a proxy that drips, it ends with the deadline."""
    script = (
        "from publisher.attest import sign as attest\nfrom publisher.config.settings import Settings\nimport os\n"
        "attest.load_trust(os.environ, Settings())\n"
    )
    with HostileServer(_dripping_proxy()) as proxy:
        env = {
            **{k: v for k, v in os.environ.items() if "PROXY" not in k.upper()},
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "",
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PUBLISHER_REQUEST_DEADLINE": "1",
        }
        env.pop("PUBLISHER_SIGSTORE_TRUST_CONFIG", None)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the TUF refresh was still running after 30 s")
        elapsed = time.monotonic() - started
        connects = proxy.paths()
    assert done.returncode != 0
    assert "Could not load Sigstore's production trust root (TUF)" in done.stderr
    assert "did not finish within 1 s (PUBLISHER_REQUEST_DEADLINE)" in done.stderr
    assert connects, "the refresh went through the proxy"
    assert elapsed < 10


def test_abort_all_cuts_a_sigstore_request_in_flight() -> None:
    """A cancellation reaches sigstore's own sessions too: transport.abort_all cuts them at once."""
    from publisher.attest import sign as attest
    from publisher.net import sockets, transport

    assert attest.sigstore_http.GuardedAdapter  # installed
    errors: list[BaseException] = []
    with HostileServer({"/silent": Answer.silence(30)}) as server:

        def call() -> None:
            try:
                requests.Session().get(f"{server.url}/silent")
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        while not server.requests:
            time.sleep(0.01)
        started = time.monotonic()
        try:
            assert transport.abort_all() >= 1
            worker.join(5)
        finally:
            sockets.reset_abort()  # process-wide: the next test starts with a working transport
    assert time.monotonic() - started < 1
    assert [type(e) for e in errors] == [requests.ConnectionError]
