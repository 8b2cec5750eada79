"""A fake Pulp (pulpcore 3.123 + pulp_python 3.36) serving one Python index: uploads are stored in the background.

What it answers is what shared/facts/reference-behaviour.md measured, in the shapes of pulp_python's
`PackageUploadMixin.upload` / `SimpleView` and pulpcore's `OperationPostponedResponse` / `TaskSerializer`:

- `POST /pypi/<base>/simple/`, the legacy upload (twine's form). HTTP Basic is required: 401
  `{"detail": "Authentication credentials were not provided."}` without it, `{"detail": "Invalid
  username/password."}` for a wrong pair, both with `WWW-Authenticate: Basic realm="api"`. The multipart body is
  parsed strictly and checked as pulp_python's PackageUploadSerializer does: `:action` is `file_upload`,
  `protocol_version` is 1, `content` carries a file name with a known extension and a `filetype` that matches it,
  `metadata_version` is one Pulp supports, `sha256_digest` (64 characters) is the sha256 of the bytes received; a
  failure is a 400 in DRF's shape (`{"field": ["message"]}`; the digest mismatch's wording is ours, not measured).
  A file name the repository already holds is a 400 whose message is in the reason phrase (`Package <file> already
  exists in index`) with an empty body. Anything else: `202 Accepted` and `{"task": "/pulp/api/v3/tasks/<id>/"}`
  (`name_tasks=False`: a 202 with an empty body, a registry that names no task).
- `GET /pulp/api/v3/tasks/<id>/` with the uploader's Basic credentials (another user, or everyone with
  `tasks_visible=False` as under an RBAC policy without `core.view_task`: 403; none: 401): the task with
  pulpcore's fields (`pulp_href`, `prn`, `state`, `error`, `created_resources`, ...). Its state moves `waiting`
  -> `running` -> `completed` on the schedule (`waiting` then `running` seconds, counted from when a worker could take
  it); the file is added to the repository, so listed, at completion and never earlier. A file named in `fail` ends
  `failed` with `error: {"description": ..., "traceback": ...}` instead. With `workers=False` (no worker running, as
  Pulp without `pulpcore-worker`) tasks stay `waiting` until `start_worker()`.
- `GET /pypi/<base>/simple/<project>/`: PEP 691 JSON on `Accept: application/vnd.pypi.simple.v1+json`, PEP 503
  HTML otherwise, a `#sha256=` on every link, `Cache-Control: max-age=600`; 404 `<project> does not exist.` for a
  project without files. Public, but a wrong Authorization is a 401 there too.
- `GET /pulp/content/<base>/<file>`: the file.

The race: an upload is checked against completed content only, so two different files under one new name both get
202, and the task that completes last replaces the other's file (last one wins; tasks completing at the same moment
complete in upload order).

The cache in front (documented model, not Pulp itself): Pulp sends its Simple API with `max-age=600`, and
deployments put a cache in front (nginx, a CDN). The fake keeps each simple page it served (200 or 404) for 600 s
and serves it again, stale, to a request that does not ask for a fresh one; `Cache-Control: no-cache` or `max-age=0`
(or `Pragma: no-cache`) sends the request through to Pulp, and its answer replaces the kept page. (Not every cache
honours a client's no-cache: nginx by default does not; the tool then waits until confirm-timeout.)
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from packaging.utils import canonicalize_name

from tests.fakes import FakeServer, Request, Response, basic_credentials
from tests.fakes.trusted_index import Part, parse_multipart

MAX_AGE = 600
TASK_NAME = "pulp_python.app.tasks.upload.upload"
EXTENSIONS = {".whl": "bdist_wheel", ".tar.gz": "sdist", ".zip": "sdist", ".egg": "bdist_egg", ".tar.bz2": "sdist"}
METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4")
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
BAD_CREDENTIALS = {"detail": "Invalid username/password."}
CHALLENGE = {"WWW-Authenticate": 'Basic realm="api"'}


def _iso(moment: float | None, epoch: tuple[float, datetime]) -> str | None:
    """A monotonic moment as pulpcore writes timestamps (ISO 8601, microseconds, `Z`)."""
    if moment is None:
        return None
    wall = epoch[1] + timedelta(seconds=moment - epoch[0])
    return wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Upload:
    """One accepted upload and its task."""

    number: int
    task_id: str
    user: str
    filename: str
    content: bytes = field(repr=False)
    fields: dict[str, list[str]]
    created: float
    ready: float | None  # when a worker could take it (None: no worker yet)
    failure: str | None = None
    applied: bool = False  # its end was applied to the repository (or to nothing, when it failed)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def started(self, waiting: float) -> float | None:
        return None if self.ready is None else self.ready + waiting

    def finished(self, waiting: float, running: float) -> float | None:
        return None if self.ready is None else self.ready + waiting + running


@dataclass
class Stored:
    """A file in the repository: what the simple index lists."""

    filename: str
    content: bytes = field(repr=False)
    requires_python: str
    stored_at: float
    upload: int  # the number of the upload whose task stored it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class FakePulp(FakeServer):
    """Configure per test (`waiting`, `running`, `fail`, `workers`, `name_tasks`, `tasks_visible`); inspect `uploads`,
    `repository`, `requests`, `simple_gets`."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        base_path: str = "internal",
        waiting: float = 0.3,
        running: float = 0.5,
        workers: bool = True,
        name_tasks: bool = True,
        fail: dict[str, str] | None = None,
        tasks_visible: bool = True,
    ) -> None:
        super().__init__()
        self.users = users if users is not None else {"alice": "pulp-password"}
        self.base_path = base_path
        self.waiting = waiting
        self.running = running
        self.name_tasks = name_tasks
        self.fail = dict(fail or {})
        self.tasks_visible = tasks_visible
        self.uploads: list[Upload] = []
        self.repository: dict[str, Stored] = {}
        self.simple_gets: list[tuple[str, str]] = []  # (path, "origin" | "cache") for every simple page served
        self._workers_since: float | None = time.monotonic() if workers else None
        self._state = threading.RLock()
        self._epoch = (time.monotonic(), datetime.now(UTC))
        self._cache: dict[tuple[str, str], tuple[float, Response]] = {}

    # -- URLs -------------------------------------------------------------------------------------------------------

    @property
    def upload_url(self) -> str:
        return f"{self.url}/pypi/{self.base_path}/simple/"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/pypi/{self.base_path}/simple/"

    # -- the test's controls ----------------------------------------------------------------------------------------

    def start_worker(self) -> None:
        """A worker comes up: tasks waiting for one follow their schedule from now."""
        with self._state:
            now = time.monotonic()
            self._workers_since = now
            for upload in self.uploads:
                if upload.ready is None:
                    upload.ready = now

    def listed(self, name: str) -> dict[str, str]:
        """file name -> sha256 of a project's files as the repository holds them now (no cache)."""
        with self._state:
            self._advance()
            project = canonicalize_name(name)
            return {f: s.sha256 for f, s in self.repository.items() if _project(f) == project}

    def state(self, upload: Upload) -> str:
        with self._state:
            self._advance()
            return self._state_of(upload, time.monotonic())

    # -- the tasks --------------------------------------------------------------------------------------------------

    def _state_of(self, upload: Upload, now: float) -> str:
        started, finished = upload.started(self.waiting), upload.finished(self.waiting, self.running)
        if started is None or finished is None or now < started:
            return "waiting"
        if now < finished:
            return "running"
        return "failed" if upload.failure is not None else "completed"

    def _advance(self) -> None:
        """Apply every task that has finished by now, in the order they finished (upload order on a tie)."""
        now = time.monotonic()
        due = [
            u
            for u in self.uploads
            if not u.applied and (end := u.finished(self.waiting, self.running)) is not None and end <= now
        ]
        for upload in sorted(due, key=lambda u: (u.finished(self.waiting, self.running) or 0.0, u.number)):
            upload.applied = True
            if upload.failure is None:
                requires = upload.fields.get("requires_python", [""])[0]
                end = upload.finished(self.waiting, self.running) or now
                self.repository[upload.filename] = Stored(upload.filename, upload.content, requires, end, upload.number)

    # -- requests ---------------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self._state:
            self._advance()
            simple = f"/pypi/{self.base_path}/simple/"
            if request.method == "POST" and request.path == simple:
                return self.upload(request)
            if request.method == "GET" and request.path.startswith("/pulp/api/v3/tasks/"):
                return self.task(request)
            if request.method == "GET" and request.path.startswith(simple) and request.path != simple:
                return self.simple_page(request)
            prefix = f"/pulp/content/{self.base_path}/"
            if request.method == "GET" and request.path.startswith(prefix):
                stored = self.repository.get(request.path.removeprefix(prefix))
                if stored is None:
                    return Response.text(404, "Not Found")
                return Response(200, stored.content, {"Content-Type": "application/octet-stream"})
            return Response.json(404, {"detail": "Not found."})

    def _user(self, request: Request) -> tuple[str | None, Response | None]:
        """(user, None), (None, None) without credentials, or (None, the 401 for bad ones)."""
        header = request.headers.get("authorization")
        if header is None:
            return None, None
        user, password = basic_credentials(request) or ("", "")
        if not user or self.users.get(user) != password:
            return None, Response.json(401, BAD_CREDENTIALS, **CHALLENGE)
        return user, None

    def upload(self, request: Request) -> Response:
        user, refused = self._user(request)
        if refused is not None:
            return refused
        if user is None:
            return Response.json(401, NO_CREDENTIALS, **CHALLENGE)
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except (ValueError, UnicodeDecodeError) as exc:
            return Response.json(400, {"detail": f"Multipart form parse error - {exc}"})
        fields: dict[str, list[str]] = {}
        content: Part | None = None
        for part in parts:
            if part.name == "content":
                content = part
            else:
                fields.setdefault(part.name, []).append(part.content.decode("utf-8"))
        problem = self._invalid(fields, content)
        if problem is not None:
            return Response.json(400, problem)
        assert content is not None
        assert content.filename is not None
        if content.filename in self.repository:
            return Response(400, reason=f"Package {content.filename} already exists in index")
        upload = Upload(
            number=len(self.uploads) + 1,
            task_id=str(uuid.uuid4()),
            user=user,
            filename=content.filename,
            content=content.content,
            fields=fields,
            created=time.monotonic(),
            ready=time.monotonic() if self._workers_since is not None else None,
            failure=self.fail.get(content.filename),
        )
        self.uploads.append(upload)
        if not self.name_tasks:
            return Response(202, b"", {"Content-Type": "application/json"})
        return Response.json(202, {"task": f"/pulp/api/v3/tasks/{upload.task_id}/"})

    @staticmethod
    def _invalid(fields: dict[str, list[str]], content: Part | None) -> dict[str, list[str]] | None:
        """What pulp_python's PackageUploadSerializer refuses, in DRF's shape; None for a valid form."""

        def one(name: str) -> str:
            return fields.get(name, [""])[0]

        if content is None or not content.filename:
            return {"content": ["No file was submitted."]}
        if one(":action") != "file_upload":
            return {"non_field_errors": [f"We do not support the :action {one(':action')}"]}
        if one("protocol_version") not in ("", "1"):
            return {"protocol_version": [f'"{one("protocol_version")}" is not a valid choice.']}
        filetype = next((t for ext, t in EXTENSIONS.items() if content.filename.endswith(ext)), None)
        if filetype is None:
            return {"content": [f"Extension on {content.filename} is not a valid python extension"]}
        if one("filetype") and one("filetype") != filetype:
            return {"filetype": [f"filetype {one('filetype')} does not match found filetype {filetype}"]}
        if one("metadata_version") and one("metadata_version") not in METADATA_VERSIONS:
            return {"metadata_version": [f'"{one("metadata_version")}" is not a valid choice.']}
        digest = one("sha256_digest")
        if len(digest) != 64:
            return {"sha256_digest": ["Ensure this field has at least 64 characters."]}
        if hashlib.sha256(content.content).hexdigest() != digest.lower():
            return {"non_field_errors": [f"A file located at {content.filename} failed validation due to checksum."]}
        return None

    def task(self, request: Request) -> Response:
        user, refused = self._user(request)
        if refused is not None:
            return refused
        if user is None:
            return Response.json(401, NO_CREDENTIALS, **CHALLENGE)
        task_id = request.path.removeprefix("/pulp/api/v3/tasks/").rstrip("/")
        upload = next((u for u in self.uploads if u.task_id == task_id), None)
        if upload is None:
            return Response.json(404, {"detail": "Not found."})
        if upload.user != user or not self.tasks_visible:
            return Response.json(403, {"detail": "You do not have permission to perform this action."})
        return Response.json(200, self.task_json(upload))

    def task_json(self, upload: Upload) -> dict[str, object]:
        """pulpcore's TaskSerializer fields for the upload's task, now."""
        now = time.monotonic()
        state = self._state_of(upload, now)
        started, finished = upload.started(self.waiting), upload.finished(self.waiting, self.running)
        href = f"/pulp/api/v3/tasks/{upload.task_id}/"
        content_id, version = uuid.uuid5(uuid.NAMESPACE_URL, upload.task_id), upload.number
        created = (
            [
                f"/pulp/api/v3/content/python/packages/{content_id}/",
                f"/pulp/api/v3/repositories/python/python/x/v/{version}/",
            ]
            if state == "completed"
            else []
        )
        error = None
        if state == "failed":
            traceback = (
                '  File "/usr/lib/python3.11/site-packages/pulpcore/tasking/tasks.py", line 70, in _execute_task\n'
            )
            error = {"description": upload.failure, "traceback": traceback}
        return {
            "pulp_href": href,
            "prn": f"prn:core.task:{upload.task_id}",
            "pulp_created": _iso(upload.created, self._epoch),
            "pulp_last_updated": _iso(now, self._epoch),
            "state": state,
            "name": TASK_NAME,
            "logging_cid": uuid.uuid5(uuid.NAMESPACE_OID, upload.task_id).hex,
            "created_by": "/pulp/api/v3/users/1/",
            "unblocked_at": _iso(upload.ready, self._epoch),
            "started_at": _iso(started, self._epoch) if state != "waiting" else None,
            "finished_at": _iso(finished, self._epoch) if state in ("completed", "failed") else None,
            "error": error,
            "worker": None,
            "parent_task": None,
            "child_tasks": [],
            "task_group": None,
            "progress_reports": [],
            "created_resources": created,
            "created_resource_prns": [f"prn:python.pythonpackagecontent:{content_id}"] if created else [],
            "reserved_resources_record": [f"prn:core.artifact:{upload.task_id}", "prn:python.pythonrepository:x"],
            "result": None,
            "pulp_api_version": "v3",
        }

    # -- the simple index, behind its cache -------------------------------------------------------------------------

    def simple_page(self, request: Request) -> Response:
        _, refused = self._user(request)
        if refused is not None:
            return refused
        accept = request.headers.get("accept", "")
        kind = "json" if "application/vnd.pypi.simple.v1+json" in accept else "html"
        key = (request.path, kind)
        directives = request.headers.get("cache-control", "").lower().replace(" ", "")
        fresh = (
            any(d in ("no-cache", "max-age=0") for d in directives.split(","))
            or "no-cache" in request.headers.get("pragma", "").lower()
        )
        now = time.monotonic()
        kept = self._cache.get(key)
        if kept is not None and not fresh and now - kept[0] < MAX_AGE:
            self.simple_gets.append((request.path, "cache"))
            page = kept[1]
            return Response(page.status, page.body, {**page.headers, "Age": str(int(now - kept[0]))})
        page = self._render(request.path.removeprefix(f"/pypi/{self.base_path}/simple/").strip("/"), kind)
        self._cache[key] = (now, page)
        self.simple_gets.append((request.path, "origin"))
        return page

    def _render(self, name: str, kind: str) -> Response:
        project = canonicalize_name(name)
        files = sorted((s for f, s in self.repository.items() if _project(f) == project), key=lambda s: s.filename)
        cache = {"Cache-Control": f"max-age={MAX_AGE}", "X-PyPI-Last-Serial": "1000000000"}
        if not files:
            return Response(404, f"{project} does not exist.".encode(), {"Content-Type": "text/html", **cache})
        content = f"{self.url}/pulp/content/{self.base_path}/"
        if kind == "json":
            entries = [
                {
                    "filename": s.filename,
                    "url": content + s.filename,
                    "hashes": {"sha256": s.sha256},
                    "requires-python": s.requires_python or None,
                    "size": len(s.content),
                    "upload-time": _iso(s.stored_at, self._epoch),
                    "provenance": None,
                }
                for s in files
            ]
            body = json.dumps(
                {"meta": {"api-version": "1.1", "_last-serial": 1000000000}, "name": project, "files": entries}
            )
            return Response(200, body.encode(), {"Content-Type": "application/vnd.pypi.simple.v1+json", **cache})
        links = "\n".join(
            f'    <a href="{html.escape(content + s.filename)}#sha256={s.sha256}"'
            + (f' data-requires-python="{html.escape(s.requires_python)}"' if s.requires_python else "")
            + f">{html.escape(s.filename)}</a><br/>"
            for s in files
        )
        page = (
            '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.1">\n'
            f"    <title>Links for {project}</title>\n  </head>\n  <body>\n    <h1>Links for {project}</h1>\n"
            f"{links}\n  </body>\n</html>\n"
        )
        return Response(200, page.encode(), {"Content-Type": "text/html", **cache})


def _project(filename: str) -> str:
    """The normalised project name of a wheel or sdist file name."""
    stem = filename.removesuffix(".whl").removesuffix(".tar.gz").removesuffix(".zip")
    return canonicalize_name(stem.split("-", 1)[0])
