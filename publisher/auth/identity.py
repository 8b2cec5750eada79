"""Where an ID token comes from: the CI system's identity for this job, for any audience (ambient credentials).

Exchanges (trusted_publishing.py, jfrog.py; exchange.py holds what they share) ask here for an OpenID Connect ID
token with the audience their registry wants, and a later one (Sigstore signing: audience `sigstore`) can too, through
:func:`id_token`, each naming where the token will go: audiences.py decides first whether that audience may be
requested (or read) for that destination. Two sources, tried in this order, as pypa's `id` library and uv try them:

- **GitHub Actions**: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>` with `Authorization: bearer
  $ACTIONS_ID_TOKEN_REQUEST_TOKEN` -> `{"value": <JWT>}`. GitHub sets both variables only for jobs with
  `permissions: id-token: write`, never for a pull request from a fork. Without an audience, GitHub's default applies
  (the repository owner's URL), as setup-jfrog-cli requests it. Every call gets a new token.
- **GitLab CI** (`GITLAB_CI` set): the job's `id_tokens:` put each token in a variable named after its audience,
  `<AUDIENCE>_ID_TOKEN`: upper-cased, every character but ASCII letters, digits and `_` (and a leading digit) turned
  into `_` (`pypi` -> `PYPI_ID_TOKEN`, `testpypi` -> `TESTPYPI_ID_TOKEN`, `sigstore` -> `SIGSTORE_ID_TOKEN`), the
  rule of `id` and uv. One token per audience for the whole job: there is no fresh one to ask for.

Why not pypa's `id` library (1.6: GitHub, GitLab, Buildkite, CircleCI, Google Cloud): it would bring urllib3, a second
HTTP stack outside this project's rules (a total deadline per request, answers read up to a cap, proxies as for
uploads, cut on cancellation, retry.py's one retry policy); it reads `os.environ` rather than the environment the run
was given; its errors quote the token service's whole answer unbounded (`body=...`); and `detect_credential` probes
Google Cloud's metadata server over plain http by name and runs `buildkite-agent` / `circleci` when their variables
are set. What we need of it is two sources: the GitHub request (our client, our diagnostics) and GitLab's variable
name rule, reproduced here exactly. A third CI system is one more source in this module.

Every token is masked the moment it is held: anyone who sees an ID token can exchange it until it expires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from publisher.auth.audiences import Destination, check, check_claim, gitlab_variable
from publisher.auth.exchange import Exchange, Purpose, body_detail, decode_claims, open_client, status_of, token_field
from publisher.config.settings import Settings
from publisher.config.urls import Resolver, display, is_loopback, origin, scheme
from publisher.net.bodies import json_value
from publisher.net.retry import policy_from
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError, TokenExchangeError

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name, not a secret
GITLAB_CI = "GITLAB_CI"

GITHUB_PERMISSIONS_URL = (
    "https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/"
    "about-security-hardening-with-openid-connect#adding-permissions-settings"
)
GITLAB_ID_TOKENS_URL = "https://docs.gitlab.com/ci/secrets/id_token_authentication/"

Source = Literal["github", "gitlab"]
ISSUERS: dict[Source, str] = {"github": "GitHub", "gitlab": "GitLab"}

# The claims each source's tokens identify a job by: what registries match on, and what people get wrong most.
GITHUB_CLAIMS = (
    "sub",
    "repository",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "job_workflow_ref",
    "ref",
    "environment",
)
GITLAB_CLAIMS = ("sub", "project_path", "namespace_path", "ci_config_ref_uri", "ref_path", "environment")

_GITLAB_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*_ID_TOKEN")

# Events that run with a fork's restricted permissions (no secrets, no ID token) when the pull request comes from a
# fork. Not `pull_request_target` nor `workflow_run`: those run in the base repository and can get a token.
_EVENTS_FROM_PULL_REQUESTS = frozenset({"pull_request", "pull_request_review", "pull_request_review_comment"})


@dataclass(frozen=True)
class IdToken:
    """An ID token (already masked) and the CI system that issued it, for the messages about it."""

    value: str = field(repr=False)
    source: Source

    @property
    def issuer(self) -> str:
        """`GitHub` or `GitLab`, as messages name the issuer (`GitHub's OIDC token`)."""
        return ISSUERS[self.source]


# ---- which source ------------------------------------------------------------------------------------------------


def github_available(environ: Mapping[str, str]) -> bool:
    """GitHub sets both variables only for jobs with `permissions: id-token: write`."""
    return bool(environ.get(REQUEST_URL)) and bool(environ.get(REQUEST_TOKEN))


def in_gitlab_ci(environ: Mapping[str, str]) -> bool:
    return bool((environ.get(GITLAB_CI) or "").strip())


def source(environ: Mapping[str, str]) -> Source | None:
    """Where this job's ID tokens come from: GitHub when it may request them, else GitLab CI, else nowhere."""
    if github_available(environ):
        return "github"
    if in_gitlab_ci(environ):
        return "gitlab"
    return None


