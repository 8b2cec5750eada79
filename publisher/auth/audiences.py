"""Which OIDC audience may be requested for which destination: the one rule every ID token passes (identity.fetch).

An ID token is a bearer credential for the service its audience names: whoever holds it can present it there as this
job until it expires. So the audience decides who may receive the token, and the party that tells us the audience
(PyPI's protocol lets the index answer it) must not be able to name another service's:

- **Sigstore** (`sigstore`): Fulcio would certify the holder as this workflow and let it sign attestations in the
  project's name. Only attestations.py asks for it (:func:`for_sigstore`), and that token goes to Sigstore only.
- **PyPI / TestPyPI** (`pypi`, `testpypi`): accepted only from their own hosts (PYPI_HOSTS). An index elsewhere that
  answered `pypi` would receive a token PyPI's mint-token accepts for this project's trusted publishers.
- **Cloud token exchanges** (AWS STS, Azure AD workload identity, Google Cloud IAM / STS) and **secret managers**
  (anything naming Vault): the token could be traded there for cloud credentials or secrets.
- **Other services' GitLab variables**: in GitLab CI the audience names the variable read (`<AUDIENCE>_ID_TOKEN`); an
  audience whose variable is one that guides tell users to declare for another service (SIGSTORE_ID_TOKEN,
  VAULT_ID_TOKEN, AWS_ID_TOKEN, ...) is refused whatever its spelling (`Sigstore`, `vault!`).
- **Any other index's answer** must name the index itself: its host name (`pkgs.example.com`) or an http(s) URL on
  that host (`https://pkgs.example.com`). An audience tied to the host the token is sent to cannot be one another
  service accepts, whatever services exist; a list of refused names alone could never be complete.

An audience from the workflow's own settings (`jfrog-oidc-audience`: the platform's integration decides it, JFrog's
examples use `jfrog-github`) passes the same lists but need not name the host: the workflow author chose it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from publisher.auth.exchange import Exchange
from publisher.config.urls import hostname, scheme
from publisher.report import safe
from publisher.report.wording import label, set_to

SIGSTORE = "sigstore"

# PyPI's and TestPyPI's audiences (warehouse's `oidc.audience`), and the only hosts that may answer them.
PYPI_HOSTS = {
    "PYPI": frozenset({"pypi.org", "upload.pypi.org"}),
    "TESTPYPI": frozenset({"test.pypi.org", "upload.test.pypi.org"}),
}

# Token-exchange audiences of cloud providers: AWS STS (`sts.amazonaws.com`, also in China's partitions), Azure AD
# workload identity federation (`api://AzureADTokenExchange`), Google Cloud IAM / STS (`//iam.googleapis.com/...`,
# `https://iam.googleapis.com/...`, `sts.googleapis.com`).
_CLOUD = re.compile(r"amazonaws\.com|^api://|azure|googleapis\.com|^(https:)?//iam\.", re.IGNORECASE)

# `<KEY>_ID_TOKEN` variables that belong to other services in GitLab CI: the names GitLab's and the services' own
# guides declare (Sigstore signing, Vault / OpenBao, the three clouds, other package registries' trusted publishing).
_OTHER_SERVICES = frozenset(
    {"SIGSTORE", "VAULT", "OPENBAO", "AWS", "AZURE", "GCP", "GOOGLE", "GCLOUD", "NPM", "NUGET", "RUBYGEMS", "CRATES_IO"}
)

_GITLAB_NAME = re.compile(r"[^A-Z0-9_]|^[^A-Z_]")  # `id`'s rule for the variable name: see identity.py


def gitlab_variable(audience: str) -> str:
    """The variable GitLab CI puts the ID token for `audience` in (`pypi` -> `PYPI_ID_TOKEN`), as `id` names it."""
    return _GITLAB_NAME.sub("_", audience.upper()) + "_ID_TOKEN"


@dataclass(frozen=True)
class Destination:
    """Where an ID token will be sent (`url`, an origin), and who chose its audience: the index's answer, the
    workflow's settings, or attestations.py for Sigstore."""

    url: str
    chosen_by: Literal["index", "settings", "sigstore"]
    front_end: str = "action"  # how a refusal's hint spells the settings it names (settings.label / set_to)


def for_sigstore(url: str) -> Destination:
    """Sigstore's own request (attestations): the one destination `sigstore` may be asked for."""
    return Destination(url, "sigstore")


