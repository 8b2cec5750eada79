"""JFrog Platform OIDC: the job's ID token exchanged for a short-lived JFrog access token, so no secret is stored.

JFrog Platform (Artifactory Cloud 7.73.1+, self-hosted 7.77.3+) trusts an OIDC integration (`provider_name`) whose
identity mappings match claims of the ID token. The exchange, as jfrog/setup-jfrog-cli's REST fallback makes it:

    POST {jfrog-url}/access/api/v1/oidc/token   (no Authorization header: the ID token is the only credential)
    {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
     "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
     "subject_token": <JWT>, "provider_name": ..., "project_key": ... (if set), "audience": ... (if set)}
    -> 200 {"access_token": ..., "expires_in": <seconds>, "username": ..., "scope": ..., ...}
    -> 4xx {"errors": [{"code": ..., "message": ...}]}, e.g. 400 BAD_REQUEST "Invalid audience"

The upload then sends Basic auth with the answer's `username` and the access token. Without a `username`, it is the
`sub` of the access token (a JWT JFrog signs) as setup-jfrog-cli reads it: the part after the last `/` when `sub`
starts with `jfrt@` or contains `/users/` (`jfrt@01abc/users/ci-bot` -> `ci-bot`), otherwise the whole `sub`; when the
access token is not a JWT, the empty username, which Artifactory accepts with an access token.

The ID token's audience is `jfrog-oidc-audience`, requested from GitHub and sent as `audience`; when empty, none is
requested (GitHub's default applies) and none is sent, as setup-jfrog-cli does since its #271.

Where things go:

- `jfrog-url` defaults to the publish URL up to its `/artifactory/` segment (`https://acme.jfrog.io/artifactory/api/
  pypi/pypi-local` -> `https://acme.jfrog.io`): the publish URL's own origin. Set explicitly, it may name another
  origin (a platform reached under another name than the repository, behind a proxy): it is the workflow author's
  input, as the publish URL is, and only the ID token goes there. It must be http(s) without user info, query or
  fragment, and plain http is refused unless loopback or `allow-insecure-http`, as for trusted publishing.
- The access token goes to the publish URL's origin only (credentials.Credentials.origin), never to `jfrog-url`'s
  nor to the check URL (which reads with UV_INDEX_<NAME>_* or user info, as always).
- The ID token, the access token (and its Basic form, credentials.mask_wire_forms) and the username are masked
  before anything else is printed. Mappings can issue tokens that last seconds: exchange.RenewingToken exchanges
  again before a request would go out within a minute of the expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

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
from publisher.auth.model import Credentials, mask_wire_forms
from publisher.config.settings import Settings
from publisher.config.urls import AMBIGUOUS_HINT, ambiguous_userinfo, display, origin, sends_in_clear, url_problem
from publisher.net.bodies import json_value
from publisher.net.retry import RetryPolicy, policy_from
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError, JFrogOidcError

TOKEN_PATH = "/access/api/v1/oidc/token"  # noqa: S105 - a path, not a secret
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URN, not a secret
DOCS_URL = "https://jfrog.com/help/r/jfrog-platform-administration-documentation/openid-connect-integration"
INTEGRATIONS = "Administration > General Management > Manage Integrations"

# The claims identity mappings match on most, per source (shown when JFrog refuses; never the token itself).
MAPPING_CLAIMS: dict[identity.Source, tuple[str, ...]] = {
    "github": ("repository", "ref", "workflow_ref", "environment", "sub"),
    "gitlab": ("project_path", "ref_path", "ci_config_ref_uri", "environment", "sub"),
}
_RUN = {"github": "workflow run", "gitlab": "pipeline"}


def purpose(settings: Settings) -> Purpose:
    """The words of JFrog OIDC's messages, in the front end's spelling of its inputs."""
    provider = safe.code(settings.jfrog_oidc_provider_name, 200)
    return Purpose(
        name="JFrog OIDC",
        activity="the JFrog OIDC token exchange",
        comment="JFrog OIDC",
        then=f"Then map this repository to the OIDC integration {provider} in JFrog (an identity mapping whose claims "
        f"JSON names it: {INTEGRATIONS}).",
        instead=f"remove {settings.label('jfrog-oidc-provider-name')} and pass a username and password "
        "(UV_INDEX_<NAME>_USERNAME / _PASSWORD) instead.",
        error=JFrogOidcError,
    )


@dataclass(frozen=True)
class Config:
    """What the exchange needs, validated before any request."""

    provider: str
    audience: str | None
    project_key: str | None
    platform_url: str  # no trailing slash; the exchange's URL is platform_url + TOKEN_PATH
    explicit: bool  # jfrog-url was given (else taken from the publish URL)

    @property
    def token_url(self) -> str:
        return self.platform_url + TOKEN_PATH


@dataclass(frozen=True)
class Grant:
    """What an exchange gave: the upload's username and access token (both masked), and its expiry."""

    username: str = field(repr=False)
    access_token: str = field(repr=False)
    expires: float | None


