"""How PyPI checks an upload's attestations (warehouse's attestations service), for the trusted-publishing fake.

pypi-attestations verification with a GitHub publisher policy (the repository and workflow of the index's trusted
publisher) against the trust root sigstore-python's offline mode reads: the offline Sigstore stack's, seeded with
`SigstoreStack.seed_tuf_cache` and `XDG_CACHE_HOME` pointing there (the tests set it with monkeypatch). The
failure texts are PyPI's own.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import ValidationError
from pypi_attestations import Attestation, Distribution, GitHubPublisher, VerificationError

from tests.fakes.trusted_index import AttestationCheck, Publisher


def pypi_check(*, offline: bool = True) -> AttestationCheck:
    def check(filename: str, content: bytes, field: str, publisher: Publisher) -> str | None:
        try:
            documents = json.loads(field)
        except ValueError:
            return "Error while decoding the included attestation: not JSON"
        if not isinstance(documents, list) or len(documents) != 1:
            return "Only a single attestation per file is supported."
        try:
            attestation = Attestation.model_validate(documents[0])
        except ValidationError as exc:
            return f"Error while decoding the included attestation: {exc}"
        dist = Distribution(name=filename, digest=hashlib.sha256(content).hexdigest())
        policy = GitHubPublisher(repository=publisher.repository, workflow=publisher.workflow_file)
        try:
            attestation.verify(policy, dist, offline=offline)
        except VerificationError as exc:
            return f"Could not verify the uploaded artifact using the included attestation: {exc}"
        except Exception as exc:
            return f"Unknown error while trying to verify included attestations: {exc}"
        return None

    return check
