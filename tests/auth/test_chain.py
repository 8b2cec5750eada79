"""The credential chain: order, masking, netrc, keyring and the missing-credentials message."""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from publisher.auth.chain import resolve_credentials
from publisher.auth.exchange import RenewingToken
from publisher.auth.model import Credentials
from publisher.auth.reading import read_auth
from publisher.config.settings import build_settings
from publisher.config.target import Target
from publisher.config.urls import origin
from publisher.report.errors import ConfigError, MissingCredentialsError

TARGET = Target(
    publish_url="https://registry.example/upload/",
    check_url=None,
    index_name="my_artifactory",
    index_origins=("https://registry.example",),  # the index's `url` and `publish-url`, as resolve_target sets them
)


class Recorder:
    """A Console that records calls, so tests can check masking order and messages."""

    verbose = False

    def __init__(self) -> None:
        self.masked: list[str] = []
        self.lines: list[str] = []

    def mask(self, secret: str | None) -> None:
        if secret:
            self.masked.append(secret)

    def info(self, message: str) -> None:
        self.lines.append(message)

    debug = info

    def warning(self, message: str, title: str | None = None) -> None:
        self.lines.append(message)

    error = warning

    def group(self, title: str) -> AbstractContextManager[None]:
        return nullcontext()

    def set_output(self, name: str, value: str) -> None:
        self.lines.append(f"{name}={value}")

    def summary(self, markdown: str) -> None:
        self.lines.append(markdown)


def _resolve(env: dict[str, str], target: Target = TARGET, **raw: str):  # type: ignore[no-untyped-def]
    console = Recorder()
    creds = resolve_credentials(build_settings(dict(raw)), target, {"HOME": "/nonexistent", **env}, console)
    return creds, console


FULL_ENV = {
    "UV_PUBLISH_TOKEN": "tok-env",
    "UV_PUBLISH_USERNAME": "pub-user",
    "UV_PUBLISH_PASSWORD": "pub-pass",
    "UV_INDEX_MY_ARTIFACTORY_USERNAME": "idx-user",
    "UV_INDEX_MY_ARTIFACTORY_PASSWORD": "idx-pass",
}


INDEX_ENV = {k: v for k, v in FULL_ENV.items() if k.startswith("UV_INDEX_")}


def test_token_input_wins_over_the_index_variables() -> None:
    creds, console = _resolve(INDEX_ENV, token="tok-input")
    assert (creds.username, creds.password, creds.method, creds.source) == (
        "__token__",
        "tok-input",
        "token",
        "`token` input",
    )
    assert "tok-input" in console.masked


def test_a_token_with_a_username_or_password_is_refused() -> None:
    """As `uv publish` refuses --token with --username/--password (their variables included): no silent winner."""
    for env, given in (
        (FULL_ENV, {}),
        (INDEX_ENV, {"token": "tok-input", "username": "u", "password": "p"}),
        ({"UV_PUBLISH_TOKEN": "tok-env"}, {"username": "u"}),
        ({"UV_PUBLISH_USERNAME": "u"}, {"token": "tok-input"}),
    ):
        with pytest.raises(
            ConfigError, match=r"^A token \(.+\) cannot be combined with a username or password"
        ) as info:
            _resolve(env, **given)
        assert info.value.exit_code == 2


def test_order_of_sources() -> None:
    creds, _ = _resolve({**INDEX_ENV, "UV_PUBLISH_TOKEN": "tok-env"})
    assert (creds.username, creds.source) == ("__token__", "UV_PUBLISH_TOKEN")
    env = {k: v for k, v in FULL_ENV.items() if k != "UV_PUBLISH_TOKEN"}
    creds, _ = _resolve(env, username="in-user", password="in-pass")
    assert (creds.username, creds.password, creds.method) == ("in-user", "in-pass", "password")
    creds, _ = _resolve(env)
    assert (creds.username, creds.source) == ("pub-user", "UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD")
    env = {k: v for k, v in env.items() if not k.startswith("UV_PUBLISH")}
    creds, console = _resolve(env)
    assert (creds.username, creds.password) == ("idx-user", "idx-pass")
    assert creds.source == "UV_INDEX_MY_ARTIFACTORY_USERNAME / UV_INDEX_MY_ARTIFACTORY_PASSWORD"
    assert "idx-pass" in console.masked