def platform_url_from(publish_url: str) -> str | None:
    """The publish URL up to its `/artifactory/` segment (`https://h/artifactory/api/pypi/r` -> `https://h`; under a
    prefix, `https://h/jfrog/artifactory/...` -> `https://h/jfrog`), without user info; None without that segment."""
    parts = urlsplit(display(publish_url))
    segments = parts.path.split("/")
    for position, segment in enumerate(segments):
        if segment.lower() == "artifactory" and position > 0:
            prefix = "/".join(segments[:position]).rstrip("/")
            return urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    return None


def config(settings: Settings, publish_url: str) -> Config | None:
    """The exchange's configuration, or None when `jfrog-oidc-provider-name` is not set. Bad values are exit 2."""
    provider = settings.jfrog_oidc_provider_name
    if not provider:
        return None
    url_setting = settings.label("jfrog-url")
    if settings.jfrog_url:
        url = settings.jfrog_url
        problem = url_problem(url)
        if problem is not None:
            raise ConfigError(
                f"{url_setting} {display(url)!r} {problem}.",
                hint=AMBIGUOUS_HINT
                if ambiguous_userinfo(url)
                else "Give the JFrog Platform's base URL, e.g. https://acme.jfrog.io.",
            )
        parts = urlsplit(url)
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                f"{url_setting} {display(url)!r} has user info, a query or a fragment: it must be the JFrog Platform's "
                "base URL only.",
                hint="Give the base URL, e.g. https://acme.jfrog.io: the OIDC exchange needs no other credential than "
                "the ID token.",
            )
        platform = url.rstrip("/")
    else:
        derived = platform_url_from(publish_url)
        if derived is None:
            raise ConfigError(
                f"{settings.label('jfrog-oidc-provider-name')} is set, but {url_setting} is not, and the publish URL "
                f"{display(publish_url)} has no `/artifactory/` segment to take the JFrog Platform's URL from.",
                hint=f"Set {url_setting} (JFROG_URL on the command line) to the JFrog Platform's base URL, the part of "
                "an Artifactory URL before `/artifactory/`, e.g. https://acme.jfrog.io.",
            )
        platform = derived
    if sends_in_clear(platform, settings.allow_insecure_http):
        raise ConfigError(
            f"Refusing the JFrog OIDC token exchange over plain http to {origin(platform)}: the OIDC token would cross "
            "the network readable by anyone on the path, and it can be exchanged for a JFrog access token until it "
            "expires.",
            hint=f"Use the platform's https:// URL ({url_setting}). If this network is trusted (a private build "
            f"network), set {settings.turned_on('allow-insecure-http')}.",
        )
    return Config(
        provider,
        settings.jfrog_oidc_audience or None,
        settings.jfrog_project_key or None,
        platform,
        explicit=bool(settings.jfrog_url),
    )


def username_from(answer: object, access_token: str) -> str:
    """The upload's username: the answer's `username`, else from the access token's `sub` as setup-jfrog-cli reads
    it (see the module docstring), else empty."""
    given = field_of(answer, "username")
    if given:
        return given
    subject = decode_claims(access_token).get("sub")
    if not isinstance(subject, str) or not subject:
        return ""
    if subject.startswith("jfrt@") or "/users/" in subject:
        return subject.rsplit("/", 1)[-1]
    return subject