def gitlab_has_id_tokens(environ: Mapping[str, str]) -> bool:
    """Whether the job declared any `id_tokens:` (a variable `<NAME>_ID_TOKEN` holding something)."""
    return any(_GITLAB_VARIABLE.fullmatch(name) and value.strip() for name, value in environ.items())


def shown_claims(token: IdToken) -> tuple[str, ...]:
    """The claims worth showing for a token of this source."""
    return GITLAB_CLAIMS if token.source == "gitlab" else GITHUB_CLAIMS


# ---- why there is no token ---------------------------------------------------------------------------------------

_PERMISSION_MESSAGE = """\
This job cannot request an OpenID Connect (OIDC) token from GitHub for {activity}: {request_url} and \
{request_token} are not set in it. GitHub sets them only for jobs that are allowed to request an ID token."""

_PERMISSION_HINT = """\
Give the publishing job permission to request the token, at the job level of the workflow:

    jobs:
      publish:
        permissions:
          id-token: write  # {comment}
          contents: read   # listing any permission drops the others; keep this if the job checks out code

{then} See {url}"""

_NOT_IN_CI_MESSAGE = """\
This is not a GitHub Actions job ({request_url} and {request_token} are not set) nor a GitLab CI job ({gitlab_ci} \
is not set), so there is no OpenID Connect (OIDC) token for {activity}."""

_FORK_MESSAGE = """\
This run was triggered by `{event}` for a pull request from the fork `{head}` into `{base}`. GitHub never gives \
workflows running for pull requests from forks an OIDC token, whatever the workflow's `permissions` say, so \
{activity} cannot work here. Publishing from a pull request would also release code nobody has merged."""

_FORK_HINT = """\
Publish from a trigger that runs in your own repository: a tag push (`on: push: tags: ["v*"]`), a release \
(`on: release: types: [published]`) or `workflow_dispatch`. Keep building and testing pull requests, but skip \
the publish step for them (`if: github.event_name != 'pull_request'`)."""

_GITLAB_MISSING = """\
This GitLab CI job has no {variable} variable, so no OpenID Connect (OIDC) token with the audience {audience} for \
{activity}: GitLab gives a job ID tokens only for the audiences its `id_tokens:` lists."""

_GITLAB_NO_AUDIENCE = """\
The audience of the ID token for {activity} is not known in this GitLab CI job: GitLab puts each of the job's \
`id_tokens:` in a variable named after its audience (`<AUDIENCE>_ID_TOKEN`), and {setting} is not set."""

_GITLAB_HINT = """\
Declare the ID token in the publishing job of `.gitlab-ci.yml`:

    publish:
      id_tokens:
        {variable}:
          aud: {audience}

{then} See {url}"""

_GITHUB_REFUSED = """\
GitHub refused to issue an OIDC token for {audience} ({status}). GitHub said: {detail}"""

_GITHUB_REFUSED_HINT = f"""\
The job must have `permissions: id-token: write`, and the token can only be requested while the job runs. If the \
permission is set, this may be a GitHub outage: re-run the job. See {GITHUB_PERMISSIONS_URL}"""

_GITHUB_MALFORMED = """\
GitHub's OIDC token service answered {status} without a token in the response."""