def test_empty_values_count_as_unset() -> None:
    env = {"UV_PUBLISH_TOKEN": "", "UV_INDEX_MY_ARTIFACTORY_USERNAME": "u", "UV_INDEX_MY_ARTIFACTORY_PASSWORD": "p"}
    creds, _ = _resolve(env)
    assert creds.username == "u"


def test_userinfo_in_publish_url() -> None:
    target = Target("https://url-user:url%40pass@registry.example/up/", None, "my_artifactory")
    creds, console = _resolve({}, target=target)
    assert (creds.username, creds.password) == ("url-user", "url@pass")
    assert "url@pass" in console.masked


def test_password_without_username_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match="UV_INDEX_MY_ARTIFACTORY_PASSWORD is set but UV_INDEX_MY_ARTIFACTORY_USERNAME"
    ):
        _resolve({"UV_INDEX_MY_ARTIFACTORY_PASSWORD": "p"})


def test_netrc(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine registry.example login n-user password n-pass\n")
    netrc.chmod(0o600)
    creds, console = _resolve({"NETRC": str(netrc)})
    assert (creds.username, creds.password, creds.method) == ("n-user", "n-pass", "netrc")
    assert "n-pass" in console.masked


def test_missing_credentials_lists_every_name_in_order() -> None:
    with pytest.raises(MissingCredentialsError) as info:
        _resolve({})
    text = str(info.value)
    names = [
        "UV_PUBLISH_TOKEN",
        "UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD",
        "UV_INDEX_MY_ARTIFACTORY_USERNAME / UV_INDEX_MY_ARTIFACTORY_PASSWORD",
        "publish URL",
        "netrc",
        "keyring",
        "trusted publishing",
    ]
    positions = [text.index(n) for n in names]
    assert positions == sorted(positions)
    assert "index `my_artifactory` (https://registry.example/upload/)" in text
    assert "id-token: write" in text
    assert info.value.exit_code == 2


def test_username_only_is_mentioned() -> None:
    with pytest.raises(MissingCredentialsError, match="Found a username in UV_INDEX_MY_ARTIFACTORY_USERNAME"):
        _resolve({"UV_INDEX_MY_ARTIFACTORY_USERNAME": "u"})


def test_keyring_subprocess_with_known_username(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real `keyring` command with a file backend from keyrings.alt, as uv's subprocess provider uses it."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        [str(Path(sys.executable).parent / "keyring"), "set", "https://registry.example/upload/", "k-user"],
        input="k-pass\n",
        text=True,
        check=True,
        env={**os.environ},
    )
    creds, console = _resolve({"UV_INDEX_MY_ARTIFACTORY_USERNAME": "k-user"}, **{"keyring-provider": "subprocess"})
    assert (creds.username, creds.password, creds.method) == ("k-user", "k-pass", "keyring")
    assert "k-pass" in console.masked
    with pytest.raises(MissingCredentialsError):
        _resolve({"UV_INDEX_MY_ARTIFACTORY_USERNAME": "other"}, **{"keyring-provider": "subprocess"})


def test_always_with_other_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match="`trusted-publishing: always` forbids other credentials") as info:
        _resolve(
            {"UV_INDEX_MY_ARTIFACTORY_USERNAME": "u", "UV_INDEX_MY_ARTIFACTORY_PASSWORD": "p"},
            **{"trusted-publishing": "always"},
        )
    assert info.value.exit_code == 2
    assert "UV_INDEX_MY_ARTIFACTORY_USERNAME / UV_INDEX_MY_ARTIFACTORY_PASSWORD" in info.value.message


def test_never_skips_trusted_publishing() -> None:
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/x?a=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    with pytest.raises(MissingCredentialsError, match="trusted-publishing: never"):
        _resolve(env, **{"trusted-publishing": "never"})


