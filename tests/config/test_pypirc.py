"""Index names from a .pypirc (issue 13): twine's rules, checked against twine itself; where its credentials rank;
masked, never quoted; the CLI and the action against a real pypiserver."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from publisher.auth.chain import resolve_credentials
from publisher.config import pypirc
from publisher.config.settings import build_settings
from publisher.config.target import PypircLogin, Target, resolve_target
from publisher.report.errors import ConfigError, IndexResolutionError, MissingCredentialsError
from tests.auth.test_chain import Recorder
from tests.support.builders import Dists, make_workspace
from tests.support.runner import run_action, run_cli
from tests.support.servers import PypiServer

NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}

# Files as twine users write them, each read by twine's own get_config and by ours.
FILES = {
    "packaging-guide": """\
        [distutils]
        index-servers =
            pypi
            testpypi
            private-repository

        [pypi]
        username = __token__
        password = pypi-AgEIcHlwaS5vcmc

        [testpypi]
        username = __token__
        password = pypi-test-token

        [private-repository]
        repository = https://nexus.example/repository/pypi-hosted/
        username = deployer
        password = s3cret%with%percent
        """,
    "no-distutils": """\
        [pypi]
        password = pypi-only-token

        [corp]
        repository = https://corp.example/upload/
        username = me
        password = unused-because-not-listed
        """,
    "server-login-defaults": """\
        [server-login]
        username = everyone
        password = shared-secret

        [distutils]
        index-servers = corp other

        [corp]
        repository = https://corp.example/upload/

        [other]
        repository = https://other.example/upload/
        username = someone
        """,
    "pypi-overridden": """\
        [distutils]
        index-servers = pypi

        [pypi]
        repository = https://mirror.example/legacy/
        username = bob
        password = p
        """,
    "legacy-http-pypi": """\
        [distutils]
        index-servers = old

        [old]
        repository = http://upload.pypi.org/legacy/
        password = tok
        """,
    "options-case-and-continuation": """\
        [distutils]
        index-servers =
          corp

        [corp]
        Repository = https://corp.example/upload/
        USERNAME = me
        password = first line
          second line
        ; a comment
        # another
        """,
}


def _write(tmp_path: Path, text: str, name: str = ".pypirc") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", FILES)
def test_names_repositories_and_credentials_are_twines(case: str, tmp_path: Path) -> None:
    """twine's get_config is the reference: the same names, repository URLs, usernames and passwords."""
    from twine.utils import get_config, normalize_repository_url

    path = _write(tmp_path, FILES[case])
    theirs = get_config(str(path))
    ours = pypirc.load(path, named_by="--pypirc").repositories
    assert set(ours) == set(theirs)
    for name, config in theirs.items():
        repository = config.get("repository")
        assert ours[name].url == (normalize_repository_url(repository) if repository else None), name
        assert ours[name].password == (config.get("password") or None), name
        expected_user = config.get("username") or None
        if ours[name].url and ours[name].url.startswith((pypirc.PYPI_REPOSITORY, pypirc.TESTPYPI_REPOSITORY)):
            expected_user = "__token__"  # twine's auth.Resolver: PyPI gets __token__ whatever the file says
        assert ours[name].username == expected_user, name


def test_twines_defaults_without_a_file(tmp_path: Path) -> None:
    rc = pypirc.load(tmp_path / ".pypirc", named_by=None)
    assert not rc.exists
    assert {n: r.url for n, r in rc.repositories.items()} == {
        "pypi": "https://upload.pypi.org/legacy/",
        "testpypi": "https://test.pypi.org/legacy/",
    }
    assert rc.repositories["pypi"].check_url == "https://pypi.org/simple/"
    assert rc.repositories["testpypi"].check_url == "https://test.pypi.org/simple/"


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"named by --pypirc does not exist"):
        pypirc.load(tmp_path / "missing.ini", named_by="--pypirc")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("password = hunter2-secret\n[pypi]\n", "line 1 comes before any `[section]` header"),
        ("[a]\nx = 1\n[a]\npassword = hunter2-secret\n", "a section is declared twice (again on line 3)"),
        ("[pypi]\npassword = hunter2-secret\npassword = hunter2-secret\n", "a key is given twice"),
        ("[pypi]\nusername = u\nhunter2-secret\n", "line(s) 3"),
    ],
)
def test_a_malformed_file_names_the_line_and_quotes_nothing(text: str, problem: str, tmp_path: Path) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        pypirc.load(path, named_by=None)
    message = str(raised.value)
    assert problem in message
    assert "hunter2" not in message
    assert str(path) in message