_REFUSED = """\
The platform at {platform} refused to exchange {issuer}'s OIDC token for an access token ({status}). It said:

{reasons}

Either the JFrog Platform has no OIDC integration named {provider} (the name is case-sensitive), or none of its \
identity mappings{project} matches this {run}: every claim named in a mapping's claims JSON must equal the claim of \
the same name in the token. The token's claims that mappings usually name, shown for debugging only (the token \
itself is never shown):

{claims}"""

_REFUSED_HINT = """\
Compare {provider_setting} with the integration's Provider Name, and the claims above with the claims JSON of its \
identity mappings, in JFrog ({integrations}). A run from a fork or another branch carries other claims than the \
mapping names, by design. See {docs}"""

_AUDIENCE = """\
The platform at {platform} refused the OIDC token for the integration {provider} ({status}). It said:

{reasons}

The `audience` of the exchange does not match the integration's Audience. This run {asked}. The token's `aud` claim \
is {aud}."""

_AUDIENCE_HINT = """\
Set {audience_setting} to the Audience configured on the OIDC integration {provider} in JFrog ({integrations}; \
JFrog's examples use `jfrog-github`), or leave both empty. The same value is requested from the CI system and sent \
as `audience`; in GitLab CI it also names the variable that holds the token (`<AUDIENCE>_ID_TOKEN`)."""

_UNEXPECTED = """\
The platform at {platform} answered the OIDC token exchange ({url}) with an unexpected {status} response ({detail})."""

_UNEXPECTED_HINT = """\
The OIDC token exchange needs Artifactory Cloud 7.73.1 or self-hosted 7.77.3 or later. Check that {url_setting} is \
the JFrog Platform's base URL (the part before `/artifactory/`); a 5xx points at the platform or a proxy: re-run \
later."""

_UNREACHABLE_HINT = """\
Check {url_setting} (or the publish URL it is taken from), and that the runner can reach the JFrog Platform and the CI \
system's token service (proxy, firewall, DNS), then re-run the job."""