def fork_pull_request(environ: Mapping[str, str]) -> dict[str, str] | None:
    """`{event, head, base}` when this run is for a pull request from a fork, read from the event payload."""
    event = environ.get("GITHUB_EVENT_NAME", "")
    path = environ.get("GITHUB_EVENT_PATH")
    if event not in _EVENTS_FROM_PULL_REQUESTS or not path:
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pull = _dig(payload, "pull_request")
    head_repo, base_repo = _dig(pull, "head", "repo"), _dig(pull, "base", "repo")
    head_name = _dig(head_repo, "full_name")
    base_name = _dig(base_repo, "full_name")
    if not isinstance(pull, dict) or not isinstance(base_name, str):
        return None
    is_fork = head_repo is None or _dig(head_repo, "fork") is True or head_name != base_name
    if not is_fork:
        return None
    return {"event": event, "head": str(head_name or "a deleted fork"), "base": base_name}


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def fork_explanation(environ: Mapping[str, str], activity: str = "trusted publishing") -> tuple[str, str] | None:
    """(message, hint) when this run is for a pull request from a fork, which never gets an OIDC token."""
    fork = fork_pull_request(environ)
    if fork is None:
        return None
    return _FORK_MESSAGE.format(activity=activity, **fork), _FORK_HINT


def missing_error(environ: Mapping[str, str], purpose: Purpose) -> TokenExchangeError:
    """Why there is no ID token (exit 2): a fork pull request first (no permission fixes that), then the permission
    in GitHub Actions, then not in a CI system that issues them. GitLab's missing variable: :func:`gitlab_missing`."""
    names = {
        "activity": purpose.activity,
        "request_url": REQUEST_URL,
        "request_token": REQUEST_TOKEN,
        "gitlab_ci": GITLAB_CI,
    }
    fork = fork_explanation(environ, purpose.activity)
    permission = _PERMISSION_MESSAGE.format(**names)
    if fork is not None:
        message, hint = fork
        return purpose.error(message + "\n\n" + permission, hint=hint, exit_code=2)
    if environ.get("GITHUB_ACTIONS") != "true":
        hint = f"Outside GitHub Actions and GitLab CI, {purpose.instead}"
        return purpose.error(_NOT_IN_CI_MESSAGE.format(**names), hint=hint, exit_code=2)
    hint = _PERMISSION_HINT.format(comment=purpose.comment, then=purpose.then, url=GITHUB_PERMISSIONS_URL)
    return purpose.error(permission, hint=hint, exit_code=2)


def gitlab_missing(purpose: Purpose, audience: str | None, setting: str = "") -> TokenExchangeError:
    """The GitLab job has no token for `audience` (or no audience was given to name the variable): exit 2, with the
    `id_tokens:` YAML to add."""
    shown = audience or "AUDIENCE"
    hint = _GITLAB_HINT.format(
        variable=gitlab_variable(shown), audience=safe.inline(shown, 200), then=purpose.then, url=GITLAB_ID_TOKENS_URL
    )
    if audience is None:
        return purpose.error(
            _GITLAB_NO_AUDIENCE.format(activity=purpose.activity, setting=setting), hint=hint, exit_code=2
        )
    variable = gitlab_variable(audience)
    message = _GITLAB_MISSING.format(activity=purpose.activity, audience=safe.code(audience, 200), variable=variable)
    return purpose.error(message, hint=hint, exit_code=2)


def refuse_insecure_request_url(environ: Mapping[str, str], instead: str, resolve: Resolver | None = None) -> None:
    """ACTIONS_ID_TOKEN_REQUEST_TOKEN is a bearer secret sent to ACTIONS_ID_TOKEN_REQUEST_URL: https only (GitHub
    always sets an https URL), or loopback. Not even allow-insecure-http lends it to a network in clear text."""
    url = environ.get(REQUEST_URL, "").strip()
    if scheme(url) == "https" or (scheme(url) == "http" and is_loopback(url, resolve)):
        return
    try:
        shown = origin(display(url)) if "://" in url else "a value that is not a URL"
    except ValueError:
        shown = "a URL with an invalid port"
    raise ConfigError(
        f"Refusing to request an OIDC token: {REQUEST_URL} is not an https:// URL (it points at {shown}), and "
        "the request would carry ACTIONS_ID_TOKEN_REQUEST_TOKEN, a bearer secret, readable on the network path.",
        hint=f"GitHub sets {REQUEST_URL} itself, to an https:// URL: check that no step, `env:` block or runner "
        f"configuration overrides it. Or {instead}",
    )


def prepare(environ: Mapping[str, str], purpose: Purpose, console: Console) -> Source:
    """Before any request: where the token will come from, or the error saying why none can (exit 2). Masks the
    GitHub request token."""
    found = source(environ)
    if found is None:
        raise missing_error(environ, purpose)
    if found == "github":
        console.mask(environ[REQUEST_TOKEN])
        refuse_insecure_request_url(environ, purpose.instead)
    return found