# -- credentials belong to origins ------------------------------------------------------------------------------------

INDEX_ENV = {"UV_INDEX_MY_ARTIFACTORY_USERNAME": "idx-user", "UV_INDEX_MY_ARTIFACTORY_PASSWORD": "idx-pass"}
INDEX_NAMES = "UV_INDEX_MY_ARTIFACTORY_USERNAME / UV_INDEX_MY_ARTIFACTORY_PASSWORD"
ORIGIN_2 = "https://upload.registry.example"


def test_upload_credentials_are_bound_to_the_publish_urls_origin() -> None:
    creds, _ = _resolve({}, username="u", password="p")
    assert creds.origin == "https://registry.example"
    target = Target("HTTPS://Registry.Example:443/upload/", None)
    creds, _ = _resolve({}, target=target, token="t")
    assert creds.origin == "https://registry.example"


@pytest.mark.parametrize(
    "publish_url",
    [
        "https://elsewhere.example/legacy/",  # a publish-url input on another host, the index declaring none
        "https://registry.example:8443/upload/",  # same host, other port
        "http://registry.example/upload/",  # same host, other scheme
        "https://mirror.registry.example/upload/",  # a subdomain is another origin
    ],
)
def test_index_variables_are_not_sent_off_the_index_origins_and_the_error_says_so(publish_url: str) -> None:
    target = Target(publish_url, None, "my_artifactory", index_origins=("https://registry.example",))
    with pytest.raises(MissingCredentialsError) as info:
        _resolve(INDEX_ENV, target=target)
    text = str(info.value)
    assert f"{INDEX_NAMES} are set but were not used" in text
    assert "index `my_artifactory`'s own origins (https://registry.example)" in text
    assert "publish URL is on " in text
    assert "idx-pass" not in text
    assert "idx-user" not in text
    assert "Found a username" not in text  # an unbound username is not offered to netrc or keyring either
    for own in ("https://registry.example/upload/", "HTTPS://Registry.Example:443/other/"):  # on their own origin
        creds, _ = _resolve(INDEX_ENV, target=dataclasses.replace(target, publish_url=own))
        assert (creds.username, creds.password, creds.source) == ("idx-user", "idx-pass", INDEX_NAMES)


READ_TARGET = Target(
    "https://upload.registry.example/legacy/",
    "https://registry.example/simple/",
    "my_artifactory",
    index_origins=("https://registry.example", ORIGIN_2),
)
UPLOAD_CREDS = Credentials("up-user", "up-pass", "password", "`username` input / `password` input", origin=ORIGIN_2)
IDX = ("idx-user", "idx-pass")
UP = ("up-user", "up-pass")


MINTED = Credentials(
    "__token__",
    "minted",
    "trusted-publishing",
    "trusted publishing (OIDC)",
    RenewingToken("minted", None, lambda: ("minted", None)),
    ORIGIN_2,
)
READ_TABLE = [  # (check URL, environment, upload credentials, what the check URL gets)
    ("https://registry.example/simple/", INDEX_ENV, UPLOAD_CREDS, IDX),  # the index's `url`
    ("https://upload.registry.example/simple/", INDEX_ENV, UPLOAD_CREDS, IDX),  # the index's `publish-url`
    ("HTTPS://REGISTRY.example:443/simple/", INDEX_ENV, UPLOAD_CREDS, IDX),
    ("https://mirror.example/simple/", INDEX_ENV, UPLOAD_CREDS, None),  # a check-url input elsewhere: neither
    ("https://registry.example:8443/simple/", INDEX_ENV, UPLOAD_CREDS, None),
    ("http://registry.example/simple/", INDEX_ENV, UPLOAD_CREDS, None),  # never over plain http
    ("HTTP://registry.example/simple/", INDEX_ENV, UPLOAD_CREDS, None),  # however it is spelt
    ("Http://upload.registry.example/simple/", {}, UPLOAD_CREDS, None),
    ("https://upload.registry.example/simple/", {}, UPLOAD_CREDS, UP),  # the upload credentials, on their origin
    ("https://upload.registry.example:443/simple/", {}, UPLOAD_CREDS, UP),
    ("https://upload.registry.example:8443/simple/", {}, UPLOAD_CREDS, None),  # same host, other port: not lent
    ("https://registry.example/simple/", {}, UPLOAD_CREDS, None),  # the index's other origin: not the upload's
    ("https://reader:r3ad@mirror.example/simple/", INDEX_ENV, UPLOAD_CREDS, ("reader", "r3ad")),  # its own
    ("https://upload.registry.example/simple/", {}, MINTED, None),  # a minted token: for uploading only
]


