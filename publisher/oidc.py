"""Trusted publishing (OIDC): GitHub ID token -> index audience -> minted upload token.

Interface used by credentials.py (issue 3 fills in the exchange):
- available(environ) -> bool: both ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are set.
- missing_permission_error(environ) -> TrustedPublishingError (exit 2) explaining `permissions: id-token: write`.
- mint_token(publish_url, environ, console, settings=...) -> str: the minted upload token, masked.
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.console import Console
from publisher.errors import TrustedPublishingError
from publisher.settings import Settings

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name, not a secret


def available(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(REQUEST_URL)) and bool(environ.get(REQUEST_TOKEN))


def missing_permission_error(environ: Mapping[str, str]) -> TrustedPublishingError:
    return TrustedPublishingError(
        f"Trusted publishing needs an OIDC token, but {REQUEST_URL} / {REQUEST_TOKEN} are not set.",
        hint="Give the job `permissions: id-token: write`.",
        exit_code=2,
    )


def mint_token(publish_url: str, environ: Mapping[str, str], console: Console, *, settings: Settings) -> str:
    raise TrustedPublishingError("Trusted publishing is not implemented yet.")
