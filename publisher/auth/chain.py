"""The credential chain: the first source that yields credentials wins, in the order docs/credentials.md documents.

1. `token` input / `UV_PUBLISH_TOKEN` (username `__token__`)
2. `username` + `password` inputs / `UV_PUBLISH_USERNAME` + `UV_PUBLISH_PASSWORD`
3. `UV_INDEX_<NAME>_USERNAME` + `UV_INDEX_<NAME>_PASSWORD` for the named index (the variables used to install)
4. `username` + `password` of the .pypirc section, when the index name resolved from a .pypirc (pypirc.py)
5. `user:pass@` in the publish URL
6. netrc (`$NETRC` or `~/.netrc`) for the publish URL's host (read leniently: netrcfile.py)
7. keyring, when `keyring-provider: subprocess` and a username is known
8. JFrog OIDC, when `jfrog-oidc-provider-name` is set: the job's ID token exchanged for a JFrog access token (jfrog.py)
9. trusted publishing (OIDC), see trusted_publishing.py

Every value found is masked before anything else is printed. When nothing is found the error lists every
name that was looked at, in this order, so users can see which variable they misspelled.

Credentials belong to origins (scheme, host, port; urls.origin). The upload credentials are bound to the publish
URL's origin (`Credentials.origin`, enforced per request by auth.client_auth) and lent to the check URL only on that
same origin; UV_INDEX_<NAME>_USERNAME / _PASSWORD belong to the named index's `url` and `publish-url` origins, as in
uv, and are used for uploading or reading only there; a .pypirc's username and password belong to its `repository`'s
origin. An exchanged token (trusted publishing's minted token, a JFrog access token) goes to the publish URL only,
never to the check URL. Where the ID tokens come from: identity.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from publisher.auth.exchanged import fork_explanation, jfrog_credentials, trusted_publishing_credentials
from publisher.auth.model import NO_CREDENTIALS, TOKEN_USERNAME, AuthMethod, Credentials, mask_wire_forms
from publisher.auth.reading import index_origin_note
from publisher.config import conflicts
from publisher.config.settings import Settings
from publisher.config.target import PypircLogin, Target
from publisher.config.urls import (
    display,
    hostname,
    origin,
    same_origin,
    split_userinfo,
)
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError, MissingCredentialsError, TrustedPublishingError


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """Empty variables count as unset, as in uv and in the Actions runner (inputs default to "")."""
    value = environ.get(name)
    return value if value and value.strip() else None


def _secret(value: object) -> str | None:
    from pydantic import SecretStr

    return value.get_secret_value() if isinstance(value, SecretStr) else None


@dataclass
class _Chain:
    """Walks the sources in order, remembering what it looked at for the missing-credentials message."""

    settings: Settings
    target: Target
    environ: Mapping[str, str]
    console: Console
    looked_at: list[str] = field(default_factory=list)
    known_username: tuple[str, str] | None = None  # (username, where it came from)
    notes: list[str] = field(default_factory=list)  # sources set but not usable, for the missing-credentials message

    def pair(
        self,
        user: str | None,
        password: str | None,
        user_name: str,
        password_name: str,
        method: AuthMethod = "password",
        looked_at: str | None = None,
    ) -> Credentials | None:
        self.looked_at.append(looked_at or f"{user_name} / {password_name}")
        self.console.mask(password)
        if password is not None and user is None:
            raise ConfigError(
                f"{password_name} is set but {user_name} is not.",
                hint=f"Set {user_name} as well (for an API token use {self.settings.label('token')} instead, or the "
                "username `__token__`).",
            )
        if user is not None and password is None:
            self.known_username = self.known_username or (user, user_name)
            return None
        if user is not None and password is not None:
            return Credentials(user, password, method, looked_at or f"{user_name} / {password_name}")
        return None


NETRC_NAMES = ("_netrc", ".netrc") if os.name == "nt" else (".netrc",)  # curl and requests read _netrc on Windows


def _netrc_path(environ: Mapping[str, str]) -> Path:
    """$NETRC, else ~/.netrc (on Windows also ~/_netrc, the name curl and requests look for first there)."""
    if environ.get("NETRC"):
        return Path(environ["NETRC"])
    home = Path(environ.get("HOME") or Path.home())
    return next((home / name for name in NETRC_NAMES if (home / name).is_file()), home / ".netrc")


def _from_netrc(chain: _Chain, username: str | None) -> tuple[str, str, str] | None:
    """(login, password, path) of the netrc entry for the publish URL's host, read leniently (netrcfile.py).

    A file that cannot be read is an error naming the path and the reason only; an unusable entry for our host is
    noted for the missing-credentials message by its line number. Nothing from the file is ever quoted.
    """
    from publisher.config import netrcfile  # only when no earlier source gave both username and password

    path = _netrc_path(chain.environ)
    try:
        data = netrcfile.read(path)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read {safe.exact(path)}: {safe.inline(exc.strerror or type(exc).__name__)}.",
            hint="Fix the file's permissions, point NETRC at a readable file, or remove it.",
        ) from None
    host = hostname(chain.target.publish_url)
    entry, broken = netrcfile.lookup(netrcfile.parse(data.decode("utf-8", "surrogateescape")), host, username)
    chain.notes += [f"The netrc entry for {host} in {safe.exact(path)} cannot be used: {e.problem}." for e in broken]
    if entry is None or entry.login is None:
        return None
    try:
        (entry.login + (entry.password or "")).encode()
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept apart by surrogateescape: not sendable as they are
        chain.notes.append(
            f"The netrc entry for {host} in {safe.exact(path)} (line {entry.line}) cannot be used: its login or "
            "password is not UTF-8 text."
        )
        return None
    return entry.login, entry.password or "", safe.exact(path)


KEYRING_TIMEOUT = 60.0  # seconds; a backend waiting for an unlock prompt nobody can answer would hang the job


def _from_keyring(settings: Settings, target: Target, username: str, username_source: str) -> str | None:
    """uv's `subprocess` provider: ask the `keyring` command, first for the URL, then for the host."""
    provider, disable = (
        settings.written("keyring-provider", "subprocess"),
        settings.set_to("keyring-provider", "disabled"),
    )
    command = shutil.which("keyring")
    if command is None:
        raise ConfigError(
            f"{provider} needs the `keyring` command, and it is not on PATH.",
            hint=f"Install keyring (`pip install keyring`) or {disable}.",
        )
    if os.name == "nt" and not command.lower().endswith(".exe"):  # cmd.exe would parse a .bat's arguments again
        raise ConfigError(
            f"{provider} needs the `keyring` command, and the one on PATH is {safe.exact(command)}, not an "
            ".exe: a batch file would see the URL and username through cmd.exe's parsing.",
            hint=f"Install keyring with pip (it provides keyring.exe) or {disable}.",
        )
    for service in (display(target.publish_url), hostname(target.publish_url)):
        asked = f"the password for the username from {username_source} at the service `{service}`"
        try:
            result = subprocess.run(
                [command, "get", service, username],
                capture_output=True,
                encoding="utf-8",
                timeout=KEYRING_TIMEOUT,
                check=False,
                env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"{provider}: the `keyring` command ({safe.exact(command)}) did not answer within "
                f"{KEYRING_TIMEOUT:g} s when asked for {asked}.",
                hint="A keyring backend that waits for an unlock prompt hangs in CI. Use a backend that needs no "
                f"prompt (PYTHON_KEYRING_BACKEND), pass the password another way, or {disable}.",
            ) from None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(
                f"{provider}: the `keyring` command ({safe.exact(command)}) could not be run when "
                f"asking for {asked}: {reason}.",
                hint=f"Check that `keyring` on PATH is the keyring command line (`pip install keyring`), or {disable}.",
            ) from None
        password = result.stdout.rstrip("\r\n")
        if result.returncode == 0 and password:
            return password
    return None


