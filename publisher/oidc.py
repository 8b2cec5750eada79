"""Trusted publishing (OIDC): GitHub ID token -> index audience -> minted upload token.

The protocol is PyPI's, shared by uv, twine and pypa's action, and any index may implement it:

1. GET `{origin}/_/oidc/audience` -> `{"audience": ...}` (404: not supported, 403: disabled on the index).
2. GET `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`
   -> `{"value": <JWT>}`. GitHub sets both variables only for jobs with `permissions: id-token: write`.
3. POST `{origin}/_/oidc/mint-token` `{"token": <JWT>}` -> `{"success": true, "token": "pypi-..."}`, or on refusal
   `{"message": ..., "errors": [{"code": ..., "description": ...}]}`.

PyPI's minted tokens live 15 minutes. We mint right before uploading (after every dist is validated), and
`RenewingToken` mints again when a request would go out within a minute of the expiry (as twine does), so a long
run of big uploads does not fail half way with 403. Each renewal asks GitHub for a new JWT: a JWT is single-use.

Both the JWT and the minted token are masked the moment we hold them and appear in no message: a JWT can be
exchanged for an upload token by anyone who sees it before it expires. Each failure of the exchange is reported
where it happens, as pypa's action does: an error annotation with the whole explanation and the same text in the
job summary. The TrustedPublishingError raised then is marked `reported` (run.main does not annotate it twice) and
carries a shorter message that credentials.py quotes when `automatic` mode falls through to missing credentials.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from packaging.utils import canonicalize_name

from publisher import USER_AGENT, safe
from publisher.bodies import json_value
from publisher.bounds import deadline_from
from publisher.console import Console
from publisher.errors import PublishError, TrustedPublishingError
from publisher.retry import Final, RetryPolicy, call_with_retries, describe, policy_from
from publisher.settings import Settings
from publisher.transport import client_routing
from publisher.urls import hostname, origin, sends_in_clear

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name, not a secret

TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# The claims PyPI matches a GitHub trusted publisher against, plus the ones people get wrong most often.
DISPLAYED_CLAIMS = (
    "sub",
    "repository",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "job_workflow_ref",
    "ref",
    "environment",
)

# Upload host -> the PyPI site whose settings pages register trusted publishers.
PYPI_SITES = {
    "upload.pypi.org": "https://pypi.org",
    "pypi.org": "https://pypi.org",
    "test.pypi.org": "https://test.pypi.org",
    "upload.test.pypi.org": "https://test.pypi.org",
}

DOCS_URL = "https://docs.pypi.org/trusted-publishers/"
TROUBLESHOOTING_URL = "https://docs.pypi.org/trusted-publishers/troubleshooting/"
GITHUB_PERMISSIONS_URL = (
    "https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/"
    "about-security-hardening-with-openid-connect#adding-permissions-settings"
)

_PERMISSION_MESSAGE = """\
This job cannot request an OpenID Connect (OIDC) token from GitHub: {request_url} and {request_token} are not \
set in it. GitHub sets them only for jobs that are allowed to request an ID token."""

_PERMISSION_HINT = f"""\
Give the publishing job permission to request the token, at the job level of the workflow:

    jobs:
      publish:
        permissions:
          id-token: write  # trusted publishing
          contents: read   # listing any permission drops the others; keep this if the job checks out code

Then register this workflow as a trusted publisher on the index. See {GITHUB_PERMISSIONS_URL}"""

_NOT_IN_ACTIONS_MESSAGE = """\
This is not a GitHub Actions job, so there is no OpenID Connect (OIDC) token to exchange ({request_url} and \
{request_token} are not set)."""

_NOT_IN_ACTIONS_HINT = """\
Outside GitHub Actions, pass an API token (--token / UV_PUBLISH_TOKEN) or a username and password (-u/-p, or \
UV_INDEX_<NAME>_USERNAME / _PASSWORD), and use --trusted-publishing automatic or never."""

_FORK_MESSAGE = """\
This run was triggered by `{event}` for a pull request from the fork `{head}` into `{base}`. GitHub never gives \
workflows running for pull requests from forks an OIDC token, whatever the workflow's `permissions` say, so \
trusted publishing cannot work here. Publishing from a pull request would also release code nobody has merged."""