def _resolved(tmp_path: Path, text: str | None, env: dict[str, str] | None = None, **raw: str) -> Target:
    if text is not None:
        _write(tmp_path, text)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    settings = build_settings({"working-directory": str(tmp_path), **raw})
    return resolve_target(settings, {"HOME": str(tmp_path), **(env or {})}, Recorder())


CORP = """\
    [distutils]
    index-servers = corp

    [corp]
    repository = https://corp.example/upload/
    username = deployer
    password = corp-secret
    """


def test_a_name_pyproject_lacks_resolves_from_the_pypirc(tmp_path: Path) -> None:
    target = _resolved(tmp_path, CORP, index="corp")
    assert (target.publish_url, target.check_url, target.index_name) == ("https://corp.example/upload/", None, "corp")
    assert target.index_origins == ("https://corp.example",)
    assert target.pypirc_login == PypircLogin("deployer", "corp-secret", f"{tmp_path / '.pypirc'} [corp]")
    assert target.config_file == tmp_path / ".pypirc"


def test_pypi_and_testpypi_get_their_check_urls_other_repositories_none(tmp_path: Path) -> None:
    assert _resolved(tmp_path, None, index="testpypi").check_url == "https://test.pypi.org/simple/"
    assert _resolved(tmp_path, None, index="pypi").check_url == "https://pypi.org/simple/"
    assert _resolved(tmp_path, CORP, index="corp", **{"check-url": "https://corp.example/simple/"}).check_url == (
        "https://corp.example/simple/"
    )


def test_the_password_is_masked_as_it_is_read(tmp_path: Path) -> None:
    _write(tmp_path, CORP)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    console = Recorder()
    resolve_target(
        build_settings({"working-directory": str(tmp_path), "index": "corp"}), {"HOME": str(tmp_path)}, console
    )
    assert console.masked == ["corp-secret"]


def test_pyproject_wins_and_the_pypirc_is_then_not_read(tmp_path: Path) -> None:
    _write(tmp_path, "this is not a .pypirc [\n")
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "corp"\nurl = "https://a.example/simple/"\npublish-url = "https://a.example/up/"\n'
    )
    settings = build_settings({"working-directory": str(tmp_path), "index": "corp"})
    target = resolve_target(settings, {"HOME": str(tmp_path)})
    assert (target.publish_url, target.pypirc_login) == ("https://a.example/up/", None)


def test_a_name_found_nowhere_lists_the_names_from_both(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "nexus"\nurl = "https://n.example/simple/"\npublish-url = "https://n.example/up/"\n'
    )
    _write(tmp_path, CORP)
    settings = build_settings({"working-directory": str(tmp_path), "index": "crop"})
    with pytest.raises(IndexResolutionError) as raised:
        resolve_target(settings, {"HOME": str(tmp_path)})
    message = str(raised.value)
    assert "Index not found: `crop`. Found indexes: `nexus` (in " in message
    assert f".pypirc names: `pypi`, `corp` (from {tmp_path / '.pypirc'})" in message
    assert "Did you mean `corp`?" in message


def test_a_listed_name_without_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexResolutionError, match=r"Index is missing a publish URL: `corp` \(in .*without a"):
        _resolved(tmp_path, "[distutils]\nindex-servers = corp\n[corp]\nusername = u\n", index="corp")


def test_a_conflicting_publish_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Conflicting upload URLs: index `corp` in .* declares repository"):
        _resolved(tmp_path, CORP, index="corp", **{"publish-url": "https://elsewhere.example/"})


def test_an_unusable_repository_url_is_refused_naming_the_section(tmp_path: Path) -> None:
    text = CORP.replace("https://corp.example/upload/", "ftp://corp.example/upload/")
    with pytest.raises(ConfigError, match=r"`repository` of .*\[corp\] 'ftp://corp.example/upload/'"):
        _resolved(tmp_path, text, index="corp")


# ---- where its credentials rank -----------------------------------------------------------------------------------


def _credentials(tmp_path: Path, env: dict[str, str], **raw: str):  # type: ignore[no-untyped-def]
    target = _resolved(tmp_path, CORP, index="corp")
    console = Recorder()
    settings = build_settings({"working-directory": str(tmp_path), "index": "corp", **raw})
    return resolve_credentials(settings, target, {"HOME": str(tmp_path), **env}, console), console, target


def test_the_index_variables_outrank_the_pypirc(tmp_path: Path) -> None:
    env = {"UV_INDEX_CORP_USERNAME": "env-user", "UV_INDEX_CORP_PASSWORD": "env-pass"}
    creds, _, _ = _credentials(tmp_path, env)
    assert (creds.username, creds.password, creds.method) == ("env-user", "env-pass", "password")


