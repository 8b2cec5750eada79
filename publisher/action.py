"""The GitHub Actions front end: INPUT_* variables -> Settings.

GitHub hands inputs to a container action as `INPUT_<NAME upper-cased>` with hyphens kept
(`INPUT_PACKAGES-DIR`); the underscore spelling is accepted too, for runners and wrappers that rewrite names.
Values are trimmed and an empty value means "not set", because the runner passes "" for inputs not given.
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.config.settings import Settings, build_settings
from publisher.config.urls import userinfo_secrets
from publisher.report.console import Console

INPUTS = (
    "index",
    "publish-url",
    "check-url",
    "pyproject",
    "pypirc",
    "packages-dir",
    "username",
    "password",
    "token",
    "trusted-publishing",
    "skip-existing",
    "dry-run",
    "verbose",
    "print-hash",
    "keyring-provider",
    "verify-metadata",
    "preflight",
    "attestations",
    "allow-insecure-http",
    "native-tls",
    "retries",
    "parallel",
    "jfrog-oidc-provider-name",
    "jfrog-oidc-audience",
    "jfrog-project-key",
    "jfrog-url",
    "verify-published",
    "confirm-timeout",
)
SECRET_INPUTS = ("password", "token")
URL_INPUTS = ("publish-url", "check-url", "jfrog-url")


def read_input(environ: Mapping[str, str], name: str) -> str | None:
    key = "INPUT_" + name.upper()
    value = environ.get(key)
    if value is None:
        value = environ.get(key.replace("-", "_"))
    if value is None:
        return None
    value = value.strip()
    return value or None


def raw_inputs(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name in INPUTS if (value := read_input(environ, name)) is not None}


def settings_from_inputs(environ: Mapping[str, str], console: Console) -> Settings:
    """Mask secret inputs first, then validate everything into Settings (ConfigError on bad values)."""
    raw = raw_inputs(environ)
    for name in SECRET_INPUTS:
        console.mask(raw.get(name))
    for name in URL_INPUTS:  # `user:pass@`: the secret both as written (percent-encoded) and decoded
        for form in userinfo_secrets(raw.get(name)):
            console.mask(form)
    return build_settings(dict(raw), source="input")