_FORK_HINT = """\
Publish from a trigger that runs in your own repository: a tag push (`on: push: tags: ["v*"]`), a release \
(`on: release: types: [published]`) or `workflow_dispatch`. Keep building and testing pull requests, but skip \
the publish step for them (`if: github.event_name != 'pull_request'`)."""

_INSECURE_MESSAGE = """\
Refusing to send GitHub's OIDC token over plain http to {base}: it would cross the network readable by anyone on \
the path, and it can be exchanged for an upload token until it expires."""

_INSECURE_HINT = """\
Use the index's https:// URL. If this network is trusted (a private build network), set {allow}."""

_AUDIENCE_NOT_FOUND = """\
{url} answered 404 Not Found: the index at {base} does not support trusted publishing (it has no OIDC audience \
endpoint)."""

_AUDIENCE_NOT_FOUND_HINT = f"""\
Check that the publish URL points at the index you meant. If this index has no trusted publishing, authenticate \
with an API token (`token`) or a username and password instead, and set trusted-publishing to `never` so it is not \
attempted. PyPI and TestPyPI support it; see {DOCS_URL}"""

_AUDIENCE_FORBIDDEN = """\
{url} answered 403 Forbidden: the index at {base} supports trusted publishing but has it disabled, for everyone \
or for this client."""

_AUDIENCE_FORBIDDEN_HINT = """\
Trusted publishing may be switched off for maintenance or an incident; check the index's status page and re-run \
later, or authenticate with an API token (`token`) in the meantime."""

_AUDIENCE_UNEXPECTED = """\
{url} answered {status}: the index at {base} did not say which OIDC audience to request, so trusted publishing \
cannot start. {detail}"""

_SERVER_TROUBLE_HINT = """\
This points at a problem on the index (downtime, maintenance or a misconfigured proxy) rather than in your \
workflow. Wait a few minutes and re-run the job."""

_UNREACHABLE = """\
Could not reach {url} for trusted publishing after {attempts} attempt(s): {reason}."""

_UNREACHABLE_HINT = """\
Check the publish URL, and that the runner can reach the index and GitHub's token service (proxy, firewall, \
DNS), then re-run the job."""

_GITHUB_REFUSED = """\
GitHub refused to issue an OIDC token for audience `{audience}` ({status}). GitHub said: {detail}"""

_GITHUB_REFUSED_HINT = f"""\
The job must have `permissions: id-token: write`, and the token can only be requested while the job runs. If the \
permission is set, this may be a GitHub outage: re-run the job. See {GITHUB_PERMISSIONS_URL}"""

_GITHUB_MALFORMED = """\
GitHub's OIDC token service answered {status} without a token in the response."""

_MINT_REFUSED = """\
The index at {base} refused to exchange GitHub's OIDC token for an upload token ({status}). It said:

{reasons}

This usually means no trusted publisher registered on the index matches this workflow run: the owner, repository, \
workflow file name and environment must all be the same on both sides. Compare with the claims GitHub put in the \
token, shown for debugging only: do not copy them into the publisher unless they are what you expect.

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

# Events that run with a fork's restricted permissions (no secrets, no ID token) when the pull request comes from a
# fork. Not `pull_request_target` nor `workflow_run`: those run in the base repository and can get a token.
_EVENTS_FROM_PULL_REQUESTS = frozenset({"pull_request", "pull_request_review", "pull_request_review_comment"})


def available(environ: Mapping[str, str]) -> bool:
    """GitHub sets both variables only for jobs with `permissions: id-token: write`."""
    return bool(environ.get(REQUEST_URL)) and bool(environ.get(REQUEST_TOKEN))


def fork_explanation(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(message, hint) when this run is for a pull request from a fork, which never gets an OIDC token."""
    fork = fork_pull_request(environ)
    if fork is None:
        return None
    return _FORK_MESSAGE.format(**fork), _FORK_HINT


def missing_permission_error(environ: Mapping[str, str]) -> TrustedPublishingError:
    """Why there is no OIDC token: a fork pull request first (no permission fixes that), then not in Actions."""
    names = {"request_url": REQUEST_URL, "request_token": REQUEST_TOKEN}
    fork = fork_explanation(environ)
    if fork is not None:
        message, hint = fork
        return TrustedPublishingError(message + "\n\n" + _PERMISSION_MESSAGE.format(**names), hint=hint, exit_code=2)
    if environ.get("GITHUB_ACTIONS") != "true":
        return TrustedPublishingError(_NOT_IN_ACTIONS_MESSAGE.format(**names), hint=_NOT_IN_ACTIONS_HINT, exit_code=2)
    return TrustedPublishingError(_PERMISSION_MESSAGE.format(**names), hint=_PERMISSION_HINT, exit_code=2)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can replace time.sleep


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