def resolve_credentials(
    settings: Settings,
    target: Target,
    environ: Mapping[str, str],
    console: Console,
    *,
    project_names: Sequence[str] = (),
) -> Credentials:
    """Run the chain; raise MissingCredentialsError naming every place looked at when nothing is found.

    `project_names` (of the dists about to be published) only shape trusted publishing's diagnostics: PyPI's
    "add a trusted publisher" link then opens each project's own settings page.
    """
    credentials = _resolve(settings, target, environ, console, project_names)
    mask_wire_forms(credentials, console)
    if settings.jfrog_oidc_provider_name and credentials.method != "jfrog-oidc":
        console.warning(
            f"{settings.label('jfrog-oidc-provider-name')} is set, but {credentials.source} came first in the "
            "credential chain and was used: no OIDC token was exchanged at JFrog. Remove those credentials to publish "
            "with JFrog OIDC (the check URL can still read with user info in the check URL).",
            title="JFrog OIDC not used",
        )
    return dataclasses.replace(credentials, origin=origin(target.publish_url)) if credentials.present else credentials


def _resolve(
    settings: Settings,
    target: Target,
    environ: Mapping[str, str],
    console: Console,
    project_names: Sequence[str],
) -> Credentials:
    chain = _Chain(settings, target, environ, console)
    for value in (_secret(settings.token), _secret(settings.password), _get(environ, "UV_PUBLISH_TOKEN")):
        console.mask(value)
    conflicts.refuse_token_with_login(settings, environ)
    if settings.trusted_publishing == "always":
        conflicts.refuse_others_with_always(settings, target, environ)
        return trusted_publishing_credentials(settings, target, environ, console, project_names) or NO_CREDENTIALS

    token = _secret(settings.token) or _get(environ, "UV_PUBLISH_TOKEN")
    console.mask(token)
    chain.looked_at.append(f"{settings.label('token')} / UV_PUBLISH_TOKEN")
    if token is not None:
        source = settings.label("token") if settings.token else "UV_PUBLISH_TOKEN"
        return Credentials(TOKEN_USERNAME, token, "token", source)

    found = chain.pair(
        _secret(settings.username), _secret(settings.password), settings.label("username"), settings.label("password")
    ) or chain.pair(
        _get(environ, "UV_PUBLISH_USERNAME"),
        _get(environ, "UV_PUBLISH_PASSWORD"),
        "UV_PUBLISH_USERNAME",
        "UV_PUBLISH_PASSWORD",
    )
    if found is None and target.env_prefix:
        found = _index_pair(chain)
    if found is None and target.pypirc_login is not None:
        found = _pypirc_pair(chain, target.pypirc_login)
    if found is None:
        _, url_user, url_password = split_userinfo(target.publish_url)
        found = chain.pair(url_user, url_password, "user in the publish URL", "password in the publish URL")
    if found is not None:
        return found

    username, username_source = chain.known_username or (None, "")
    chain.looked_at.append("netrc ($NETRC or " + " / ".join(f"~/{name}" for name in NETRC_NAMES) + ")")
    from_netrc = _from_netrc(chain, username)
    if from_netrc is not None:
        console.mask(from_netrc[1])
        return Credentials(from_netrc[0], from_netrc[1], "netrc", from_netrc[2])

    chain.looked_at.append(f"keyring ({settings.written('keyring-provider', settings.keyring_provider)})")
    if settings.keyring_provider == "subprocess" and username is not None:
        password = _from_keyring(settings, target, username, username_source)
        console.mask(password)
        if password is not None:
            return Credentials(username, password, "keyring", f"keyring for {username_source}")

    if settings.jfrog_oidc_provider_name:  # turned on by the user: no falling through to trusted publishing
        return jfrog_credentials(settings, target, environ, console)

    chain.looked_at.append(
        f"trusted publishing ({settings.written('trusted-publishing', settings.trusted_publishing)})"
    )
    why_not_oidc: tuple[str, str | None] | None = None  # (why, extra hint)
    if settings.trusted_publishing == "automatic":
        try:
            minted = trusted_publishing_credentials(settings, target, environ, console, project_names, required=False)
        except TrustedPublishingError as exc:  # a reported one already showed its hint with the whole story
            if exc.supported and exc.exit_code == 1:  # the index has trusted publishing and refused us, or is down
                raise
            why_not_oidc, minted = (exc.message, None if exc.reported else exc.hint), None
        if minted is not None:
            return minted
        if why_not_oidc is None:
            why_not_oidc = fork_explanation(environ)
    raise _missing(settings, target, chain, why_not_oidc)


