"""Smoke: the action, run as GitHub runs it, publishes to a real pypiserver, and pip installs the result back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.builders import Dists
from tests.support.runner import pip_install, run_action, run_installed
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)


def test_action_publishes_to_a_named_index(
    pypiserver: PypiServer, workspace: Path, built_dists: Dists, tmp_path: Path
) -> None:
    env = {
        "UV_INDEX_PRIVATE_REPO_USERNAME": pypiserver.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": pypiserver.password,
    }
    run = run_action(workspace, {"index": "private-repo"}, env=env)

    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted(dist.name for dist in built_dists)
    for dist in built_dists:
        assert pypiserver.read(dist.name) == dist.read_bytes()
    site = pip_install(pypiserver.simple_url, "demo-pkg==1.0.0", tmp_path / "site")
    imported = run_installed(site, "import demo_pkg; print(demo_pkg.hello())")
    assert imported.stdout.strip() == "hello from demo-pkg 1.0.0", imported.stderr
