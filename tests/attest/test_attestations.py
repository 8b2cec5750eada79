"""PEP 740 attestations, end to end and offline: the action signs each dist with Sigstore during trusted publishing,
verifies it, and uploads it; the index checks it as PyPI does.

Every service is real code on loopback: the fake GitHub token service (audiences `pypi` and `sigstore`), the
offline Sigstore stack (Fulcio issuing certificates with an embedded SCT, Rekor logging into a real Merkle tree,
tests/fakes/sigstore_stack), and the trusted-publishing index, which verifies each uploaded attestation with
pypi-attestations and a GitHub publisher policy against the stack's trust root and answers a mismatch in PyPI's
words (tests/fakes/attestation_check.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypi_attestations import Attestation, Distribution, GitHubPublisher, VerificationError

from tests.fakes import FakeServer, Request, Response
from tests.fakes.attestation_check import pypi_check
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.sigstore_stack import SigstoreStack, StackKeys
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher, parse_multipart
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import run_action

pytestmark = pytest.mark.timeout(120)

PUBLISHER = Publisher("octo-org/octo-repo", "release.yml")
QUICK = {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}


@pytest.fixture
def offline_root(stack: SigstoreStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pypi-attestations' offline verification (the index fake's, and ours below) reads the stack's root."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(stack.seed_tuf_cache(tmp_path / "xdg-cache")))


def _index(github: FakeGitHubOIDC, **options: object) -> FakeTrustedIndex:
    return FakeTrustedIndex(
        github.public_key, publisher=PUBLISHER, simple_api_version="1.3", attestation_check=pypi_check(), **options
    )


@pytest.fixture
def index(github: FakeGitHubOIDC, offline_root: None) -> Iterator[FakeTrustedIndex]:
    with _index(github) as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    build_wheel(root / "dist", "attest-demo", "1.0.0")
    build_sdist(root / "dist", "attest-demo", "1.0.0")
    return root


def _inputs(index: FakeTrustedIndex, **extra: str) -> dict[str, str]:
    return {
        "publish-url": index.upload_url,
        "check-url": f"{index.url}/simple/",
        "trusted-publishing": "always",
        **extra,
    }


def _env(github: FakeGitHubOIDC, stack: SigstoreStack, **extra: str) -> dict[str, str]:
    return {**github.env, "PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path), **QUICK, **extra}


def _listing(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _sent(index: FakeTrustedIndex) -> dict[str, Attestation]:
    return {
        name: Attestation.model_validate(json.loads(stored.fields["attestations"][0])[0])
        for name, stored in index.files.items()
    }


def test_each_dist_is_signed_verified_and_accepted(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    before = _listing(workspace / "dist")

    run = run_action(workspace, _inputs(index, verbose="true"), _env(github, stack))

    assert run.returncode == 0, run.output
    assert sorted(index.files) == sorted(before)
    sent = _sent(index)
    assert len(sent) == 2, "every dist carries an attestation the index verified"
    assert _listing(workspace / "dist") == before, "nothing was written to the packages directory"
    for name in before:
        log_index = sent[name].verification_material.transparency_entries[0]["logIndex"]
        assert f"`{name}`: signed, Rekor log index {log_index}" in run.summary
    assert "certificate SAN https://github.com/octo-org/octo-repo/.github/workflows/release.yml@" in run.stdout
    assert len(stack.fulcio.issued) == 1, "one certificate for the whole release"
    assert len(stack.rekor.entries) == 2


def test_the_attestations_verify_for_this_identity_only(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path, keys: StackKeys
) -> None:
    run = run_action(workspace, _inputs(index), _env(github, stack))
    assert run.returncode == 0, run.output
    wheel = next(workspace.glob("dist/*.whl"))
    attestation = _sent(index)[wheel.name]
    dist = Distribution(name=wheel.name, digest=hashlib.sha256(wheel.read_bytes()).hexdigest())

    # sigstore's own Verifier, built from the stack's trusted root, with this job's identity
    from sigstore.verify.policy import Identity

    san = f"https://github.com/{github.claims['job_workflow_ref']}"
    stack.verifier().verify_dsse(attestation.to_bundle(), Identity(identity=san, issuer=github.claims["iss"]))
    assert attestation.verify(
        GitHubPublisher(repository="octo-org/octo-repo", workflow="release.yml"), dist, offline=True
    )

    with pytest.raises(VerificationError):  # another identity
        attestation.verify(
            GitHubPublisher(repository="octo-org/other-repo", workflow="release.yml"), dist, offline=True
        )
    tampered = Distribution(name=wheel.name, digest=hashlib.sha256(wheel.read_bytes() + b"\0").hexdigest())
    with pytest.raises(VerificationError):  # another file
        attestation.verify(
            GitHubPublisher(repository="octo-org/octo-repo", workflow="release.yml"), tampered, offline=True
        )
    import sigstore.errors

    with SigstoreStack(github=github) as other, pytest.raises(sigstore.errors.VerificationError):  # another root
        other.verifier().verify_dsse(attestation.to_bundle(), Identity(identity=san, issuer=github.claims["iss"]))


def test_fulcio_refusing_the_identity_uploads_nothing(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    stack.fulcio.identity_check = lambda claims: "this repository may not sign"

    run = run_action(workspace, _inputs(index), _env(github, stack))

    assert run.returncode == 1, run.output
    assert "Fulcio" in run.stdout
    assert "issuing the signing certificate failed after 1 attempt(s): 4" in run.stdout
    assert "Nothing was uploaded" in run.stdout
    assert index.files == {}


def test_rekor_down_is_retried_then_uploads_nothing(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    with stack.rekor.down():
        run = run_action(workspace, _inputs(index, retries="2"), _env(github, stack))

    assert run.returncode == 1, run.output
    assert run.stdout.count("::warning title=Retrying::Rekor") == 2, run.stdout
    assert "logging the attestation of" in run.stdout
    assert "failed after 3 attempt(s)" in run.stdout
    assert index.files == {}


def test_rekor_recovering_within_the_retries_publishes(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    stack.rekor.fail_next = [503, 503]
    run = run_action(workspace, _inputs(index), _env(github, stack))
    assert run.returncode == 0, run.output
    assert len(_sent(index)) == 2


def _stale_attestation(workspace: Path, github: FakeGitHubOIDC, stack: SigstoreStack) -> Path:
    """A real attestation of other bytes under the wheel's name: what an earlier build left in dist/."""
    from sigstore.oidc import IdentityToken

    wheel = next(workspace.glob("dist/*.whl"))
    other = Distribution(name=wheel.name, digest=hashlib.sha256(b"an earlier build").hexdigest())
    with stack.signing_context().signer(IdentityToken(stack.identity_token())) as signer:
        attestation = Attestation.sign(signer, other)
    path = wheel.parent / f"{wheel.name}.publish.attestation"
    path.write_text(attestation.model_dump_json())
    return path