class JFrogExchange(Exchange):
    """JFrog's exchange: an ID token for the configured audience, traded for an access token."""

    def __init__(
        self,
        client: httpx.Client,
        console: Console,
        policy: RetryPolicy,
        settings: Settings,
        cfg: Config,
        environ: Mapping[str, str],
    ) -> None:
        unreachable = _UNREACHABLE_HINT.format(url_setting=settings.label("jfrog-url"))
        super().__init__(client, console, policy, purpose(settings), unreachable)
        self.settings, self.config, self.environ = settings, cfg, environ

    def body(self, jwt: str) -> dict[str, str]:
        body = {
            "grant_type": GRANT_TYPE,
            "subject_token_type": SUBJECT_TOKEN_TYPE,
            "subject_token": jwt,
            "provider_name": self.config.provider,
        }
        if self.config.project_key:
            body["project_key"] = self.config.project_key
        if self.config.audience:
            body["audience"] = self.config.audience
        return body

    def grant(self) -> Grant:
        """One exchange (retried with a fresh ID token under the retry policy), masked, or the reported failure."""
        tokens: list[IdToken] = []

        def id_token() -> str:
            setting = self.settings.label("jfrog-oidc-audience")
            destination = Destination(origin(self.config.platform_url), "settings")
            tokens.append(
                identity.fetch(self, self.environ, self.config.audience, destination, audience_setting=setting)
            )
            return tokens[-1].value

        response, _ = self.post_with_id_token(
            self.config.token_url, self.body, id_token, what="JFrog OIDC token exchange", side="JFrog"
        )
        return self.granted(response, tokens[-1])

    def granted(self, response: httpx.Response, token: IdToken) -> Grant:
        payload = json_value(response)
        access_token = token_field(payload, "access_token")
        if response.status_code == 200 and access_token:
            self.console.mask(access_token)
            for other in ("refresh_token", "reference_token", "id_token"):  # secrets too, should JFrog add them
                self.console.mask(field_of(payload, other))
            username = username_from(payload, access_token)
            self.console.mask(username)
            mask_wire_forms(Credentials(username, access_token, "jfrog-oidc", ""), self.console)
            expires_in = payload.get("expires_in") if isinstance(payload, dict) else None
            expires = expires_at(expires_in, relative=True) or expires_at(
                decode_claims(access_token).get("exp"), relative=False
            )
            self.expires = expires
            return Grant(username, access_token, expires)
        errors = payload.get("errors") if isinstance(payload, dict) else None
        final = response.status_code == 429 or response.status_code >= 500  # after the retries: not a refusal
        if response.status_code == 200 or not isinstance(errors, list) or not errors or final:
            detail = NO_TOKEN if response.status_code == 200 else body_detail(response)
            message = _UNEXPECTED.format(
                platform=self.config.platform_url,
                url=self.config.token_url,
                status=status_of(response),
                detail=detail,
            )
            hint = _UNEXPECTED_HINT.format(url_setting=self.settings.label("jfrog-url"))
            raise self.fail("JFrog OIDC: unexpected answer", message, hint)
        raise self.refused(response, errors, token)

    def refused(self, response: httpx.Response, errors: list[object], token: IdToken) -> JFrogOidcError:
        reasons = registry_reasons(errors, "message")
        listed = "\n".join(f"- {safe.code(code)}: {safe.code(words)}" for code, words in reasons)
        claims = decode_claims(token.value)
        provider = safe.code(self.config.provider, 200)
        names = {"platform": self.config.platform_url, "status": status_of(response), "reasons": listed}
        short_reasons = "; ".join(f"{code}: {words}" for code, words in reasons)
        if any("invalid audience" in words.lower() for _, words in reasons):  # JFrog's documented words
            audience = self.config.audience
            setting = self.settings.label("jfrog-oidc-audience")
            asked = (
                f"asked {token.issuer} for the audience {safe.code(audience, 200)} ({setting}) and sent it as "
                "`audience`"
                if audience
                else f"asked {token.issuer} for no particular audience ({setting} is empty, so {token.issuer}'s "
                "default applies) and sent no `audience`"
            )
            aud = claims.get("aud")
            details = _AUDIENCE.format(provider=provider, asked=asked, aud=safe.code(_text(aud), 300), **names)
            hint = _AUDIENCE_HINT.format(audience_setting=setting, provider=provider, integrations=INTEGRATIONS)
            short = f"The platform at {self.config.platform_url} refused the OIDC token's audience: {short_reasons}"
            error = self.fail("JFrog OIDC: invalid audience", details, hint, short=short)
        else:
            project = (
                f" (of the project {safe.code(self.config.project_key, 100)}, or global)"
                if self.config.project_key
                else ""
            )
            details = _REFUSED.format(
                issuer=token.issuer,
                provider=provider,
                project=project,
                run=_RUN[token.source],
                claims=render_claims(claims, MAPPING_CLAIMS[token.source]),
                **names,
            )
            hint = _REFUSED_HINT.format(
                provider_setting=self.settings.label("jfrog-oidc-provider-name"),
                integrations=INTEGRATIONS,
                docs=DOCS_URL,
            )
            platform = self.config.platform_url
            short = f"The platform at {platform} refused the OIDC token for provider {provider}: {short_reasons}"
            error = self.fail("JFrog OIDC: token exchange refused", details, hint, short=short)
        assert isinstance(error, JFrogOidcError)
        return error


def _text(value: object) -> str:
    if value is None:
        return "MISSING"
    return value if isinstance(value, str) else str(value)


def exchange(
    cfg: Config,
    publish_url: str,
    environ: Mapping[str, str],
    console: Console,
    *,
    settings: Settings,
    renewal: bool = False,
) -> Grant:
    """One whole exchange: an ID token, traded at JFrog for an access token (masked, as are its Basic form, the ID
    token and the username). Raises JFrogOidcError: exit 2 when no ID token can exist here, 1 when the exchange
    failed. A `renewal` logs into the upload's group (exchange.section)."""
    source = identity.prepare(environ, purpose(settings), console)
    with open_client(environ, native_tls=settings.native_tls) as client:
        jfrog = JFrogExchange(client, console, policy_from(settings.retries, environ), settings, cfg, environ)
        title = f"JFrog OIDC: exchanging a {identity.ISSUERS[source]} OIDC token at {cfg.platform_url}"
        with section(console, title, renewal=renewal):
            grant = jfrog.grant()
            validity = until(grant.expires) or "its expiry unknown: renewed every 15 minutes"
            console.info(
                f"Got a short-lived JFrog access token from the OIDC integration {safe.code(cfg.provider, 200)} "
                f"({validity}), for uploads to {origin(publish_url)} only."
            )
    return grant
