"""An offline Sigstore instance on 127.0.0.1 for signing and verifying PEP 740 attestations in tests.

Faithful where clients and verifiers look, so that sigstore-python's own `Verifier` is the judge: a Fulcio that
verifies identity tokens and proofs of possession and issues GitHub Actions certificates with one embedded SCT from a
CT log (`fulcio`, `ctlog`, `oidc`), a Rekor v1 that validates entries and logs them in a real RFC 6962 tree with SETs
and signed checkpoints (`rekor`, `merkle`), and the ClientTrustConfig naming them (`trust`). `SigstoreStack` (`stack`)
runs them together; `python -m tests.fakes.sigstore_stack --trust-config PATH` runs them by hand (`__main__`).
"""

from tests.fakes.sigstore_stack.keys import StackKeys
from tests.fakes.sigstore_stack.stack import SigstoreStack

__all__ = ["SigstoreStack", "StackKeys"]
