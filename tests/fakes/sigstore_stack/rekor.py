"""A fake Rekor v1: a real RFC 6962 log of validated entries, with SETs and signed checkpoints.

`POST /api/v1/log/entries` takes the proposed entries sigstore-python makes:

- `dsse` 0.0.1 (what PEP 740 signing writes): `proposedContent.envelope` (the envelope JSON as a string) and
  `proposedContent.verifiers` (base64 PEM certificates or keys). As Rekor does, every signature in the envelope must
  verify over the DSSE PAE with one of the verifiers (SHA-256), and the entry logged is the canonical body
  `{envelopeHash, payloadHash, signatures: [{signature, verifier}]}` (signatures sorted), never the envelope;
- `hashedrekord` 0.0.1 (what `sign_artifact` writes): the signature must verify over the digest with the key or
  certificate given.

The canonical body (RFC 8785 JSON) is appended to a Merkle tree; the answer is Rekor's `{entryID: {body,
integratedTime, logID, logIndex, verification: {inclusionProof: {logIndex, rootHash, treeSize, hashes, checkpoint},
signedEntryTimestamp}}}` with HTTP 201, where the SET signs `{body, integratedTime, logID, logIndex}` (canonical
JSON) and the checkpoint is a signed note `<origin>\n<size>\n<base64 root>\n\n— <name> base64(key hash[:4] ||
signature)\n`, both with the log key whose ID (SHA-256 of its SPKI) is the trusted root's `tlogs[].logId`. The same
entry twice is a 409, a malformed or unverifiable one a 400 (`{"code", "message"}`), as Rekor answers.

Reads: `GET /api/v1/log` (tree head), `GET /api/v1/log/entries/{entryID or uuid}`, `GET
/api/v1/log/entries?logIndex=N` (with a proof against the current tree), `GET /api/v1/log/publicKey`.

Faults: `fail_next` (statuses to answer first, one per request), `go_down()`/`come_up()` (connection refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tests.fakes import Request, Response
from tests.fakes.sigstore_stack.keys import key_id
from tests.fakes.sigstore_stack.merkle import MerkleTree
from tests.fakes.sigstore_stack.service import Service

ENTRIES_PATH = "/api/v1/log/entries"
ALREADY_EXISTS = "an equivalent entry already exists in the transparency log with UUID"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_ENTRY_ID = re.compile(r"^(?:[0-9a-f]{16})?([0-9a-f]{64})$")


class Invalid(ValueError):
    """A proposed entry Rekor would answer 400 to."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for what Rekor logs (strings, integers, objects, arrays): sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signatures sign."""
    encoded = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded), encoded, len(payload), payload)


@dataclass(frozen=True)
class LogEntry:
    entry_id: str
    body: bytes
    integrated_time: int
    log_index: int


