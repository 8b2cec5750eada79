"""What an asynchronous registry's answer says about its task (Pulp's shapes), and which task URL may be asked.

**The task URL.** The answer's `task` must be a string holding an absolute path (Pulp's `/pulp/api/v3/tasks/<id>/`)
or an http(s) URL. It is resolved against the upload URL and followed only when the result is on the upload URL's
origin (scheme, host and port, urls.same_origin) and carries no user info. The upload client attaches the upload's
credentials on that origin and nowhere else (auth.py), so the task is read with them; a task on any other origin is
never asked at all: an answer from the registry (or from whatever stands in its place) must not be able to send our
credentials, or any request, to another host. Redirects are not followed (the upload client follows none). A minted
trusted-publishing token goes to the publish URL only, so with one the task is asked without credentials (a
registry that wants them answers 401, and the check URL decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from publisher.config.urls import origin, same_origin, strip_credentials, url_problem
from publisher.report import safe

COMPLETED = "completed"
ENDED = ("failed", "canceled", "skipped")  # final states in which the task did not store the file (pulpcore's)
NOT_POLLED = "not polled yet"


def task_reference(data: object) -> str | None:
    """The `task` an upload answer names (Pulp: `{"task": "/pulp/api/v3/tasks/<id>/"}`), as given; else None."""
    task = data.get("task") if isinstance(data, dict) else None
    return task.strip() if isinstance(task, str) and task.strip() else None


def resolve_task(upload_url: str, reference: str | None) -> tuple[str | None, str]:
    """(the task URL to follow, "") or (None, why no task is followed): the rule of "The task URL" above."""
    if reference is None:
        return None, "the answer names no task"
    shown = safe.inline(reference, 200)
    base = strip_credentials(upload_url)
    try:
        absolute = urlsplit(reference).scheme.lower() in ("http", "https")
        url = urljoin(base, reference)
        parts = urlsplit(url)
    except ValueError:
        return None, f"the answer's task `{shown}` is not a usable URL"
    if not absolute and not reference.startswith("/"):
        return None, f"the answer's task `{shown}` is neither an absolute path nor an http(s) URL"
    if url_problem(url) is not None or "@" in parts.netloc:
        return None, f"the answer's task `{shown}` is not a usable URL"
    if not same_origin(url, base):
        return None, (
            f"the answer names a task on another origin ({safe.inline(f'{parts.scheme}://{parts.netloc}', 200)}), "
            f"which is not asked: the upload's credentials go to {origin(base)} only"
        )
    return url, ""


@dataclass(frozen=True)
class Task:
    """A task resource as far as we read it: its state and, for a failed one, the registry's description."""

    state: str
    description: str = ""


def parse_task(data: object) -> Task | None:
    """Pulp's task JSON (`state`, `error: {description, traceback}`), or None when it is not a task."""
    if not isinstance(data, dict):
        return None
    state = data.get("state")
    if not isinstance(state, str) or not state.strip():
        return None
    error = data.get("error")
    description = error.get("description") if isinstance(error, dict) else error
    # The state is quoted in messages (`its task is still <state>`): made printable here; a known one is unchanged.
    return Task(safe.inline(state.strip().lower(), 60), description if isinstance(description, str) else "")
