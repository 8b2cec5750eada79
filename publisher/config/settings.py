"""All configuration in one validated object, whichever front end (Action inputs, command line) produced it.

Front ends hand raw strings to :func:`build_settings`; pydantic validates them and every validation problem is
turned into one friendly :class:`ConfigError` naming the input, the bad value and the accepted values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from publisher.config import pydantic_plugins  # noqa: F401 -- before the first model is built (its docstring)
from publisher.config.urls import display
from publisher.report.errors import ConfigError
from publisher.report.wording import label, labels, set_to, written

TrustedPublishing = Literal["automatic", "always", "never"]
KeyringProvider = Literal["disabled", "subprocess"]
Preflight = Literal["auto", "pypi", "basic", "off"]

MAX_CONFIRM_TIMEOUT = 21600.0  # six hours, the longest a GitHub-hosted job may run

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _parse_bool(value: object) -> object:
    """Accept the spellings YAML users type (`true`, `True`, `yes`, `1`), reject anything else."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected one of: true, false")
    return value


Flag = Annotated[bool, BeforeValidator(_parse_bool)]


class Settings(BaseModel):
    """What the user asked for. Secrets are SecretStr so they never show in a repr or a validation error."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    index: str | None = None
    publish_url: str | None = Field(default=None, alias="publish-url")
    check_url: str | None = Field(default=None, alias="check-url")
    pyproject: Path = Path("pyproject.toml")
    pypirc: Path | None = None  # default: $HOME/.pypirc (index.py reads it only for a name pyproject lacks)
    packages_dir: Path = Field(default=Path("dist"), alias="packages-dir")
    files: tuple[str, ...] = ()
    username: SecretStr | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    trusted_publishing: TrustedPublishing = Field(default="automatic", alias="trusted-publishing")
    skip_existing: Flag = Field(default=False, alias="skip-existing")
    dry_run: Flag = Field(default=False, alias="dry-run")
    verbose: Flag = False
    print_hash: Flag = Field(default=True, alias="print-hash")
    keyring_provider: KeyringProvider = Field(default="disabled", alias="keyring-provider")
    verify_metadata: Flag = Field(default=True, alias="verify-metadata")  # false: the older spelling of preflight off
    preflight: Preflight = "auto"
    attestations: Flag = True
    allow_insecure_http: Flag = Field(default=False, alias="allow-insecure-http")
    native_tls: Flag = Field(default=False, alias="native-tls")
    retries: int = Field(default=3, ge=0, le=10)
    parallel: int = Field(default=4, ge=1, le=32)
    jfrog_oidc_provider_name: str | None = Field(default=None, alias="jfrog-oidc-provider-name")
    jfrog_oidc_audience: str | None = Field(default=None, alias="jfrog-oidc-audience")
    jfrog_project_key: str | None = Field(default=None, alias="jfrog-project-key")
    jfrog_url: str | None = Field(default=None, alias="jfrog-url")
    verify_published: Flag = Field(default=False, alias="verify-published")
    confirm_timeout: float = Field(
        default=300.0, gt=0, le=MAX_CONFIRM_TIMEOUT, allow_inf_nan=False, alias="confirm-timeout"
    )
    working_directory: Path = Field(default=Path("."), alias="working-directory")
    front_end: Literal["action", "cli"] = Field(default="action", alias="front-end")

    @field_validator("jfrog_oidc_provider_name", "jfrog_oidc_audience", "jfrog_project_key", "jfrog_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        """`--jfrog-oidc-audience ''` or a blank value is not set (as an empty action input is not): JFrog OIDC is on
        only with a provider name, and an empty audience sends none."""
        return value.strip() or None if value is not None else None

    def label(self, name: str) -> str:
        """How the user spells an input in the front end they used: `token` input, or --token."""
        return label(name, self.front_end)

    def labels(self, *names: str) -> str:
        """Several inputs at once: the `index` and `publish-url` inputs, or --index and --publish-url."""
        return labels(names, self.front_end)

    def turned_on(self, name: str) -> str:
        """How the user turns a flag on: `allow-insecure-http: true`, or --allow-insecure-http."""
        return written(name, True, self.front_end)

    def written(self, name: str, value: object) -> str:
        """A setting with its value as the user writes it: `trusted-publishing: always`, or
        --trusted-publishing always."""
        return written(name, value, self.front_end)

    def set_to(self, name: str, value: object) -> str:
        """The instruction with its verb: set `attestations: false`, or pass --no-attestations."""
        return set_to(name, value, self.front_end)

    def resolve(self, path: Path) -> Path:
        """Relative paths in settings are relative to the working directory (the workspace in Actions)."""
        return path if path.is_absolute() else self.working_directory / path


_EXPECTED = {
    "trusted-publishing": "one of: automatic, always, never",
    "keyring-provider": "one of: disabled, subprocess",
    "preflight": "one of: auto, pypi, basic, off",
    "retries": "a whole number from 0 to 10",
    "parallel": "a whole number from 1 to 32",
    "confirm-timeout": "a number of seconds above 0, at most 21600 (6 hours)",
}
_FLAGS = {
    "skip-existing",
    "dry-run",
    "verbose",
    "print-hash",
    "verify-metadata",
    "allow-insecure-http",
    "native-tls",
    "verify-published",
    "attestations",
}
_SECRETS = {"username", "password", "token"}
_URLS = {"publish-url", "check-url", "jfrog-url"}  # shown without their user info, as everywhere


def _describe(error: ErrorDetails, front_end: str) -> str:
    """One line per problem: which input, the value given (never for secrets) and what is accepted instead."""
    loc = error.get("loc") or ("?",)
    name = str(loc[0]).replace("_", "-")
    spelled = label(name, front_end)
    if error.get("type") == "extra_forbidden":
        return f"unknown {spelled}"
    expected = "true or false" if name in _FLAGS else _EXPECTED.get(name)
    value = error.get("input")
    shown = display(value) if name in _URLS and isinstance(value, str) else value
    given = "" if name in _SECRETS else f" is {shown!r}"
    detail = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{spelled}{given}: expected {expected}" if expected else f"{spelled}{given}: {detail}"


def build_settings(raw: dict[str, Any], *, source: str = "input") -> Settings:
    """Validate raw values (already trimmed, empties removed) into Settings, or raise one ConfigError."""
    front_end = "action" if source == "input" else "cli"
    try:
        return Settings.model_validate({**raw, "front-end": front_end})
    except ValidationError as exc:
        problems = [_describe(e, front_end) for e in exc.errors(include_url=False, include_input=True)]
        where = "the step's `with:` block" if front_end == "action" else "the command line"
        listed = f"{len(problems)} values are invalid:\n  - " + "\n  - ".join(problems)
        raise ConfigError(  # one problem is the message; several are listed under a count
            problems[0] if len(problems) == 1 else listed,
            hint=f"Fix the {'value' if len(problems) == 1 else 'values'} above in {where} and run again.",
        ) from None
