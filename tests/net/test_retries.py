"""Faults between us and a real pypiserver, injected by a proxy: what is retried, what is not, and the end state.

Every test asserts on the registry itself (the file is there once, with the local bytes, or not at all), the exit
status, and what the user was told. Waits are shortened through PUBLISHER_RETRY_BASE_DELAY (first backoff 10 ms)
and PUBLISHER_READ_TIMEOUT (1 s, so a stalled registry is detected quickly).
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fault_proxy import Fault, FaultProxy, status
from tests.support.builders import Dists, make_workspace
from tests.support.runner import ActionRun, run_action
from tests.support.servers import PypiServer, free_port

pytestmark = pytest.mark.timeout(120)

INDEX = "flaky"
ENV_PREFIX = "UV_INDEX_FLAKY"
FAST = {"PUBLISHER_RETRY_BASE_DELAY": "0.01", "PUBLISHER_READ_TIMEOUT": "1"}


@pytest.fixture
def proxy(pypiserver: PypiServer) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver.url) as running:
        yield running


def _workspace(root: Path, simple_url: str, upload_url: str, wheel: Path) -> Path:
    return make_workspace(root, simple_url=simple_url, upload_url=upload_url, dists=[wheel], index_name=INDEX)


def _env(server: PypiServer, **extra: str) -> dict[str, str]:
    return {f"{ENV_PREFIX}_USERNAME": server.username, f"{ENV_PREFIX}_PASSWORD": server.password, **FAST, **extra}


def _wheel(built_dists: Dists) -> Path:
    return built_dists.wheel


def _publish(workspace: Path, server: PypiServer, **inputs: str) -> ActionRun:
    return run_action(workspace, {"index": INDEX, "trusted-publishing": "never", **inputs}, env=_env(server))


def _assert_stored_once(server: PypiServer, wheel: Path) -> None:
    assert server.files() == [wheel.name]
    assert hashlib.sha256(server.read(wheel.name)).hexdigest() == hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.fixture
def flaky(tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists) -> Path:
    """A checkout whose index uploads through the proxy and checks the registry's Simple API directly."""
    return _workspace(tmp_path / "ws", pypiserver.simple_url, f"{proxy.url}/", _wheel(built_dists))


def test_503_twice_then_success(flaky: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists) -> None:
    proxy.script(*status(503, 2))
    run = _publish(flaky, pypiserver)
    assert run.returncode == 0, run.output
    assert proxy.attempts() == 3
    _assert_stored_once(pypiserver, built_dists.wheel)
    assert json.loads(run.outputs["published"]) == [built_dists.wheel.name]
    assert run.output.count("HTTP 503 Service Unavailable") == 2
    assert "retry 1/3" in run.output
    assert "retry 2/3" in run.output


def test_429_honours_retry_after(flaky: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists) -> None:
    proxy.script(Fault.status_(429, {"Retry-After": "1"}))
    started = time.monotonic()
    run = _publish(flaky, pypiserver)
    assert run.returncode == 0, run.output
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 must be waited out (the base delay is 10 ms)"
    assert proxy.attempts() == 2
    assert "429" in run.output
    assert "Retry-After: 1s" in run.output
    _assert_stored_once(pypiserver, built_dists.wheel)