# ---- fetching ----------------------------------------------------------------------------------------------------


def with_audience(url: str, audience: str) -> str:
    """Append `audience=` to GitHub's request URL, which normally has a query string (`?api-version=2.0`) already."""
    parts = urlsplit(url)
    query = parts.query.rstrip("&")
    query = (query + "&" if query else "") + urlencode({"audience": audience})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _display(url: str) -> str:
    """GitHub's request URL without its query, for messages."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def fetch(
    exchange: Exchange,
    environ: Mapping[str, str],
    audience: str | None,
    destination: Destination,
    *,
    audience_setting: str = "",
) -> IdToken:
    """An ID token for `audience` (None: GitHub's default audience) from this job's source, to be sent to
    `destination` only, masked before this returns. An audience audiences.py refuses for that destination is
    reported (exit 1) before any token is requested or read. Other failures are reported through `exchange`
    (GitHub's refusals) or raised as configuration errors (no token can exist: exit 2). `audience_setting` names the
    setting that gives the audience, for the messages."""
    check(exchange, audience, destination, setting=audience_setting)
    found = prepare(environ, exchange.purpose, exchange.console)
    if found == "gitlab":
        return _from_gitlab(exchange, environ, audience, audience_setting)
    return _from_github(exchange, environ, audience)


def _from_gitlab(exchange: Exchange, environ: Mapping[str, str], audience: str | None, setting: str) -> IdToken:
    if audience is None:
        raise gitlab_missing(exchange.purpose, None, setting)
    variable = gitlab_variable(audience)
    value = (environ.get(variable) or "").strip()
    exchange.console.mask(environ.get(variable))
    exchange.console.mask(value)
    if not value:
        raise gitlab_missing(exchange.purpose, audience)
    check_claim(exchange, variable, audience, decode_claims(value).get("aud"))
    exchange.console.debug(f"Read the OIDC token for audience {safe.code(audience, 100)} from {variable}.")
    return IdToken(value, "gitlab")


def _from_github(exchange: Exchange, environ: Mapping[str, str], audience: str | None) -> IdToken:
    request_url, request_token = environ[REQUEST_URL], environ[REQUEST_TOKEN]
    exchange.console.mask(request_token)
    response = exchange.send(
        "GET",
        with_audience(request_url, audience) if audience is not None else request_url,
        what="GitHub OIDC token",
        side="GitHub",
        shown_url=_display(request_url),
        headers={"Authorization": f"bearer {request_token}"},
    )
    value = token_field(json_value(response), "value") if response.status_code == 200 else None
    if value:
        exchange.console.mask(value)
        return IdToken(value, "github")
    title = f"{exchange.purpose.name}: no OIDC token"
    if response.status_code == 200:
        raise exchange.fail(title, _GITHUB_MALFORMED.format(status=status_of(response)), _GITHUB_REFUSED_HINT)
    asked = f"audience {safe.code(audience, 200)}" if audience is not None else "the default audience"
    message = _GITHUB_REFUSED.format(audience=asked, status=status_of(response), detail=body_detail(response))
    raise exchange.fail(title, message, _GITHUB_REFUSED_HINT)


_UNREACHABLE_HINT = """\
Check that the runner can reach GitHub's token service (proxy, firewall, DNS), then re-run the job."""


def id_token(
    audience: str,
    destination: Destination,
    environ: Mapping[str, str],
    console: Console,
    *,
    settings: Settings,
    purpose: Purpose,
) -> IdToken:
    """An ID token for `audience` from whichever CI system this runs in, with this module's diagnostics: for a
    caller that needs the token itself (Sigstore signing asks for `sigstore`, for audiences.for_sigstore; in GitLab
    CI it is SIGSTORE_ID_TOKEN). Raises `purpose.error`: exit 2 when no token can exist here, 1 when the audience is
    refused for `destination` or the token service failed."""
    prepare(environ, purpose, console)
    with open_client(environ, native_tls=settings.native_tls) as client:
        exchange = Exchange(client, console, policy_from(settings.retries, environ), purpose, _UNREACHABLE_HINT)
        return fetch(exchange, environ, audience, destination)
