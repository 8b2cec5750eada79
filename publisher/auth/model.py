"""What the credential chain produces, and what the exchanges return: the types every credential source shares.

Apart from the chain (chain.py) so the sources it calls (trusted_publishing.py, jfrog.py) can build Credentials
without importing the chain back: the data flows one way, chain -> sources -> model.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, quote_plus

from publisher.report.console import Console

if TYPE_CHECKING:
    from publisher.auth.exchange import RenewingToken

AuthMethod = Literal["trusted-publishing", "jfrog-oidc", "token", "password", "pypirc", "keyring", "netrc", "none"]
EXCHANGED = {"trusted-publishing": "trusted-publishing tokens", "jfrog-oidc": "JFrog OIDC access tokens"}
TOKEN_USERNAME = "__token__"  # noqa: S105 - the username PyPI expects with API tokens


@dataclass(frozen=True)
class Credentials:
    """What the upload sends. `source` names where it came from (never the value) for error messages."""

    username: str | None
    password: str | None = field(repr=False)
    method: AuthMethod
    source: str
    renewal: RenewingToken | None = field(default=None, repr=False, compare=False)  # exchanged tokens only
    origin: str = ""  # scheme://host[:port] of the publish URL: the one origin the client sends them to

    @property
    def present(self) -> bool:
        """Whether anything will be sent (without minting a token again, as `auth` may)."""
        return self.username is not None or self.password is not None

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.renewal is not None:
            return (self.username or "", self.renewal.current())
        if self.username is None and self.password is None:
            return None
        return (self.username or "", self.password or "")


NO_CREDENTIALS = Credentials(None, None, "none", "no credentials")


@dataclass(frozen=True)
class ReadAuth:
    """Credentials for the check URL (Simple API), bound to the one origin they may be sent to."""

    auth: tuple[str, str] | None = field(repr=False)
    source: str  # where it came from, for messages; never the value
    origin: str = ""  # scheme://host[:port] the credentials belong to; nothing is sent anywhere else


def mask_wire_forms(credentials: Credentials, console: Console) -> None:
    """Mask the secret as it travels too: a registry that echoes the request back must not print it.

    The secret is the password, or the username when it is sent with an empty password (a token as the username,
    the Gemfury style). The Basic header carries base64(`user:password`), which no plain-text mask matches; a URL
    carries it percent-encoded. `mask()` ignores a form equal to one already registered.
    """
    username, password = credentials.username or "", credentials.password or ""
    secret = password or username
    if not secret:
        return
    console.mask(secret)
    console.mask(base64.b64encode(f"{username}:{password}".encode()).decode())
    console.mask(quote(secret, safe=""))
    console.mask(quote_plus(secret))