def _index_pair(chain: _Chain) -> Credentials | None:
    """UV_INDEX_<NAME>_USERNAME / _PASSWORD, only when the publish URL is on one of the index's own origins."""
    target, prefix = chain.target, chain.target.env_prefix
    names = f"{prefix}_USERNAME / {prefix}_PASSWORD"
    user, password = _get(chain.environ, f"{prefix}_USERNAME"), _get(chain.environ, f"{prefix}_PASSWORD")
    if any(same_origin(target.publish_url, o) for o in target.index_origins):
        return chain.pair(user, password, f"{prefix}_USERNAME", f"{prefix}_PASSWORD")
    chain.looked_at.append(names)
    if user is not None or password is not None:
        chain.notes.append(index_origin_note(target, names, "the publish URL", target.publish_url))
    return None


def _pypirc_pair(chain: _Chain, login: PypircLogin) -> Credentials | None:
    """The .pypirc section's username and password, only on its `repository`'s origin (where the publish URL is,
    unless --publish-url moved it: index.py refuses a conflicting one)."""
    target, names = chain.target, f"username / password in {login.where}"
    if not any(same_origin(target.publish_url, o) for o in target.index_origins):
        chain.looked_at.append(names)
        if login.username is not None or login.password is not None:
            chain.notes.append(index_origin_note(target, names, "the publish URL", target.publish_url))
        return None
    return chain.pair(
        login.username,
        login.password,
        f"{login.where} (`username`)",
        f"{login.where} (`password`)",
        method="pypirc",
        looked_at=names,
    )