def test_a_stale_attestation_is_replaced_with_a_warning(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    stale = _stale_attestation(workspace, github, stack)
    before = stale.read_bytes()

    run = run_action(workspace, _inputs(index), _env(github, stack))

    assert run.returncode == 0, run.output
    assert "::warning title=Stale attestation::" in run.stdout
    wheel = stale.name.removesuffix(".publish.attestation")
    statement = json.loads(
        base64.b64decode(json.loads(index.files[wheel].fields["attestations"][0])[0]["envelope"]["statement"])
    )
    assert statement["subject"][0]["digest"]["sha256"] == index.files[wheel].sha256
    assert stale.read_bytes() == before, "the file in dist/ is left as it was"


def test_a_stale_attestation_without_signing_is_refused(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    _stale_attestation(workspace, github, stack)
    run = run_action(workspace, _inputs(index, attestations="false"), _env(github, stack))
    assert run.returncode == 2, run.output
    assert "Stale attestation:" in run.stdout
    assert index.files == {}


def test_a_valid_existing_attestation_is_sent_as_it_is(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    from sigstore.oidc import IdentityToken

    wheel = next(workspace.glob("dist/*.whl"))
    with stack.signing_context().signer(IdentityToken(stack.identity_token())) as signer:
        existing = Attestation.sign(signer, Distribution.from_file(wheel))
    (wheel.parent / f"{wheel.name}.publish.attestation").write_text(existing.model_dump_json())

    run = run_action(workspace, _inputs(index), _env(github, stack))

    assert run.returncode == 0, run.output
    assert _sent(index)[wheel.name] == existing
    assert f"`{wheel.name}`: uploaded from `{wheel.name}.publish.attestation`" in run.summary


class Recording(FakeServer):
    """A registry taking any upload with a password: records each form."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, bytes]] = []

    def handle(self, request: Request) -> Response:
        parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        self.forms.append({part.name: part.content for part in parts})
        return Response.text(200, "OK")


def test_with_a_password_there_is_a_notice_and_no_attestation(
    github: FakeGitHubOIDC, stack: SigstoreStack, workspace: Path
) -> None:
    with Recording() as registry:
        inputs = {"publish-url": f"{registry.url}/", "username": "alice", "password": "s3cret"}
        run = run_action(workspace, {**inputs, "attestations": "true"}, _env(github, stack))  # asked for: a notice

    assert run.returncode == 0, run.output
    assert "::notice title=Attestations::No attestations were made: attestations are signed with the job" in run.stdout
    assert len(registry.forms) == 2
    assert all("attestations" not in form for form in registry.forms)
    assert stack.fulcio.issued == []


def test_an_index_that_takes_none_gets_a_notice(
    github: FakeGitHubOIDC, stack: SigstoreStack, workspace: Path, offline_root: None
) -> None:
    with FakeTrustedIndex(github.public_key, publisher=PUBLISHER) as silent:  # no Simple API 1.3
        run = run_action(workspace, _inputs(silent, attestations="true"), _env(github, stack))
    assert run.returncode == 0, run.output
    assert "does not take them" in run.stdout
    assert all("attestations" not in stored.fields for stored in silent.files.values())
    assert stack.fulcio.issued == []


def test_testpypi_then_pypi_in_one_job(
    github: FakeGitHubOIDC, stack: SigstoreStack, workspace: Path, offline_root: None
) -> None:
    """pypa #319: the first publish left attestation files that broke the second; nothing is left here."""
    before = _listing(workspace / "dist")
    with _index(github) as testpypi, _index(github) as pypi:
        first = run_action(workspace, _inputs(testpypi), _env(github, stack))
        second = run_action(workspace, _inputs(pypi), _env(github, stack))

    for run in (first, second):
        assert run.returncode == 0, run.output
    assert len(_sent(testpypi)) == len(_sent(pypi)) == 2
    assert _listing(workspace / "dist") == before


def test_dry_run_signs_nothing(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    run = run_action(workspace, _inputs(index, **{"dry-run": "true"}), _env(github, stack))
    assert run.returncode == 0, run.output
    assert stack.fulcio.issued == []
    assert stack.rekor.entries == []


def test_a_token_from_another_repository_than_the_job_does_not_verify(
    github: FakeGitHubOIDC, stack: SigstoreStack, index: FakeTrustedIndex, workspace: Path
) -> None:
    """The certificate must name this job's repository (GITHUB_REPOSITORY), not only whatever the token says."""
    run = run_action(workspace, _inputs(index), _env(github, stack, GITHUB_REPOSITORY="octo-org/another-repo"))
    assert run.returncode == 1, run.output
    assert "does not verify: Certificate's OIDCSourceRepositoryURI does not match" in run.stdout
    assert "Nothing was uploaded" in run.stdout
    assert index.files == {}
