"""A fake JFrog Platform on one loopback origin: JFrog Access's OIDC token exchange and an Artifactory PyPI repository.

**Access** `POST /access/api/v1/oidc/token` (JFrog's REST API docs, "OIDC Token Exchange") checks, in this order,
and refuses in JFrog's documented envelope `{"errors": [{"code": ..., "message": ...}]}`:

1. a JSON body with the documented `grant_type` and `subject_token_type`, and strings `subject_token` and
   `provider_name` (400 BAD_REQUEST otherwise);
2. `provider_name` names a configured OIDC integration (404 NOT_FOUND otherwise);
3. the audience rule: an `audience` in the body must equal the integration's configured Audience (none configured
   matches none sent): 400 BAD_REQUEST "Invalid audience", JFrog's documented answer (setup-jfrog-cli #270);
4. the subject token: RS256 signature against the keys of the integration's issuer, fetched from its JWKS URL (the
   fake GitHub's or GitLab's), `iss` equal to the integration's issuer URL, not expired (401 UNAUTHORIZED otherwise);
5. the identity mappings, by priority (lower number first): with a `project_key`, that project's mappings before the
   global ones, else the global ones only. The first whose claims JSON matches gives the token: every claim the
   mapping names must be in the token with an equal value (a JSON object compared member by member the same way);
   claims it does not name are not looked at (`aud` neither, unless named). None matches: 401 UNAUTHORIZED.

JFrog documents the envelope and "Invalid audience"; for the other refusals the words are this fake's own (the
client must show whatever JFrog says). A success answers what jfrog-client-go reads: `access_token` (a JWT the
platform signs, `sub` = `jfrt@<service id>/users/<user>`, `exp`), `expires_in` (the mapping's lifetime, which may be
seconds), `scope`, `token_type`, `issued_token_type`, and `username` unless `answer_username` is False.

**Artifactory** `POST /artifactory/api/pypi/<repo>` takes the legacy upload form with Basic auth: an access token this
fake issued, not expired, with its own user name or an empty one (what Artifactory accepts with an access token);
anything else is 401 `{"errors": [{"status": 401, "message": "Bad credentials"}]}`. A file it already holds is 403
"Not enough permissions to delete/overwrite artifact ...", as Artifactory answers duplicates; a user not in
`deployers` (when set) is refused with 403 (in this fake's words). `GET
.../simple/<project>/` serves a PEP 503 page (with `#sha256=`), to `readers` (user -> password) only when set.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import jwt
from packaging.utils import canonicalize_name

from tests.fakes import FakeServer, Request, Response, basic_credentials
from tests.fakes.signing import SigningKey
from tests.fakes.trusted_index import StoredFile, parse_multipart

TOKEN_PATH = "/access/api/v1/oidc/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
SERVICE_ID = "jfrt@01fakeplatform0000000000"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class IdentityMapping:
    """One identity mapping: its claims JSON, priority, project (None: global) and the token it grants."""

    name: str
    claims: dict[str, Any]
    username: str = "gh-publisher"
    priority: int = 1
    expires_in: int = 3600
    project_key: str | None = None


@dataclass
class Integration:
    """An OIDC integration: the issuer it trusts (URL and JWKS URL), its Audience, its identity mappings."""

    issuer_url: str
    jwks_url: str
    mappings: list[IdentityMapping] = field(default_factory=list)
    audience: str | None = None


@dataclass(frozen=True)
class Issued:
    username: str
    expires: float


def errors(status: int, code: str, message: str) -> Response:
    return Response.json(status, {"errors": [{"code": code, "message": message}]})


def claims_match(expected: object, actual: object) -> bool:
    """A mapping's claims JSON against the token's claims: every member named must match, objects recursively."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and claims_match(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


