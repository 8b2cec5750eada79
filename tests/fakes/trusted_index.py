"""A fake package index with PyPI's trusted publishing and its legacy upload API.

- `GET /_/oidc/audience` -> `{"audience": "127.0.0.1"}` (its own host, as the client requires of an index that is
  not PyPI: PyPI's `pypi` is accepted from pypi.org only), or 404 (no support) / 403 (disabled) when configured so.
- `POST /_/oidc/mint-token` verifies the JWT as PyPI does: RS256 signature against the public key of its issuer
  (GitHub's, or with `gitlab_key` GitLab's, `https://gitlab.com`), issuer, audience, expiry, a never-seen `jti`, then
  matches the claims against one registered publisher: a GitHub `Publisher` (repository, workflow file via
  `job_workflow_ref`, optional environment) or a `GitLabPublisher` (namespace, project and top-level pipeline file
  checked through `sub`, `project_path` and `ci_config_ref_uri` at `ref_path` or `sha`, optional environment), each
  matching only tokens of its own issuer, as warehouse's publishers check them. It answers PyPI-shaped bodies:
  `{"success": true, "token": "pypi-...", "expires": ...}` or 422 `{"message": ..., "errors": [{"code", ...}]}`.
- `POST /legacy/` parses the multipart upload form and accepts it only with HTTP Basic `__token__` plus a token
  this fake minted (403 otherwise, so a client that skipped the exchange fails), checks `sha256_digest` against
  the bytes received (400 on mismatch) and stores the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import FakeServer, Request, Response, basic_credentials
from tests.fakes.github_oidc import ISSUER
from tests.fakes.gitlab_oidc import ISSUER as GITLAB_ISSUER

AUDIENCE = "127.0.0.1"  # the fake's host: the audience an index other than PyPI must answer
GITLAB_VARIABLE = "_27_0_0_1_ID_TOKEN"  # where GitLab CI puts the ID token for it (a leading digit becomes `_`)
TOKEN_LIFETIME_SECONDS = 900  # PyPI's minted tokens last 15 minutes
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Publisher:
    """A GitHub trusted publisher as registered on PyPI."""

    repository: str = "octo-org/octo-repo"
    workflow_file: str = "release.yml"
    environment: str | None = None  # None: any environment, as on PyPI when left blank

    def matches(self, claims: dict[str, Any]) -> bool:
        workflow = f"{self.repository}/.github/workflows/{self.workflow_file}@"
        return (
            claims.get("iss") == ISSUER
            and claims.get("repository") == self.repository
            and claims.get("repository_owner") == self.repository.split("/", 1)[0]
            and str(claims.get("job_workflow_ref", "")).startswith(workflow)
            and (self.environment is None or claims.get("environment") == self.environment)
        )


@dataclass(frozen=True)
class GitLabPublisher:
    """A GitLab CI/CD trusted publisher as registered on PyPI: namespace, project, the top-level pipeline file's path,
    optional environment. Matched as warehouse's GitLab publisher checks claims: `sub` starts with
    `project_path:<namespace>/<project>` and `project_path` is it (both case-insensitive), `ci_config_ref_uri` is
    `gitlab.com/<project_path>//<pipeline file>@` followed by the token's `ref_path` or `sha`, and a configured
    environment equals the `environment` claim."""

    namespace: str = "octo-group"
    project: str = "octo-project"
    workflow_filepath: str = ".gitlab-ci.yml"
    environment: str | None = None

    def matches(self, claims: dict[str, Any]) -> bool:
        project_path = f"{self.namespace}/{self.project}"
        sub = str(claims.get("sub") or "").split(":")
        refs = [claims.get("ref_path"), claims.get("sha")]
        expected = {f"gitlab.com/{project_path}//{self.workflow_filepath}@{ref}" for ref in refs if ref}
        return (
            claims.get("iss") == GITLAB_ISSUER
            and len(sub) >= 2
            and f"{sub[0]}:{sub[1]}".lower() == f"project_path:{project_path}".lower()
            and str(claims.get("project_path") or "").lower() == project_path.lower()
            and all(refs)
            and claims.get("ci_config_ref_uri") in expected
            and (self.environment is None or claims.get("environment") == self.environment)
        )


AttestationCheck = Callable[[str, bytes, str, "Publisher"], "str | None"]  # (file, bytes, field, publisher)


@dataclass
class StoredFile:
    filename: str
    content: bytes = field(repr=False)
    fields: dict[str, list[str]]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Part:
    name: str
    filename: str | None
    content: bytes = field(repr=False)


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """A strict multipart/form-data parser (RFC 7578): split on CRLF + `--boundary`, never touch part bytes."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise ValueError(f"not multipart/form-data with a boundary: {content_type!r}")
    delimiter = b"\r\n--" + boundary.encode("ascii")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise ValueError("multipart body without a closing boundary")
    parts = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n"):
            raise ValueError("junk after a boundary")
        head, separator, content = section[2:].partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("part without a blank line after its headers")
        disposition = Message()
        for line in head.decode("utf-8").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"bad part header line: {line!r}")
            if name.strip().lower() == "content-disposition":
                disposition["content-disposition"] = value.strip()
        field_name = disposition.get_param("name", header="content-disposition")
        if disposition.get_content_disposition() != "form-data" or not isinstance(field_name, str):
            raise ValueError("part without `Content-Disposition: form-data; name=...`")
        parts.append(Part(field_name, disposition.get_filename(), content))
    return parts


