"""The secrets of one offline Sigstore instance: its CA (root and intermediate), its CT log key and its Rekor key.

Making them is cheap (EC keys), but tests that start many stacks can share one `StackKeys`; a stack made from other
keys is "another instance" whose bundles must not verify against this one's trusted root. The CA is shaped like
Sigstore's public one (P-384, root `sigstore` and `sigstore-intermediate`, the intermediate with the code-signing EKU
that Fulcio requires of it), so that the verifier's path building (cryptography's web PKI profile) is exercised for
real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=365)
CLOCK_SKEW = timedelta(minutes=1)  # certificates and validFor windows start this much before their creation


def spki_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: PublicKeyTypes) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo: the log ID of a CT log or of Rekor (RFC 6962 and Sigstore alike)."""
    return hashlib.sha256(spki_der(key)).digest()


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class StackKeys:
    root_key: ec.EllipticCurvePrivateKey = field(repr=False)
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey = field(repr=False)
    intermediate: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey = field(repr=False)
    rekor_key: ec.EllipticCurvePrivateKey = field(repr=False)
    created: datetime
    organization: str

    @classmethod
    def generate(cls, organization: str = "sigstore.test") -> StackKeys:
        now = datetime.now(UTC).replace(microsecond=0)
        root_key = ec.generate_private_key(ec.SECP384R1())
        intermediate_key = ec.generate_private_key(ec.SECP384R1())
        root_name = _name("sigstore", organization)
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA384())
        )
        intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name("sigstore-intermediate", organization))
            .issuer_name(root_name)
            .public_key(intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(intermediate_key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA384())
        )
        return cls(
            root_key=root_key,
            root=root,
            intermediate_key=intermediate_key,
            intermediate=intermediate,
            ct_key=ec.generate_private_key(ec.SECP256R1()),
            rekor_key=ec.generate_private_key(ec.SECP256R1()),
            created=now,
            organization=organization,
        )

    @property
    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, root last: the order of Fulcio's answers and of the trusted root's `certChain`."""
        return [self.intermediate, self.root]


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
