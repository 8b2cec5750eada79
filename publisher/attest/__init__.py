"""PEP 740 attestations: signing with Sigstore (Fulcio, Rekor) and the attestation files beside the dists.

May import publisher.index and everything below it.
"""
