"""The chain's two exchanged sources: JFrog OIDC and trusted publishing, each a first token and its renewal.

The exchanges themselves (jfrog.py, trusted_publishing.py, and identity.py for the ID token) load only here, when
the chain reaches them: a password upload never imports them (tests/test_import_cost.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from publisher.auth.model import TOKEN_USERNAME, Credentials
from publisher.config.settings import Settings
from publisher.config.target import Target
from publisher.report import safe
from publisher.report.console import Console


def fork_explanation(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """A fork pull request has no OIDC token whatever the workflow says: the one case worth explaining when
    `automatic` finds no token (otherwise a missing token just means trusted publishing was not set up)."""
    if not environ.get("GITHUB_EVENT_PATH"):  # not in Actions: nothing to read, and no reason to import identity
        return None
    from publisher.auth import identity

    return identity.fork_explanation(environ)


def trusted_publishing_credentials(
    settings: Settings,
    target: Target,
    environ: Mapping[str, str],
    console: Console,
    project_names: Sequence[str],
    *,
    required: bool = True,
) -> Credentials | None:
    from publisher.auth import identity, trusted_publishing
    from publisher.auth.exchange import RenewingToken

    if not trusted_publishing.available(environ, required=required):
        if required:
            raise trusted_publishing.missing_permission_error(environ, settings)
        return None
    identity.prepare(
        environ, trusted_publishing.purpose(settings), console
    )  # before any request: the request URL is https

    def exchange(renewal: bool = True) -> tuple[str, float | None]:
        return trusted_publishing.mint_token(
            target.publish_url, environ, console, settings=settings, project_names=project_names, renewal=renewal
        )

    token, expires = exchange(renewal=False)
    renewal = RenewingToken(token, expires, exchange)
    return Credentials(TOKEN_USERNAME, token, "trusted-publishing", "trusted publishing (OIDC)", renewal)


def jfrog_credentials(settings: Settings, target: Target, environ: Mapping[str, str], console: Console) -> Credentials:
    """The job's ID token exchanged at JFrog (jfrog.py) for an access token, renewed before it expires. The username
    is the first exchange's: renewals for the same integration and mapping answer the same one."""
    from publisher.auth import identity, jfrog
    from publisher.auth.exchange import RenewingToken

    cfg = jfrog.config(settings, target.publish_url)
    assert cfg is not None  # the provider name is set
    identity.prepare(environ, jfrog.purpose(settings), console)  # exit 2 before any request when no ID token can exist

    first = jfrog.exchange(cfg, target.publish_url, environ, console, settings=settings)

    def renew() -> tuple[str, float | None]:
        grant = jfrog.exchange(cfg, target.publish_url, environ, console, settings=settings, renewal=True)
        return grant.access_token, grant.expires

    renewal = RenewingToken(first.access_token, first.expires, renew)
    source = f"JFrog OIDC (integration `{safe.inline(cfg.provider, 200)}`)"
    return Credentials(first.username, first.access_token, "jfrog-oidc", source, renewal)