def _field(value: object, key: str) -> str | None:
    """`value[key]` when `value` is a JSON object and that member a string, else None: JSON from an index or GitHub
    is read for the strings we expect in it; a number, list or nested object in their place reaches no message."""
    member = value.get(key) if isinstance(value, dict) else None
    return member if isinstance(member, str) else None


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def decode_claims(jwt: str) -> dict[str, Any]:
    """The JWT's payload, NOT verified: for display only. The index verifies the signature; we only explain."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def render_claims(claims: Mapping[str, Any]) -> str:
    """Markdown bullets, `MISSING` for absent claims, as pypa's action shows them."""
    return "\n".join(f"- `{name}`: `{claims.get(name, 'MISSING')}`" for name in DISPLAYED_CLAIMS)


def _workflow_file(ref: object) -> str | None:
    """`owner/repo/.github/workflows/release.yml@refs/tags/v1` -> `release.yml`."""
    if not isinstance(ref, str) or not ref:
        return None
    return ref.partition("@")[0].rsplit("/", 1)[-1] or None


def publisher_links(publish_url: str, claims: Mapping[str, Any], project_names: Sequence[str] = ()) -> list[str]:
    """PyPI's prefilled "add a trusted publisher" page: per project if names are known, else the pending form.

    Project names are normalised as PyPI spells them in its URLs (`Demo_Pkg` -> `demo-pkg`), each listed once.
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
        "links": "\n".join(f"- {link}" for link in links),
        "site": site,
        "environment": f"; also enter the environment name `{environment}`" if environment else "",
    }
    if not project_names:
        return _PENDING_PUBLISHER_LINK.format(**names)
    return _PUBLISHER_LINK.format(pending=f"{site}/manage/account/publishing/", **names)


def reusable_workflow_warning(claims: Mapping[str, Any]) -> str | None:
    workflow_ref, job_workflow_ref = claims.get("workflow_ref"), claims.get("job_workflow_ref")
    if not workflow_ref or not job_workflow_ref or workflow_ref == job_workflow_ref:
        return None
    return _REUSABLE_WORKFLOW_WARNING.format(
        workflow_ref=workflow_ref,
        job_workflow_ref=job_workflow_ref,
        job_workflow_file=_workflow_file(job_workflow_ref),
        troubleshooting=TROUBLESHOOTING_URL,
    )


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


def _body_detail(response: httpx.Response, limit: int = 300) -> str:
    """A short, printable account of a response body: its `message` if JSON, else its first characters."""
    payload = json_value(response)
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        text = payload["message"]
    else:
        text = " ".join(response.text.split())
    return safe.inline(text or "(empty body)", limit)


def _status(response: httpx.Response) -> str:
    return f"{response.status_code} {response.reason_phrase}".strip()


class _Exchange:
    """One token exchange: an HTTP client plus what every message needs (base URL, console, attempts)."""

    def __init__(self, client: httpx.Client, console: Console, publish_url: str, policy: RetryPolicy) -> None:
        self.client = client
        self.console = console
        self.publish_url = publish_url
        self.base = origin(publish_url)
        self.policy = policy
        self.expires: float | None = None  # epoch seconds, when the index says (PyPI does)

    def fail(
        self,
        title: str,
        details: str,
        hint: str,
        *,
        short: str | None = None,
        exit_code: int = 1,
        supported: bool = True,
    ) -> TrustedPublishingError:
        """Annotate and summarise the whole explanation; the exception carries the short form for quoting."""
        self.console.error(f"{details}\n\n{hint}", title=title)
        self.console.summary(f"### {title}\n\n{details}\n\n{hint}\n")
        error = TrustedPublishingError(short or details, hint=hint, exit_code=exit_code, supported=supported)
        error.reported = True
        return error

    def send(self, method: str, url: str, *, what: str, shown_url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried (retry.py's policy) on transport errors, 429 and 5xx; the last answer is returned."""

        def attempt() -> httpx.Response:
            self.console.debug(f"> {method} {shown_url}")
            response = self.client.request(method, url, **kwargs)
            self.console.debug(f"< {response.status_code} {method} {shown_url}")
            return response

        return self.answer(attempt, what, shown_url)

    def answer(self, attempt: Callable[[], httpx.Response], what: str, shown_url: str) -> httpx.Response:
        """Run `attempt` with retries; a host that never answered is reported (and raised) as unreachable."""
        try:
            final: Final[None] = call_with_retries(attempt, self.policy, self.console, what, sleep=_sleep)
        except httpx.TransportError as exc:  # not worth retrying: a TLS failure, a URL httpx cannot use
            final = Final(error=exc, attempts=1)
        if final.response is not None:
            return final.response
        assert final.error is not None
        side = "index" if shown_url.startswith(self.base) else "GitHub"
        message = _UNREACHABLE.format(url=shown_url, attempts=final.attempts, reason=describe(final.error))
        raise self.fail(f"Trusted publishing: {side} unreachable", message, _UNREACHABLE_HINT)

    def audience(self) -> str:
        url = f"{self.base}/_/oidc/audience"
        response = self.send("GET", url, what="Trusted publishing audience", shown_url=url)
        names = {"url": url, "base": self.base}
        if response.status_code == 404:
            message = _AUDIENCE_NOT_FOUND.format(**names)
            raise self.fail("Trusted publishing not supported", message, _AUDIENCE_NOT_FOUND_HINT, supported=False)
        if response.status_code == 403:
            message = _AUDIENCE_FORBIDDEN.format(**names)
            raise self.fail("Trusted publishing disabled", message, _AUDIENCE_FORBIDDEN_HINT, supported=False)
        audience = _field(json_value(response), "audience") if response.status_code == 200 else None
        if not isinstance(audience, str) or not audience:
            detail = "The answer held no audience." if response.status_code == 200 else _body_detail(response)
            message = _AUDIENCE_UNEXPECTED.format(status=_status(response), detail=detail, **names)
            raise self.fail("Trusted publishing: unexpected answer", message, _SERVER_TROUBLE_HINT)
        return audience

    def id_token(self, environ: Mapping[str, str], audience: str) -> str:
        """Ask GitHub for a JWT with this audience; masked before this returns."""
        request_url, request_token = environ[REQUEST_URL], environ[REQUEST_TOKEN]
        self.console.mask(request_token)
        response = self.send(
            "GET",
            with_audience(request_url, audience),
            what="GitHub OIDC token",
            shown_url=_display(request_url),
            headers={"Authorization": f"bearer {request_token}"},
        )
        value = _field(json_value(response), "value") if response.status_code == 200 else None
        if isinstance(value, str) and value:
            self.console.mask(value)
            return value
        if response.status_code == 200:
            message = _GITHUB_MALFORMED.format(status=_status(response))
            raise self.fail("Trusted publishing: no OIDC token", message, _GITHUB_REFUSED_HINT)
        message = _GITHUB_REFUSED.format(audience=audience, status=_status(response), detail=_body_detail(response))
        raise self.fail("Trusted publishing: no OIDC token", message, _GITHUB_REFUSED_HINT)

    def mint(self, environ: Mapping[str, str], audience: str, project_names: Sequence[str]) -> str:
        """Exchange a JWT for an upload token. A retry fetches a fresh JWT: PyPI refuses a JWT it has seen."""
        url = f"{self.base}/_/oidc/mint-token"
        jwts: list[str] = []

        def attempt() -> httpx.Response:
            jwts.append(self.id_token(environ, audience))
            self.console.debug(f"> POST {url}")
            response = self.client.post(url, json={"token": jwts[-1]})
            self.console.debug(f"< {response.status_code} POST {url}")
            return response

        response = self.answer(attempt, "Trusted publishing token exchange", url)
        return self.minted(response, jwts[-1], project_names)

    def minted(self, response: httpx.Response, jwt: str, project_names: Sequence[str]) -> str:
        """The token from a mint answer, masked; or the index's reasons with the claims that were sent."""
        payload = json_value(response)
        token = _field(payload, "token")
        if response.status_code == 200 and isinstance(token, str) and token:
            self.console.mask(token)
            expires = payload.get("expires") if isinstance(payload, dict) else None
            if isinstance(expires, int | float) and not isinstance(expires, bool) and math.isfinite(expires):
                self.expires = float(expires)
            return token
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if response.status_code == 200 or not isinstance(errors, list) or not errors:
            detail = "no token in the answer" if response.status_code == 200 else _body_detail(response)
            message = _MINT_MALFORMED.format(base=self.base, status=_status(response), detail=detail)
            raise self.fail("Trusted publishing: unexpected answer", message, _SERVER_TROUBLE_HINT)

        reasons = [  # the index's words: redacted (an index may quote the token back), one line each, bounded
            (safe.inline(_field(e, "code") or "unknown", 100), safe.inline(_field(e, "description") or "(none)", 500))
            for e in errors[:10]
        ]
        claims = decode_claims(jwt)
        warning = reusable_workflow_warning(claims)
        if warning:
            self.console.warning(warning, title="Trusted publishing from a reusable workflow")
        details = _MINT_REFUSED.format(
            base=self.base,
            status=_status(response),
            reasons="\n".join(f"- {safe.code(code)}: {safe.code(description)}" for code, description in reasons),
            claims=render_claims(claims),
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
) -> tuple[str, float | None]:
    """Run the exchange for `publish_url` and return the minted upload token (already masked) and
    its expiry (epoch seconds) when the index announces one, as PyPI does.

    `project_names`, when the caller knows them, make the "register a trusted publisher" link point at each
    project's settings page instead of the pending-publisher form. The token lasts 15 minutes on PyPI.
    """
    if not available(environ):
        raise missing_permission_error(environ)
    console.mask(environ[REQUEST_TOKEN])
    base = origin(publish_url)
    if sends_in_clear(base, settings.allow_insecure_http):
        hint = _INSECURE_HINT.format(allow=settings.turned_on("allow-insecure-http"))
        raise TrustedPublishingError(_INSECURE_MESSAGE.format(base=base), hint=hint, exit_code=2)
    policy = policy_from(settings.retries, environ)
    # The same guarded transport as uploads: a deadline per request, answers read up to 64 KiB, abort_all.
    routing = client_routing(deadline_from(environ))
    with httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=False, **routing) as client:
        exchange = _Exchange(client, console, publish_url, policy)
        with console.group(f"Trusted publishing: exchanging a GitHub OIDC token at {base}"):
            audience = exchange.audience()
            console.debug(f"OIDC audience: {safe.inline(audience, 200)}")
            token = exchange.mint(environ, audience, project_names)
            console.info(f"Minted a short-lived upload token ({_validity(exchange.expires)}).")
    return token, exchange.expires


