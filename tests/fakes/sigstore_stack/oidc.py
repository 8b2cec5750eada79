"""Identity-token checks as Fulcio makes them (go-oidc's `IDTokenVerifier` behind its issuer pool).

In order: the unverified `iss` must be a configured issuer ("unsupported issuer" otherwise); the signature must
verify with that issuer's keys (RS256 or ES256; with a `kid`, the key of that ID, fetching the JWKS again once when it
is unknown, as go-oidc's remote key set does); `iss` must equal the issuer, `aud` must contain the client ID
`sigstore`; the token must not be expired (no leeway) nor used before `nbf` (5 minutes of leeway). `iat` is not
checked, as go-oidc does not.

An issuer's keys come from a public key given directly (how tests wire a `FakeGitHubOIDC`) or from a JWKS URL on
loopback (what Fulcio gets from the issuer's discovery document; there is no discovery here, the URL is configured).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLIENT_ID = "sigstore"
ALGORITHMS = ["RS256", "ES256"]
NBF_LEEWAY_SECONDS = 300
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

VerifyingKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
KeySource = VerifyingKey | bytes | str  # a key, a PEM public key, or a JWKS URL


class IdentityRefused(Exception):
    """Why a token was refused, in go-oidc's words; Fulcio logs it and tells the client only a generic message."""


class IssuerKeys:
    """The verification keys of one issuer: fixed, or fetched from a JWKS URL (cached, refreshed on an unknown kid)."""

    def __init__(self, source: KeySource) -> None:
        self.jwks_url: str | None = None
        self._keys: dict[str | None, VerifyingKey] = {}
        self._lock = threading.Lock()
        if isinstance(source, str):
            self.jwks_url = source
        elif isinstance(source, bytes):
            self._keys[None] = _verifying(serialization.load_pem_public_key(source))
        else:
            self._keys[None] = source

    def candidates(self, kid: str | None) -> list[VerifyingKey]:
        if self.jwks_url is None:
            return list(self._keys.values())
        with self._lock:
            if not self._keys or (kid is not None and kid not in self._keys):
                self._keys = self._fetch()
            if kid is not None:
                return [self._keys[kid]] if kid in self._keys else []
            return list(self._keys.values())

    def _fetch(self) -> dict[str | None, VerifyingKey]:
        assert self.jwks_url is not None
        try:
            with _OPENER.open(self.jwks_url, timeout=10) as response:
                document = json.loads(response.read())
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise IdentityRefused(f"oidc: failed to fetch keys from {self.jwks_url}: {exc}") from None
        return {key.key_id: _verifying(key.key) for key in key_set.keys}


class TrustedIssuers:
    """The issuers Fulcio is configured with, each with its keys; `verify()` is the whole token check."""

    def __init__(self, issuers: Mapping[str, KeySource] | None = None, *, client_id: str = CLIENT_ID) -> None:
        self.client_id = client_id
        self._issuers = {issuer: IssuerKeys(source) for issuer, source in (issuers or {}).items()}

    def add(self, issuer: str, source: KeySource) -> None:
        self._issuers[issuer] = IssuerKeys(source)

    @property
    def urls(self) -> list[str]:
        return list(self._issuers)

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The verified claims, or IdentityRefused."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise IdentityRefused(f"oidc: malformed jwt: {exc}") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise IdentityRefused(f"failed to match issuer URL {issuer} from token with any configured providers")
        if header.get("alg") not in ALGORITHMS:
            raise IdentityRefused(f"oidc: id token signed with unsupported algorithm, expected {ALGORITHMS}")
        kid = header.get("kid")
        keys = self._issuers[issuer].candidates(kid if isinstance(kid, str) else None)
        claims: dict[str, Any] | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise IdentityRefused(f"oidc: malformed jwt: {exc}") from None
        if claims is None:
            raise IdentityRefused("failed to verify signature: failed to verify id token signature")
        return self._check_claims(claims, issuer, time.time() if now is None else now)

    def _check_claims(self, claims: dict[str, Any], issuer: str, now: float) -> dict[str, Any]:
        if claims.get("iss") != issuer:
            raise IdentityRefused(f"oidc: id token issued by a different provider, expected {issuer!r}")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise IdentityRefused(f"oidc: expected audience {self.client_id!r} got {audiences!r}")
        expiry = claims.get("exp")
        if not isinstance(expiry, int | float) or expiry <= now:
            raise IdentityRefused(f"oidc: token is expired (Token Expiry: {expiry})")
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and not_before > now + NBF_LEEWAY_SECONDS:
            raise IdentityRefused(f"oidc: current time {int(now)} before the nbf (not before) time: {not_before}")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise IdentityRefused("oidc: token has no subject")
        return claims


def _verifying(key: object) -> VerifyingKey:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise TypeError(f"unsupported issuer key type {type(key).__name__}")
    return key