def refused(*errors: tuple[str, str]) -> Response:
    """PyPI's shape for a refused token exchange."""
    return Response.json(
        422,
        {"message": "Token request failed", "errors": [{"code": c, "description": d} for c, d in errors]},
    )


class FakeTrustedIndex(FakeServer):
    """Configure `audience_status`, `publisher`, `fail_next` per test; inspect `minted`, `files`, `requests`."""

    def __init__(
        self,
        issuer_key: rsa.RSAPublicKey | bytes,
        *,
        publisher: Publisher | GitLabPublisher | None = None,
        gitlab_key: rsa.RSAPublicKey | None = None,
        audience: str = AUDIENCE,
        audience_status: int = 200,
        token_lifetime: float = TOKEN_LIFETIME_SECONDS,
        simple_api_version: str | None = None,
        attestation_check: AttestationCheck | None = None,
    ) -> None:
        super().__init__()
        # PEP 740: an index that takes attestations serves Simple API version 1.3 or later (None: no Simple API).
        self.simple_api_version = simple_api_version
        # Verifies an upload's `attestations` field as PyPI does (see tests/fakes/attestation_check.py); None:
        # the field is stored unchecked.
        self.attestation_check = attestation_check
        self.token_lifetime = token_lifetime
        self.upload_tokens: list[str] = []  # the token each accepted upload was sent with
        self.issuer_key = issuer_key
        self.issuer_keys: dict[str, rsa.RSAPublicKey | bytes] = {ISSUER: issuer_key}
        if gitlab_key is not None:
            self.issuer_keys[GITLAB_ISSUER] = gitlab_key
        self.publisher: Publisher | GitLabPublisher = publisher or Publisher()
        self.audience = audience
        self.audience_status = audience_status
        self.minted: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.seen_jti: set[str] = set()
        self.files: dict[str, StoredFile] = {}
        self.mint_claims: list[dict[str, Any]] = []  # verified claims of every successful exchange
        self.fail_next: dict[str, list[int]] = {}  # path -> statuses to answer with first, for retry tests

    @property
    def upload_url(self) -> str:
        return f"{self.url}/legacy/"

    def handle(self, request: Request) -> Response:
        queued = self.fail_next.get(request.path)
        if queued:
            return Response.text(queued.pop(0), "Service temporarily unavailable (fake)")
        route = (request.method, request.path)
        if route == ("GET", "/_/oidc/audience"):
            return self.audience_endpoint()
        if route == ("POST", "/_/oidc/mint-token"):
            return self.mint_token(request)
        if route == ("POST", "/legacy/"):
            return self.upload(request)
        if request.method == "GET" and request.path == "/simple/" and self.simple_api_version:
            meta = {"api-version": self.simple_api_version}
            return Response.json(200, {"meta": meta, "projects": []}, **{"Content-Type": SIMPLE_JSON})
        return Response.text(404, "Not Found")

    def audience_endpoint(self) -> Response:
        if self.audience_status == 200:
            return Response.json(200, {"audience": self.audience})
        if self.audience_status == 403:
            return Response.json(403, {"message": "Trusted publishing functionality not enabled"})
        return Response.text(self.audience_status, "Not Found" if self.audience_status == 404 else "Error")

    def mint_token(self, request: Request) -> Response:
        try:
            payload = json.loads(request.body)
            unverified = payload["token"]
            if not isinstance(unverified, str):
                raise TypeError("token is not a string")
        except (ValueError, KeyError, TypeError):
            return refused(("invalid-payload", "malformed payload"))
        try:
            issuer = jwt.decode(unverified, options={"verify_signature": False}).get("iss")
            key = self.issuer_keys.get(issuer) if isinstance(issuer, str) else None
            if key is None:
                raise jwt.InvalidIssuerError(f"unknown issuer {issuer!r}")
            claims = jwt.decode(
                unverified,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=issuer,
                options={"require": ["iss", "aud", "exp", "iat", "nbf", "jti", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return refused(("invalid-token", f"malformed or invalid token: {exc}"))
        if claims["jti"] in self.seen_jti:
            return refused(("invalid-reuse-token", "invalid token: already used"))
        self.seen_jti.add(claims["jti"])
        if not self.publisher.matches(claims):
            return refused(
                (
                    "invalid-publisher",
                    "valid token, but no corresponding publisher (Publisher with matching claims was not found)",
                ),
            )
        token = "pypi-" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        expires = time.time() + self.token_lifetime
        self.minted[token] = expires
        self.mint_claims.append(claims)
        return Response.json(200, {"success": True, "token": token, "expires": int(expires)})

    def _authorised(self, request: Request) -> bool:
        pair = basic_credentials(request)
        if pair is None:
            return False
        username, password = pair
        expires = self.minted.get(password)
        if username == "__token__" and expires is not None and time.time() < expires:
            self.upload_tokens.append(password)
            return True
        return False

    def upload(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response.text(
                403,
                "Invalid or non-existent authentication information. See https://pypi.org/help/#invalid-auth for "
                "more information.",
            )
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except (ValueError, UnicodeDecodeError) as exc:
            return Response.text(400, f"Malformed upload body: {exc}")
        fields: dict[str, list[str]] = {}
        content: Part | None = None
        for part in parts:
            if part.name == "content":
                content = part
            else:
                fields.setdefault(part.name, []).append(part.content.decode("utf-8"))

        def one(name: str) -> str:
            return fields.get(name, [""])[0]

        if one(":action") != "file_upload":
            return Response.text(400, "Invalid value for :action.")
        if one("protocol_version") != "1":
            return Response.text(400, "Unknown protocol version.")
        if not one("name") or not one("version"):
            return Response.text(400, "Invalid value for name or version.")
        if content is None or not content.filename:
            return Response.text(400, "Upload payload does not have a file.")
        if hashlib.sha256(content.content).hexdigest() != one("sha256_digest").lower():
            return Response.text(400, "The digest supplied does not match a digest calculated from the uploaded file.")
        if content.filename in self.files:
            return Response.text(400, f"File already exists ('{content.filename}').")
        if "attestations" in fields and self.attestation_check is not None:
            problem = self.attestation_check(content.filename, content.content, one("attestations"), self.publisher)
            if problem is not None:  # PyPI's words (warehouse/forklift/legacy.py, attestations/services.py)
                reason = f"Invalid attestations supplied during upload: {problem}"
                return Response(
                    400,
                    json.dumps({"message": reason, "code": f"400 {reason}"}).encode(),
                    {"Content-Type": "application/json"},
                )
        self.files[content.filename] = StoredFile(content.filename, content.content, fields)
        return Response.text(200, "OK")
