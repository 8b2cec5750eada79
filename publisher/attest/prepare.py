"""PEP 740 attestations around the upload: which dists carry one, made now or found beside them, and why not.

pypa's publish action signs each dist with Sigstore when it uploads to PyPI with trusted publishing, and writes
`<dist>.publish.attestation` into the packages directory, which breaks a second publish in the same job (pypa #319).
Here:

- With `attestations` on (the default), trusted publishing, and an index that takes attestations (PyPI, TestPyPI,
  or one whose Simple API says version 1.3 or later, PEP 740's), every dist is signed and verified (attest.py)
  before the first upload, kept in memory and sent in the upload form. Nothing is written to the packages directory.
- On but not possible (other credentials, an index that takes none): a notice says why, and the upload goes on
  without. It never fails for that.
- An existing `<dist>.publish.attestation` whose statement names this file's sha256 is sent as it is once it
  verifies as an index would verify it (planted.py: signature, certificate chain to the trust root, subject name and
  sha256, the job's trusted publisher where the job names one), whatever `attestations` and the credentials say;
  one that does not stops the run (exit 2). A stale one (another sha256) is replaced by a fresh one, with a warning,
  when signing; otherwise it stops the run (exit 2).

Light on purpose: sigstore and pypi-attestations load (publisher.attest.sign) only when there is something to sign.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import httpx

from publisher.auth.model import Credentials, ReadAuth
from publisher.config.settings import Settings
from publisher.config.target import Target
from publisher.config.urls import hostname
from publisher.dists.collect import Dist
from publisher.dists.digests import file_digests
from publisher.net.bodies import body_limit, json_value
from publisher.net.bounds import ANSWER_CAP
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import DistError, TokenExchangeError

if TYPE_CHECKING:
    from publisher.attest.sign import Signed, Trust

# Indexes known to take attestations; others say so through their Simple API (PEP 740 raised it to 1.3).
ACCEPTING_HOSTS = frozenset({"upload.pypi.org", "test.pypi.org", "upload.test.pypi.org"})
PROVENANCE_API = (1, 3)
AUDIENCE = "sigstore"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class AttestationError(TokenExchangeError):
    """No OIDC token for Sigstore could be had (exit 2 where none can exist, 1 when the token service failed)."""

    title = "Attestation failed"


@dataclass
class Prepared:
    """The dists as they will be uploaded (attestations attached), and what the summary reports about them."""

    dists: list[Dist]
    attested: dict[str, int | None] = field(default_factory=dict)  # file -> Rekor log index (None: from a file)
    notice: str | None = None


def subject_digest(document: object) -> tuple[str | None, str | None]:
    """(file name, sha256) an attestation's statement names, read without verifying anything or importing sigstore
    (None where unreadable): for telling a stale `.publish.attestation` from a current one."""
    import base64

    try:
        envelope = document["envelope"]  # type: ignore[index]
        statement = json.loads(base64.b64decode(envelope["statement"], validate=True))
        subject = statement["subject"][0]
        name, digest = subject.get("name"), subject.get("digest", {}).get("sha256")
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError):
        return None, None
    return (name if isinstance(name, str) else None), (digest if isinstance(digest, str) else None)


def _statement_sha256(dist: Dist) -> str | None:
    try:
        document = json.loads(dist.attestations or "[]")[0]
    except (IndexError, ValueError, RecursionError):
        return None
    return subject_digest(document)[1]


def why_not(settings: Settings, credentials: Credentials) -> str | None:
    """Why attestations cannot be made for this upload (None: they can, if the index takes them)."""
    if credentials.method != "trusted-publishing":
        return (
            f"attestations are signed with the job's OIDC identity, which needs trusted publishing; this upload "
            f"authenticates with {credentials.source} (auth method {credentials.method})"
        )
    return None


def notice_shown(settings: Settings, target: Target) -> bool:
    """ "No attestations were made" is worth a notice where attestations matter: PyPI and TestPyPI show them, so a
    release there without them is news; or where the user asked for them (`attestations` set explicitly). A
    password upload to a private index would otherwise say it on every run: there it is a verbose line."""
    return hostname(target.publish_url) in ACCEPTING_HOSTS or "attestations" in settings.model_fields_set


def _what_to_do(settings: Settings, credentials: Credentials) -> str:
    """The notice's last sentence: what the user can do about it, in the front end's words."""
    off = settings.set_to("attestations", False)
    if credentials.method != "trusted-publishing":
        return (
            "The files are uploaded without attestations. To attest them, publish with trusted publishing instead "
            f"(no other credentials); to upload without them and without this notice, {off}."
        )
    return f"The files are uploaded without attestations; to upload without them and without this notice, {off}."


def index_takes_attestations(
    target: Target, client: httpx.Client, read: ReadAuth | None, console: Console, front_end: str
) -> bool:
    """PyPI and TestPyPI do; another index says so with PEP 740's Simple API version (1.3) at its check URL."""
    if hostname(target.publish_url) in ACCEPTING_HOSTS:
        return True
    if not target.check_url or read is None:
        return False
    from publisher.index import reads

    try:
        response = reads.get(
            client,
            target.check_url,
            read,
            what="The check URL",
            headers={"Accept": SIMPLE_JSON},
            extensions=body_limit(ANSWER_CAP),
            same_origin_only=True,
            front_end=front_end,
        )
    except (httpx.HTTPError, Exception) as exc:
        console.debug(
            f"  could not ask {safe.exact(target.check_url)} for its Simple API version: {safe.inline(exc, 200)}"
        )
        return False
    payload = json_value(response) if response.status_code == 200 else None
    meta = payload.get("meta") if isinstance(payload, dict) else None
    version = meta.get("api-version") if isinstance(meta, dict) else None
    try:
        parsed = tuple(int(part) for part in str(version).split(".")[:2])
    except ValueError:
        return False
    return parsed >= PROVENANCE_API