def _missing(
    settings: Settings, target: Target, chain: _Chain, why_not_oidc: tuple[str, str | None] | None
) -> MissingCredentialsError:
    where = f"index `{target.index_name}` ({target.display_url})" if target.index_name else target.display_url
    lines = [f"No source gave a password or token for {where}. Looked for, in order:"]
    lines += [f"  {n}. {name}" for n, name in enumerate(chain.looked_at, start=1)]
    if chain.known_username:
        lines.append(f"Found a username in {chain.known_username[1]} but no password for it.")
    lines += chain.notes
    if why_not_oidc:
        lines.append(f"Trusted publishing was not possible: {why_not_oidc[0]}")
    prefix = target.env_prefix or "UV_PUBLISH"
    if settings.front_end == "action":
        hint = (
            f"Set {prefix}_USERNAME and {prefix}_PASSWORD in the step's `env:` from repository secrets, or pass "
            f"{settings.label('token')} for an API token. For PyPI/TestPyPI, trusted publishing needs no secret: "
            "give the job `permissions: id-token: write` and register the workflow as a trusted publisher on the index."
        )
    else:
        hint = (
            f"Export {prefix}_USERNAME and {prefix}_PASSWORD, pass -u/-p, or pass --token (UV_PUBLISH_TOKEN) for an "
            "API token. Trusted publishing works inside a GitHub Actions job with `permissions: id-token: write`, "
            "or a GitLab CI job whose `id_tokens:` holds PYPI_ID_TOKEN (`aud: pypi`)."
        )
    if why_not_oidc and why_not_oidc[1]:
        hint += "\n" + why_not_oidc[1]
    return MissingCredentialsError("\n".join(lines), hint=hint)
