"""Text from outside cannot steer the runner: the three injections an adversarial review found, end to end.

Each run goes through the action's entrypoint as GitHub runs it; its stdout is read the way the runner reads it
(tests/support/workflow_commands.py). Only commands our code emits may appear: masks, groups, annotations, debug.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher
from tests.support.builders import Dists, build_wheel
from tests.support.runner import ActionRun, run_action
from tests.support.servers import PypiServer
from tests.support.workflow_commands import commands

INDEX = "private-repo"
OURS = {"add-mask", "group", "endgroup", "warning", "error", "debug", "notice"}
HOSTILE = "::warning title=pwned::injected\n::group::pwned\n##[error]legacy"


def assert_only_our_commands(run: ActionRun) -> None:
    """No command but ours, and none carrying the hostile payload as its own command line."""
    for command in commands(run.stdout):
        assert command.name in OURS, f"the runner would run `{command.name}`:\n{run.stdout}"
    for line in run.stdout.splitlines():
        assert not line.lstrip().startswith("::warning title=pwned"), run.stdout
        assert not line.lstrip().startswith("::group::pwned"), run.stdout
        assert "##[error]legacy" not in line, run.stdout


def _env(pypiserver: PypiServer) -> dict[str, str]:
    return {
        "UV_INDEX_PRIVATE_REPO_USERNAME": pypiserver.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": pypiserver.password,
        "ACTIONS_ID_TOKEN_REQUEST_URL": "",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "",
    }


@pytest.mark.parametrize("dry_run", ["false", "true"])
def test_dist_name_with_a_newline_is_refused_before_any_request(
    pypiserver: PypiServer, workspace: Path, built_dists: Dists, dry_run: str
) -> None:
    """packaging accepts a newline in a wheel's platform tag; such a name is refused (exit 2), in dry runs too."""
    hostile = built_dists.wheel.name.removesuffix(".whl") + "\n::warning title=pwned::injected.whl"
    shutil.copy(built_dists.wheel, workspace / "dist" / hostile)

    run = run_action(workspace, {"index": INDEX, "dry-run": dry_run}, env=_env(pypiserver))

    assert run.returncode == 2, run.output
    assert "the file name contains control characters" in run.stdout
    assert "\\n::warning title=pwned::injected.whl" in run.stdout  # shown, escaped
    assert_only_our_commands(run)
    assert pypiserver.files() == []
    assert "control characters" in run.summary
    assert "\n::warning" not in run.summary


def test_dist_name_that_is_not_utf8_is_refused_with_a_report(
    pypiserver: PypiServer, workspace: Path, built_dists: Dists
) -> None:
    """An undecodable name used to end in a traceback (UnicodeEncodeError writing the log) with no summary."""
    name = built_dists.wheel.name.removesuffix("-any.whl").encode() + b"-\xff\xfe.whl"
    shutil.copy(built_dists.wheel, os.path.join(os.fsencode(workspace / "dist"), name))

    run = run_action(workspace, {"index": INDEX}, env=_env(pypiserver))

    assert run.returncode == 2, run.output
    assert "Traceback" not in run.output
    assert "the file name is not valid UTF-8" in run.stdout
    assert "\\udcff\\udcfe.whl" in run.stdout
    assert "not valid UTF-8" in run.summary
    assert run.outputs["published"] == "[]"
    assert pypiserver.files() == []


def test_hidden_file_name_in_the_verbose_log_is_escaped(pypiserver: PypiServer, workspace: Path) -> None:
    (workspace / "dist" / f".notes\n{HOSTILE}").write_text("not a dist")

    run = run_action(workspace, {"index": INDEX, "verbose": "true"}, env=_env(pypiserver))

    assert run.returncode == 0, run.output
    assert "a hidden file" in run.stdout
    assert "\\n::warning title=pwned::injected\\n::group::pwned\\n##" in run.stdout
    assert_only_our_commands(run)


def test_other_skipped_file_name_is_escaped_in_its_warning(pypiserver: PypiServer, workspace: Path) -> None:
    (workspace / "dist" / f"notes\n{HOSTILE}.txt").write_text("not a dist")

    run = run_action(workspace, {"index": INDEX}, env=_env(pypiserver))

    assert run.returncode == 0, run.output
    assert_only_our_commands(run)
    warnings = [c for c in commands(run.stdout) if c.name == "warning"]
    assert any("not a wheel" in w.data and "%0A" not in w.data for w in warnings), run.stdout


def test_oidc_audience_answer_in_the_verbose_log_is_escaped(github: FakeGitHubOIDC, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    build_wheel(workspace / "dist", "tp-demo", "1.0.0")
    publisher = Publisher("octo-org/octo-repo", "release.yml")
    with FakeTrustedIndex(github.public_key, publisher=publisher, audience=f"pypi\n{HOSTILE}") as index:
        run = run_action(
            workspace,
            {"publish-url": index.upload_url, "trusted-publishing": "always", "verbose": "true"},
            env=github.env,
        )

    assert "OIDC audience: pypi\\n::warning title=pwned" in run.stdout, run.output
    assert_only_our_commands(run)