def check_existing(
    settings: Settings, credentials: Credentials, dists: list[Dist], environ: Mapping[str, str], console: Console
) -> None:
    """For a dry run: a stale attestation fails as the real run would, unless one would be signed in its place
    (nothing is signed in a dry run: a transparency-log entry is public and permanent); a current one is verified
    as the real run verifies it."""
    digests = {d.filename: file_digests(d.path).sha256 for d in dists if d.attestations}
    stale = _stale(dists, digests)
    if stale and not (settings.attestations and why_not(settings, credentials) is None):
        raise _stale_error(stale, settings)
    _verify_found([d for d in dists if d.attestations and d not in stale], digests, settings, environ, console)
    for dist in stale:
        console.warning(
            f"{safe.exact(dist.filename)}.publish.attestation names another sha256 than the file: the real run "
            "replaces it with a fresh attestation if the index takes them.",
            title="Stale attestation",
        )


def _stale(dists: list[Dist], digests: Mapping[str, str]) -> list[Dist]:
    return [d for d in dists if d.attestations and _statement_sha256(d) != digests[d.filename]]


def _stale_error(stale: list[Dist], settings: Settings) -> DistError:
    names = ", ".join(f"{safe.exact(d.filename)}.publish.attestation" for d in stale)
    return DistError(
        f"Stale attestation: {names} does not name the sha256 of the file beside it (rebuilt since it was made?).",
        hint=f"Delete it, or let this step make a fresh one ({settings.written('attestations', True)}, with trusted "
        "publishing to an index that takes them).",
    )