def test_read_credentials_by_origin() -> None:
    wrong = []
    for check_url, env, creds, expected in READ_TABLE:
        auth = read_auth(check_url, READ_TARGET, creds, env)
        if auth.auth != expected or auth.origin != origin(check_url):
            wrong.append((check_url, sorted(env), creds.method, auth.auth, auth.origin))
    assert wrong == []


def no_lookup(host: str) -> list[str]:
    raise AssertionError(f"{host!r} must not be resolved")


def test_read_credentials_on_loopback_over_plain_http() -> None:
    target = Target(
        "http://127.1:8080/legacy/", "http://127.1:8080/simple/", "my_artifactory", (), ("http://127.1:8080",)
    )
    creds = Credentials("up-user", "up-pass", "password", "x", origin="http://127.1:8080")
    assert read_auth("HTTP://127.1:8080/simple/", target, creds, INDEX_ENV, resolve=no_lookup).auth == IDX
    assert read_auth("http://127.1:8080/simple/", target, creds, {}, resolve=no_lookup).auth == UP


def test_unused_index_variables_are_named_in_the_read_source() -> None:
    auth = read_auth("https://mirror.example/simple/", READ_TARGET, UPLOAD_CREDS, INDEX_ENV)
    assert auth.auth is None
    assert f"{INDEX_NAMES} are set but were not used" in auth.source
    assert "(https://registry.example, https://upload.registry.example)" in auth.source
    assert "the check URL is on https://mirror.example" in auth.source
    assert "the upload credentials stay on the publish URL's origin https://upload.registry.example" in auth.source


# -- the OIDC request token goes over https (or loopback) only ------------------------------------------------------


