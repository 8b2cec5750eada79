"""The offline Sigstore stack (tests/fakes/sigstore_stack) is faithful: real PEP 740 signing with sigstore-python and
pypi-attestations against it, judged by sigstore's own `Verifier` and by pypi-attestations' verification; and it
refuses what Fulcio and Rekor refuse. Keys are made once per module; each test gets fresh services (~10 ms)."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pypi_attestations import Attestation, Distribution, GitHubPublisher, VerificationError
from sigstore import dsse
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.merkle import (
    _chain_border_right,
    _chain_inner,
    _decomp_inclusion_proof,
    _hash_leaf,
    verify_merkle_inclusion,
)
from sigstore._internal.rekor import RekorClientError
from sigstore._internal.rekor.checkpoint import verify_checkpoint
from sigstore._internal.sct import verify_sct
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.models import ClientTrustConfig, TransparencyLogEntry
from sigstore.oidc import IdentityToken
from sigstore.sign import Signer, SigningContext
from sigstore.verify import Verifier, policy

from tests.conftest import ROOT
from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC, default_claims
from tests.fakes.sigstore_stack import SigstoreStack, StackKeys
from tests.fakes.sigstore_stack import fulcio as fake_fulcio
from tests.fakes.sigstore_stack.keys import key_id
from tests.fakes.sigstore_stack.merkle import MerkleTree
from tests.fakes.sigstore_stack.rekor import pae
from tests.support.builders import Dists
from tests.support.servers import clean_env, http_get

pytestmark = pytest.mark.timeout(60)

CLAIMS = default_claims()
REPOSITORY, WORKFLOW = "octo-org/octo-repo", "release.yml"
SAN = f"https://github.com/{CLAIMS['job_workflow_ref']}"
PUBLISHER = GitHubPublisher(repository=REPOSITORY, workflow=WORKFLOW)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys() -> StackKeys:
    return StackKeys.generate()


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHubOIDC]:
    with FakeGitHubOIDC() as fake:
        yield fake


@pytest.fixture
def stack(keys: StackKeys, github: FakeGitHubOIDC) -> Iterator[SigstoreStack]:
    with SigstoreStack(github=github, keys=keys) as running:
        yield running


@pytest.fixture
def wheel(built_dists: Dists, tmp_path: Path) -> Path:
    copy_ = tmp_path / built_dists.wheel.name
    copy_.write_bytes(built_dists.wheel.read_bytes())
    return copy_


def sign(stack: SigstoreStack, path: Path, token: str | None = None) -> Attestation:
    """PEP 740 signing exactly as a publisher does it, against the stack's trust config (read back from its file)."""
    config = ClientTrustConfig.from_json(stack.trust_config_path.read_text())
    with SigningContext.from_trust_config(config).signer(IdentityToken(token or stack.identity_token())) as signer:
        return Attestation.sign(signer, Distribution.from_file(path))