class FakeJFrog(FakeServer):
    """Configure `integrations`, `answer_username`, `readers`, `fail_next`, `upload_delays`; inspect `exchanges`,
    `issued`, `uploads`, `files`, `requests`."""

    def __init__(self, integrations: dict[str, Integration] | None = None, *, repository: str = "pypi-local") -> None:
        super().__init__()
        self.integrations: dict[str, Integration] = integrations or {}
        self.repository = repository
        self.answer_username = True
        self.readers: dict[str, str] = {}  # user -> password for the simple pages; empty: anonymous reads
        self.deployers: set[str] | None = None  # users that may deploy to the repository; None: every user
        self.fail_next: dict[str, list[int]] = {}  # path -> statuses to answer with first, for retry tests
        self.upload_delays: list[float] = []  # seconds to hold each next upload's answer, for expiry tests
        self.exchanges: list[dict[str, Any]] = []  # every exchange that got a token: the body and the verified claims
        self.issued: dict[str, Issued] = {}  # access token -> its user and expiry
        self.uploads: list[tuple[str, str, float]] = []  # (username, access token, when) of every accepted upload
        self.files: dict[str, StoredFile] = {}
        self._signer = SigningKey()
        self._keys: dict[str, jwt.PyJWKSet] = {}
        self._keys_lock = threading.Lock()

    @property
    def base_path(self) -> str:
        return f"/artifactory/api/pypi/{self.repository}"

    @property
    def upload_url(self) -> str:
        return f"{self.url}{self.base_path}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}{self.base_path}/simple/"

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    # -- Access -----------------------------------------------------------------------------------------------------

    def _issuer_keys(self, jwks_url: str) -> jwt.PyJWKSet:
        with self._keys_lock:
            if jwks_url not in self._keys:
                with _OPENER.open(jwks_url, timeout=10) as answer:
                    self._keys[jwks_url] = jwt.PyJWKSet.from_dict(json.loads(answer.read()))
            return self._keys[jwks_url]

    def _verify(self, token: str, integration: Integration) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        keys = self._issuer_keys(integration.jwks_url)
        key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
        if key is None:
            raise jwt.InvalidKeyError("no key of the issuer has the token's kid")
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=integration.issuer_url,
            options={"verify_aud": False, "require": ["iss", "exp", "sub"]},
        )

    def exchange(self, request: Request) -> Response:
        try:
            body = json.loads(request.body)
        except ValueError:
            return errors(400, "BAD_REQUEST", "Malformed JSON body")
        if not isinstance(body, dict):
            return errors(400, "BAD_REQUEST", "Malformed JSON body")
        if body.get("grant_type") != GRANT_TYPE or body.get("subject_token_type") != SUBJECT_TOKEN_TYPE:
            return errors(400, "BAD_REQUEST", "Unsupported grant_type or subject_token_type")
        subject_token, provider = body.get("subject_token"), body.get("provider_name")
        if not isinstance(subject_token, str) or not isinstance(provider, str):
            return errors(400, "BAD_REQUEST", "subject_token and provider_name are required")
        integration = self.integrations.get(provider)
        if integration is None:
            return errors(404, "NOT_FOUND", f"OIDC integration '{provider}' was not found")
        if "audience" in body and body["audience"] != integration.audience:
            return errors(400, "BAD_REQUEST", "Invalid audience")
        try:
            claims = self._verify(subject_token, integration)
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            return errors(401, "UNAUTHORIZED", f"Failed to verify the OIDC token: {exc}")
        project = body.get("project_key")
        candidates = sorted(
            (m for m in integration.mappings if m.project_key is None or (project and m.project_key == project)),
            key=lambda m: (m.project_key is None, m.priority),
        )
        mapping = next((m for m in candidates if claims_match(m.claims, claims)), None)
        if mapping is None:
            return errors(401, "UNAUTHORIZED", "The token's claims do not match any identity mapping")
        now = time.time()
        access_token = self._signer.sign(
            {
                "iss": f"{SERVICE_ID}",
                "sub": f"{SERVICE_ID}/users/{mapping.username}",
                "scp": "applied-permissions/user",
                "aud": "*@*",
                "iat": int(now),
                "exp": int(now + mapping.expires_in),
                "jti": secrets.token_hex(16),
            }
        )
        self.issued[access_token] = Issued(mapping.username, now + mapping.expires_in)
        self.exchanges.append({"body": body, "claims": claims, "mapping": mapping.name})
        answer: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": mapping.expires_in,
            "scope": "applied-permissions/user",
            "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "refreshable": False,
        }
        if self.answer_username:
            answer["username"] = mapping.username
        return Response.json(200, answer)

    # -- Artifactory ------------------------------------------------------------------------------------------------

    def _uploader(self, request: Request) -> tuple[str, str] | None:
        pair = basic_credentials(request)
        issued = self.issued.get(pair[1]) if pair else None
        if pair is None or issued is None or time.time() >= issued.expires or pair[0] not in ("", issued.username):
            return None
        return pair

    def upload(self, request: Request) -> Response:
        pair = self._uploader(request)
        if pair is None:
            return Response.json(401, {"errors": [{"status": 401, "message": "Bad credentials"}]})
        user = issued.username if (issued := self.issued.get(pair[1])) else pair[0]
        if self.deployers is not None and user not in self.deployers:
            message = f"User '{user}' is not permitted to deploy into '{self.repository}'."
            return Response.json(403, {"errors": [{"status": 403, "message": message}]})
        if self.upload_delays:
            time.sleep(self.upload_delays.pop(0))
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except (ValueError, UnicodeDecodeError) as exc:
            return Response.json(400, {"errors": [{"status": 400, "message": f"Malformed upload: {exc}"}]})
        fields: dict[str, list[str]] = {}
        content = None
        for part in parts:
            if part.name == "content":
                content = part
            else:
                fields.setdefault(part.name, []).append(part.content.decode("utf-8"))
        if content is None or not content.filename or not fields.get("name") or not fields.get("version"):
            return Response.json(400, {"errors": [{"status": 400, "message": "Missing content, name or version"}]})
        if hashlib.sha256(content.content).hexdigest() != fields.get("sha256_digest", [""])[0].lower():
            return Response.json(400, {"errors": [{"status": 400, "message": "Checksum mismatch"}]})
        if content.filename in self.files:
            path = f"{fields['name'][0]}/{fields['version'][0]}/{content.filename}"
            return Response.json(
                403,
                {
                    "errors": [
                        {
                            "status": 403,
                            "message": f"Not enough permissions to delete/overwrite artifact '{self.repository}:"
                            f"{path}' (user: '{user}' needs DELETE permission).",
                        }
                    ]
                },
            )
        self.files[content.filename] = StoredFile(content.filename, content.content, fields)
        self.uploads.append((pair[0], pair[1], time.time()))
        return Response(201, b"", {})

    def simple_page(self, request: Request, project: str) -> Response:
        if self.readers:
            pair = basic_credentials(request)
            if pair is None or self.readers.get(pair[0]) != pair[1]:
                return Response.json(401, {"errors": [{"status": 401, "message": "Bad credentials"}]})
        links = [
            f'<a href="{self.base_path}/packages/{html.escape(name)}#sha256={stored.sha256}">{html.escape(name)}</a>'
            for name, stored in sorted(self.files.items())
            if canonicalize_name(stored.fields.get("name", [""])[0]) == project
        ]
        if not links:
            return Response.json(404, {"errors": [{"status": 404, "message": "Not Found"}]})
        title = f"<title>Links for {html.escape(project)}</title>"
        page = f"<!DOCTYPE html><html><head>{title}</head><body>{''.join(links)}</body></html>"
        return Response(200, page.encode(), {"Content-Type": "text/html"})

    def handle(self, request: Request) -> Response:
        queued = self.fail_next.get(request.path)
        if queued:
            return Response.json(queued.pop(0), {"errors": [{"code": "UNAVAILABLE", "message": "Service unavailable"}]})
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self.exchange(request)
        if request.method == "POST" and request.path.rstrip("/") == self.base_path:
            return self.upload(request)
        simple = f"{self.base_path}/simple/"
        if request.method == "GET" and request.path.startswith(simple):
            return self.simple_page(request, request.path[len(simple) :].strip("/"))
        return Response.json(404, {"errors": [{"status": 404, "message": "Not Found"}]})
