"""A fake of GitHub Actions' OIDC token service (what `ACTIONS_ID_TOKEN_REQUEST_URL` points at).

Like GitHub's, it wants `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, takes the audience from the
`audience` query parameter appended to a URL that already has `?api-version=2.0` (without one, GitHub's default: the
repository owner's URL, `https://github.com/OWNER`), and answers `{"count": ..., "value": <JWT>}` where the JWT is
RS256-signed by a key only this fake holds. Its public half is served as GitHub serves its keys, a JWKS at
`/.well-known/jwks` (`jwks_url`), for verifiers that fetch keys (the fake Fulcio, the fake JFrog). The claims mirror
a real token for a tag push; override or remove (value None) any of them per fake or per test through `claims`.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import FakeServer, Request, Response

ISSUER = "https://token.actions.githubusercontent.com"
JWKS_PATH = "/.well-known/jwks"
TOKEN_PATH = "/_apis/distributedtask/hubs/Actions/plans/00000000-plan/jobs/00000000-job/idtoken"
LIFETIME_SECONDS = 300  # GitHub's ID tokens are short-lived (minutes)


def default_claims(
    repository: str = "octo-org/octo-repo",
    workflow_file: str = "release.yml",
    ref: str = "refs/tags/v1.0.0",
    environment: str | None = "pypi",
) -> dict[str, Any]:
    """The claims GitHub puts in a token for a tag push from `repository`'s `workflow_file` in `environment`."""
    owner = repository.split("/", 1)[0]
    workflow_ref = f"{repository}/.github/workflows/{workflow_file}@{ref}"
    subject = f"repo:{repository}:environment:{environment}" if environment else f"repo:{repository}:ref:{ref}"
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "repository": repository,
        "repository_id": "123456789",
        "repository_owner": owner,
        "repository_owner_id": "987654",
        "repository_visibility": "public",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "Release",
        "workflow_ref": workflow_ref,
        "workflow_sha": "a" * 40,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": "a" * 40,
        "ref": ref,
        "ref_type": "tag",
        "ref_protected": "false",
        "sha": "a" * 40,
        "event_name": "push",
        "run_id": "4242424242",
        "run_number": "7",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
    }
    if environment:
        claims["environment"] = environment
    return claims


class FakeGitHubOIDC(FakeServer):
    """Issues signed ID tokens to callers presenting `request_token`; records every request and token issued."""

    def __init__(self, claims: dict[str, Any] | None = None, *, request_token: str | None = None) -> None:
        super().__init__()
        self.claims: dict[str, Any] = default_claims() if claims is None else claims
        self.request_token = request_token or "ghs_" + secrets.token_urlsafe(24)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self.issued: list[str] = []
        self.fail_next: list[int] = []  # statuses to answer with first, one per request, for retry tests

    @property
    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    @property
    def jwks(self) -> dict[str, Any]:
        """The public key as GitHub publishes its signing keys (RFC 7517 key set, `kid` as in the tokens' header)."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key))
        return {"keys": [{**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}]}

    @property
    def jwks_url(self) -> str:
        return f"{self.url}{JWKS_PATH}"

    @property
    def request_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}?api-version=2.0"

    @property
    def env(self) -> dict[str, str]:
        """The two variables GitHub sets for jobs with `permissions: id-token: write`."""
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}

    def issue(self, audience: str, **overrides: Any) -> str:
        """A signed token as GitHub would issue it now; usable directly by tests of the fake index."""
        now = int(time.time())
        claims = {**self.claims, "aud": audience, "jti": str(uuid.uuid4()), "iat": now, "nbf": now - 5}
        claims["exp"] = now + LIFETIME_SECONDS
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})
        self.issued.append(token)
        return token

    def handle(self, request: Request) -> Response:
        if self.fail_next:
            return Response.json(self.fail_next.pop(0), {"message": "Service unavailable (fake)"})
        if request.method == "GET" and request.path == JWKS_PATH:
            return Response.json(200, self.jwks)
        if request.method != "GET" or request.path != TOKEN_PATH:
            return Response.json(404, {"message": "Not Found"})
        if request.query.get("api-version") != ["2.0"]:
            return Response.json(400, {"message": "api-version must be 2.0"})
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(credential, self.request_token):
            return Response.json(401, {"message": "Bad credentials"})
        audience = request.query.get("audience")
        if audience is None:  # GitHub's default audience: the URL of the repository owner
            return Response.json(200, {"count": 1, "value": self.issue(self.default_audience)})
        if len(audience) != 1 or not audience[0]:
            return Response.json(400, {"message": "audience must be given once, not empty (fake)"})
        return Response.json(200, {"count": 1, "value": self.issue(audience[0])})

    @property
    def default_audience(self) -> str:
        """What GitHub puts in `aud` when the request names no audience: the repository owner's URL."""
        return f"https://github.com/{self.claims.get('repository_owner', 'octo-org')}"
