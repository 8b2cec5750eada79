"""Sign PEP 740 attestations with Sigstore and verify them, before the first upload.

Imported only when attesting: sigstore, pypi-attestations and what they pull in (requests, rfc3161, tuf, ...) are
never loaded by an upload without attestations (tests/test_import_cost.py).

For each dist: an in-toto statement naming the file and its sha256 is signed with an ephemeral key, whose
certificate Fulcio issues for the job's OIDC identity (audience `sigstore`); the signature is entered in Rekor's
transparency log; the result is verified at once against the same trust root and the identity this job's token
names (the certificate's SAN and issuer, and the repository). Only then is it sent in the upload's `attestations`
field. Nothing is written to the packages directory.

sigstore talks to Fulcio, Rekor and TUF through clients of its own (requests, urllib3), with no deadline or byte cap
of their own: sigstore_http.install(), below, routes all of it through the guarded transport (answers capped, a total
deadline, proxies, abort_all) before any sigstore object exists. Each call (one certificate, one log entry, the TUF
refresh) runs in this thread within `PUBLISHER_REQUEST_DEADLINE` seconds in all (sigstore_http.bounded), so a service
that never answers, drips or floods cannot hang or bloat the job, and a cancellation stops it at once. Transient
failures (no answer, 5xx, 429) are retried with the one retry policy (retry.py); a refusal (4xx) is not.

`PUBLISHER_SIGSTORE_TRUST_CONFIG` names a `ClientTrustConfig` JSON (a private Sigstore deployment, or the tests'
offline stack); unset, the public-good production instance (its trust root comes through TUF).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from pypi_attestations import Attestation, AttestationError, Distribution
from sigstore.errors import Error as SigstoreError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityError, IdentityToken
from sigstore.sign import Signer, SigningContext
from sigstore.verify import Verifier
from sigstore.verify.policy import AllOf, Identity, OIDCSourceRepositoryURI, VerificationPolicy

from publisher.attest import sigstore_http
from publisher.auth.exchange import decode_claims
from publisher.config.settings import Settings
from publisher.net.bounds import DEADLINE_ENV, deadline_from
from publisher.net.retry import RetryPolicy, next_wait
from publisher.report import cancel, safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError, PublishError

sigstore_http.install()  # before any sigstore session or TUF updater exists: all of their HTTP is guarded

TRUST_CONFIG_ENV = "PUBLISHER_SIGSTORE_TRUST_CONFIG"
MAX_TRUST_CONFIG = 1024 * 1024
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"

T = TypeVar("T")


class AttestationFailed(PublishError):
    """Signing or verifying failed: exit 1, nothing uploaded."""

    title = "Attestation failed"


@dataclass(frozen=True)
class Expected:
    """The identity this job's certificate must carry: its SAN, issuer and (when known) source repository."""

    san: str
    issuer: str
    repository_uri: str | None = None

    def policy(self) -> VerificationPolicy:
        checks: list[VerificationPolicy] = [Identity(identity=self.san, issuer=self.issuer)]
        if self.repository_uri:
            checks.append(OIDCSourceRepositoryURI(self.repository_uri))
        return AllOf(checks)


@dataclass(frozen=True)
class Signed:
    """One verified attestation: the object as the upload form carries it, and where Rekor logged it."""

    filename: str
    document: dict[str, Any]
    log_index: int | None


@dataclass(frozen=True)
class Trust:
    """The trust config to sign and verify against, and its services' URLs for messages."""

    config: ClientTrustConfig
    fulcio: str
    rekor: str


PRODUCTION = ("https://fulcio.sigstore.dev", "https://rekor.sigstore.dev")