def post_json(url: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def csr_body(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    """The request body sigstore-python sends: base64 of a PEM CSR with an empty subject, signed by the key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return {"certificateSigningRequest": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()}


def request_certificate(stack: SigstoreStack, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    return post_json(f"{stack.fulcio.url}/api/v2/signingCert", body or csr_body(), {"Authorization": f"Bearer {token}"})


# -- signing and verifying -----------------------------------------------------------------------------------------
def test_pep740_attestation_verifies_with_sigstores_verifier(stack: SigstoreStack, wheel: Path) -> None:
    attestation = sign(stack, wheel)
    verifier = Verifier(trusted_root=ClientTrustConfig.from_json(stack.trust_config_path.read_text()).trusted_root)

    payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy.Identity(identity=SAN, issuer=ISSUER))

    assert payload_type == dsse.Envelope._TYPE
    statement = json.loads(payload)
    assert statement["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
    assert statement["subject"] == [
        {"name": wheel.name, "digest": {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}}
    ]
    assert len(stack.fulcio.issued) == 1
    assert len(stack.rekor.entries) == 1
    body = json.loads(stack.rekor.entries[0].body)
    assert body["kind"] == "dsse"
    assert set(body["spec"]) == {"envelopeHash", "payloadHash", "signatures"}


def test_pypi_attestations_verifies_offline_against_the_stack_root(
    stack: SigstoreStack, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attestation = sign(stack, wheel)
    dist = Distribution.from_file(wheel)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(VerificationError):  # offline mode with no seeded cache: sigstore's embedded public-good root
        attestation.verify(PUBLISHER, dist, offline=True)

    monkeypatch.setenv("XDG_CACHE_HOME", str(stack.seed_tuf_cache(tmp_path / "cache")))
    predicate_type, predicate = attestation.verify(PUBLISHER, dist, offline=True)

    assert (predicate_type, predicate) == ("https://docs.pypi.org/attestations/publish/v1", None)
    as_written = attestation.model_dump_json()  # what `<dist>.publish.attestation` holds
    assert Attestation.model_validate_json(as_written).verify(PUBLISHER, dist, offline=True)[0] == predicate_type


def test_certificate_is_fulcios_github_actions_certificate(stack: SigstoreStack, wheel: Path, keys: StackKeys) -> None:
    attestation = sign(stack, wheel)
    certificate = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    url = "https://github.com"
    every_extension = policy.AllOf(
        [
            policy.OIDCIssuer(ISSUER),  # 1.1, raw bytes
            policy.GitHubWorkflowTrigger(CLAIMS["event_name"]),
            policy.GitHubWorkflowSHA(CLAIMS["sha"]),
            policy.GitHubWorkflowName(CLAIMS["workflow"]),
            policy.GitHubWorkflowRepository(REPOSITORY),
            policy.GitHubWorkflowRef(CLAIMS["ref"]),
            policy.OIDCIssuerV2(ISSUER),  # 1.8 onwards: DER UTF8String
            policy.OIDCBuildSignerURI(SAN),
            policy.OIDCBuildSignerDigest(CLAIMS["job_workflow_sha"]),
            policy.OIDCRunnerEnvironment("github-hosted"),
            policy.OIDCSourceRepositoryURI(f"{url}/{REPOSITORY}"),
            policy.OIDCSourceRepositoryDigest(CLAIMS["sha"]),
            policy.OIDCSourceRepositoryRef(CLAIMS["ref"]),
            policy.OIDCSourceRepositoryIdentifier(CLAIMS["repository_id"]),
            policy.OIDCSourceRepositoryOwnerURI(f"{url}/octo-org"),
            policy.OIDCSourceRepositoryOwnerIdentifier(CLAIMS["repository_owner_id"]),
            policy.OIDCBuildConfigURI(f"{url}/{CLAIMS['workflow_ref']}"),
            policy.OIDCBuildConfigDigest(CLAIMS["workflow_sha"]),
            policy.OIDCBuildTrigger("push"),
            policy.OIDCRunInvocationURI(f"{url}/{REPOSITORY}/actions/runs/{CLAIMS['run_id']}/attempts/1"),
            policy.OIDCSourceRepositoryVisibility("public"),
            policy.Identity(identity=SAN, issuer=ISSUER),
        ]
    )
    every_extension.verify(certificate)

    assert attestation.certificate_claims["1.3.6.1.4.1.57264.1.12"] == f"{url}/{REPOSITORY}"
    for oid, value in [("1.3.6.1.4.1.57264.1.23", "pypi"), ("1.3.6.1.4.1.57264.1.24", CLAIMS["sub"])]:
        extension = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))  # environment, subject
        assert extension.value.public_bytes() == b"\x0c" + bytes([len(value)]) + value.encode()
    assert certificate.subject == x509.Name([])
    assert certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(minutes=10)
    assert certificate.issuer == keys.intermediate.subject
    certificate.verify_directly_issued_by(keys.intermediate)
    scts = certificate.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    assert len(scts) == 1
    assert scts[0].log_id == key_id(keys.ct_key.public_key())
    verify_sct(certificate, keys.chain, stack.trusted_root().ct_keyring(KeyringPurpose.VERIFY))
    other_ct = SigstoreStack(issuers={}, keys=StackKeys.generate())
    with other_ct, pytest.raises(SigstoreVerificationError, match="SCT"):
        verify_sct(certificate, keys.chain, other_ct.trusted_root().ct_keyring(KeyringPurpose.VERIFY))


@pytest.mark.parametrize(
    "publisher",
    [
        GitHubPublisher(repository="octo-org/other-repo", workflow=WORKFLOW),
        GitHubPublisher(repository=REPOSITORY, workflow="other.yml"),
        GitHubPublisher(repository="evil-org/octo-repo", workflow=WORKFLOW),
    ],
    ids=["other-repository", "other-workflow", "other-owner"],
)
def test_does_not_verify_for_another_identity(
    stack: SigstoreStack, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, publisher: GitHubPublisher
) -> None:
    attestation = sign(stack, wheel)
    monkeypatch.setenv("XDG_CACHE_HOME", str(stack.seed_tuf_cache(tmp_path)))
    dist = Distribution.from_file(wheel)
    assert attestation.verify(PUBLISHER, dist, offline=True)  # the control

    with pytest.raises(VerificationError, match="Verification failed"):
        attestation.verify(publisher, dist, offline=True)
    with pytest.raises(SigstoreVerificationError):
        stack.verifier().verify_dsse(
            attestation.to_bundle(), policy.Identity(identity=SAN.replace("octo-repo", "other-repo"), issuer=ISSUER)
        )


def test_does_not_verify_a_tampered_dist(
    stack: SigstoreStack, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attestation = sign(stack, wheel)
    monkeypatch.setenv("XDG_CACHE_HOME", str(stack.seed_tuf_cache(tmp_path / "cache")))
    content = bytearray(wheel.read_bytes())
    content[len(content) // 2] ^= 0x01
    wheel.write_bytes(bytes(content))

    with pytest.raises(VerificationError, match="subject does not match distribution digest"):
        attestation.verify(PUBLISHER, Distribution.from_file(wheel), offline=True)


def test_does_not_verify_against_another_stacks_root(
    stack: SigstoreStack, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attestation = sign(stack, wheel)
    with SigstoreStack(issuers={}, keys=StackKeys.generate()) as other:
        other_verifier = other.verifier()
        monkeypatch.setenv("XDG_CACHE_HOME", str(other.seed_tuf_cache(tmp_path)))

    with pytest.raises(SigstoreVerificationError, match="certificate chain"):
        other_verifier.verify_dsse(attestation.to_bundle(), policy.Identity(identity=SAN, issuer=ISSUER))
    with pytest.raises(VerificationError):
        attestation.verify(PUBLISHER, Distribution.from_file(wheel), offline=True)


def test_hashedrekord_artifact_signing_verifies(stack: SigstoreStack) -> None:
    with stack.signing_context().signer(IdentityToken(stack.identity_token())) as signer:
        bundle = signer.sign_artifact(b"some artifact")

    stack.verifier().verify_artifact(b"some artifact", bundle, policy.Identity(identity=SAN, issuer=ISSUER))
    with pytest.raises(SigstoreVerificationError):
        stack.verifier().verify_artifact(b"some artifacT", bundle, policy.Identity(identity=SAN, issuer=ISSUER))


def test_fulcio_trusts_an_issuer_through_its_jwks(keys: StackKeys, github: FakeGitHubOIDC, wheel: Path) -> None:
    with SigstoreStack(issuers={ISSUER: github.jwks_url}, keys=keys) as stack:
        attestation = sign(stack, wheel, token=github.issue("sigstore"))
        stack.verifier().verify_dsse(attestation.to_bundle(), policy.Identity(identity=SAN, issuer=ISSUER))
    assert any(r.path == "/.well-known/jwks" for r in github.requests)


# -- Fulcio refuses what Fulcio refuses ----------------------------------------------------------------------------
def test_fulcio_issues_for_a_good_request(stack: SigstoreStack) -> None:
    status, body = request_certificate(stack, stack.identity_token())

    assert status == 200
    chain = [
        x509.load_pem_x509_certificate(p.encode())
        for p in body["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    ]
    assert chain[1:] == stack.keys.chain
    assert chain[0].issuer == chain[1].subject


def _signed_by_another_key(github: FakeGitHubOIDC) -> str:
    impostor = FakeGitHubOIDC()  # same issuer name and kid, another key (issuing needs no server)
    impostor.key_id = github.key_id
    return impostor.issue("sigstore")


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda g: g.issue("sigstore", exp=int(time.time()) - 1, iat=int(time.time()) - 301), "token is expired"),
        (lambda g: g.issue("pypi"), "expected audience 'sigstore'"),
        (lambda g: g.issue("sigstore", iss="https://gitlab.com"), "failed to match issuer URL https://gitlab.com"),
        (_signed_by_another_key, "failed to verify signature"),
        (lambda g: g.issue("sigstore")[:-4] + "AAAA", "failed to verify signature"),
        (lambda g: g.issue("sigstore", nbf=int(time.time()) + 600), "before the nbf"),
        (lambda g: "not-a-jwt", "malformed jwt"),
    ],
    ids=["expired", "wrong-audience", "unknown-issuer", "other-key", "mangled-signature", "not-yet-valid", "garbage"],
)
def test_fulcio_refuses_bad_identity_tokens(
    stack: SigstoreStack, github: FakeGitHubOIDC, make_token: Any, reason: str
) -> None:
    status, body = request_certificate(stack, make_token(github))

    assert (status, body) == (400, {"code": 3, "message": fake_fulcio.INVALID_IDENTITY_TOKEN, "details": []})
    assert reason in stack.fulcio.refusals[-1]
    assert stack.fulcio.issued == []
    assert stack.ct_log.entries == []


def test_fulcio_checks_the_proof_of_possession(stack: SigstoreStack) -> None:
    body = csr_body()
    pem = bytearray(base64.b64decode(body["certificateSigningRequest"]))
    csr = x509.load_pem_x509_csr(bytes(pem))
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    bad_csr = base64.b64encode(x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)).decode()
    assert request_certificate(stack, stack.identity_token(), {"certificateSigningRequest": bad_csr})[0] == 400
    assert stack.fulcio.refusals[-1] == "CSR signature does not verify"

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def key_request(signed: str) -> dict[str, Any]:
        proof = base64.b64encode(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))).decode()
        return {"publicKeyRequest": {"publicKey": {"content": public.decode()}, "proofOfPossession": proof}}

    assert request_certificate(stack, stack.identity_token(), key_request("someone else"))[0] == 400
    assert stack.fulcio.refusals[-1] == "proof of possession does not verify"
    assert request_certificate(stack, stack.identity_token(), key_request(CLAIMS["sub"]))[0] == 200

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point of the test)
    status, body = request_certificate(stack, stack.identity_token(), csr_body(weak))
    assert (status, body["message"]) == (400, fake_fulcio.INSECURE_PUBLIC_KEY)


def test_fulcio_refuses_a_token_missing_a_claim_the_mapping_needs(stack: SigstoreStack) -> None:
    status, body = request_certificate(stack, stack.identity_token(job_workflow_ref=None))

    assert status == 400
    assert "value <job_workflow_ref> not present" in body["message"]


def test_fulcio_faults_reach_sigstore(stack: SigstoreStack, wheel: Path) -> None:
    stack.fulcio.identity_check = lambda claims: "not this one" if claims["repository"] == REPOSITORY else None
    with pytest.raises(FulcioClientError):
        sign(stack, wheel)
    assert stack.fulcio.refusals == ["not this one"]

    stack.fulcio.identity_check = None
    stack.fulcio.fail_next = [503, 500]
    for _ in range(2):
        with pytest.raises(FulcioClientError):
            sign(stack, wheel)
    sign(stack, wheel)
    assert len(stack.fulcio.issued) == 1


# -- Rekor -------------------------------------------------------------------------------------------------------
def test_rekor_inclusion_proof_and_checkpoint_verify_and_tampering_does_not(stack: SigstoreStack, wheel: Path) -> None:
    attestations = [sign(stack, wheel) for _ in range(3)]
    keyring = stack.trusted_root().rekor_keyring(KeyringPurpose.VERIFY)
    entry = attestations[2].to_bundle().log_entry
    verify_merkle_inclusion(entry)
    verify_checkpoint(keyring, entry)
    assert entry._inner.inclusion_proof.tree_size == 3
    assert len(entry._inner.inclusion_proof.hashes) == 1

    data = json.loads(attestations[2].model_dump_json())
    tlog = data["verification_material"]["transparency_entries"][0]
    identity = policy.Identity(identity=SAN, issuer=ISSUER)
    stack.verifier().verify_dsse(Attestation.model_validate(data).to_bundle(), identity)  # the control
    for path, mangle, failure in [
        (("inclusionProof", "hashes", 0), _flip_b64, "inclusion proof contains invalid root hash"),
        (("inclusionProof", "rootHash"), _flip_b64, "inclusion proof contains invalid root hash"),
        (("inclusionProof", "checkpoint", "envelope"), lambda note: note.replace("\n3\n", "\n4\n"), "checkpoint"),
        (("inclusionPromise", "signedEntryTimestamp"), _flip_b64, "SET: invalid inclusion promise"),
        (("integratedTime",), lambda t: str(int(t) + 1), "SET: invalid inclusion promise"),
    ]:
        tampered = copy.deepcopy(data)
        _set(tampered["verification_material"]["transparency_entries"][0], path, mangle(_get(tlog, path)))
        bundle = Attestation.model_validate(tampered).to_bundle()
        with pytest.raises(SigstoreVerificationError, match=f"invalid log entry: {failure}"):
            stack.verifier().verify_dsse(bundle, identity)

    # an old entry fetched later proves inclusion in the grown tree
    uuid = stack.rekor.entries[0].entry_id
    status, fetched = http_get(f"{stack.rekor.url}/api/v1/log/entries/{uuid}")
    later = TransparencyLogEntry._from_v1_response(json.loads(fetched))
    verify_merkle_inclusion(later)
    verify_checkpoint(keyring, later)
    assert status == 200
    assert later._inner.inclusion_proof.tree_size == 3
    assert later._inner.log_index == 0


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def test_merkle_proofs_verify_with_sigstores_algorithm_for_every_leaf_and_size() -> None:
    tree = MerkleTree()
    assert tree.root() == hashlib.sha256(b"").digest()
    leaves = [f"leaf {i}".encode() for i in range(17)]
    for leaf in leaves:
        tree.append(leaf)
    assert tree.root(1) == _hash_leaf(leaves[0])
    for size in range(1, 18):
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            inner, border = _decomp_inclusion_proof(index, size)
            assert len(proof) == inner + border
            root = _chain_border_right(_chain_inner(_hash_leaf(leaves[index]), proof[:inner], index), proof[inner:])
            assert root == tree.root(size), (index, size)
    assert tree.root(4) != tree.root(5)


def _dsse_entry(key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC))
        .not_valid_after(datetime.now(UTC) + timedelta(minutes=10))
        .sign(key, hashes.SHA256())
    )
    payload = b'{"_type": "https://in-toto.io/Statement/v1"}'
    signature = (signer or key).sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [{"sig": base64.b64encode(signature).decode()}],
    }
    verifier = base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)).decode()
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": json.dumps(envelope), "verifiers": [verifier]}},
    }


def test_rekor_validates_entries_as_rekor_does(stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    url = f"{stack.rekor.url}/api/v1/log/entries"
    entry = _dsse_entry(key)

    status, answer = post_json(url, entry)
    assert status == 201
    assert post_json(url, entry)[0] == 409  # the same canonical entry again

    status, answer = post_json(url, _dsse_entry(key, signer=ec.generate_private_key(ec.SECP256R1())))
    assert (status, answer["code"]) == (400, 400)
    assert "all signatures must have a key that verifies it" in answer["message"]
    assert post_json(url, {"apiVersion": "0.0.1", "kind": "rekord", "spec": {}})[0] == 400
    assert (
        post_json(url, {**entry, "spec": {**entry["spec"], "envelopeHash": {"algorithm": "sha256", "value": "00"}}})[0]
        == 400
    )
    assert len(stack.rekor.entries) == 1


def test_rekor_down_and_503s_reach_sigstore(stack: SigstoreStack, wheel: Path) -> None:
    with stack.rekor.down():
        with pytest.raises(requests.exceptions.ConnectionError):
            sign(stack, wheel)
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            _OPENER.open(f"{stack.rekor.url}/api/v1/log", timeout=5)
    sign(stack, wheel)

    stack.rekor.fail_next = [503, 503]
    for _ in range(2):
        with pytest.raises(RekorClientError):
            sign(stack, wheel)
    sign(stack, wheel)
    assert len(stack.rekor.entries) == 2


def test_rekor_down_cuts_kept_alive_connections(stack: SigstoreStack, wheel: Path) -> None:
    context = stack.signing_context()
    with context.signer(IdentityToken(stack.identity_token())) as signer:
        Attestation.sign(signer, Distribution.from_file(wheel))  # the session now holds a connection to Rekor
        with stack.rekor.down(), pytest.raises(requests.exceptions.ConnectionError):
            Attestation.sign(signer, Distribution.from_file(wheel))
        Attestation.sign(signer, Distribution.from_file(wheel))
    assert len(stack.rekor.entries) == 2


# -- trust config ------------------------------------------------------------------------------------------------
def test_trust_config_names_the_loopback_services(stack: SigstoreStack) -> None:
    config = json.loads(stack.trust_config_path.read_text())

    assert config["mediaType"] == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    signing = config["signingConfig"]
    assert [s["url"] for s in signing["caUrls"]] == [stack.fulcio.url]
    assert [(s["url"], s["majorApiVersion"]) for s in signing["rekorTlogUrls"]] == [(stack.rekor.url, 1)]
    root = config["trustedRoot"]
    assert root["tlogs"][0]["logId"]["keyId"] == base64.b64encode(stack.rekor.log_id).decode()
    assert root["ctlogs"][0]["logId"]["keyId"] == base64.b64encode(stack.ct_log.log_id).decode()
    assert root["timestampAuthorities"] == []
    assert signing["tsaUrls"] == []
    parsed = ClientTrustConfig.from_json(json.dumps(config))
    assert parsed.signing_config.get_fulcio().url == stack.fulcio.url
    assert parsed.trusted_root.get_fulcio_certs() == stack.keys.chain


# -- by hand -----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def running_cli(trust_config: Path, *args: str) -> Iterator[dict[str, str]]:
    """`python -m tests.fakes.sigstore_stack` until it says `ready`; yields what it printed; SIGTERM must exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.sigstore_stack", "--trust-config", str(trust_config), *args],
        cwd=ROOT,
        env=clean_env(PYTHONUNBUFFERED="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    printed: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 30
        while (line := lines.get(timeout=max(0.01, deadline - time.monotonic()))) != "ready":
            assert line is not None, f"the stack exited ({process.wait()}) before `ready`; printed {printed}"
            name, _, value = line.partition("=")
            printed[name] = value
        yield printed
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        reader.join(timeout=5)
        assert list(iter(lines.get_nowait, None)) == ["stopped"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_runs_a_stack_with_its_own_github(tmp_path: Path, wheel: Path) -> None:
    with running_cli(tmp_path / "trust.json") as printed:
        assert Path(printed["TRUST_CONFIG"]) == tmp_path / "trust.json"
        status, answer = http_get(  # a token as a GitHub job gets one
            printed["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=sigstore",
            headers={"Authorization": f"bearer {printed['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"},
        )
        assert status == 200
        config = ClientTrustConfig.from_json((tmp_path / "trust.json").read_text())
        with SigningContext.from_trust_config(config).signer(IdentityToken(json.loads(answer)["value"])) as signer:
            attestation = Attestation.sign(signer, Distribution.from_file(wheel))

    Verifier(trusted_root=config.trusted_root).verify_dsse(
        attestation.to_bundle(), policy.Identity(identity=SAN, issuer=ISSUER)
    )


def test_cli_trusts_issuers_given_by_jwks_url(tmp_path: Path, wheel: Path, github: FakeGitHubOIDC) -> None:
    with running_cli(tmp_path / "trust.json", "--issuer", f"{ISSUER}={github.jwks_url}") as printed:
        assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in printed  # no fake GitHub of its own
        context = SigningContext.from_trust_config(ClientTrustConfig.from_json((tmp_path / "trust.json").read_text()))
        with context.signer(IdentityToken(github.issue("sigstore"))) as signer:
            Attestation.sign(signer, Distribution.from_file(wheel))
        stranger = FakeGitHubOIDC()  # same issuer name, a key (and kid) not in the JWKS
        with pytest.raises(FulcioClientError):
            Signer(IdentityToken(stranger.issue("sigstore")), context)


def test_cli_refuses_a_malformed_issuer(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fakes.sigstore_stack",
            "--trust-config",
            str(tmp_path / "t.json"),
            "--issuer",
            "x",
        ],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "ISSUER=JWKS_URL" in result.stderr
    assert not os.path.exists(tmp_path / "t.json")
