"""A fake Fulcio (the v2 REST API as its grpc-gateway serves it) that checks what the real one checks.

`POST /api/v2/signingCert`, body `{"certificateSigningRequest": base64(PEM CSR)}` or `{"publicKeyRequest":
{"publicKey": {"content": PEM}, "proofOfPossession": base64(signature over the token's sub)}}`, identity token in
`Authorization: Bearer ...` (or `credentials.oidcIdentityToken`):

1. the token is verified (`oidc.TrustedIssuers`: issuer, signature, audience `sigstore`, expiry);
2. the public key must be a good one (EC P-256/384/521, RSA 2048-4096, Ed25519) and the proof of possession must
   verify (the CSR's self-signature, or the signature over `sub`), with a permitted key/hash pair;
3. the identity becomes a certificate following Fulcio's GitHub Actions mapping (`config/identity/config.yaml`,
   `ciprovider`): SAN URI `https://github.com/` + `job_workflow_ref`, the issuer in 1.3.6.1.4.1.57264.1.8 (and the
   deprecated raw .1.1), the deprecated .1.2-.1.6 and the .1.9-.1.24 claim extensions as DER UTF8Strings; a claim the
   mapping needs and the token lacks is a 400, as with Fulcio;
4. a precertificate (poison extension) signed by the intermediate goes to the CT log, and the final certificate is
   the same TBS with the poison replaced by the SCT list: code signing EKU, digital signature key usage, empty
   subject, critical SAN, 10 minutes of validity.

The answer is `{"signedCertificateEmbeddedSct": {"chain": {"certificates": [leaf, intermediate, root]}}}` (PEM).
Refusals are grpc-gateway errors, `{"code": 3, "message": ..., "details": []}` with HTTP 400, and like Fulcio's they
say only "There was an error processing the identity token": the real reason goes to `refusals` (Fulcio's log).
`GET /api/v2/trustBundle` and `GET /api/v2/configuration` answer too.

Faults: `fail_next` (statuses to answer first, one per request, e.g. `[503, 503]`), `identity_check` (a callable
given the verified claims that returns a reason to refuse that identity, or None), `go_down()`/`come_up()`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.fakes import Request, Response
from tests.fakes.sigstore_stack import der
from tests.fakes.sigstore_stack.ctlog import POISON_OID, CTLog, CTLogError, sct_list_extension
from tests.fakes.sigstore_stack.keys import StackKeys
from tests.fakes.sigstore_stack.oidc import IdentityRefused, TrustedIssuers
from tests.fakes.sigstore_stack.service import Service

SIGNING_CERT_PATH = "/api/v2/signingCert"
CERT_LIFETIME = timedelta(minutes=10)
GITHUB_URL = "https://github.com"

# Fulcio's server messages (pkg/server/error.go) and gRPC status codes as grpc-gateway writes them.
INVALID_IDENTITY_TOKEN = "There was an error processing the identity token"
INVALID_CSR = "The certificate signing request could not be parsed"
INVALID_PUBLIC_KEY = "The public key supplied in the request could not be parsed"
INSECURE_PUBLIC_KEY = "The public key supplied in the request is insecure"
INVALID_SIGNATURE = "The signature supplied in the request could not be verified"
CT_ERROR = "Error entering certificate in CTL"
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4}

# Fulcio's GitHub Actions mapping: extension OID -> template over the token's claims (`url` is github.com).
_DEPRECATED = [  # raw bytes, not DER (Fulcio's "incorrect encoding", kept for old clients)
    ("1.3.6.1.4.1.57264.1.2", "{event_name}"),
    ("1.3.6.1.4.1.57264.1.3", "{sha}"),
    ("1.3.6.1.4.1.57264.1.4", "{workflow}"),
    ("1.3.6.1.4.1.57264.1.5", "{repository}"),
    ("1.3.6.1.4.1.57264.1.6", "{ref}"),
]
_CLAIM_EXTENSIONS = [  # DER UTF8String
    ("1.3.6.1.4.1.57264.1.9", "{url}/{job_workflow_ref}"),  # Build Signer URI
    ("1.3.6.1.4.1.57264.1.10", "{job_workflow_sha}"),  # Build Signer Digest
    ("1.3.6.1.4.1.57264.1.11", "{runner_environment}"),
    ("1.3.6.1.4.1.57264.1.12", "{url}/{repository}"),  # Source Repository URI
    ("1.3.6.1.4.1.57264.1.13", "{sha}"),  # Source Repository Digest
    ("1.3.6.1.4.1.57264.1.14", "{ref}"),  # Source Repository Ref
    ("1.3.6.1.4.1.57264.1.15", "{repository_id}"),
    ("1.3.6.1.4.1.57264.1.16", "{url}/{repository_owner}"),
    ("1.3.6.1.4.1.57264.1.17", "{repository_owner_id}"),
    ("1.3.6.1.4.1.57264.1.18", "{url}/{workflow_ref}"),  # Build Config URI
    ("1.3.6.1.4.1.57264.1.19", "{workflow_sha}"),  # Build Config Digest
    ("1.3.6.1.4.1.57264.1.20", "{event_name}"),  # Build Trigger
    ("1.3.6.1.4.1.57264.1.21", "{url}/{repository}/actions/runs/{run_id}/attempts/{run_attempt}"),
    ("1.3.6.1.4.1.57264.1.22", "{repository_visibility}"),
    ("1.3.6.1.4.1.57264.1.23", "{environment}"),  # Deployment Environment, optional (default "")
]
ISSUER_V1_OID = "1.3.6.1.4.1.57264.1.1"
ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"
SUBJECT_OID = "1.3.6.1.4.1.57264.1.24"


class Refusal(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.message, self.reason = status, message, reason


def github_identity(claims: Mapping[str, Any]) -> tuple[str, list[tuple[str, bytes]]]:
    """The SAN URI and the Fulcio extensions (OID, encoded value, in Fulcio's order) for a GitHub Actions token."""
    values = {"url": GITHUB_URL, "environment": "", **{name: _claim_text(value) for name, value in claims.items()}}

    def render(template: str, oid: str) -> str:
        try:
            return template.format_map(values)
        except KeyError as missing:
            message = f"value <{missing.args[0]}> not present in either claims or defaults"
            raise Refusal(400, message, f"{message} ({oid})") from None

    san = render("{url}/{job_workflow_ref}", "SubjectAlternativeName")
    deprecated = [(oid, render(template, oid)) for oid, template in _DEPRECATED]
    current = [(oid, render(template, oid)) for oid, template in _CLAIM_EXTENSIONS]
    issuer = str(claims["iss"])
    extensions = [(ISSUER_V1_OID, issuer.encode())]
    extensions += [(oid, value.encode()) for oid, value in deprecated if value]
    extensions.append((ISSUER_V2_OID, der.utf8_string(issuer)))
    extensions += [(oid, der.utf8_string(value)) for oid, value in current if value]  # Fulcio skips empty values
    extensions.append((SUBJECT_OID, der.utf8_string(str(claims["sub"]))))
    return san, extensions


class FakeFulcio(Service):
    """Fulcio's v2 API over a `StackKeys` CA and a `CTLog`; records `issued` certificates and `refusals`."""

    def __init__(self, keys: StackKeys, ct_log: CTLog, issuers: TrustedIssuers) -> None:
        super().__init__()
        self.keys = keys
        self.ct_log = ct_log
        self.issuers = issuers
        self.fail_next: list[int] = []
        self.identity_check: Callable[[Mapping[str, Any]], str | None] | None = None
        self.issued: list[x509.Certificate] = []
        self.refusals: list[str] = []
        self._state = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._state:
            status = self.fail_next.pop(0) if self.fail_next else None
        if status is not None:
            return _error(status, "injected failure (fake Fulcio)")
        if request.method == "POST" and request.path == SIGNING_CERT_PATH:
            try:
                chain = self._signing_cert(request)
            except Refusal as refusal:
                with self._state:
                    self.refusals.append(refusal.reason)
                return _error(refusal.status, refusal.message)
            pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
            return Response.json(200, {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}})
        if request.method == "GET" and request.path == "/api/v2/trustBundle":
            pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in self.keys.chain]
            return Response.json(200, {"chains": [{"certificates": pems}]})
        if request.method == "GET" and request.path == "/api/v2/configuration":
            audience = self.issuers.client_id
            issuers = [{"issuerUrl": url, "audience": audience, "challengeClaim": "sub"} for url in self.issuers.urls]
            return Response.json(200, {"issuers": issuers})
        return _error(404, "Not Found")

    # -- the signing flow ----------------------------------------------------------------------------------------
    def _signing_cert(self, request: Request) -> list[x509.Certificate]:
        try:
            body = json.loads(request.body)
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            raise Refusal(400, f"invalid request body: {exc}", f"bad JSON: {exc}") from None
        token = request.headers.get("authorization", "").replace("Bearer ", "", 1)
        credentials = body.get("credentials")
        if isinstance(credentials, dict) and isinstance(credentials.get("oidcIdentityToken"), str):
            token = credentials["oidcIdentityToken"]
        try:
            claims = self.issuers.verify(token)
        except IdentityRefused as refused:
            raise Refusal(400, INVALID_IDENTITY_TOKEN, str(refused)) from None
        if self.identity_check is not None and (reason := self.identity_check(claims)):
            raise Refusal(400, INVALID_IDENTITY_TOKEN, reason)
        public_key = self._proven_key(body, str(claims["sub"]))
        san, extensions = github_identity(claims)
        precert = self._precertificate(public_key, san, extensions)
        try:
            sct = self.ct_log.add_pre_chain(precert, self.keys.chain)
        except CTLogError as exc:
            raise Refusal(500, CT_ERROR, f"CT log: {exc}") from None
        leaf = self._final(precert, sct)
        with self._state:
            self.issued.append(leaf)
        return [leaf, *self.keys.chain]

    def _proven_key(self, body: dict[str, Any], subject: str) -> CertificatePublicKeyTypes:
        """The requester's public key, once it has proven it holds the private half (Fulcio's two options)."""
        if body.get("certificateSigningRequest"):
            try:
                csr = x509.load_pem_x509_csr(base64.b64decode(body["certificateSigningRequest"], validate=True))
                public_key = csr.public_key()
            except (ValueError, TypeError, binascii.Error) as exc:
                raise Refusal(400, INVALID_CSR, f"CSR: {exc}") from None
            _check_good_key(public_key)
            if not csr.is_signature_valid:
                raise Refusal(400, INVALID_SIGNATURE, "CSR signature does not verify")
            _check_permitted(public_key, csr.signature_hash_algorithm)
            return public_key
        request = body.get("publicKeyRequest")
        if not isinstance(request, dict):
            raise Refusal(400, INVALID_PUBLIC_KEY, "neither certificateSigningRequest nor publicKeyRequest")
        try:
            key = serialization.load_pem_public_key(str(request["publicKey"]["content"]).encode())
            proof = base64.b64decode(request["proofOfPossession"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise Refusal(400, INVALID_PUBLIC_KEY, f"public key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
            raise Refusal(400, INSECURE_PUBLIC_KEY, f"unsupported key type {type(key).__name__}")
        _check_good_key(key)
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(proof, subject.encode(), ec.ECDSA(_curve_hash(key)))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(proof, subject.encode(), padding.PKCS1v15(), hashes.SHA256())
            else:
                key.verify(proof, subject.encode())
        except InvalidSignature:
            raise Refusal(400, INVALID_SIGNATURE, "proof of possession does not verify") from None
        return key

    def _precertificate(
        self, public_key: CertificatePublicKeyTypes, san: str, extensions: list[tuple[str, bytes]]
    ) -> x509.Certificate:
        now = datetime.now(UTC).replace(microsecond=0)
        issuer_ski = self.keys.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.keys.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + CERT_LIFETIME)
            .add_extension(_LEAF_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True)
        )
        for oid, value in extensions:
            builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), False)
        builder = builder.add_extension(x509.PrecertPoison(), critical=True)
        return builder.sign(self.keys.intermediate_key, hashes.SHA384())

    def _final(self, precert: x509.Certificate, sct: bytes) -> x509.Certificate:
        """The precertificate's TBS with the poison swapped for the SCT list, re-signed (Fulcio's baseca)."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(precert.subject)
            .issuer_name(precert.issuer)
            .public_key(precert.public_key())
            .serial_number(precert.serial_number)
            .not_valid_before(precert.not_valid_before_utc)
            .not_valid_after(precert.not_valid_after_utc)
        )
        for extension in precert.extensions:
            if extension.oid.dotted_string != POISON_OID:
                builder = builder.add_extension(extension.value, extension.critical)
        builder = builder.add_extension(sct_list_extension([sct]), critical=False)
        return builder.sign(self.keys.intermediate_key, hashes.SHA384())


_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def _curve_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return _CURVE_HASHES[key.curve.name]()


def _check_good_key(key: object) -> None:
    """sigstore's `goodkey.ValidatePubKey`: the curves and RSA sizes Fulcio accepts."""
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVE_HASHES:
        return
    if isinstance(key, rsa.RSAPublicKey) and 2048 <= key.key_size <= 4096:
        return
    if isinstance(key, ed25519.Ed25519PublicKey):
        return
    raise Refusal(400, INSECURE_PUBLIC_KEY, f"insecure or unsupported key: {type(key).__name__}")


def _check_permitted(key: object, algorithm: hashes.HashAlgorithm | None) -> None:
    """Fulcio's default algorithm registry: ECDSA with its curve's hash, RSA with SHA-256, Ed25519."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        permitted = isinstance(algorithm, _CURVE_HASHES[key.curve.name])
    elif isinstance(key, rsa.RSAPublicKey):
        permitted = isinstance(algorithm, hashes.SHA256)
    else:
        permitted = isinstance(key, ed25519.Ed25519PublicKey)
    if not permitted:
        name = algorithm.name if algorithm else None
        message = f"signing algorithm not permitted: {type(key).__name__}, {name}"
        raise Refusal(400, message, message)


def _claim_text(value: Any) -> str:
    """Claims as Fulcio's template sees them (Go's `%v`; whole floats without a fraction)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"code": _GRPC_CODES.get(status, 2), "message": message, "details": []})