def load_trust(environ: Mapping[str, str], settings: Settings) -> Trust:
    """The trust config `PUBLISHER_SIGSTORE_TRUST_CONFIG` names, or the production instance's."""
    sigstore_http.use_native_tls(settings.native_tls)
    raw_path = environ.get(TRUST_CONFIG_ENV, "").strip()
    if not raw_path:
        try:
            with sigstore_http.bounded(deadline_from(environ)):
                return Trust(ClientTrustConfig.production(), *PRODUCTION)
        except PublishError:  # a cancellation
            raise
        except Exception as exc:  # TUF wraps whatever happened (a signal too) in its own errors
            cancel.check()
            raise AttestationFailed(
                f"Could not load Sigstore's production trust root (TUF): {_causes(exc)}",
                hint="Check that the runner can reach tuf-repo-cdn.sigstore.dev (through HTTPS_PROXY if it needs "
                f"one; raise {DEADLINE_ENV} for a slow link), or {settings.set_to('attestations', False)}.",
            ) from None
    path = Path(raw_path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_TRUST_CONFIG + 1)
    except OSError as exc:
        raise ConfigError(
            f"{TRUST_CONFIG_ENV} names {safe.exact(path)}, which cannot be read: {safe.inline(exc.strerror)}.",
            hint=f"Point {TRUST_CONFIG_ENV} at a Sigstore ClientTrustConfig JSON file, or unset it for the public "
            "instance.",
        ) from None
    if len(data) > MAX_TRUST_CONFIG:
        raise ConfigError(f"{TRUST_CONFIG_ENV}: {safe.exact(path)} is larger than {MAX_TRUST_CONFIG} bytes.")
    try:
        text = data.decode("utf-8")
        config = ClientTrustConfig.from_json(text)
        signing = json.loads(text).get("signingConfig", {})
    except (ValueError, UnicodeDecodeError, SigstoreError, AttributeError) as exc:
        raise ConfigError(
            f"{TRUST_CONFIG_ENV}: {safe.exact(path)} is not a Sigstore ClientTrustConfig: {safe.inline(exc, 300)}",
            hint="It must be application/vnd.dev.sigstore.clienttrustconfig.v0.1+json with a trustedRoot and a "
            "signingConfig whose services are currently valid.",
        ) from None
    return Trust(config, _first_url(signing, "caUrls", "Fulcio"), _first_url(signing, "rekorTlogUrls", "Rekor"))


