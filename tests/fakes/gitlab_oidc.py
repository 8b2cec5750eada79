"""A fake of GitLab CI's ID tokens: what a job's `id_tokens:` put in its variables, and the keys to verify them.

GitLab has no token service a job calls: each entry of the job's `id_tokens:` becomes a variable holding a JWT with
that entry's `aud`, issued when the job starts (`PYPI_ID_TOKEN` with `aud: pypi`, say). The claims mirror GitLab's
documented ID token for a tag pipeline (`project_path`, `namespace_path`, `ref_path`, `ci_config_ref_uri`, `sub` as
`project_path:<group>/<project>:ref_type:<type>:ref:<ref>`, ...), RS256-signed by a key only this fake holds, whose
public half it serves as GitLab serves its keys, a JWKS at `/oauth/discovery/keys` (`jwks_url`). Its issuer is
`https://gitlab.com` (`ISSUER`), as for jobs on gitlab.com; the server itself is on loopback.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import FakeServer, Request, Response
from tests.fakes.signing import SigningKey

ISSUER = "https://gitlab.com"
JWKS_PATH = "/oauth/discovery/keys"
LIFETIME_SECONDS = 3600  # a job's ID tokens last as long as the job may run


def default_claims(
    project_path: str = "octo-group/octo-project",
    pipeline_file: str = ".gitlab-ci.yml",
    ref: str = "v1.0.0",
    ref_type: str = "tag",
    environment: str | None = "pypi",
) -> dict[str, Any]:
    """The claims of an ID token for a tag pipeline of `project_path` defined in `pipeline_file`, in `environment`."""
    namespace = project_path.rsplit("/", 1)[0]
    ref_path = f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref}"
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}",
        "namespace_id": "72",
        "namespace_path": namespace,
        "project_id": "20",
        "project_path": project_path,
        "user_id": "1",
        "user_login": "octocat",
        "pipeline_id": "574",
        "pipeline_source": "push",
        "job_id": "302",
        "ref": ref,
        "ref_type": ref_type,
        "ref_path": ref_path,
        "ref_protected": "true",
        "runner_id": 1,
        "runner_environment": "gitlab-hosted",
        "sha": "b" * 40,
        "project_visibility": "public",
        "ci_config_ref_uri": f"gitlab.com/{project_path}//{pipeline_file}@{ref_path}",
        "ci_config_sha": "b" * 40,
    }
    if environment:
        claims |= {"environment": environment, "environment_protected": "true", "deployment_tier": "production"}
    return claims


class FakeGitLabOIDC(FakeServer):
    """Issues GitLab-shaped ID tokens (`issue`, `env`) and serves the key that verifies them."""

    def __init__(self, claims: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.claims: dict[str, Any] = default_claims() if claims is None else claims
        self._key = SigningKey()
        self.issued: list[str] = []

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key

    @property
    def jwks_url(self) -> str:
        return f"{self.url}{JWKS_PATH}"

    def issue(self, audience: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {**self.claims, "aud": audience, "jti": str(uuid.uuid4()), "iat": now, "nbf": now - 5}
        claims["exp"] = now + LIFETIME_SECONDS
        claims.update(overrides)
        token = self._key.sign({name: value for name, value in claims.items() if value is not None})
        self.issued.append(token)
        return token

    def env(self, **variables: str) -> dict[str, str]:
        """The variables of a GitLab CI job whose `id_tokens:` declare each `VARIABLE: {aud: <audience>}` given as
        `VARIABLE=audience` (`env(PYPI_ID_TOKEN="pypi")`)."""
        return {
            "GITLAB_CI": "true",
            "CI": "true",
            "CI_SERVER_URL": "https://gitlab.com",
            **{name: self.issue(audience) for name, audience in variables.items()},
        }

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == JWKS_PATH:
            return Response.json(200, self._key.jwks)
        return Response.json(404, {"message": "404 Not Found"})
