"""A dry run predicts the real run (issue 13): it asks the check URL as skip-existing does, reports each file as the
real run would end it, and exits with the real run's status. Checked by running both against the same pypiserver."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.builders import Dists, make_workspace
from tests.support.runner import ActionRun, run_action, run_cli
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(180)

INDEX = "private-repo"
PREFIX = "UV_INDEX_PRIVATE_REPO"
_RESULT = re.compile(r"^  (would upload|would skip|would fail|published|skipped|failed|not uploaded) +(\S+)", re.M)
# How each prediction must end in the real run. A failing real run starts nothing after its first failure (sdists
# wait for every wheel), so there a file that would upload may end `not uploaded`: the prediction is per file.
REAL_ENDING = {"would upload": {"published"}, "would skip": {"skipped"}, "would fail": {"failed", "not uploaded"}}
REAL_ENDING_IF_FAILED = {**REAL_ENDING, "would upload": {"published", "not uploaded"}}


def _creds(server: PypiServer) -> dict[str, str]:
    return {f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": server.password}


def _results(run: ActionRun) -> dict[str, str]:
    """file name -> how the report line says it ended."""
    return {name: status for status, name in _RESULT.findall(run.stdout)}


def _publish(workspace: Path, server: PypiServer, **inputs: str) -> ActionRun:
    return run_action(workspace, {"index": INDEX, "trusted-publishing": "never", **inputs}, env=_creds(server))


STATES = ("empty", "released", "rebuilt", "wheel-only")


@pytest.mark.parametrize("skip_existing", ["false", "true"])
@pytest.mark.parametrize("state", STATES)
def test_a_dry_run_predicts_the_real_run(
    state: str,
    skip_existing: str,
    pypiserver: PypiServer,
    built_dists: Dists,
    dist_factory: Callable[..., Dists],
    tmp_path: Path,
) -> None:
    """The index holds nothing / this release / other bytes under its names / its wheel only; then a dry run and the
    real run of the same files: same exit status, and each file ends as predicted."""
    if state != "empty":
        uploaded = list(built_dists) if state != "wheel-only" else [built_dists.wheel]
        released = make_workspace(
            tmp_path / "released", simple_url=pypiserver.simple_url, upload_url=pypiserver.upload_url, dists=uploaded
        )
        assert _publish(released, pypiserver).returncode == 0
    local = dist_factory(readme="# demo-pkg\n\nRebuilt: same names, other bytes.\n") if state == "rebuilt" else None
    workspace = make_workspace(
        tmp_path / "ws",
        simple_url=pypiserver.simple_url,
        upload_url=pypiserver.upload_url,
        dists=list(local or built_dists),
    )
    before = {name: pypiserver.read(name) for name in pypiserver.files()}

    dry = _publish(workspace, pypiserver, **{"dry-run": "true", "skip-existing": skip_existing})
    assert {name: pypiserver.read(name) for name in pypiserver.files()} == before, "a dry run uploaded something"
    assert json.loads(dry.outputs["published"]) == []
    assert json.loads(dry.outputs["skipped"]) == []
    predicted = _results(dry)
    assert sorted(predicted) == sorted(d.name for d in built_dists), dry.output

    real = _publish(workspace, pypiserver, **{"skip-existing": skip_existing})
    assert dry.returncode == real.returncode, f"dry run:\n{dry.output}\nreal run:\n{real.output}"
    ended = _results(real)
    endings = REAL_ENDING if real.returncode == 0 else REAL_ENDING_IF_FAILED
    for name, prediction in predicted.items():
        assert ended[name] in endings[prediction], f"{name}: predicted {prediction}, ended {ended[name]}"


def test_what_each_file_would_do_is_said_in_the_report_and_the_summary(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    released = make_workspace(
        tmp_path / "released",
        simple_url=pypiserver.simple_url,
        upload_url=pypiserver.upload_url,
        dists=[built_dists.wheel],
    )
    assert _publish(released, pypiserver).returncode == 0
    workspace = make_workspace(
        tmp_path / "ws", simple_url=pypiserver.simple_url, upload_url=pypiserver.upload_url, dists=list(built_dists)
    )

    skipping = _publish(workspace, pypiserver, **{"dry-run": "true", "skip-existing": "true"})
    assert skipping.returncode == 0, skipping.output
    assert _results(skipping) == {built_dists.wheel.name: "would skip", built_dists.sdist.name: "would upload"}
    headline = f"Dry run for index `{INDEX}` ({pypiserver.upload_url}): 1 would upload, 1 would skip (auth: password)"
    assert f"{headline}; nothing was uploaded." in skipping.stdout
    assert "would skip: `already on the index (same sha256)`" in skipping.summary

    refusing = _publish(workspace, pypiserver, **{"dry-run": "true"})
    assert refusing.returncode == 1, refusing.output
    assert "::error title=Dry run::The real run would fail on 1 of 2 file(s):" in refusing.stdout
    assert f"{built_dists.wheel.name} is already on the index with identical contents" in refusing.output
    assert "Set `skip-existing: true` to treat identical files as done" in refusing.output
    assert "**Dry run**" in refusing.summary


def test_a_check_url_that_refuses_to_list_fails_with_skip_existing_and_warns_without(
    built_dists: Dists, tmp_path: Path
) -> None:
    server = PypiServer(workdir=tmp_path / "private", authenticate="update,list").start()  # reads need a password
    try:
        workspace = make_workspace(
            tmp_path / "ws", simple_url=server.simple_url, upload_url=server.upload_url, dists=list(built_dists)
        )
        env = {
            "UV_PUBLISH_USERNAME": server.username,
            "UV_PUBLISH_PASSWORD": server.password,
            f"{PREFIX}_USERNAME": server.username,  # read credentials that the check URL refuses
            f"{PREFIX}_PASSWORD": "wrong-read-password",
        }
        inputs = {"index": INDEX, "dry-run": "true", "trusted-publishing": "never"}
        strict = run_action(workspace, {**inputs, "skip-existing": "true"}, env)
        real = run_action(workspace, {"index": INDEX, "skip-existing": "true", "trusted-publishing": "never"}, env)
        assert strict.returncode == real.returncode == 1, strict.output
        assert "Authentication failed" in strict.output
        assert "from the check URL" in strict.output

        lenient = run_action(workspace, inputs, env)
        assert lenient.returncode == 0, lenient.output
        assert "::warning title=Dry run%3A check URL not read::" in lenient.stdout
        assert set(_results(lenient).values()) == {"would upload"}
        assert "wrong-read-password" not in lenient.visible
        assert server.files() == []
    finally:
        server.stop()


def test_without_a_check_url_the_files_would_upload_unverified(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    workspace = make_workspace(
        tmp_path / "ws", simple_url=pypiserver.simple_url, upload_url=pypiserver.upload_url, dists=list(built_dists)
    )
    args = ["--publish-url", pypiserver.upload_url, "-u", pypiserver.username, "-p", pypiserver.password, "--dry-run"]
    run = run_cli(args, workspace)
    assert run.returncode == 0, run.output
    assert run.stdout.count("no check URL to ask") == 2
    assert pypiserver.files() == []