def _first_url(signing: object, key: str, default: str) -> str:
    entries = signing.get(key) if isinstance(signing, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else None
    url = first.get("url") if isinstance(first, dict) else None
    return safe.exact(url, 200) if isinstance(url, str) else default


def expected_identity(claims: Mapping[str, Any], environ: Mapping[str, str], settings: Settings) -> Expected:
    """What Fulcio puts in this job's certificate, from the token it was given (GitHub or GitLab mapping), with the
    repository cross-checked against the job's own environment where the CI names it."""
    issuer = str(claims.get("iss", ""))
    if "job_workflow_ref" in claims:  # GitHub Actions: SAN = the (reusable) workflow that runs the job
        repository = environ.get("GITHUB_REPOSITORY") or claims.get("repository")
        uri = f"https://github.com/{repository}" if repository else None
        return Expected(f"https://github.com/{claims['job_workflow_ref']}", issuer, uri)
    if "ci_config_ref_uri" in claims:  # GitLab CI: SAN = the pipeline configuration at its ref
        project = environ.get("CI_PROJECT_PATH") or claims.get("project_path")
        host = issuer.removeprefix("https://").rstrip("/")
        uri = f"https://{host}/{project}" if project else None
        return Expected(f"https://{claims['ci_config_ref_uri']}", issuer, uri)
    raise AttestationFailed(
        f"The identity token (issuer {safe.inline(issuer, 200)}) is neither GitHub Actions' nor GitLab CI's: no "
        "certificate identity to verify attestations against.",
        hint="Attestations are made in GitHub Actions or GitLab CI jobs with trusted publishing; elsewhere, "
        f"{settings.set_to('attestations', False)}.",
    )


def _log_index(document: Mapping[str, Any]) -> int | None:
    try:
        value = document["verification_material"]["transparency_entries"][0]["logIndex"]
        return int(value)
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _causes(exc: BaseException) -> str:
    """An exception and what caused it, outermost first (TUF and sigstore wrap the error that says what happened)."""
    parts: list[str] = []
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        text = str(current) or type(current).__name__
        if not parts or text not in parts[-1]:
            parts.append(text)
        current, seen = current.__cause__ or current.__context__, seen + 1
    return safe.inline(": ".join(parts), 400)


def _service_failure(exc: BaseException) -> tuple[str, bool]:
    """What went wrong, in the service's own words where they can be found, and whether a retry may help."""
    response = None
    for cause in (exc, exc.__cause__, exc.__context__, *exc.args):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            response = cause.response
            break
    if response is not None:
        try:
            body = response.json()
            words = body.get("message") if isinstance(body, dict) else None
        except (ValueError, RecursionError):
            words = None
        # the whole (capped) body to safe.inline: secrets are redacted before anything is cut
        said = safe.inline(words or response.text or response.reason or "", 400)
        status = response.status_code
        return f"{status} {safe.inline(response.reason or '', 100)}: {said}".strip(), status >= 500 or status == 429
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return safe.inline(exc, 300), True
    return safe.inline(f"{type(exc).__name__}: {exc}", 300), False


def _with_retries(call: Callable[[], T], policy: RetryPolicy, deadline: float, what: str, console: Console) -> T:
    """The one retry policy around a sigstore call: transient failures waited out, refusals raised at once."""
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            with sigstore_http.bounded(deadline):
                return call()
        except PublishError:  # a cancellation
            raise
        except Exception as exc:  # sigstore's clients raise their own classes, or requests' directly
            cancel.check()  # a signal that landed inside sigstore, wrapped in one of its errors
            reason, transient = _service_failure(exc)
            wait = next_wait(attempt, policy, time.monotonic() - started) if transient else None
            if wait is None:
                raise _ServiceError(what, reason, attempt) from None
            console.warning(f"{what}: {reason}; retry {attempt}/{policy.retries} in {wait:.1f}s.", title="Retrying")
            cancel.sleep(wait)


class _ServiceError(Exception):
    def __init__(self, what: str, reason: str, attempts: int) -> None:
        super().__init__(what, reason, attempts)
        self.what, self.reason, self.attempts = what, reason, attempts


def sign_all(
    dists: list[tuple[Path, str]],
    id_token: str,
    trust: Trust,
    environ: Mapping[str, str],
    console: Console,
    policy: RetryPolicy,
    deadline: float,
    settings: Settings,
) -> list[Signed]:
    """Sign each (path, sha256) with one Fulcio certificate, and verify every attestation; AttestationFailed if any
    step fails, before anything is uploaded."""
    try:
        token = IdentityToken(id_token)
    except IdentityError as exc:
        raise AttestationFailed(
            f"The OIDC token for Sigstore is not usable: {safe.inline(exc, 300)}",
            hint="It must have the audience `sigstore` and be current; re-run the job.",
        ) from None
    expected = expected_identity(decode_claims(id_token), environ, settings)
    context = SigningContext.from_trust_config(trust.config)
    verifier = Verifier(trusted_root=trust.config.trusted_root)
    signed: list[Signed] = []
    try:
        signer = _with_retries(  # one certificate for every dist (cache=True requests it now)
            lambda: Signer(token, context, cache=True),
            policy,
            deadline,
            f"Fulcio ({trust.fulcio}) issuing the signing certificate",
            console,
        )
        for path, sha256 in dists:
            dist = Distribution(name=path.name, digest=sha256)
            attestation = _with_retries(
                lambda dist=dist: Attestation.sign(signer, dist),  # type: ignore[misc]
                policy,
                deadline,
                f"Rekor ({trust.rekor}) logging the attestation of {safe.exact(path.name)}",
                console,
            )
            signed.append(_verified(attestation, dist, verifier, expected, console))
    except _ServiceError as exc:
        raise AttestationFailed(
            f"{exc.what} failed after {exc.attempts} attempt(s): {exc.reason}. Nothing was uploaded.",
            hint="A 4xx from Fulcio means it refused this job's identity (check the trust config and the token's "
            "issuer); a 5xx or no answer is an outage of the service: re-run the job, or "
            f"{settings.set_to('attestations', False)}.",
        ) from None
    except AttestationError as exc:
        raise AttestationFailed(
            f"Signing an attestation failed: {safe.inline(exc, 300)}. Nothing was uploaded.",
            hint=f"Re-run the job; if it persists, {settings.set_to('attestations', False)} and report it.",
        ) from None
    return signed


def _verified(
    attestation: Attestation, dist: Distribution, verifier: Verifier, expected: Expected, console: Console
) -> Signed:
    """Check the new attestation as a downloader would: Sigstore's verifier against the same trust root and this
    job's identity, then the statement's one subject against the file's name and sha256."""
    try:
        payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), expected.policy())
        statement = json.loads(payload)
        subjects = statement.get("subject")
        if payload_type != "application/vnd.in-toto+json" or not isinstance(subjects, list) or len(subjects) != 1:
            raise AttestationError("not a single-subject in-toto statement")
        if subjects[0].get("name") != dist.name or subjects[0].get("digest", {}).get("sha256") != dist.digest:
            raise AttestationError("its subject is not this file and sha256")
    except (SigstoreError, AttestationError, ValueError, AttributeError) as exc:
        raise AttestationFailed(
            f"What was just signed for {safe.exact(dist.name)} does not verify: {safe.inline(exc, 300)}. "
            "Nothing was uploaded.",
            hint=f"Expected the identity {safe.exact(expected.san)} from {safe.exact(expected.issuer)}; check "
            f"{TRUST_CONFIG_ENV} and that the token comes from this job.",
        ) from None
    document = json.loads(attestation.model_dump_json())
    claims = attestation.certificate_claims
    console.debug(
        f"  attested {safe.exact(dist.name)}: certificate SAN {safe.exact(expected.san)}, issuer "
        f"{safe.inline(claims.get('1.3.6.1.4.1.57264.1.8', expected.issuer), 200)}"
    )
    return Signed(dist.name, document, _log_index(document))