def test_connection_reset_mid_body_is_retried(
    tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    wheel = Path(tmp_path / "big" / built_dists.wheel.name)
    wheel.parent.mkdir()
    wheel.write_bytes(built_dists.wheel.read_bytes())
    with zipfile.ZipFile(wheel, "a") as archive:  # 4 MiB: the reset lands while the body is still being sent
        archive.writestr(zipfile.ZipInfo("demo_pkg/blob.bin"), hashlib.sha256(b"x").digest() * (128 * 1024))
    workspace = _workspace(tmp_path / "ws", pypiserver.simple_url, f"{proxy.url}/", wheel)
    proxy.script(Fault.reset())
    run = _publish(workspace, pypiserver)
    assert run.returncode == 0, run.output
    assert proxy.log[0][2] == "reset"
    assert proxy.attempts() == 2
    assert "Retrying" in run.output
    _assert_stored_once(pypiserver, wheel)


def test_stalled_registry_times_out_and_is_retried(
    flaky: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    proxy.script(Fault.stall(10))
    started = time.monotonic()
    run = _publish(flaky, pypiserver)
    assert run.returncode == 0, run.output
    assert time.monotonic() - started < 8, "PUBLISHER_READ_TIMEOUT=1 must cut the stall short"
    assert "ReadTimeout" in run.output
    assert proxy.attempts() == 2
    _assert_stored_once(pypiserver, built_dists.wheel)


@pytest.mark.parametrize("fault", [Fault.stored_then(500), Fault.stored_then_stall(10)], ids=["500", "lost-answer"])
def test_stored_despite_failure_counts_as_published_without_a_retry(
    flaky: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists, fault: Fault
) -> None:
    proxy.script(fault)
    run = _publish(flaky, pypiserver)
    assert run.returncode == 0, run.output
    assert proxy.attempts() == 1, "the check URL showed the file arrived: nothing to retry"
    assert "verified on the index" in run.output
    assert json.loads(run.outputs["published"]) == [built_dists.wheel.name]
    _assert_stored_once(pypiserver, built_dists.wheel)


def test_stored_despite_500_without_check_url_fails_honestly(
    tmp_path: Path, pypiserver: PypiServer, proxy: FaultProxy, built_dists: Dists
) -> None:
    """No check URL: the retry meets pypiserver's 409 and we cannot prove the stored file is ours."""
    workspace = _workspace(tmp_path / "ws", pypiserver.simple_url, pypiserver.upload_url, built_dists.wheel)
    proxy.script(Fault.stored_then(500))
    inputs = {"publish-url": f"{proxy.url}/", "username": pypiserver.username, "password": pypiserver.password}
    run = run_action(workspace, {**inputs, "trusted-publishing": "never"}, env=FAST)
    assert run.returncode == 1, run.output
    assert proxy.attempts() == 2
    assert "probably stored" in run.output
    assert "already exists" in run.output  # pypiserver's own words
    assert hashlib.sha256(built_dists.wheel.read_bytes()).hexdigest() in run.output
    _assert_stored_once(pypiserver, built_dists.wheel)


def test_400_is_not_retried(flaky: Path, pypiserver: PypiServer, proxy: FaultProxy) -> None:
    proxy.script(Fault("status", 400, body=b"Invalid distribution: metadata rejected"))
    run = _publish(flaky, pypiserver)
    assert run.returncode == 1, run.output
    assert proxy.attempts() == 1
    assert "Retrying" not in run.output
    assert "400" in run.output
    assert "Invalid distribution: metadata rejected" in run.output
    assert pypiserver.files() == []


def test_persistent_503_gives_up_after_the_configured_retries(
    flaky: Path, pypiserver: PypiServer, proxy: FaultProxy
) -> None:
    proxy.script(*status(503, 10))
    run = _publish(flaky, pypiserver, retries="2")
    assert run.returncode == 1, run.output
    assert proxy.attempts() == 3
    assert "after 3 attempts" in run.output
    assert "Service Unavailable" in run.output
    assert pypiserver.files() == []
    assert json.loads(run.outputs["published"]) == []


def test_retries_zero_means_one_attempt(flaky: Path, pypiserver: PypiServer, proxy: FaultProxy) -> None:
    proxy.script(*status(502, 1))
    run = _publish(flaky, pypiserver, retries="0")
    assert run.returncode == 1, run.output
    assert proxy.attempts() == 1
    assert pypiserver.files() == []


def test_connection_refused_is_retried_then_reported(
    tmp_path: Path, pypiserver: PypiServer, built_dists: Dists
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    workspace = _workspace(tmp_path / "ws", pypiserver.simple_url, closed, built_dists.wheel)
    run = _publish(workspace, pypiserver, retries="2")
    assert run.returncode == 1, run.output
    assert run.output.count("ConnectError") >= 3  # two retry warnings and the final error
    assert "after 3 attempt(s)" in run.output
    assert pypiserver.files() == []