def test_the_pypirc_outranks_user_info_netrc_keyring_and_trusted_publishing(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine corp.example login n-user password n-pass\n")
    creds, console, _ = _credentials(tmp_path, {"NETRC": str(tmp_path / ".netrc")})
    assert (creds.username, creds.password, creds.method) == ("deployer", "corp-secret", "pypirc")
    assert creds.source == f"username / password in {tmp_path / '.pypirc'} [corp]"
    assert creds.origin == "https://corp.example"
    assert "corp-secret" in console.masked


def test_a_pypirc_username_alone_goes_on_to_the_keyring_and_is_named_when_missing(tmp_path: Path) -> None:
    _write(tmp_path, CORP.replace("password = corp-secret\n", ""))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    settings = build_settings({"working-directory": str(tmp_path), "index": "corp", "trusted-publishing": "never"})
    target = resolve_target(settings, {"HOME": str(tmp_path)})
    with pytest.raises(MissingCredentialsError) as raised:
        resolve_credentials(settings, target, {"HOME": str(tmp_path)}, Recorder())
    message = str(raised.value)
    assert f"5. username / password in {tmp_path / '.pypirc'} [corp]" in message
    assert f"Found a username in {tmp_path / '.pypirc'} [corp] (`username`) but no password for it." in message


def test_pypirc_credentials_stay_on_the_repositorys_origin(tmp_path: Path) -> None:
    """Defensive: were the publish URL elsewhere (index.py refuses a conflicting one), nothing would be sent."""
    target = Target(
        "https://elsewhere.example/upload/",
        None,
        "corp",
        index_origins=("https://corp.example",),
        pypirc_login=PypircLogin("deployer", "corp-secret", "~/.pypirc [corp]"),
    )
    settings = build_settings({"index": "corp", "trusted-publishing": "never"})
    with pytest.raises(MissingCredentialsError) as raised:
        resolve_credentials(settings, target, {"HOME": str(tmp_path)}, Recorder())
    assert "username / password in ~/.pypirc [corp] are set but were not used" in str(raised.value)


def test_trusted_publishing_always_refuses_pypirc_credentials(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"forbids other credentials, and these are configured: username / password in .*\[corp\]"
    ):
        _credentials(tmp_path, {}, **{"trusted-publishing": "always"})


# ---- the command line and the action, against pypiserver ---------------------------------------------------------


def _home_with(tmp_path: Path, server: PypiServer, password: str | None = None) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    _write(
        home,
        f"""\
        [distutils]
        index-servers =
            corp

        [corp]
        repository = {server.upload_url}
        username = {server.username}
        password = {password or server.password}
        """,
    )
    return home


def _twine_checkout(tmp_path: Path, built_dists: Dists) -> Path:
    """A twine user's checkout: dists, and no pyproject.toml at all."""
    root = tmp_path / "checkout"
    (root / "dist").mkdir(parents=True)
    for dist in built_dists:
        (root / "dist" / dist.name).write_bytes(dist.read_bytes())
    return root


def test_cli_publishes_to_a_pypirc_name_without_any_pyproject(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    home = _home_with(tmp_path, pypiserver)
    run = run_cli(["--index", "corp"], _twine_checkout(tmp_path, built_dists), {"HOME": str(home)})
    assert run.returncode == 0, run.output
    assert pypiserver.files() == sorted(d.name for d in built_dists)
    assert "Published 2 file(s) to index `corp`" in run.stdout
    assert "(auth: pypirc)" in run.stdout
    assert pypiserver.password not in run.output


def test_cli_index_variables_outrank_a_wrong_pypirc_password(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    home = _home_with(tmp_path, pypiserver, password="wrong-pypirc-password")
    env = {
        "HOME": str(home),
        "UV_INDEX_CORP_USERNAME": pypiserver.username,
        "UV_INDEX_CORP_PASSWORD": pypiserver.password,
    }
    run = run_cli(["--index", "corp"], _twine_checkout(tmp_path, built_dists), env)
    assert run.returncode == 0, run.output
    assert "(auth: password)" in run.stdout


def test_cli_pypirc_flag_names_the_file(pypiserver: PypiServer, built_dists: Dists, tmp_path: Path) -> None:
    home = _home_with(tmp_path, pypiserver)
    checkout = _twine_checkout(tmp_path, built_dists)
    (home / ".pypirc").rename(checkout / "ci.pypirc")
    run = run_cli(["--index", "corp", "--pypirc", "ci.pypirc"], checkout, {"HOME": str(tmp_path / "empty")})
    assert run.returncode == 0, run.output
    missing = run_cli(["--index", "corp", "--pypirc", "nope.pypirc"], checkout)
    assert missing.returncode == 2, missing.output
    assert "error: Configuration error: The .pypirc file" in missing.stderr
    assert "named by --pypirc does not exist" in missing.stderr


def test_cli_malformed_pypirc_exits_2_quoting_nothing(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pypirc").write_text("[distutils]\nindex-servers = corp\n[corp]\npassword hunter2-in-file\n")
    run = run_cli(["--index", "corp"], _twine_checkout(tmp_path, built_dists), {"HOME": str(home)})
    assert run.returncode == 2, run.output
    assert "is not a valid .pypirc: not a `[section]`, a `key = value` or a continuation line: line(s) 4" in run.stderr
    assert "hunter2" not in run.output
    assert pypiserver.files() == []


def test_cli_a_name_found_nowhere_lists_both_and_exits_2(workspace: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _write(home, CORP)
    run = run_cli(["--index", "cor"], workspace, {"HOME": str(home)})
    assert run.returncode == 2, run.output
    assert "Found indexes: `private-repo` (in pyproject.toml); .pypirc names: `pypi`, `corp`" in run.stderr
    assert "Did you mean `corp`?" in run.stderr


def test_action_pypirc_input_masks_the_password_and_reports_the_method(
    pypiserver: PypiServer, built_dists: Dists, tmp_path: Path
) -> None:
    workspace = make_workspace(
        tmp_path / "ws", simple_url=pypiserver.simple_url, upload_url=pypiserver.upload_url, dists=list(built_dists)
    )
    (_home_with(tmp_path, pypiserver) / ".pypirc").rename(workspace / ".pypirc-ci")
    run = run_action(workspace, {"index": "corp", "pypirc": ".pypirc-ci"}, NO_OIDC)
    assert run.returncode == 0, run.output
    assert run.outputs["auth-method"] == "pypirc"
    assert json.loads(run.outputs["published"]) == [d.name for d in built_dists]
    assert run.stdout.index(pypiserver.password) < run.stdout.index("Uploading")  # the ::add-mask:: comes first
    assert pypiserver.password not in run.visible


def test_ca_cert_and_client_cert_are_named_as_not_used(tmp_path: Path) -> None:
    _write(tmp_path, CORP + "ca_cert = /etc/corp-ca.pem\nclient_cert = /etc/me.pem\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    console = Recorder()
    settings = build_settings({"working-directory": str(tmp_path), "index": "corp"})
    resolve_target(settings, {"HOME": str(tmp_path)}, console)
    assert any(line.startswith("`ca_cert` in ") and "SSL_CERT_FILE" in line for line in console.lines)
    assert any(line.startswith("`client_cert` in ") and "not supported" in line for line in console.lines)
    assert not any("/etc/" in line for line in console.lines)  # the values are not quoted


@pytest.mark.timeout(30)
def test_a_pipe_a_device_or_a_huge_pypirc_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pypirc"
    os.mkfifo(fifo)
    with pytest.raises(
        ConfigError,
        match=r"Refusing to read the .pypirc file .*pipe.pypirc: it is a named pipe \(FIFO\), not a regular file",
    ) as info:
        pypirc.load(fifo, named_by="--pypirc")
    assert "Point --pypirc at a regular file under 1 MiB" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"/dev/zero: it is a character device"):
        pypirc.load(Path("/dev/zero"), named_by="--pypirc")
    big = tmp_path / "big.pypirc"
    big.write_text("[pypi]\n" + "# padding\n" * 120_000)
    with pytest.raises(ConfigError, match=r"big.pypirc: it is larger than 1 MiB"):
        pypirc.load(big, named_by=None)


@pytest.mark.timeout(60)
def test_cli_pypirc_pointing_at_a_pipe_exits_2_at_once(built_dists: Dists, tmp_path: Path) -> None:
    checkout = _twine_checkout(tmp_path, built_dists)
    os.mkfifo(checkout / "ci.pypirc")
    run = run_cli(["--index", "corp", "--pypirc", "ci.pypirc"], checkout, timeout=20)
    assert run.returncode == 2, run.output
    assert "ci.pypirc: it is a named pipe (FIFO), not a regular file" in run.stderr


@pytest.mark.timeout(60)
def test_cli_pyproject_that_is_a_pipe_exits_2_at_once(built_dists: Dists, tmp_path: Path) -> None:
    checkout = _twine_checkout(tmp_path, built_dists)
    os.mkfifo(checkout / "pyproject.toml")
    run = run_cli(["--index", "corp"], checkout, timeout=20)
    assert run.returncode == 2, run.output
    assert "Refusing to read the project file pyproject.toml: it is a named pipe (FIFO)" in run.stderr
    assert "Make pyproject.toml a regular TOML file under 1 MiB" in run.stderr