class FakeRekor(Service):
    """One log shard; `entries` in log order."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, name: str = "rekor.sigstore.test") -> None:
        super().__init__()
        self._key = key
        self.name = name
        self.tree_id = secrets.randbits(62) | 1 << 60  # a Trillian-like positive int64
        self.log_id = key_id(key.public_key())
        self.tree = MerkleTree()
        self.entries: list[LogEntry] = []
        self.fail_next: list[int] = []
        self._by_uuid: dict[str, LogEntry] = {}
        self._write = threading.Lock()

    @property
    def origin(self) -> str:
        return f"{self.name} - {self.tree_id}"

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self._write:
            status = self.fail_next.pop(0) if self.fail_next else None
        if status is not None:
            return _error(status, "injected failure (fake Rekor)")
        if request.method == "POST" and request.path == ENTRIES_PATH:
            return self._create(request.body)
        if request.method == "GET" and request.path == "/api/v1/log":
            size = len(self.tree)
            return Response.json(
                200,
                {
                    "rootHash": self.tree.root(size).hex(),
                    "treeSize": size,
                    "signedTreeHead": self.checkpoint(size),
                    "treeID": str(self.tree_id),
                    "inactiveShards": [],
                },
            )
        if request.method == "GET" and request.path == "/api/v1/log/publicKey":
            pem = self._key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return Response(200, pem, {"Content-Type": "application/x-pem-file"})
        if request.method == "GET" and request.path == ENTRIES_PATH and "logIndex" in request.query:
            index = request.query["logIndex"][0]
            if not index.isdigit() or int(index) >= len(self.entries):
                return _error(404, "log entry not found")
            entry = self.entries[int(index)]
            return Response.json(200, self._entry_json(entry))
        if request.method == "GET" and request.path.startswith(ENTRIES_PATH + "/"):
            match = _ENTRY_ID.match(request.path.removeprefix(ENTRIES_PATH + "/"))
            found = self._by_uuid.get(match.group(1)) if match else None
            if found is None:
                return _error(404, "log entry not found")
            return Response.json(200, self._entry_json(found))
        return _error(404, "path not found")

    def _create(self, body: bytes) -> Response:
        try:
            proposed = json.loads(body)
            if not isinstance(proposed, dict):
                raise Invalid("proposed entry is not an object")
            leaf = canonical_json(canonical_entry(proposed))
        except (Invalid, ValueError, TypeError, KeyError) as exc:
            return _error(400, f"error processing entry: {exc}")
        uuid = hashlib.sha256(b"\x00" + leaf).hexdigest()
        with self._write:
            existing = self._by_uuid.get(uuid)
            if existing is None:
                index, size = self.tree.append(leaf)
                entry = LogEntry(f"{self.tree_id:016x}{uuid}", leaf, int(time.time()), index)
                self.entries.append(entry)
                self._by_uuid[uuid] = entry
        if existing is not None:
            return Response.json(
                409,
                {"code": 409, "message": f"{ALREADY_EXISTS} {existing.entry_id}"},
                Location=f"{ENTRIES_PATH}/{existing.entry_id}",
            )
        return Response.json(
            201, self._entry_json(entry, size), Location=f"{ENTRIES_PATH}/{entry.entry_id}", ETag=entry.entry_id
        )

    # -- signed answers ------------------------------------------------------------------------------------------
    def _entry_json(self, entry: LogEntry, size: int | None = None) -> dict[str, Any]:
        size = len(self.tree) if size is None else size
        anonymous: dict[str, Any] = {
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": entry.log_index,
        }
        set_signature = self._key.sign(canonical_json(anonymous), ec.ECDSA(hashes.SHA256()))
        anonymous["verification"] = {
            "inclusionProof": {
                "logIndex": entry.log_index,
                "rootHash": self.tree.root(size).hex(),
                "treeSize": size,
                "hashes": [h.hex() for h in self.tree.inclusion_proof(entry.log_index, size)],
                "checkpoint": self.checkpoint(size),
            },
            "signedEntryTimestamp": base64.b64encode(set_signature).decode(),
        }
        return {entry.entry_id: anonymous}

    def checkpoint(self, size: int | None = None) -> str:
        """The signed note committing to the tree of `size` leaves (Rekor's `CreateAndSignCheckpoint`)."""
        size = len(self.tree) if size is None else size
        note = f"{self.origin}\n{size}\n{base64.b64encode(self.tree.root(size)).decode()}\n"
        signature = self._key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{note}\n\u2014 {self.name} {base64.b64encode(self.log_id[:4] + signature).decode()}\n"


# -- entry types -----------------------------------------------------------------------------------------------
def canonical_entry(proposed: dict[str, Any]) -> dict[str, Any]:
    """The body Rekor logs for a proposed entry, after checking it as Rekor does; Invalid otherwise."""
    kind, version, spec = proposed.get("kind"), proposed.get("apiVersion"), proposed.get("spec")
    if not isinstance(spec, dict):
        raise Invalid("spec must be an object")
    if (kind, version) == ("dsse", "0.0.1"):
        return {"apiVersion": "0.0.1", "kind": "dsse", "spec": _dsse_spec(spec)}
    if (kind, version) == ("hashedrekord", "0.0.1"):
        return {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": _hashedrekord_spec(spec)}
    raise Invalid(f"unsupported entry type {kind} {version} (this fake logs dsse and hashedrekord 0.0.1)")


def _dsse_spec(spec: dict[str, Any]) -> dict[str, Any]:
    if any(spec.get(name) for name in ("envelopeHash", "payloadHash", "signatures")):  # null counts as absent
        raise Invalid(
            "either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both"
        )
    content = spec.get("proposedContent")
    if not isinstance(content, dict) or not isinstance(content.get("envelope"), str):
        raise Invalid("proposed content envelope is missing")
    envelope_text: str = content["envelope"]
    envelope = json.loads(envelope_text)
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = str(envelope["payloadType"])
        signatures = [str(s["sig"]) for s in envelope["signatures"]]
    except (KeyError, TypeError, binascii.Error) as exc:
        raise Invalid(f"malformed DSSE envelope: {exc}") from None
    if not signatures:
        raise Invalid("DSSE envelope must contain 1 or more signatures")
    verifiers = [_load_verifier(v) for v in content.get("verifiers") or []]
    message = pae(payload_type, payload)
    logged = []
    for signature in signatures:
        raw = base64.b64decode(signature)
        key_pem = next((pem for key, pem in verifiers if _verifies(key, raw, message, hashes.SHA256())), None)
        if key_pem is None:
            raise Invalid("could not verify envelope: all signatures must have a key that verifies it")
        logged.append({"signature": signature, "verifier": base64.b64encode(key_pem).decode()})
    return {
        "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": sorted(logged, key=lambda s: s["signature"]),
    }


def _hashedrekord_spec(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        signature_b64 = str(spec["signature"]["content"])
        key, pem = _load_verifier(spec["signature"]["publicKey"]["content"])
        algorithm = str(spec["data"]["hash"]["algorithm"])
        digest_hex = str(spec["data"]["hash"]["value"])
        digest = bytes.fromhex(digest_hex)
        signature = base64.b64decode(signature_b64, validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise Invalid(f"malformed hashedrekord: {exc}") from None
    if algorithm not in _HASHES or len(digest) != _HASHES[algorithm]().digest_size:
        raise Invalid(f"unsupported or malformed hash {algorithm}")
    if not _verifies(key, signature, digest, utils.Prehashed(_HASHES[algorithm]())):
        raise Invalid("verifying signature: invalid signature when validating ASN.1 encoded signature")
    return {
        "data": {"hash": {"algorithm": algorithm, "value": digest_hex}},
        "signature": {"content": signature_b64, "publicKey": {"content": base64.b64encode(pem).decode()}},
    }


def _load_verifier(encoded: Any) -> tuple[PublicKeyTypes, bytes]:
    """A verifier (base64 PEM certificate or public key) as its key and Rekor's canonical PEM for it."""
    try:
        pem = base64.b64decode(str(encoded), validate=True)
        if b"CERTIFICATE" in pem:
            certificate = x509.load_pem_x509_certificate(pem)
            return certificate.public_key(), certificate.public_bytes(serialization.Encoding.PEM)
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Invalid(f"could not parse public key as x509: {exc}") from None
    return key, key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _verifies(
    key: PublicKeyTypes, signature: bytes, message: bytes, algorithm: hashes.HashAlgorithm | utils.Prehashed
) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey) and not isinstance(algorithm, utils.Prehashed):
            key.verify(signature, message)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"code": status, "message": message})