def test_the_oidc_request_token_is_never_sent_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import publisher.auth.trusted_publishing

    minted: list[str] = []

    def mint_token(publish_url: str, environ: dict[str, str], *args: object, **kwargs: object) -> tuple[str, None]:
        minted.append(environ["ACTIONS_ID_TOKEN_REQUEST_URL"])
        return "minted", None

    monkeypatch.setattr(publisher.auth.trusted_publishing, "mint_token", mint_token)
    refused = [
        "http://token.example/x?api-version=2.0",
        "HTTP://token.example/x",
        "ftp://token.example/x",
        "http://127.0.0.1.evil.example/x",
        "token.example/x",
    ]
    for url in refused:
        env = {"ACTIONS_ID_TOKEN_REQUEST_URL": url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-t0ken"}
        for mode in ("always", "automatic"):
            with pytest.raises(ConfigError) as info:
                _resolve(env, **{"trusted-publishing": mode})
            assert info.value.exit_code == 2
            assert "Refusing to request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not an https:// URL" in str(
                info.value
            )
            assert "req-t0ken" not in str(info.value)
    assert minted == []
    allowed = ["https://token.example/x?api-version=2.0", "http://127.0.0.1:9/x", "http://[::1]:9/x", "http://127.1/"]
    for url in allowed:
        env = {"ACTIONS_ID_TOKEN_REQUEST_URL": url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-t0ken"}
        creds, _ = _resolve(env, **{"trusted-publishing": "always"})
        assert creds.method == "trusted-publishing"
    assert minted == allowed


# -- secrets that used to go unmasked -------------------------------------------------------------------------------


def test_a_token_sent_as_the_username_is_masked_in_every_form() -> None:
    """Gemfury style: the token is the username and the password is empty, in the URL or from -u/-p ''."""
    token = "TOKEN-g3mfury"
    basic = base64.b64encode(f"{token}:".encode()).decode()
    creds, console = _resolve({}, target=Target(f"https://{token}:@pypi.fury.io/me/", None))
    assert (creds.username, creds.password) == (token, "")
    assert {token, basic} <= set(console.masked)
    creds, console = _resolve({}, username=token, password="")
    assert (creds.username, creds.password) == (token, "")
    assert {token, basic} <= set(console.masked)


# -- keyring: a hang or a broken command is a clear configuration error -----------------------------------------------


def fake_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> Path:
    command = tmp_path / "bin" / "keyring"
    command.parent.mkdir()
    command.write_text(content)
    command.chmod(0o755)
    monkeypatch.setenv("PATH", f"{command.parent}{os.pathsep}{os.environ['PATH']}")
    return command


def test_keyring_that_hangs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import publisher.auth.chain

    command = fake_keyring(tmp_path, monkeypatch, f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    monkeypatch.setattr(publisher.auth.chain, "KEYRING_TIMEOUT", 0.5)
    env = {"UV_INDEX_MY_ARTIFACTORY_USERNAME": "k-user"}
    with pytest.raises(ConfigError) as info:
        _resolve(env, **{"keyring-provider": "subprocess"})
    text = str(info.value)
    assert f"`keyring-provider: subprocess`: the `keyring` command ({command}) did not answer within 0.5 s" in text
    assert (
        "the username from UV_INDEX_MY_ARTIFACTORY_USERNAME at the service `https://registry.example/upload/`" in text
    )
    assert "TimeoutExpired" not in text
    assert "k-user" not in text


def test_keyring_that_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = fake_keyring(tmp_path, monkeypatch, "this is not a program\n")  # no #! line: exec fails
    with pytest.raises(ConfigError) as info:
        _resolve({"UV_INDEX_MY_ARTIFACTORY_USERNAME": "k-user"}, **{"keyring-provider": "subprocess"})
    assert f"the `keyring` command ({command}) could not be run when asking for the password" in str(info.value)
    assert "Exec format error" in str(info.value)


# -- netrc, read leniently, never quoted -----------------------------------------------------------------------------


def test_netrc_with_a_broken_entry_for_another_host(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine other.example login bob S3cr3t-Follower-Token\n"
        'machine registry.example login n-user password "n pass"\n'
        'machine third.example login eve password "S3cr3t-unterminated\n'
    )
    creds, console = _resolve({"NETRC": str(netrc)})
    assert (creds.username, creds.password, creds.method) == ("n-user", "n pass", "netrc")
    assert "S3cr3t-Follower-Token" not in console.masked


def test_netrc_entry_for_our_host_that_cannot_be_used_is_named_not_quoted(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text('machine other.example login o password q\nmachine registry.example login n password "S3cr3t\n')
    with pytest.raises(MissingCredentialsError) as info:
        _resolve({"NETRC": str(netrc)})
    text = str(info.value)
    assert f"The netrc entry for registry.example in {netrc} cannot be used: an unterminated quote on line 2." in text
    assert "S3cr3t" not in text


def test_netrc_that_cannot_be_read_is_named_with_the_reason_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine registry.example login n password S3cr3t\n")
    real_open = os.open

    def refusing_open(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if Path(path) == netrc:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(ConfigError) as info:
        _resolve({"NETRC": str(netrc)})
    assert info.value.message == f"Cannot read {netrc}: Permission denied."


def test_netrc_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_bytes(b"machine other.example login o password caf\xe9\nmachine registry.example login n password p\n")
    creds, _ = _resolve({"NETRC": str(netrc)})
    assert (creds.username, creds.password) == ("n", "p")  # another host's latin-1 costs nothing
    netrc.write_bytes(b"machine registry.example login n password caf\xe9\n")
    with pytest.raises(MissingCredentialsError) as info:
        _resolve({"NETRC": str(netrc)})
    expected = f"The netrc entry for registry.example in {netrc} (line 1) cannot be used: its login or password is not"
    assert expected in str(info.value)
    assert "caf" not in str(info.value)
