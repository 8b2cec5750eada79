"""Trusted publishing (PyPI's protocol): an ID token for the index's audience -> a minted upload token.

The protocol is PyPI's, shared by uv, twine and pypa's action, and any index may implement it:

1. GET `{origin}/_/oidc/audience` -> `{"audience": ...}` (404: not supported, 403: disabled on the index).
2. An ID token with that audience from the CI system (identity.py): GitHub's token service, or in GitLab CI the
   job's `<AUDIENCE>_ID_TOKEN` variable (`PYPI_ID_TOKEN`, `TESTPYPI_ID_TOKEN`).
3. POST `{origin}/_/oidc/mint-token` `{"token": <JWT>}` -> `{"success": true, "token": "pypi-..."}`, or on refusal
   `{"message": ..., "errors": [{"code": ..., "description": ...}]}`.

PyPI's minted tokens live 15 minutes. We mint right before uploading (after every dist is validated), and
exchange.RenewingToken mints again when a request would go out within a minute of the expiry (as twine does), so a
long run of big uploads does not fail half way with 403. Each renewal asks GitHub for a new ID token: PyPI accepts an
ID token once. GitLab gives a job one ID token per audience, so there a second mint is refused (`invalid-reuse-token`),
and the index says so in its own words.

Both the ID token and the minted token are masked the moment we hold them and appear in no message: an ID token can
be exchanged for an upload token by anyone who sees it before it expires. Failures are reported in exchange.py's
style: an error annotation with the whole explanation, the same in the job summary, a shorter message in the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
from packaging.utils import canonicalize_name

from publisher.auth import identity
from publisher.auth.audiences import Destination
from publisher.auth.exchange import (
    NO_TOKEN,
    Exchange,
    Purpose,
    body_detail,
    decode_claims,
    expires_at,
    field_of,
    open_client,
    registry_reasons,
    render_claims,
    section,
    status_of,
    token_field,
    until,
)
from publisher.auth.identity import IdToken
from publisher.auth.model import TOKEN_USERNAME, Credentials, mask_wire_forms
from publisher.config.settings import Settings
from publisher.config.urls import hostname, origin, sends_in_clear
from publisher.net.bodies import json_value
from publisher.net.retry import RetryPolicy, policy_from
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import TrustedPublishingError

# Upload host -> the PyPI site whose settings pages register trusted publishers.
PYPI_SITES = {
    "upload.pypi.org": "https://pypi.org",
    "pypi.org": "https://pypi.org",
    "test.pypi.org": "https://test.pypi.org",
    "upload.test.pypi.org": "https://test.pypi.org",
}

DOCS_URL = "https://docs.pypi.org/trusted-publishers/"
TROUBLESHOOTING_URL = "https://docs.pypi.org/trusted-publishers/troubleshooting/"

PURPOSE = Purpose(
    name="Trusted publishing",
    activity="trusted publishing",
    comment="trusted publishing",
    then="Then register this workflow as a trusted publisher on the index.",
    instead="pass other credentials (an API token, or a username and password) instead.",
    error=TrustedPublishingError,
)


def purpose(settings: Settings) -> Purpose:
    """PURPOSE, its advice for where no ID token can be had in the front end's spelling of trusted-publishing."""
    instead = (
        "pass other credentials (an API token, or a username and password), and leave "
        f"{settings.written('trusted-publishing', 'automatic')} (the default) or "
        f"{settings.set_to('trusted-publishing', 'never')}."
    )
    return replace(PURPOSE, instead=instead)


# What a trusted publisher is matched on, per source, for the refusal's explanation.
_MATCHED_ON = {
    "github": ("workflow run", "the owner, repository, workflow file name and environment"),
    "gitlab": ("pipeline", "the namespace, project, top-level pipeline file path and environment"),
}

_INSECURE_MESSAGE = """\
Refusing to send the {issuer} OIDC token over plain http to {base}: it would cross the network readable by anyone \
on the path, and it can be exchanged for an upload token until it expires."""

_INSECURE_HINT = """\
Use the index's https:// URL. If this network is trusted (a private build network), set {allow}."""

_UNREACHABLE_HINT = """\
Check the publish URL, and that the runner can reach the index and GitHub's token service (proxy, firewall, \
DNS), then re-run the job."""

