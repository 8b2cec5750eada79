"""skip-existing against real registries: re-runs publish nothing, other bytes under a published name fail naming
both hashes (and the registry keeps the original), a check URL that refuses us is an error, never "absent"."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.builders import Dists, make_workspace
from tests.support.runner import ActionRun, run_action
from tests.support.servers import DevpiIndex, PypiServer

pytestmark = pytest.mark.timeout(180)

INDEX = "private-repo"
PREFIX = "UV_INDEX_PRIVATE_REPO"
Registry = PypiServer | DevpiIndex


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _creds(registry: Registry) -> dict[str, str]:
    return {f"{PREFIX}_USERNAME": registry.username, f"{PREFIX}_PASSWORD": registry.password}


def _workspace(root: Path, registry: Registry, dists: Dists | list[Path]) -> Path:
    return make_workspace(root, simple_url=registry.simple_url, upload_url=registry.upload_url, dists=list(dists))


def _publish(workspace: Path, env: dict[str, str], **inputs: str) -> ActionRun:
    return run_action(workspace, {"index": INDEX, "trusted-publishing": "never", **inputs}, env=env)


@pytest.fixture(params=["pypiserver", "devpi"])
def registry(request: pytest.FixtureRequest) -> Registry:
    """Each test runs against pypiserver and a non-volatile devpi index."""
    return request.getfixturevalue("pypiserver" if request.param == "pypiserver" else "devpi_index")  # type: ignore[no-any-return]


def test_rerun_publishes_nothing_and_lists_skipped(registry: Registry, built_dists: Dists, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", registry, built_dists)
    names = [built_dists.wheel.name, built_dists.sdist.name]
    first = _publish(workspace, _creds(registry), **{"skip-existing": "true"})
    assert first.returncode == 0, first.output
    assert json.loads(first.outputs["published"]) == names

    again = _publish(workspace, _creds(registry), **{"skip-existing": "true"})
    assert again.returncode == 0, again.output
    assert json.loads(again.outputs["published"]) == []
    assert json.loads(again.outputs["skipped"]) == names
    assert "already on the index (same sha256)" in again.output
    assert "skipped 2 already present" in again.summary
    assert registry.files() == sorted(names)
    for dist in built_dists:
        assert registry.read(dist.name) == dist.read_bytes()


def test_other_bytes_under_a_published_name_fail_naming_both_hashes(
    registry: Registry, built_dists: Dists, dist_factory: Callable[..., Dists], tmp_path: Path
) -> None:
    original = _workspace(tmp_path / "first", registry, built_dists)
    assert _publish(original, _creds(registry)).returncode == 0

    rebuilt = dist_factory(readme="# demo-pkg\n\nThe same version, rebuilt with other contents.\n")
    assert rebuilt.wheel.name == built_dists.wheel.name
    assert rebuilt.wheel.read_bytes() != built_dists.wheel.read_bytes()
    run = _publish(_workspace(tmp_path / "second", registry, rebuilt), _creds(registry), **{"skip-existing": "true"})
    assert run.returncode == 1, run.output
    assert f"sha256:{_sha(built_dists.wheel.read_bytes())}" in run.output  # what the index holds
    assert f"sha256:{_sha(rebuilt.wheel.read_bytes())}" in run.output  # what we have
    assert "different contents" in run.output
    assert json.loads(run.outputs["published"]) == []
    for dist in built_dists:  # nothing was replaced
        assert registry.read(dist.name) == dist.read_bytes()


def test_lookup_is_done_once_per_project(built_dists: Dists, pypiserver: PypiServer, tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws", pypiserver, built_dists)
    run = _publish(workspace, _creds(pypiserver), **{"skip-existing": "true", "verbose": "true"})
    assert run.returncode == 0, run.output
    assert run.output.count("> GET http://127.0.0.1") == 1, run.output  # wheel and sdist share one listing
    assert "/simple/demo-pkg/" in run.output


@pytest.mark.parametrize(
    ("read_password", "expected_status"),
    [(None, 401), ("wrong-password", 403)],
    ids=["no-read-credentials", "wrong-read-credentials"],
)
def test_check_url_refusing_us_is_an_error_not_absent(
    tmp_path: Path, built_dists: Dists, read_password: str | None, expected_status: int
) -> None:
    """pypiserver with `-a update,list`: the Simple API needs a password too (401 without, 403 wrong).

    Without read credentials the check URL names the server as `localhost`, another host than the publish URL's
    127.0.0.1, so the upload credentials are not lent to it (they are on the same host; see the next test).
    """
    with PypiServer(workdir=tmp_path / "server", authenticate="update,list") as server:
        check_url = server.simple_url
        env = {"UV_PUBLISH_USERNAME": server.username, "UV_PUBLISH_PASSWORD": server.password}
        if read_password is None:
            check_url = check_url.replace("127.0.0.1", "localhost")
        else:
            env |= {f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": read_password}
        workspace = make_workspace(
            tmp_path / "ws", simple_url=check_url, upload_url=server.upload_url, dists=list(built_dists)
        )
        run = _publish(workspace, env, **{"skip-existing": "true"})
        assert run.returncode == 1, run.output
        assert f"{expected_status} from the check URL {check_url}demo-pkg/" in run.output
        assert "Not treating this as 'file absent'" in run.output
        assert f"{PREFIX}_USERNAME and {PREFIX}_PASSWORD" in run.output  # the hint: how to give read access
        assert "wrong-password" not in run.visible
        assert server.files() == []


def test_check_url_uses_upload_credentials_on_the_same_host(tmp_path: Path, built_dists: Dists) -> None:
    with PypiServer(workdir=tmp_path / "server", authenticate="update,list") as server:
        workspace = _workspace(tmp_path / "ws", server, built_dists)
        env = {"UV_PUBLISH_USERNAME": server.username, "UV_PUBLISH_PASSWORD": server.password}
        first = _publish(workspace, env, **{"skip-existing": "true"})
        assert first.returncode == 0, first.output
        again = _publish(workspace, env, **{"skip-existing": "true"})
        assert again.returncode == 0, again.output
        assert len(json.loads(again.outputs["skipped"])) == 2


def test_without_check_url_a_duplicate_answer_is_a_skip_with_a_warning(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    """No index, only publish-url: pypiserver's 409 is all we have; the skip says it could not compare."""
    workspace = _workspace(tmp_path / "ws", pypiserver, built_dists)
    inputs = {
        "publish-url": pypiserver.upload_url,
        "username": pypiserver.username,
        "password": pypiserver.password,
        "trusted-publishing": "never",
    }
    assert run_action(workspace, inputs).returncode == 0

    plain = run_action(workspace, inputs)
    assert plain.returncode == 1, plain.output
    assert "already exists" in plain.output  # pypiserver's words
    assert "409" in plain.output
    assert "set `skip-existing: true`" in plain.output  # the hint, in the action's words

    skipping = run_action(workspace, {**inputs, "skip-existing": "true"})
    assert skipping.returncode == 0, skipping.output
    assert json.loads(skipping.outputs["skipped"]) == [built_dists.wheel.name, built_dists.sdist.name]
    assert "contents could not be compared" in skipping.output
    assert "no check URL is configured" in skipping.output
