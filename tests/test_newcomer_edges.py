"""Issue 17: edges a newcomer hit on the command line (and their action twins), each run end to end against
pypiserver on loopback: where the files go without --index, a token given with a username or password, messages
that speak the front end's language, and the attestations notice where attestations do not matter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.runner import run_action, run_cli
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "UV_INDEX_PRIVATE_REPO"
PYPI = "https://upload.pypi.org/legacy/"


def _creds(server: PypiServer) -> dict[str, str]:
    return {f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": server.password}


# -- no index named, but the project declares one to publish to ----------------------------------------------------


def test_without_an_index_the_declared_one_is_named_before_anything_is_sent(
    pypiserver: PypiServer, workspace: Path
) -> None:
    run = run_cli([], workspace, _creds(pypiserver))  # no credentials for PyPI: stops before any request
    assert run.returncode == 2, run.output
    notice = (
        f"notice: Publishing to PyPI: No index was named, so the files go to PyPI ({PYPI}). pyproject.toml declares "
        "index `private-repo` with a `publish-url`: --index private-repo uploads there instead."
    )
    assert notice in run.stderr, run.output
    assert run.stderr.index(notice) < run.stderr.index("error: Missing credentials")  # said before anything else
    assert pypiserver.files() == []


def test_the_action_names_the_input(pypiserver: PypiServer, workspace: Path) -> None:
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[[tool.uv.index]]\nname = "corp"\nurl = "https://corp.invalid/simple/"\n'
        'publish-url = "https://corp.invalid/upload/"\n'
    )
    run = run_action(workspace, {}, {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""})
    assert run.returncode == 2, run.output
    assert (
        "::notice title=Publishing to PyPI::No index was named, so the files go to PyPI "
        f"({PYPI}). pyproject.toml declares indexes `private-repo`, `corp` with a `publish-url`: `index: NAME` "
        "picks one." in run.stdout
    ), run.output


@pytest.mark.parametrize("args", [["--publish-url", "URL"], ["--index", "private-repo"]])
def test_no_notice_when_a_target_is_named(pypiserver: PypiServer, workspace: Path, args: list[str]) -> None:
    args = [pypiserver.upload_url if a == "URL" else a for a in args]
    run = run_cli([*args, "-u", pypiserver.username, "-p", pypiserver.password], workspace)
    assert run.returncode == 0, run.output
    assert "Publishing to PyPI" not in run.output


def test_no_notice_for_indexes_without_a_publish_url(workspace: Path) -> None:
    (workspace / "pyproject.toml").write_text(
        '[project]\nname = "demo-pkg"\nversion = "1.0.0"\n\n[[tool.uv.index]]\nname = "pytorch"\n'
        'url = "https://download.pytorch.invalid/whl/cpu"\nexplicit = true\n'
    )
    run = run_cli([], workspace)
    assert run.returncode == 2, run.output
    assert "Publishing to PyPI" not in run.output


# -- a token and a username or password together ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["-t", "pypi-Tok3n", "-u", "alice", "-p", "s3cret"], {}, "A token (--token) cannot be combined with a "
         "username or password (--username, --password)."),
        (["-t", "pypi-Tok3n"], {"UV_PUBLISH_USERNAME": "alice", "UV_PUBLISH_PASSWORD": "s3cret"},
         "A token (--token) cannot be combined with a username or password (UV_PUBLISH_USERNAME, "
         "UV_PUBLISH_PASSWORD)."),
        ([], {"UV_PUBLISH_TOKEN": "pypi-Tok3n", "UV_PUBLISH_USERNAME": "alice"},
         "A token (UV_PUBLISH_TOKEN) cannot be combined with a username or password (UV_PUBLISH_USERNAME)."),
        (["-p", "s3cret", "-u", "alice"], {"UV_PUBLISH_TOKEN": "pypi-Tok3n"},
         "A token (UV_PUBLISH_TOKEN) cannot be combined with a username or password (--username, --password)."),
    ],
)  # fmt: skip
def test_a_token_with_a_username_or_password_is_refused(
    pypiserver: PypiServer, workspace: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    run = run_cli(["--index", "private-repo", *args], workspace, {**_creds(pypiserver), **env})
    assert run.returncode == 2, run.output
    assert f"error: Configuration error: {named}" in run.stderr, run.output
    assert "--token alone for an API token" in run.stderr
    assert pypiserver.files() == []
    assert "pypi-Tok3n" not in run.output
    assert "s3cret" not in run.output


def test_the_action_refuses_the_token_input_with_username_and_password(pypiserver: PypiServer, workspace: Path) -> None:
    inputs = {"index": "private-repo", "token": "pypi-Tok3n", "username": "alice", "password": "s3cret"}
    run = run_action(workspace, inputs)
    assert run.returncode == 2, run.output
    assert (
        "A token (`token` input) cannot be combined with a username or password (`username` input, `password` "
        "input)." in run.stdout
    ), run.output
    assert pypiserver.files() == []


def test_the_index_variables_are_no_conflict(pypiserver: PypiServer, workspace: Path) -> None:
    """UV_INDEX_<NAME>_* are install-time credentials many jobs set for every step: the token still ranks first."""
    run = run_cli(["--index", "private-repo", "-t", "pypi-Tok3n"], workspace, _creds(pypiserver))
    assert "cannot be combined" not in run.output
    assert run.returncode == 1, run.output  # pypiserver refuses `__token__`: the token was what was sent


# -- messages speak the front end's language ------------------------------------------------------------------------


def test_the_command_line_names_flags(workspace: Path) -> None:
    missing = run_cli(["--index", "private-repo", "--packages-dir", "build/dist"], workspace)
    assert missing.returncode == 2, missing.output
    assert "or point --packages-dir at the folder that holds them." in missing.stderr, missing.output
    for dist in (workspace / "dist").iterdir():
        dist.unlink()
    empty = run_cli(["--index", "private-repo"], workspace)
    assert empty.returncode == 2, empty.output
    assert "error: Bad input: No distributions" in empty.stderr or "No distributions" in empty.stderr
    assert "artifact" not in empty.output  # workflows hand dists over as artifacts; a shell names them
    assert "--packages-dir" in empty.stderr
    assert "`packages-dir`" not in empty.output


def test_the_action_names_inputs(workspace: Path) -> None:
    for dist in (workspace / "dist").iterdir():
        dist.unlink()
    run = run_action(workspace, {"index": "private-repo"})
    assert run.returncode == 2, run.output
    assert "download the artifact that holds them" in run.stdout, run.output
    assert "`packages-dir` input" in run.stdout


def test_spelling_of_settings() -> None:
    from publisher.report.wording import set_to, written  # imported here: the end-to-end tests above also run on main

    assert written("keyring-provider", "disabled", "action") == "`keyring-provider: disabled`"
    assert written("keyring-provider", "disabled", "cli") == "--keyring-provider disabled"
    assert written("attestations", False, "cli") == "--no-attestations"
    assert written("skip-existing", True, "action") == "`skip-existing: true`"
    assert set_to("attestations", False, "action") == "set `attestations: false`"
    assert set_to("attestations", False, "cli") == "pass --no-attestations"
    assert set_to("skip-existing", False, "cli") == "leave out --skip-existing"
    assert set_to("trusted-publishing", "never", "cli") == "pass --trusted-publishing never"


INPUTS = (
    "publish-url|check-url|pyproject|pypirc|packages-dir|username|password|token|trusted-publishing|skip-existing|"
    "dry-run|verbose|print-hash|keyring-provider|verify-metadata|attestations|allow-insecure-http|retries|parallel|"
    "jfrog-oidc-provider-name|jfrog-oidc-audience|jfrog-project-key|jfrog-url|verify-published|confirm-timeout|index"
)
# A setting named in a message's own words rather than through settings.label / written / set_to: "set X to",
# "turn X off", "re-run with X", "`X: value`", "X is `...`", "(X)". The index's own keys (`url`, `publish-url` after
# "the index's") are pyproject.toml's, and `{where} (`username`)` a .pypirc's keys: the same in both front ends.
BARE = re.compile(
    rf"(?<!index's )(?<!the )(?:\b(?:set|turn|leave|point|Point|raise|Raise|with|Set)\s+`?({INPUTS})`?\b(?! URL)"
    rf"|`({INPUTS}):|\b({INPUTS})\s+(?:is|to)\s+`|(?<!\{{\}} )(?<!^ )\(`?({INPUTS})`?\)"
    rf"|`({INPUTS})` input|\b({INPUTS})\s+(?:off|on)\b)"
)


def _message_strings() -> list[tuple[str, str]]:
    """Every string literal (f-string parts joined) in publisher/**/*.py that is not a docstring."""
    found = []
    for path in sorted((ROOT / "publisher").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.JoinedStr):
                text = "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            found.append((f"{path.name}:{node.lineno}", text))
    return found


def test_no_message_names_a_setting_in_one_front_ends_words() -> None:
    """Structural: a message names a setting only through settings.label / written / set_to (argparse help and
    the settings module's own spelling rules aside), so the command line never reads "set `packages-dir`"."""
    exempt = {"__main__.py", "settings.py"}
    found = [(where, text) for where, text in _message_strings() if where.split(":")[0] not in exempt]
    assert len(found) > 500, "the source scan found too few strings: has the code's shape changed?"
    bare = [f"{where}: {text[:100]!r}" for where, text in found if BARE.search(text)]
    assert bare == []
    assert BARE.search("or set `packages-dir` to the folder")
    assert BARE.search("or turn skip-existing off.")
    assert BARE.search("set `verify-metadata: false` (--no-verify-metadata)")
    assert BARE.search("keyring-provider is `subprocess` but")
    assert not BARE.search("Set the index's `publish-url` (or {}) to the final URL")


# -- the attestations notice where attestations do not matter -------------------------------------------------------

NO_ATTESTATIONS = "No attestations were made: attestations are signed with the job's OIDC identity"


def test_a_password_upload_to_a_private_index_has_no_attestations_notice(
    pypiserver: PypiServer, workspace: Path
) -> None:
    quiet = run_cli(["--index", "private-repo"], workspace, _creds(pypiserver))
    assert quiet.returncode == 0, quiet.output
    assert NO_ATTESTATIONS not in quiet.output


def test_verbose_still_says_why(pypiserver: PypiServer, workspace: Path) -> None:
    verbose = run_cli(["--index", "private-repo", "-v"], workspace, _creds(pypiserver))
    assert verbose.returncode == 0, verbose.output
    assert NO_ATTESTATIONS in verbose.stderr
    assert "notice: Attestations" not in verbose.output


def test_asked_for_attestations_get_the_notice_with_what_to_do(pypiserver: PypiServer, workspace: Path) -> None:
    run = run_cli(["--index", "private-repo", "--attestations"], workspace, _creds(pypiserver))
    assert run.returncode == 0, run.output
    assert f"notice: Attestations: {NO_ATTESTATIONS}" in run.stderr, run.output
    assert (
        "The files are uploaded without attestations. To attest them, publish with trusted publishing instead (no "
        "other credentials); to upload without them and without this notice, pass --no-attestations." in run.stderr
    )


def test_pypi_and_testpypi_always_get_the_notice() -> None:
    from publisher.attest.prepare import notice_shown
    from publisher.config.settings import build_settings
    from publisher.config.target import Target

    unset = build_settings({}, source="option")
    explicit = build_settings({"attestations": "true"}, source="option")
    for url in (PYPI, "https://test.pypi.org/legacy/"):
        assert notice_shown(unset, Target(url, None))
    assert not notice_shown(unset, Target("https://corp.invalid/upload/", None))
    assert notice_shown(explicit, Target("https://corp.invalid/upload/", None))