def refusal(audience: str | None, destination: Destination) -> str | None:
    """Why an ID token for `audience` must not be requested (nor read) for `destination`, or None when it may.

    The words complete "the audience `X` is refused: ...". See the module docstring for the rule.
    """
    if destination.chosen_by == "sigstore":
        return None if audience == SIGSTORE else "only `sigstore` is requested for Sigstore"
    if audience is None:
        return None if destination.chosen_by == "settings" else "the index named no audience"
    if safe.has_unprintable(audience):
        return "it holds control or invisible characters, which no service's audience has"
    key = gitlab_variable(audience).removesuffix("_ID_TOKEN")
    host = hostname(destination.url)
    if key == "SIGSTORE":
        return (
            "it is Sigstore's audience: Fulcio would accept the token as this workflow's identity, and whoever holds "
            "it could sign attestations in the project's name. It is only ever sent to Sigstore"
        )
    if key in PYPI_HOSTS:
        if host in PYPI_HOSTS[key]:
            return None
        sites = " or ".join(sorted(PYPI_HOSTS[key]))
        return (
            f"it is {'PyPI' if key == 'PYPI' else 'TestPyPI'}'s audience, accepted only from {sites}, and this token "
            f"would go to {host or destination.url}: {'PyPI' if key == 'PYPI' else 'TestPyPI'} would accept it for "
            "this project's trusted publishers until it expires"
        )
    if _CLOUD.search(audience):
        return (
            "it is a cloud provider's token-exchange audience (AWS STS, Azure AD, Google Cloud IAM): the token "
            "could be traded there for cloud credentials"
        )
    if "VAULT" in key or key in _OTHER_SERVICES:
        return (
            "it names a secrets manager, a cloud or another registry: in GitLab CI it would read "
            f"{gitlab_variable(audience)}, a variable that belongs to that service, whose token must not go to a "
            "package index"
        )
    if destination.chosen_by == "index" and not _names_host(audience, host):
        return (
            f"an index other than PyPI must answer an audience that names its own host ({host or 'its host'}, or an "
            "http(s) URL on it), so that the token cannot be one another service accepts"
        )
    return None


def _names_host(audience: str, host: str) -> bool:
    """`pkgs.example.com`, or `https://pkgs.example.com[/...]`, for the index at pkgs.example.com."""
    if not host:
        return False
    if audience.lower() == host:
        return True
    try:
        return scheme(audience) in ("https", "http") and hostname(audience) == host
    except ValueError:  # not a URL urllib can split (`http://[x`)
        return False


# ---- the refusals ------------------------------------------------------------------------------------------------

_REFUSED_INDEX = """\
The index at {url} answered the OIDC audience {audience}, which is refused: {reason}. No token was requested or \
read."""

_REFUSED_SETTING = """\
Asking for the OIDC audience {audience} set in {setting} is refused: {reason}. No token was requested or read."""

_REFUSED_INDEX_HINT = """\
Check that the publish URL points at the index you meant: an index that answers another service's audience is \
misconfigured, or is not the index it claims to be. An index of your own that implements trusted publishing must \
answer an audience naming its host ({example}). Otherwise authenticate with an API token ({token}) and \
{never}."""

_REFUSED_SETTING_HINT = """\
Set {setting} to the audience configured on the OIDC integration itself (JFrog's examples use `jfrog-github`), never \
one that another service accepts, or leave it empty for the CI system's default audience."""

_OTHER_AUDIENCE = """\
The token in {variable} was issued for the audience (`aud`) {aud}, not {audience}, so it is not sent: GitLab names \
the variable after the audience of the job's `id_tokens:` entry, so this one was declared for another audience \
(another service's, perhaps), and a token goes only to the service its audience names."""

_OTHER_AUDIENCE_HINT = """\
Declare the token for {audience} under its own name in the publishing job's `id_tokens:` ({variable} with \
`aud: {audience_plain}`), and keep other services' tokens in their own variables."""


def check(exchange: Exchange, audience: str | None, destination: Destination, *, setting: str = "") -> None:
    """Raise (reported, exit 1) when :func:`refusal` refuses `audience` for `destination`: before any request."""
    reason = refusal(audience, destination)
    if reason is None:
        return
    shown = safe.code(audience, 200) if audience is not None else "(none)"
    if destination.chosen_by == "index":
        message = _REFUSED_INDEX.format(url=destination.url, audience=shown, reason=reason)
        hint = _REFUSED_INDEX_HINT.format(
            example=safe.code(hostname(destination.url) or "pkgs.example.com", 200),
            token=label("token", destination.front_end),
            never=set_to("trusted-publishing", "never", destination.front_end),
        )
    else:
        subject = setting or f"{exchange.purpose.name}'s request (for {destination.url})"
        message = _REFUSED_SETTING.format(setting=subject, audience=shown, reason=reason)
        hint = _REFUSED_SETTING_HINT.format(setting=setting or "the audience setting")
    raise exchange.fail(f"{exchange.purpose.name}: audience refused", message, hint)


def check_claim(exchange: Exchange, variable: str, audience: str, aud: object) -> None:
    """Raise (reported, exit 1) unless the token read from GitLab's `variable` was issued for `audience`: a variable
    whose name matches holds another service's token when the job declared it with another `aud:`."""
    if audience in (aud if isinstance(aud, list) else [aud]):
        return
    if isinstance(aud, list):
        held = ", ".join(safe.code(item, 200) for item in aud[:5]) or "empty"
    else:
        held = safe.code(aud, 200) if isinstance(aud, str) else "missing (the value is not an ID token)"
    shown = safe.code(audience, 200)
    message = _OTHER_AUDIENCE.format(variable=variable, aud=held, audience=shown)
    hint = _OTHER_AUDIENCE_HINT.format(audience=shown, variable=variable, audience_plain=safe.inline(audience, 200))
    raise exchange.fail(f"{exchange.purpose.name}: audience refused", message, hint)