_AUDIENCE_NOT_FOUND = """\
{url} answered 404 Not Found: the index at {base} does not support trusted publishing (it has no OIDC audience \
endpoint)."""

_AUDIENCE_NOT_FOUND_HINT = f"""\
Check that the publish URL points at the index you meant. If this index has no trusted publishing, authenticate \
with an API token ({{token}}) or a username and password instead, and {{never}} so it is not attempted. PyPI and \
TestPyPI support it; see {DOCS_URL}"""

_AUDIENCE_FORBIDDEN = """\
{url} answered 403 Forbidden: the index at {base} supports trusted publishing but has it disabled, for everyone \
or for this client."""

_AUDIENCE_FORBIDDEN_HINT = """\
Trusted publishing may be switched off for maintenance or an incident; check the index's status page and re-run \
later, or authenticate with an API token ({token}) in the meantime."""

_AUDIENCE_UNEXPECTED = """\
{url} answered {status}: the index at {base} did not say which OIDC audience to request, so trusted publishing \
cannot start. {detail}"""

_SERVER_TROUBLE_HINT = """\
This points at a problem on the index (downtime, maintenance or a misconfigured proxy) rather than in your \
workflow. Wait a few minutes and re-run the job."""


_MINT_REFUSED = """\
The index at {base} refused to exchange {issuer}'s OIDC token for an upload token ({status}). It said:

{reasons}

This usually means no trusted publisher registered on the index matches this {run}: {fields} must all be the \
same on both sides. Compare with the claims {issuer} put in the token, shown for debugging only: do not copy them \
into the publisher unless they are what you expect.

{claims}"""

_MINT_REFUSED_HINT = f"""\
Fix the trusted publisher on the index (or the workflow) so they match, then re-run the job. \
See {TROUBLESHOOTING_URL}"""

_PUBLISHER_LINK = """\
To register this workflow as a trusted publisher, open this link logged in as an owner of the project (it fills \
in the owner, repository and workflow file name{environment}):

{links}

If the project does not exist on {site} yet, add a *pending* publisher with the same values and the project name \
instead: {pending}"""

_PENDING_PUBLISHER_LINK = """\
To register this workflow as a trusted publisher, open this link logged in to {site} (it fills in the owner, \
repository and workflow file name{environment}). For a project that already exists, add the publisher on the \
project's own Publishing settings page instead; for a new one, enter the project name to create it on first upload:

{links}"""

_MINT_MALFORMED = """\
The index at {base} answered the token exchange with an unexpected {status} response ({detail})."""

_REUSABLE_WORKFLOW_WARNING = """\
This job runs inside a reusable workflow: `workflow_ref` is `{workflow_ref}` but `job_workflow_ref` is \
`{job_workflow_ref}`. PyPI matches a trusted publisher against `job_workflow_ref`, so the publisher must name the \
reusable workflow's file (`{job_workflow_file}`) rather than the calling workflow, and a reusable workflow from \
another repository cannot be used. See {troubleshooting}"""


def available(environ: Mapping[str, str], *, required: bool = False) -> bool:
    """Whether to go on with trusted publishing, before any request: with GitHub's two variables (`id-token:
    write`); in GitLab CI when `required` (the index's audience names the variable to read, or to ask for) or when
    the job declared some `id_tokens:`. `automatic` asks nothing of the index otherwise."""
    if identity.github_available(environ):
        return True
    return identity.in_gitlab_ci(environ) and (required or identity.gitlab_has_id_tokens(environ))


def missing_permission_error(environ: Mapping[str, str], settings: Settings) -> TrustedPublishingError:
    """Why there is no ID token here (identity.missing_error): a fork, the permission, or not in CI at all."""
    error = identity.missing_error(environ, purpose(settings))
    assert isinstance(error, TrustedPublishingError)
    return error


def fork_explanation(environ: Mapping[str, str]) -> tuple[str, str] | None:
    return identity.fork_explanation(environ, PURPOSE.activity)


def _workflow_file(ref: object) -> str | None:
    """`owner/repo/.github/workflows/release.yml@refs/tags/v1` -> `release.yml`."""
    if not isinstance(ref, str) or not ref:
        return None
    return ref.partition("@")[0].rsplit("/", 1)[-1] or None