def prepare(
    settings: Settings,
    target: Target,
    credentials: Credentials,
    dists: list[Dist],
    environ: Mapping[str, str],
    console: Console,
    client: httpx.Client,
    read: ReadAuth | None,
) -> Prepared:
    """Attach attestations to the dists (signed and verified now, or found valid beside them), before any upload.

    Files are hashed here only when there is something to check or sign: an upload without attestations costs
    nothing more.
    """
    digests = {d.filename: file_digests(d.path).sha256 for d in dists if d.attestations}
    stale = _stale(dists, digests)
    reason = None
    if settings.attestations:
        reason = why_not(settings, credentials)
        if reason is None and not index_takes_attestations(target, client, read, console, settings.front_end):
            reason = (
                f"the index at {safe.exact(target.display_url)} does not take them (it is not PyPI or TestPyPI, "
                "and its Simple API does not say version 1.3)"
            )
    signing = settings.attestations and reason is None
    if stale and not signing:
        raise _stale_error(stale, settings)
    prepared = Prepared(list(dists))
    if settings.attestations and reason is not None:
        prepared.notice = f"No attestations were made: {reason}."
        said = f"{prepared.notice} {_what_to_do(settings, credentials)}"
        if notice_shown(settings, target):
            console.notice(said, title="Attestations")
        else:
            console.debug(said)
    kept = {d.filename for d in dists if d.attestations and d not in stale}
    trust = _verify_found([d for d in dists if d.filename in kept], digests, settings, environ, console)
    prepared.attested.update(dict.fromkeys(kept))
    for dist in stale:
        console.warning(
            f"{safe.exact(dist.filename)}.publish.attestation names another sha256 than the file: replaced by a "
            "fresh attestation (the file in the packages directory is left as it is).",
            title="Stale attestation",
        )
    to_sign = [d for d in dists if d.filename not in kept] if signing else []
    if not to_sign:
        return prepared
    digests.update({d.filename: file_digests(d.path).sha256 for d in to_sign if d.filename not in digests})
    signed = _sign(to_sign, digests, settings, environ, console, trust)
    by_name = {s.filename: s for s in signed}
    prepared.dists = [
        replace(d, attestations=json.dumps([by_name[d.filename].document], separators=(",", ":")))
        if d.filename in by_name
        else d
        for d in dists
    ]
    prepared.attested.update({s.filename: s.log_index for s in signed})
    return prepared


def _verify_found(
    found: list[Dist],
    digests: Mapping[str, str],
    settings: Settings,
    environ: Mapping[str, str],
    console: Console,
) -> Trust | None:
    """Attestations found beside the dists, verified before anything is sent (planted.py loads sigstore)."""
    if not found:
        return None
    from publisher.attest import planted

    with console.group(f"Attestations: verifying {len(found)} found beside the files"):
        return planted.verify_found(found, digests, settings, environ, console)


def _sign(
    dists: list[Dist],
    digests: Mapping[str, str],
    settings: Settings,
    environ: Mapping[str, str],
    console: Console,
    trust: Trust | None,
) -> list[Signed]:
    from publisher.attest import sign as attest
    from publisher.net.bounds import deadline_from
    from publisher.net.retry import policy_from

    trust = trust or attest.load_trust(environ, settings)
    token = sigstore_token(environ, console, settings, trust.fulcio)
    with console.group(f"Attestations: signing {len(dists)} file(s) with Sigstore ({trust.fulcio}, {trust.rekor})"):
        signed = attest.sign_all(
            [(d.path, digests[d.filename]) for d in dists],
            token,
            trust,
            environ,
            console,
            policy_from(settings.retries, environ),
            deadline_from(environ),
            settings,
        )
        for item in signed:
            index = f"transparency log index {item.log_index}" if item.log_index is not None else "logged"
            console.info(f"  {safe.exact(item.filename)}: signed and verified ({index})")
    return signed


def sigstore_token(environ: Mapping[str, str], console: Console, settings: Settings, fulcio: str) -> str:
    """An OIDC token with the audience `sigstore` from the CI this runs in (GitHub's token service, or GitLab CI's
    SIGSTORE_ID_TOKEN), masked before it is returned, with identity.py's diagnostics. The one request for that
    audience (audiences.for_sigstore): the token goes to Fulcio only, never to an index."""
    from publisher.auth import identity
    from publisher.auth.audiences import for_sigstore
    from publisher.auth.exchange import Purpose

    purpose = Purpose(
        name="Attestations",
        activity="signing attestations",
        comment="attestations and trusted publishing",
        then="The same permission gives trusted publishing its token.",
        instead=f"{settings.set_to('attestations', False)}.",
        error=AttestationError,
    )
    return identity.id_token(AUDIENCE, for_sigstore(fulcio), environ, console, settings=settings, purpose=purpose).value
