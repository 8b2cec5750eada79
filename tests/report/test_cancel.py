"""A cancelled run keeps its record: GitHub cancels a container step with SIGINT, then SIGTERM.

A real process (the action's entrypoint) uploads to pypiserver through the fault proxy; the fourth upload stalls
for a minute. The signal arrives while that upload is in flight: no new upload may start, the stalled one is cut
after the grace (PUBLISHER_CANCEL_GRACE), and the outputs, summary and report list the three files that landed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.fault_proxy import Fault, FaultProxy
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import start_action
from tests.support.servers import PypiServer

pytestmark = [pytest.mark.timeout(120), pytest.mark.serial]  # bounds on the time to exit after a signal

INDEX = "private-repo"
GRACE = 1.0


def _nth_post(n: int) -> Callable[[str, str], bool]:
    """A fault proxy match that takes only the n-th POST (the upload to stall)."""
    seen = 0

    def match(method: str, path: str) -> bool:
        nonlocal seen
        if method != "POST":
            return False
        seen += 1
        return seen == n

    return match


@pytest.fixture
def releases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four wheels and an sdist of one release (pure-Python wheels of different build tags, as a matrix makes)."""
    out = tmp_path_factory.mktemp("release")
    wheel = Path(build_wheel(out, "cancel-demo", "1.0.0"))
    wheels = [wheel]
    for tag in ("1", "2", "3"):
        copy = out / wheel.name.replace("-1.0.0-", f"-1.0.0-{tag}-")
        copy.write_bytes(wheel.read_bytes())
        wheels.append(copy)
    sdist = Path(build_sdist(out, "cancel-demo", "1.0.0"))
    return [*sorted(wheels), sdist]


@pytest.fixture
def stalling(pypiserver: PypiServer) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver.url, match=_nth_post(4)) as proxy:
        proxy.script(Fault.stall(60))
        yield proxy


def _workspace(root: Path, proxy: FaultProxy, pypiserver: PypiServer, dists: list[Path]) -> Path:
    (root / "dist").mkdir(parents=True)
    for dist in dists:
        (root / "dist" / dist.name).write_bytes(dist.read_bytes())
    (root / "pyproject.toml").write_text(
        f'[[tool.uv.index]]\nname = "{INDEX}"\nurl = "{pypiserver.simple_url}"\npublish-url = "{proxy.url}/"\n'
    )
    return root


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_an_upload_keeps_the_record(
    tmp_path: Path, pypiserver: PypiServer, stalling: FaultProxy, releases: list[Path], signum: int
) -> None:
    workspace = _workspace(tmp_path / "ws", stalling, pypiserver, releases)
    env = {
        "UV_INDEX_PRIVATE_REPO_USERNAME": pypiserver.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": pypiserver.password,
        "PUBLISHER_CANCEL_GRACE": str(GRACE),
    }
    with start_action(workspace, {"index": INDEX, "parallel": "1"}, env) as running:
        deadline = time.monotonic() + 30
        while stalling.attempts() < 4:  # the fourth upload is in flight, stalled
            assert running.process.poll() is None, running.wait().output
            assert time.monotonic() < deadline, "the fourth upload never started"
            time.sleep(0.02)
        time.sleep(0.2)
        signalled = time.monotonic()
        running.process.send_signal(signum)
        run = running.wait(timeout=30)
        took = time.monotonic() - signalled

    assert run.returncode == 128 + signum, run.output
    assert took < GRACE + 3, f"exited {took:.1f} s after the signal"
    landed = sorted(pypiserver.files())
    assert len(landed) == 3, landed
    assert sorted(json.loads(run.outputs["published"])) == landed
    assert json.loads(run.outputs["skipped"]) == []
    stalled = [d.name for d in releases if d.name not in landed and d.name.endswith(".whl")]
    assert len(stalled) == 1
    sdist = releases[-1].name
    for name in landed:
        assert "| published |" in run.summary.split(f"| `{name}` |", 1)[1].splitlines()[0]
    assert "aborted by the cancellation" in run.summary.split(f"`{stalled[0]}`", 1)[1].splitlines()[0]
    assert "| not uploaded |" in run.summary.split(f"`{sdist}`", 1)[1].splitlines()[0]
    assert f"{signal.Signals(signum).name} received" in run.summary
    assert f"::error title=Cancelled::{signal.Signals(signum).name} received" in run.stdout
    assert "Traceback" not in run.output
    assert stalling.attempts() == 4, "an upload was started after the signal"


def test_signal_before_the_uploads_stops_at_once(tmp_path: Path, pypiserver: PypiServer, releases: list[Path]) -> None:
    """A keyring that hangs (here: `sleep`) is cut short by the signal; the run reports and exits 143."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "keyring").write_text("#!/bin/sh\nexec sleep 60\n")
    (bin_dir / "keyring").chmod(0o755)
    workspace = tmp_path / "ws"
    (workspace / "dist").mkdir(parents=True)
    for dist in releases:
        (workspace / "dist" / dist.name).write_bytes(dist.read_bytes())
    index = f'name = "{INDEX}"\nurl = "{pypiserver.simple_url}"\npublish-url = "{pypiserver.upload_url}"\n'
    (workspace / "pyproject.toml").write_text(f"[[tool.uv.index]]\n{index}")

    env = {
        "UV_INDEX_PRIVATE_REPO_USERNAME": pypiserver.username,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with start_action(workspace, {"index": INDEX, "keyring-provider": "subprocess"}, env) as running:
        time.sleep(1.5)
        assert running.process.poll() is None, running.wait().output
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        run = running.wait(timeout=30)
        took = time.monotonic() - signalled

    assert run.returncode == 143, run.output
    assert took < 3, f"exited {took:.1f} s after the signal"
    assert "SIGTERM received" in run.summary
    assert json.loads(run.outputs["published"]) == []
    assert pypiserver.files() == []