def publisher_links(publish_url: str, claims: Mapping[str, Any], project_names: Sequence[str] = ()) -> list[str]:
    """PyPI's prefilled "add a trusted publisher" page: per project if names are known, else the pending form.

    Project names are normalised as PyPI spells them in its URLs (`Demo_Pkg` -> `demo-pkg`), each listed once. Only
    for GitHub's claims (a GitLab token has no `repository_owner`).
    """
    site = PYPI_SITES.get(hostname(publish_url))
    owner, repository = claims.get("repository_owner"), claims.get("repository")
    workflow = _workflow_file(claims.get("job_workflow_ref")) or _workflow_file(claims.get("workflow_ref"))
    if site is None or not isinstance(owner, str) or not isinstance(repository, str) or workflow is None:
        return []
    query = urlencode(
        {
            "provider": "github",
            "owner": owner,
            "repository": repository.split("/", 1)[-1],
            "workflow_filename": workflow,
        }
    )
    if not project_names:
        return [f"{site}/manage/account/publishing/?{query}"]
    names = dict.fromkeys(canonicalize_name(name) for name in project_names)
    return [f"{site}/manage/project/{name}/settings/publishing/?{query}" for name in names]


def publisher_help(publish_url: str, claims: Mapping[str, Any], project_names: Sequence[str] = ()) -> str | None:
    """The paragraph that points a PyPI/TestPyPI user at the prefilled trusted-publisher form, or None."""
    links = publisher_links(publish_url, claims, project_names)
    if not links:
        return None
    site = PYPI_SITES[hostname(publish_url)]
    environment = claims.get("environment")
    names = {
        "links": "\n".join(f"- {safe.exact(link)}" for link in links),
        "site": site,
        "environment": f"; also enter the environment name {safe.code(environment, 100)}" if environment else "",
    }
    if not project_names:
        return _PENDING_PUBLISHER_LINK.format(**names)
    return _PUBLISHER_LINK.format(pending=f"{site}/manage/account/publishing/", **names)


def reusable_workflow_warning(claims: Mapping[str, Any]) -> str | None:
    workflow_ref, job_workflow_ref = claims.get("workflow_ref"), claims.get("job_workflow_ref")
    if not workflow_ref or not job_workflow_ref or workflow_ref == job_workflow_ref:
        return None
    return _REUSABLE_WORKFLOW_WARNING.format(
        workflow_ref=safe.inline(workflow_ref, 300),
        job_workflow_ref=safe.inline(job_workflow_ref, 300),
        job_workflow_file=safe.inline(_workflow_file(job_workflow_ref), 200),
        troubleshooting=TROUBLESHOOTING_URL,
    )


