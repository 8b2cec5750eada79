"""An attestation found beside a dist (`<dist>.publish.attestation`) is verified as an index would before it is sent,
whatever `attestations` and the credentials say (publisher/attest/planted.py): signed by a certificate that chains to
the trust root, logged, for this very file name and sha256, and by this job's trusted publisher where the job names one.

The offline Sigstore stack signs the attestations (tests/fakes/sigstore_stack); a second stack with keys of its own
is the foreign root. Uploads go to a registry that takes a password and records each form.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypi_attestations import Attestation, Distribution

from tests.fakes import FakeServer, Request, Response
from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.sigstore_stack import SigstoreStack
from tests.fakes.trusted_index import parse_multipart
from tests.support.builders import build_sdist, build_wheel
from tests.support.runner import ActionRun, run_action

pytestmark = pytest.mark.timeout(120)

WORKFLOW_REF = "octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.0.0"  # the fake token's workflow


class Recording(FakeServer):
    """A registry taking any upload with a password: records each form."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, bytes]] = []

    def handle(self, request: Request) -> Response:
        parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        self.forms.append({part.name: part.content for part in parts})
        return Response.text(200, "OK")


@pytest.fixture
def registry() -> Iterator[Recording]:
    with Recording() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    build_wheel(root / "dist", "planted-demo", "1.0.0")
    build_sdist(root / "dist", "planted-demo", "1.0.0")
    return root


def _wheel(workspace: Path) -> Path:
    return next(workspace.glob("dist/*.whl"))


def _sign(stack: SigstoreStack, name: str, digest: str) -> Attestation:
    from sigstore.oidc import IdentityToken

    with stack.signing_context().signer(IdentityToken(stack.identity_token())) as signer:
        return Attestation.sign(signer, Distribution(name=name, digest=digest))


def _plant(wheel: Path, document: str) -> None:
    (wheel.parent / f"{wheel.name}.publish.attestation").write_text(document)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _upload(workspace: Path, registry: Recording, stack: SigstoreStack, **env: str) -> ActionRun:
    inputs = {"publish-url": f"{registry.url}/", "username": "alice", "password": "s3cret"}
    return run_action(workspace, inputs, {"PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path), **env})


def test_a_valid_found_attestation_is_verified_then_sent_with_a_password(
    stack: SigstoreStack, registry: Recording, workspace: Path
) -> None:
    wheel = _wheel(workspace)
    attestation = _sign(stack, wheel.name, _sha256(wheel))
    _plant(wheel, attestation.model_dump_json())

    run = _upload(workspace, registry, stack)

    assert run.returncode == 0, run.stdout
    assert f"{wheel.name}.publish.attestation: verified against the trust root" in run.stdout
    sent = [json.loads(form["attestations"]) for form in registry.forms if "attestations" in form]
    assert sent == [[json.loads(attestation.model_dump_json())]]


def _foreign(stack: SigstoreStack, github: FakeGitHubOIDC, wheel: Path) -> str:
    with SigstoreStack(github=github) as other:
        return _sign(other, wheel.name, _sha256(wheel)).model_dump_json()


def _other_name(stack: SigstoreStack, github: FakeGitHubOIDC, wheel: Path) -> str:
    sdist = next(wheel.parent.glob("*.tar.gz"))
    return _sign(stack, sdist.name, _sha256(wheel)).model_dump_json()


def _tampered(stack: SigstoreStack, github: FakeGitHubOIDC, wheel: Path) -> str:
    document = json.loads(_sign(stack, wheel.name, _sha256(wheel)).model_dump_json())
    signature = bytearray(base64.b64decode(document["envelope"]["signature"]))
    signature[-1] ^= 0x01
    document["envelope"]["signature"] = base64.b64encode(bytes(signature)).decode()
    return json.dumps(document)


REFUSED = [
    (_foreign, "does not verify: failed to build timestamp certificate chain"),
    (_other_name, "does not verify: its subject is planted_demo-1.0.0.tar.gz, not this file"),
    (_tampered, "does not verify: DSSE: invalid signature"),
]


@pytest.mark.parametrize(("plant", "said"), REFUSED, ids=["foreign-root", "other-file-name", "tampered"])
@pytest.mark.parametrize("mode", ["password", "attestations-false"])
def test_a_found_attestation_that_does_not_verify_is_refused(
    github: FakeGitHubOIDC,
    stack: SigstoreStack,
    registry: Recording,
    workspace: Path,
    plant: object,
    said: str,
    mode: str,
) -> None:
    wheel = _wheel(workspace)
    assert callable(plant)
    _plant(wheel, plant(stack, github, wheel))

    if mode == "password":
        run = _upload(workspace, registry, stack)
    else:
        inputs = {"publish-url": f"{registry.url}/", "username": "alice", "password": "s3cret", "attestations": "false"}
        run = run_action(workspace, inputs, {"PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path)})

    assert run.returncode == 2, run.stdout
    assert f"::error title=Invalid distribution::{wheel.name}.publish.attestation {said}" in run.stdout
    assert "Nothing was uploaded." in run.stdout
    assert registry.forms == [], "nothing was uploaded"


def test_in_ci_the_found_attestation_must_be_this_jobs_trusted_publisher(
    stack: SigstoreStack, registry: Recording, workspace: Path
) -> None:
    wheel = _wheel(workspace)
    _plant(wheel, _sign(stack, wheel.name, _sha256(wheel)).model_dump_json())

    elsewhere = _upload(
        workspace,
        registry,
        stack,
        GITHUB_REPOSITORY="octo-org/other-repo",
        GITHUB_WORKFLOW_REF=("octo-org/other-repo/.github/workflows/release.yml@refs/tags/v1.0.0"),
    )
    assert elsewhere.returncode == 2, elsewhere.stdout
    assert f"{wheel.name}.publish.attestation does not verify: " in elsewhere.stdout
    assert "by the workflow release.yml of octo-org/other-repo" in elsewhere.stdout
    assert registry.forms == []

    here = _upload(workspace, registry, stack, GITHUB_REPOSITORY="octo-org/octo-repo", GITHUB_WORKFLOW_REF=WORKFLOW_REF)
    assert here.returncode == 0, here.stdout
    assert "identity: the workflow release.yml of octo-org/octo-repo" in here.stdout
    assert any("attestations" in form for form in registry.forms)


def test_a_dry_run_refuses_it_as_the_real_run_would(
    github: FakeGitHubOIDC, stack: SigstoreStack, registry: Recording, workspace: Path
) -> None:
    wheel = _wheel(workspace)
    _plant(wheel, _foreign(stack, github, wheel))
    inputs = {"publish-url": f"{registry.url}/", "username": "alice", "password": "s3cret", "dry-run": "true"}
    run = run_action(workspace, inputs, {"PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path)})
    assert run.returncode == 2, run.stdout
    assert f"{wheel.name}.publish.attestation does not verify: " in run.stdout