DEFAULT_LIFETIME = 900.0  # PyPI's, assumed when an index does not say when its token expires
RENEW_MARGIN = 60.0  # mint again when a request would go out later than this before the expiry


class RenewingToken:
    """The minted token of a run, minted again shortly before it expires; shared by the upload threads.

    `renew` runs the whole exchange again (new JWT, new token) and returns `(token, expires)`; it masks what it
    gets. A failed renewal raises its TrustedPublishingError into the upload that needed the token.
    """

    def __init__(
        self,
        token: str,
        expires: float | None,
        renew: Callable[[], tuple[str, float | None]],
        *,
        clock: Callable[[], float] = time.time,
        margin: float = RENEW_MARGIN,
    ) -> None:
        self._lock = threading.Lock()
        self._renew, self._clock, self._margin = renew, clock, margin
        self._token, self._expires = token, self._expiry(expires)
        self._failure: PublishError | None = None
        self.renewals = 0

    def _expiry(self, expires: float | None) -> float:
        return expires if expires is not None else self._clock() + DEFAULT_LIFETIME

    def current(self) -> str:
        """The token to send now: the one held, or a new one when it expires within the margin.

        A failed renewal is reported once (by the exchange) and raised again to every later caller, rather than
        each waiting upload running the exchange (and its annotation) again.
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._clock() >= self._expires - self._margin:
                try:
                    token, expires = self._renew()
                except PublishError as exc:
                    self._failure = exc
                    raise
                self._token, self._expires = token, self._expiry(expires)
                self.renewals += 1
            return self._token


class RenewingAuth(httpx.Auth):
    """httpx auth sending `__token__` with the current minted token: BasicAuth whose password can change."""

    def __init__(self, token: RenewingToken) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = f"__token__:{self._token.current()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        yield request


def _validity(expires: float | None) -> str:
    if expires is None:
        return "valid for about 15 minutes on PyPI"
    try:
        until = datetime.fromtimestamp(expires, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "valid for about 15 minutes on PyPI"
    return f"valid until {until:%H:%M:%S} UTC"
