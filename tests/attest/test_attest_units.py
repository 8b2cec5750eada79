"""The pure parts of attestations: the identity a certificate must carry, a statement's subject, the trust config."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from publisher.attest.prepare import subject_digest
from publisher.attest.sign import TRUST_CONFIG_ENV, AttestationFailed, expected_identity, load_trust
from publisher.config.settings import Settings
from publisher.report.errors import ConfigError

ACTION = Settings()

GITHUB = "https://token.actions.githubusercontent.com"


def test_github_identity_is_the_job_workflow_and_the_repository_of_this_job() -> None:
    claims = {
        "iss": GITHUB,
        "job_workflow_ref": "octo-org/shared/.github/workflows/publish.yml@refs/heads/main",  # a reusable workflow
        "repository": "octo-org/octo-repo",
    }
    expected = expected_identity(claims, {"GITHUB_REPOSITORY": "octo-org/octo-repo"}, ACTION)
    assert expected.san == "https://github.com/octo-org/shared/.github/workflows/publish.yml@refs/heads/main"
    assert expected.issuer == GITHUB
    assert expected.repository_uri == "https://github.com/octo-org/octo-repo"


def test_gitlab_identity_is_the_pipeline_configuration() -> None:
    claims = {
        "iss": "https://gitlab.com",
        "ci_config_ref_uri": "gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1",
        "project_path": "group/project",
    }
    expected = expected_identity(claims, {}, ACTION)
    assert expected.san == "https://gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1"
    assert expected.repository_uri == "https://gitlab.com/group/project"


def test_a_token_from_elsewhere_has_no_identity_to_verify() -> None:
    with pytest.raises(AttestationFailed, match="neither GitHub Actions' nor GitLab CI's"):
        expected_identity({"iss": "https://accounts.example", "sub": "x"}, {}, ACTION)


def _document(statement: object) -> dict[str, object]:
    raw = json.dumps(statement).encode() if not isinstance(statement, bytes) else statement
    return {"envelope": {"statement": base64.b64encode(raw).decode(), "signature": "c2ln"}}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"subject": [{"name": "a-1.0.tar.gz", "digest": {"sha256": "ab"}}]}, ("a-1.0.tar.gz", "ab")),
        ({"subject": []}, (None, None)),
        ({"subject": [{"name": 5, "digest": {"sha256": 7}}]}, (None, None)),
        (b"not json", (None, None)),
        (b"[" * 5000, (None, None)),
    ],
    ids=["ok", "no-subject", "wrong-types", "not-json", "deep"],
)
def test_subject_digest_reads_any_document_without_failing(statement: object, expected: tuple[object, object]) -> None:
    assert subject_digest(_document(statement)) == expected


def test_trust_config_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_trust({TRUST_CONFIG_ENV: str(tmp_path / "missing.json")}, ACTION)
    (tmp_path / "bad.json").write_text('{"mediaType": "nope"}')
    with pytest.raises(ConfigError, match="is not a Sigstore ClientTrustConfig"):
        load_trust({TRUST_CONFIG_ENV: str(tmp_path / "bad.json")}, ACTION)
    (tmp_path / "big.json").write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="is larger than"):
        load_trust({TRUST_CONFIG_ENV: str(tmp_path / "big.json")}, ACTION)