class Minting(Exchange):
    """PyPI's exchange: the index's audience, then an ID token for it minted into an upload token."""

    def __init__(
        self,
        client: httpx.Client,
        console: Console,
        publish_url: str,
        policy: RetryPolicy,
        environ: Mapping[str, str],
        settings: Settings,
    ) -> None:
        super().__init__(client, console, policy, PURPOSE, _UNREACHABLE_HINT)
        self.settings = settings
        self.publish_url = publish_url
        self.base = origin(publish_url)
        self.environ = environ

    def audience(self) -> str:
        url = f"{self.base}/_/oidc/audience"
        response = self.send("GET", url, what="Trusted publishing audience", side="index", shown_url=url)
        names = {"url": url, "base": self.base}
        if response.status_code == 404:
            message = _AUDIENCE_NOT_FOUND.format(**names)
            never = self.settings.set_to("trusted-publishing", "never")
            hint = _AUDIENCE_NOT_FOUND_HINT.format(token=self.settings.label("token"), never=never)
            raise self.fail("Trusted publishing not supported", message, hint, supported=False)
        if response.status_code == 403:
            message = _AUDIENCE_FORBIDDEN.format(**names)
            hint = _AUDIENCE_FORBIDDEN_HINT.format(token=self.settings.label("token"))
            raise self.fail("Trusted publishing disabled", message, hint, supported=False)
        audience = field_of(json_value(response), "audience") if response.status_code == 200 else None
        if not audience:
            detail = "The answer held no audience." if response.status_code == 200 else body_detail(response)
            message = _AUDIENCE_UNEXPECTED.format(status=status_of(response), detail=detail, **names)
            raise self.fail("Trusted publishing: unexpected answer", message, _SERVER_TROUBLE_HINT)
        return audience

    def mint(self, audience: str, project_names: Sequence[str]) -> str:
        """Exchange an ID token for an upload token. A retry fetches a fresh ID token: PyPI refuses one it has seen."""
        tokens: list[IdToken] = []

        def id_token() -> str:
            destination = Destination(self.base, "index", self.settings.front_end)
            tokens.append(identity.fetch(self, self.environ, audience, destination))
            return tokens[-1].value

        response, _ = self.post_with_id_token(
            f"{self.base}/_/oidc/mint-token",
            lambda jwt: {"token": jwt},
            id_token,
            what="Trusted publishing token exchange",
            side="index",
        )
        return self.minted(response, tokens[-1], project_names)

    def minted(self, response: httpx.Response, token: IdToken, project_names: Sequence[str]) -> str:
        """The upload token from a mint answer, masked; or the index's reasons with the claims that were sent."""
        payload = json_value(response)
        minted = token_field(payload, "token")
        if response.status_code == 200 and minted:
            self.console.mask(minted)
            mask_wire_forms(Credentials(TOKEN_USERNAME, minted, "trusted-publishing", ""), self.console)
            self.expires = expires_at(payload.get("expires") if isinstance(payload, dict) else None, relative=False)
            return minted
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if response.status_code == 200 or not isinstance(errors, list) or not errors:
            detail = NO_TOKEN if response.status_code == 200 else body_detail(response)
            message = _MINT_MALFORMED.format(base=self.base, status=status_of(response), detail=detail)
            raise self.fail("Trusted publishing: unexpected answer", message, _SERVER_TROUBLE_HINT)

        reasons = registry_reasons(errors, "description")
        claims = decode_claims(token.value)
        warning = reusable_workflow_warning(claims)
        if warning:
            self.console.warning(warning, title="Trusted publishing from a reusable workflow")
        run, fields = _MATCHED_ON[token.source]
        details = _MINT_REFUSED.format(
            base=self.base,
            status=status_of(response),
            issuer=token.issuer,
            run=run,
            fields=fields,
            reasons="\n".join(f"- {safe.code(code)}: {safe.code(description)}" for code, description in reasons),
            claims=render_claims(claims, identity.shown_claims(token)),
        )
        if warning:
            details += "\n\n" + warning
        link_help = publisher_help(self.publish_url, claims, project_names)
        if link_help:
            details += "\n\n" + link_help
        short = f"The index at {self.base} refused the OIDC token: " + "; ".join(f"{c}: {d}" for c, d in reasons)
        raise self.fail("Trusted publishing: token exchange refused", details, _MINT_REFUSED_HINT, short=short)


def mint_token(
    publish_url: str,
    environ: Mapping[str, str],
    console: Console,
    *,
    settings: Settings,
    project_names: Sequence[str] = (),
    renewal: bool = False,
) -> tuple[str, float | None]:
    """Run the exchange for `publish_url` and return the minted upload token (already masked, with its Basic form)
    and its expiry (epoch seconds) when the index announces one, as PyPI does.

    `project_names`, when the caller knows them, make the "register a trusted publisher" link point at each
    project's settings page instead of the pending-publisher form. The token lasts 15 minutes on PyPI. A `renewal`
    logs into the upload's group (exchange.section).
    """
    source = identity.prepare(environ, purpose(settings), console)
    base = origin(publish_url)
    if sends_in_clear(base, settings.allow_insecure_http):
        hint = _INSECURE_HINT.format(allow=settings.turned_on("allow-insecure-http"))
        message = _INSECURE_MESSAGE.format(base=base, issuer=identity.ISSUERS[source])
        raise TrustedPublishingError(message, hint=hint, exit_code=2)
    policy = policy_from(settings.retries, environ)
    with open_client(environ, native_tls=settings.native_tls) as client:
        minting = Minting(client, console, publish_url, policy, environ, settings)
        title = f"Trusted publishing: exchanging a {identity.ISSUERS[source]} OIDC token at {base}"
        with section(console, title, renewal=renewal):
            audience = minting.audience()
            console.debug(f"OIDC audience: {safe.inline(audience, 200)}")
            token = minting.mint(audience, project_names)
            console.info(f"Minted a short-lived upload token ({until(minting.expires) or _PYPI_LIFETIME}).")
    return token, minting.expires


_PYPI_LIFETIME = "valid for about 15 minutes on PyPI"
