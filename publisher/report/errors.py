"""Typed failures, one per situation the user can act on.

Every error carries a message (what went wrong, where) and a hint (how to fix it). The exit status is part of
the public contract: 2 means bad configuration or input found before anything was uploaded, 1 means an upload
or authentication failed. Messages must never contain a secret value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class PublishError(Exception):
    """Base class: a failure with a user-facing message, a hint and an exit status."""

    exit_code = 1
    title = "Publishing failed"
    # True once the full explanation was annotated and written to the job summary where it happened (trusted
    # publishing does this, with more detail than the message carries): run.main then does not annotate it again.
    reported = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class ConfigError(PublishError):
    """Bad configuration or input, detected before any upload (exit 2)."""

    exit_code = 2
    title = "Configuration error"


class IndexResolutionError(ConfigError):
    """The named index cannot be resolved from pyproject.toml, uv.toml or a .pypirc.

    The title does not say "index": the messages are uv's own ("Index not found: ...") and would repeat it."""

    title = "No upload target"


class MissingCredentialsError(ConfigError):
    """No credential source produced credentials."""

    title = "Missing credentials"


class DistError(ConfigError):
    """A distribution file is missing, unreadable or inconsistent."""

    title = "Invalid distribution"


def every_file(items: Iterable[T], work: Callable[[T], R]) -> list[R]:
    """`work` on every item; the DistErrors of all of them raised as one (one alone as it is), so a release with
    several bad files is fixed in one round, not one rebuild per file."""
    done: list[R] = []
    failed: list[DistError] = []
    for item in items:
        try:
            done.append(work(item))
        except DistError as exc:
            failed.append(exc)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        listed = "\n  - ".join(f"{e.message} {e.hint or ''}".strip().replace("\n", "\n    ") for e in failed)
        raise DistError(
            f"{len(failed)} files cannot be uploaded; nothing was uploaded:\n  - {listed}",
            hint="Fix each file above (or remove it from the packages directory) and run again.",
        )
    return done


class UploadError(PublishError):
    """The registry refused or failed an upload (exit 1)."""

    title = "Upload failed"


class AuthenticationError(UploadError):
    """The registry answered 401/403 to our credentials."""

    title = "Authentication failed"


class TokenExchangeError(PublishError):
    """An OIDC token exchange failed (exchange.py); exit status 1 unless raised as a configuration problem."""

    title = "Token exchange failed"

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 1, supported: bool = True) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code
        # False when the index has no trusted publishing (audience 404/403): `automatic` then looks no further,
        # while a refusal or an outage of an index that has it is an authentication failure of its own.
        self.supported = supported


class TrustedPublishingError(TokenExchangeError):
    """PyPI-style trusted publishing (trusted_publishing.py) failed."""

    title = "Trusted publishing failed"


class JFrogOidcError(TokenExchangeError):
    """The JFrog Platform's OIDC token exchange (jfrog.py) failed."""

    title = "JFrog OIDC failed"


class NotPublishedError(UploadError):
    """The registry accepted a file (a 202, a task, or a 200 under verify-published) but it was not shown to be stored
    and listed (confirm.py). Exit 1; the file's result is `status` (`accepted, not stored` or `accepted, not
    confirmed`) with `detail`, so the report says what became of it."""

    def __init__(self, message: str, hint: str | None = None, *, status: str, detail: str, sha256: str) -> None:
        super().__init__(message, hint)
        self.status = status
        self.detail = detail
        self.sha256 = sha256
        self.title = status[0].upper() + status[1:]  # "Accepted, not stored": the annotation names the result
