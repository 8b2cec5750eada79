"""The ClientTrustConfig a Sigstore client needs to sign against, and verify with, one offline stack.

Shape as in Sigstore's TUF targets (`trusted_root.json`, `signing_config.v0.2.json`): the trusted root lists the
Rekor key (`tlogs`), the CA chain (`certificateAuthorities`, intermediate first), the CT log key (`ctlogs`) and no
timestamp authority; the signing config names the loopback Fulcio (`caUrls`) and Rekor v1 (`rekorTlogUrls`,
`majorApiVersion` 1). Every entry is valid from just before the keys were made, with no end, and has an operator:
sigstore-python drops services without a current window ("No valid Fulcio CA found in signing config").
`oidcUrls` lists interactive OAuth providers, and there is none: identity tokens come from the (fake) GitHub token
service, which is not one.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.fakes.sigstore_stack.keys import CLOCK_SKEW, StackKeys, key_id, spki_der

CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG = "application/vnd.dev.sigstore.signingconfig.v0.2+json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client_trust_config(
    keys: StackKeys, *, fulcio_url: str, rekor_url: str, ct_log_url: str, operator: str | None = None
) -> dict[str, Any]:
    start = (keys.created - CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
    valid_for = {"start": start}
    operator = operator or keys.organization

    def log(url: str, public_key: Any) -> dict[str, Any]:
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": _b64(spki_der(public_key)),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": valid_for,
            },
            "logId": {"keyId": _b64(key_id(public_key))},
        }

    def service(url: str) -> dict[str, Any]:
        return {"url": url, "majorApiVersion": 1, "validFor": valid_for, "operator": operator}

    return {
        "mediaType": CLIENT_TRUST_CONFIG,
        "trustedRoot": {
            "mediaType": TRUSTED_ROOT,
            "tlogs": [log(rekor_url, keys.rekor_key.public_key())],
            "certificateAuthorities": [
                {
                    "subject": {"organization": keys.organization, "commonName": "sigstore"},
                    "uri": fulcio_url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in keys.chain
                        ]
                    },
                    "validFor": valid_for,
                }
            ],
            "ctlogs": [log(ct_log_url, keys.ct_key.public_key())],
            "timestampAuthorities": [],
        },
        "signingConfig": {
            "mediaType": SIGNING_CONFIG,
            "caUrls": [service(fulcio_url)],
            "oidcUrls": [],
            "rekorTlogUrls": [service(rekor_url)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    }
