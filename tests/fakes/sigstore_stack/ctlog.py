"""The certificate transparency log Fulcio submits precertificates to, in process (its `add-pre-chain`).

Fulcio's only use of the log is to get one SCT for a precertificate, which it then embeds in the final certificate.
What a client checks is the SCT, so that part is exact (RFC 6962 section 3.2): the log takes the precertificate and
its issuer, refuses anything that is not a precertificate issued by a CA it accepts, removes the poison extension
from the TBSCertificate and signs `(version, certificate_timestamp, timestamp, precert_entry, SHA-256(issuer SPKI),
TBS, extensions)` with its key, whose ID (SHA-256 of its SPKI) is listed in the trusted root's `ctlogs`. What is left
out: the HTTP front end, the Merkle tree of certificates and its STHs, which no Sigstore client reads.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.sigstore_stack import der
from tests.fakes.sigstore_stack.keys import key_id, spki_der

POISON_OID = "1.3.6.1.4.1.11129.2.4.3"
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"
_V1 = 0
_CERTIFICATE_TIMESTAMP = 0
_PRECERT_ENTRY = 1
_SHA256, _ECDSA = 4, 3  # TLS HashAlgorithm and SignatureAlgorithm numbers


class CTLogError(ValueError):
    """The log refused the chain (a real CT log answers 400)."""


class CTLog:
    """Issues SCTs for precertificates whose issuer chains to one of `accepted_roots`; keeps what it logged."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, accepted_roots: list[x509.Certificate]) -> None:
        self._key = key
        self.log_id = key_id(key.public_key())
        self.accepted_roots = accepted_roots
        self.entries: list[x509.Certificate] = []
        self._lock = threading.Lock()

    def add_pre_chain(self, precert: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
        """The serialized SCT (TLS encoding) for `precert`, issued by `chain[0]`, `chain[-1]` an accepted root."""
        try:
            poison = precert.extensions.get_extension_for_oid(x509.ObjectIdentifier(POISON_OID))
        except x509.ExtensionNotFound:
            raise CTLogError("not a precertificate: no poison extension") from None
        if not poison.critical:
            raise CTLogError("precertificate poison extension must be critical")
        if not chain or chain[-1] not in self.accepted_roots:
            raise CTLogError("chain does not end in an accepted root")
        try:
            for child, parent in zip([precert, *chain], chain, strict=False):
                child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CTLogError(f"chain does not verify: {exc}") from None
        issuer_key_hash = hashlib.sha256(spki_der(chain[0].public_key())).digest()
        tbs = der.without_extension(precert.tbs_certificate_bytes, POISON_OID)
        timestamp = int(time.time() * 1000)
        extensions = b""
        signed = (
            struct.pack("!BBQH", _V1, _CERTIFICATE_TIMESTAMP, timestamp, _PRECERT_ENTRY)
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", len(extensions))
            + extensions
        )
        signature = self._key.sign(signed, ec.ECDSA(hashes.SHA256()))
        with self._lock:
            self.entries.append(precert)
        return (
            struct.pack("!B32sQH", _V1, self.log_id, timestamp, len(extensions))
            + extensions
            + struct.pack("!BBH", _SHA256, _ECDSA, len(signature))
            + signature
        )


def sct_list_extension(scts: list[bytes]) -> x509.UnrecognizedExtension:
    """The embedded SCT list extension (RFC 6962 section 3.3): an OCTET STRING around the TLS `SCTList`."""
    body = b"".join(struct.pack("!H", len(sct)) + sct for sct in scts)
    return x509.UnrecognizedExtension(
        x509.ObjectIdentifier(SCT_LIST_OID), der.octet_string(struct.pack("!H", len(body)) + body)
    )
