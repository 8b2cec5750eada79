"""Credential sources that must not be combined, refused before the chain picks one (exit 2).

- An API token (`token` input / --token / UV_PUBLISH_TOKEN) with a username or password (`username` / `password`
  inputs, -u / -p, UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD): `uv publish` refuses the same pair (its --token
  conflicts with --username and --password, the variables included), and a token that silently won would publish
  as another identity than the one the user typed. The index's own UV_INDEX_<NAME>_* variables are not part of
  this: they are install-time credentials that many jobs set for every step.
- `trusted-publishing: always` with any other configured source (configured_sources).
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.config.settings import Settings
from publisher.config.target import Target
from publisher.config.urls import split_userinfo
from publisher.report.errors import ConfigError


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """Empty variables count as unset, as in uv and in the Actions runner (inputs default to "")."""
    value = environ.get(name)
    return value if value and value.strip() else None


def _token_sources(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    found = [settings.label("token")] if settings.token is not None else []
    return found + (["UV_PUBLISH_TOKEN"] if _get(environ, "UV_PUBLISH_TOKEN") else [])


def _login_sources(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    found = [settings.label(name) for name in ("username", "password") if getattr(settings, name) is not None]
    return found + [name for name in ("UV_PUBLISH_USERNAME", "UV_PUBLISH_PASSWORD") if _get(environ, name)]


def refuse_token_with_login(settings: Settings, environ: Mapping[str, str]) -> None:
    """A token and a username or password given together: which one was meant cannot be known."""
    tokens, logins = _token_sources(settings, environ), _login_sources(settings, environ)
    if tokens and logins:
        variables = any(name.startswith("UV_PUBLISH_") for name in tokens + logins)
        raise ConfigError(
            f"A token ({' and '.join(tokens)}) cannot be combined with a username or password ({', '.join(logins)}).",
            hint=f"Give one: {settings.label('token')} alone for an API token (it is sent as `__token__`), or "
            f"{settings.label('username')} and {settings.label('password')} without it."
            + (
                " Unset the variable named above that you did not mean to pass (exported, or in a job-wide `env:`?)."
                if variables
                else ""
            ),
        )


def configured_sources(settings: Settings, target: Target, environ: Mapping[str, str]) -> list[str]:
    """Names of the non-OIDC sources that are set, for `trusted-publishing: always` conflicts."""
    found = []
    if settings.token or _get(environ, "UV_PUBLISH_TOKEN"):
        found.append(f"{settings.label('token')} / UV_PUBLISH_TOKEN")
    if settings.username or settings.password:
        found.append(f"{settings.label('username')} / {settings.label('password')}")
    if _get(environ, "UV_PUBLISH_USERNAME") or _get(environ, "UV_PUBLISH_PASSWORD"):
        found.append("UV_PUBLISH_USERNAME / UV_PUBLISH_PASSWORD")
    prefix = target.env_prefix
    if prefix and (_get(environ, f"{prefix}_USERNAME") or _get(environ, f"{prefix}_PASSWORD")):
        found.append(f"{prefix}_USERNAME / {prefix}_PASSWORD")
    login = target.pypirc_login
    if login is not None and (login.username is not None and login.password is not None):
        found.append(f"username / password in {login.where}")
    if split_userinfo(target.publish_url)[1]:
        found.append("user:pass@ in the publish URL")
    if settings.jfrog_oidc_provider_name:
        found.append(settings.label("jfrog-oidc-provider-name"))
    return found


def refuse_others_with_always(settings: Settings, target: Target, environ: Mapping[str, str]) -> None:
    conflicts = configured_sources(settings, target, environ)
    if conflicts:
        raise ConfigError(
            f"{settings.written('trusted-publishing', 'always')} forbids other credentials, and these are "
            f"configured: {', '.join(conflicts)}.",
            hint=f"Remove those credentials, or {settings.set_to('trusted-publishing', 'automatic')}.",
        )
