"""Attestations found beside the dists (`<dist>.publish.attestation`): verified as an index would before one is sent.

Such a file is outside input: an earlier step, a build tool or a downloaded artifact may have put it there. Its
statement naming the file's sha256 proves nothing, so it is sent only once it verifies the way PyPI verifies an
upload's attestation (pypi-attestations' `Attestation.verify`), whatever `attestations` and the credentials say:

- the DSSE signature verifies with the certificate's key; the certificate chains to the trust root's Fulcio CA
  (PUBLISHER_SIGSTORE_TRUST_CONFIG, else the public-good instance's root through TUF) and was valid when the
  transparency-log entry was made; the entry's proof verifies against the root's Rekor key;
- the statement has exactly one subject, named exactly this file, with this file's sha256, and a predicate type
  PyPI knows;
- the certificate's identity is this job's trusted publisher where the job names it: in GitHub Actions, the
  repository (GITHUB_REPOSITORY) and the workflow file of GITHUB_WORKFLOW_REF, checked as pypi-attestations'
  GitHubPublisher checks it; in GitLab CI, the project (CI_PROJECT_PATH) and its CI file (CI_CONFIG_PATH).
  Outside CI (a password upload from a laptop) nothing names the identity it should be: any identity the root's CA
  certified is accepted, and the index is left to check it (PyPI refuses an attestation that is not its trusted
  publisher's).

Anything else stops the run before the first upload (exit 2), with the reason. Loads sigstore (publisher.attest.sign):
imported only when such a file exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from publisher.attest import sign as attest
from publisher.config.settings import Settings
from publisher.dists.collect import ATTESTATION_SUFFIX, Dist
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import DistError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

IN_TOTO = "application/vnd.in-toto+json"
GITLAB = "https://gitlab.com"


class _AnyIdentity:
    """No identity to hold the certificate to (sigstore's own UnsafeNoOp logs a warning on every use)."""

    def verify(self, cert: Certificate) -> None:
        return None


def publisher_policy(environ: Mapping[str, str]) -> tuple[VerificationPolicy, str]:
    """The identity a found attestation must carry in this job (a policy, and its description for messages)."""
    from pypi_attestations import GitHubPublisher, GitLabPublisher
    from sigstore.verify.policy import AllOf, OIDCIssuerV2, OIDCSourceRepositoryURI

    if environ.get("GITHUB_ACTIONS") == "true":
        repository = environ.get("GITHUB_REPOSITORY", "")
        ref = environ.get("GITHUB_WORKFLOW_REF", "").partition("@")[0]
        workflow = ref.rpartition("/.github/workflows/")[2] if "/.github/workflows/" in ref else ""
        if repository and workflow:
            github = GitHubPublisher(repository=repository, workflow=workflow)
            # _as_policy: the policy Attestation.verify builds from a publisher (PyPI's check of an upload)
            return github._as_policy(), f"the workflow {safe.exact(workflow)} of {safe.exact(repository)}"
    if environ.get("GITLAB_CI") == "true" and environ.get("CI_PROJECT_PATH"):
        project, config = environ["CI_PROJECT_PATH"], environ.get("CI_CONFIG_PATH") or ".gitlab-ci.yml"
        server = (environ.get("CI_SERVER_URL") or GITLAB).rstrip("/")
        shown = f"the pipeline {safe.exact(config)} of {safe.exact(project)}"
        if server == GITLAB:
            return GitLabPublisher(repository=project, workflow_filepath=config)._as_policy(), shown
        return AllOf([OIDCIssuerV2(server), OIDCSourceRepositoryURI(f"{server}/{project}")]), shown
    return _AnyIdentity(), "any identity its CA certified (no CI job here names one; the index checks it)"


def _problem(dist: Dist, sha256: str, verifier: Verifier, policy: VerificationPolicy) -> str | None:
    """Why the dist's attestation does not verify, or None when it does."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation, AttestationError, AttestationType
    from sigstore.errors import Error as SigstoreError

    try:
        attestation = Attestation.model_validate(json.loads(dist.attestations or "[]")[0])
        payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
        statement = json.loads(payload)
    except (SigstoreError, AttestationError, ValidationError, ValueError, IndexError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if payload_type != IN_TOTO or not isinstance(subjects, list) or len(subjects) != 1:
        return "its statement is not an in-toto statement with exactly one subject"
    subject = subjects[0] if isinstance(subjects[0], dict) else {}
    name, digest = subject.get("name"), subject.get("digest")
    if name != dist.filename:
        return f"its subject is {safe.inline(name, 200)}, not this file"
    if not isinstance(digest, dict) or digest.get("sha256") != sha256:
        return "its subject's sha256 is not this file's"
    if statement.get("predicateType") not in {kind.value for kind in AttestationType}:
        return f"its predicate type {safe.inline(statement.get('predicateType'), 200)} is not one PyPI knows"
    return None


def verify_found(
    dists: list[Dist],
    digests: Mapping[str, str],
    settings: Settings,
    environ: Mapping[str, str],
    console: Console,
    trust: attest.Trust | None = None,
) -> attest.Trust | None:
    """Verify each dist's found attestation (`digests`: file name -> sha256); DistError (exit 2) naming the first
    that does not. Returns the trust loaded for it, for signing to reuse (None when there was nothing to check)."""
    found = [d for d in dists if d.attestations]
    if not found:
        return trust
    from sigstore.verify import Verifier

    trust = trust or attest.load_trust(environ, settings)
    verifier = Verifier(trusted_root=trust.config.trusted_root)
    policy, identity = publisher_policy(environ)
    for dist in found:
        problem = _problem(dist, digests[dist.filename], verifier, policy)
        if problem is not None:
            raise DistError(
                f"{safe.exact(dist.filename)}.publish.attestation does not verify: {safe.inline(problem, 400)}. "
                "Nothing was uploaded.",
                hint=f"An attestation found beside a dist is sent only if it was made for this very file (name and "
                f"sha256), signed by a certificate that chains to the Sigstore trust root and logged, by {identity}. "
                "Delete it to upload without it, or let this step make a fresh one (trusted publishing, "
                f"{settings.written('attestations', True)}).",
            )
        shown = safe.exact(dist.filename + ATTESTATION_SUFFIX)
        console.info(f"  {shown}: verified against the trust root; identity: {identity}")
    return trust
