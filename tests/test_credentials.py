"""The credential chain: order, masking, netrc, keyring and the missing-credentials message."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from publisher.credentials import resolve_credentials
from publisher.errors import ConfigError, MissingCredentialsError
from publisher.index import Target
from publisher.settings import build_settings

TARGET = Target(publish_url="https://registry.example/upload/", check_url=None, index_name="my_artifactory")


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


def test_token_input_wins_over_everything() -> None:
    creds, console = _resolve(FULL_ENV, token="tok-input", username="u", password="p")
    assert (creds.username, creds.password, creds.method, creds.source) == (
        "__token__",
        "tok-input",
        "token",
        "`token` input",
    )
    assert "tok-input" in console.masked


def test_order_of_sources() -> None:
    creds, _ = _resolve(FULL_ENV)
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
    with pytest.raises(ConfigError, match="trusted-publishing is `always` but other credentials") as info:
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
