"""Issue 2 end to end: the action and the CLI against a real pypiserver, then pip installs the result."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.builders import make_workspace
from tests.support.runner import pip_install, run_action, run_cli

INDEX_ENV = "UV_INDEX_PRIVATE_REPO"


def _creds(server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f"{INDEX_ENV}_USERNAME": server.username, f"{INDEX_ENV}_PASSWORD": server.password}


def _dists(workspace: Path) -> list[Path]:
    return sorted((workspace / "dist").iterdir(), key=lambda p: (not p.name.endswith(".whl"), p.name))


def test_named_index_with_uv_index_variables(pypiserver, workspace: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = run_action(workspace, {"index": "private-repo"}, env=_creds(pypiserver))
    assert run.returncode == 0, run.stdout + run.stderr
    dists = _dists(workspace)
    names = [d.name for d in dists]
    assert pypiserver.files() == sorted(names)
    for dist in dists:
        assert pypiserver.read(dist.name) == dist.read_bytes()

    assert json.loads(run.outputs["published"]) == names  # wheels before sdists
    assert json.loads(run.outputs["skipped"]) == []
    assert run.outputs["publish-url"] == pypiserver.upload_url
    assert run.outputs["auth-method"] == "password"

    assert "| File | Size | SHA-256 | Result |" in run.summary
    for dist in dists:
        sha = hashlib.sha256(dist.read_bytes()).hexdigest()
        assert f"| `{dist.name}` |" in run.summary
        assert sha in run.summary
    assert "::group::Uploading " in run.stdout.replace("::group ::", "::group::")
    assert pypiserver.password not in run.visible

    installed = pip_install(pypiserver.simple_url, "demo-pkg==1.0.0", tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-c", "import demo_pkg, sys; print(demo_pkg.__version__)"],
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "1.0.0"


@pytest.mark.parametrize(
    "source",
    ["username-password-inputs", "uv-publish-env", "token-input", "uv-publish-token", "url-userinfo", "netrc"],
)
def test_each_credential_source(pypiserver, workspace: Path, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    user, password = pypiserver.username, pypiserver.password
    token = pypiserver.add_user("__token__", "pypi-tokenvalue-1234")
    inputs: dict[str, str] = {"index": "private-repo"}
    env: dict[str, str] = {}
    expected_method = "password"
    if source == "username-password-inputs":
        inputs |= {"username": user, "password": password}
    elif source == "uv-publish-env":
        env |= {"UV_PUBLISH_USERNAME": user, "UV_PUBLISH_PASSWORD": password}
    elif source == "token-input":
        inputs["token"], expected_method = token, "token"
    elif source == "uv-publish-token":
        env["UV_PUBLISH_TOKEN"], expected_method = token, "token"
    elif source == "url-userinfo":
        inputs = {"publish-url": pypiserver.upload_url.replace("http://", f"http://{user}:{password}@")}
    elif source == "netrc":
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
        netrc.chmod(0o600)
        env["NETRC"], expected_method = str(netrc), "netrc"
    run = run_action(workspace, inputs, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["auth-method"] == expected_method
    assert pypiserver.files() == sorted(p.name for p in _dists(workspace))
    for secret in (password, token):
        assert secret not in run.visible
    assert "@" not in run.outputs["publish-url"]


def test_keyring_source(pypiserver, workspace: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """uv's `subprocess` keyring provider: the `keyring` command answers for the URL and the known username."""
    bindir = Path(sys.executable).parent
    env = {
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(
        [str(bindir / "keyring"), "set", pypiserver.upload_url, pypiserver.username],
        input=pypiserver.password + "\n",
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    env[f"{INDEX_ENV}_USERNAME"] = pypiserver.username
    run = run_action(workspace, {"index": "private-repo", "keyring-provider": "subprocess"}, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["auth-method"] == "keyring"
    assert len(pypiserver.files()) == 2


def test_wrong_password_exits_1_and_names_the_source(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    env = {f"{INDEX_ENV}_USERNAME": pypiserver.username, f"{INDEX_ENV}_PASSWORD": "Wr0ng-Passw0rd-xyz"}
    run = run_action(workspace, {"index": "private-repo"}, env=env)
    assert run.returncode == 1
    assert "403" in run.stdout
    assert f"{INDEX_ENV}_USERNAME / {INDEX_ENV}_PASSWORD" in run.stdout
    assert "Wr0ng-Passw0rd-xyz" not in run.visible
    assert pypiserver.files() == []
    assert json.loads(run.outputs["published"]) == []
    assert "failed" in run.summary


def test_no_credentials_exits_2_listing_names(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    run = run_action(workspace, {"index": "private-repo"}, env={})
    assert run.returncode == 2
    text = run.stdout
    for name in (
        "`token` input / UV_PUBLISH_TOKEN",
        "`username` input / `password` input",
        "UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD",
        f"{INDEX_ENV}_USERNAME / {INDEX_ENV}_PASSWORD",
        "netrc",
        "keyring",
        "trusted publishing",
    ):
        assert name in text
    assert "index `private-repo`" in text
    assert pypiserver.upload_url in text
    assert pypiserver.files() == []


def test_unknown_index(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    run = run_action(workspace, {"index": "Private-Repo"}, env=_creds(pypiserver))
    assert run.returncode == 2
    assert "Index not found: `Private-Repo`. Found indexes: `private-repo`" in run.stdout
    assert "Did you mean `private-repo`?" in run.stdout


def test_index_without_publish_url(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[[tool.uv.index]]\nname = "read-only"\nurl = "http://127.0.0.1:9/simple/"\n'
    )
    run = run_action(workspace, {"index": "read-only"}, env=_creds(pypiserver))
    assert run.returncode == 2
    assert "Index is missing a publish URL: `read-only`" in run.stdout


def test_empty_dist_dir(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.rmtree(workspace / "dist")
    (workspace / "dist").mkdir()
    run = run_action(workspace, {"index": "private-repo"}, env=_creds(pypiserver))
    assert run.returncode == 2
    assert "No distributions (.whl or .tar.gz) found" in run.stdout
    assert json.loads(run.outputs["published"]) == []


def test_packages_dir_input_with_hyphen_and_underscore(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    (workspace / "dist").rename(workspace / "out")
    run = run_action(workspace, {"index": "private-repo", "packages-dir": " out "}, env=_creds(pypiserver))
    assert run.returncode == 0, run.stdout
    assert len(pypiserver.files()) == 2


def test_dry_run_uploads_nothing(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    run = run_action(workspace, {"index": "private-repo", "dry-run": "true"}, env=_creds(pypiserver))
    assert run.returncode == 0, run.stdout
    assert pypiserver.files() == []
    assert "Dry run" in run.stdout
    assert "nothing was uploaded" in run.stdout


def test_cli_prints_a_plain_report(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    run = run_cli(["--index", "private-repo"], cwd=workspace, env=_creds(pypiserver))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "::" not in run.stdout
    assert "Published 2 file(s) to index `private-repo`" in run.stdout
    assert pypiserver.files() == sorted(p.name for p in _dists(workspace))


def test_cli_files_and_flags(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    wheel = next((workspace / "dist").glob("*.whl"))
    args = ["--publish-url", pypiserver.upload_url, "-u", pypiserver.username, "-p", pypiserver.password, str(wheel)]
    run = run_cli(args, cwd=workspace, env={})
    assert run.returncode == 0, run.stdout + run.stderr
    assert pypiserver.files() == [wheel.name]


@pytest.mark.parametrize("spelling", ["dist", "dist/", "absolute"])
def test_cli_directory_argument_means_the_dists_inside(pypiserver, workspace: Path, spelling: str) -> None:  # type: ignore[no-untyped-def]
    """`publish-dists --index NAME dist` used to drop the directory and say "build them first" (issue 13)."""
    (workspace / "dist" / "notes.txt").write_text("not a dist\n")
    (workspace / "dist" / "nested").mkdir()  # not walked into, as packages-dir is not
    argument = str(workspace / "dist") if spelling == "absolute" else spelling
    run = run_cli(["--index", "private-repo", argument], cwd=workspace, env=_creds(pypiserver))
    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted(p.name for p in _dists(workspace) if p.name.endswith((".whl", ".tar.gz")))
    assert "Skipping" in run.stderr  # notes.txt, with the usual warning


def test_devpi_end_to_end(devpi_index, built_dists, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The second real registry: a named index on devpi-server, then pip installs from devpi's simple page."""
    workspace = make_workspace(
        tmp_path / "ws", simple_url=devpi_index.simple_url, upload_url=devpi_index.upload_url, dists=list(built_dists)
    )
    run = run_action(workspace, {"index": "private-repo"}, env=_creds(devpi_index))
    assert run.returncode == 0, run.output
    assert devpi_index.files() == sorted(p.name for p in built_dists)
    for dist in built_dists:
        assert devpi_index.read(dist.name) == dist.read_bytes()
    installed = pip_install(devpi_index.simple_url, "demo-pkg==1.0.0", tmp_path / "site")
    assert (installed / "demo_pkg" / "__init__.py").is_file()


@pytest.mark.parametrize(("registry", "status"), [("pypiserver", 403), ("devpi_index", 401)])
def test_wrong_password_status_per_registry(  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest, built_dists, tmp_path: Path, registry: str, status: int
) -> None:
    """pypiserver answers a wrong password with 403, devpi with 401: both are an authentication failure (exit 1)."""
    server = request.getfixturevalue(registry)
    workspace = make_workspace(
        tmp_path / "ws", simple_url=server.simple_url, upload_url=server.upload_url, dists=list(built_dists)
    )
    env = {f"{INDEX_ENV}_USERNAME": server.username, f"{INDEX_ENV}_PASSWORD": "Wr0ng-Passw0rd-xyz"}
    run = run_action(workspace, {"index": "private-repo", "trusted-publishing": "never"}, env=env)
    assert run.returncode == 1, run.output
    assert f"{status} from {server.upload_url}" in run.output
    assert f"{INDEX_ENV}_USERNAME / {INDEX_ENV}_PASSWORD" in run.output
    assert "Wr0ng-Passw0rd-xyz" not in run.visible
    assert server.files() == []


def test_unwritable_output_file_fails_the_step_with_a_reason(pypiserver, workspace: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A GITHUB_OUTPUT the container may not write (here: a directory) is an error naming it, not a traceback."""
    not_a_file = tmp_path / "outputs-dir"
    not_a_file.mkdir()
    run = run_action(workspace, {"index": "private-repo"}, env={**_creds(pypiserver), "GITHUB_OUTPUT": str(not_a_file)})
    assert run.returncode == 1, run.output
    assert "Traceback" not in run.output
    assert "::error title=Outputs not written::" in run.output
    assert "Later steps cannot read this step's outputs" in run.output
    assert str(not_a_file) in run.output
    assert "published    demo_pkg-1.0.0-py3-none-any.whl" in run.stdout  # the report still says what went up
    assert len(pypiserver.files()) == 2


def test_hidden_files_in_dist_are_ignored_quietly(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    """`uv build` writes dist/.gitignore; it is not a distribution, and not worth a warning on every release."""
    (workspace / "dist" / ".gitignore").write_text("*\n")
    (workspace / "dist" / "notes.txt").write_text("not a dist\n")
    run = run_action(workspace, {"index": "private-repo"}, env=_creds(pypiserver))
    assert run.returncode == 0, run.output
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning")]
    assert not [line for line in warnings if ".gitignore" in line], warnings  # a hidden debug line at most
    assert "Skipping dist/notes.txt: not a wheel" in run.output  # other stray files still get a warning
    assert len(pypiserver.files()) == 2


def test_url_password_never_shown_when_the_run_fails_early(workspace: Path) -> None:
    """A run that fails before the target is known still reports the URL without `user:pass@`, in either form."""
    url = "https://alice:S3cr%40t-pw@upload.example/legacy/"
    cli = run_cli(["--publish-url", url, "--index", "no-such-index"], cwd=workspace, env={})
    action = run_action(workspace, {"publish-url": url, "index": "no-such-index"})
    assert (cli.returncode, action.returncode) == (2, 2), cli.output + action.output
    assert "https://upload.example/legacy/" in cli.stdout  # the headline names the URL, cleaned
    for secret in ("S3cr%40t-pw", "S3cr@t-pw"):
        assert secret not in cli.output
        assert secret not in action.visible
    assert action.outputs["publish-url"] == "https://upload.example/legacy/"


def test_broken_attestation_stops_the_run_before_the_first_upload(pypiserver, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    """The attestation beside the sdist (uploaded last) is read while validating, so the wheel does not go up alone."""
    sdist = next((workspace / "dist").glob("*.tar.gz"))
    (sdist.parent / f"{sdist.name}.publish.attestation").write_text("{not json")
    run = run_action(workspace, {"index": "private-repo"}, env=_creds(pypiserver))
    assert run.returncode == 2, run.output
    assert f"{sdist.name}.publish.attestation is not a PEP 740 attestation" in run.output
    assert pypiserver.files() == []
