"""The rules that depend on what the index already holds (warehouse/forklift/legacy.py): a release older than 14 days
takes no new files, and a release takes one sdist. Asked once per release of the JSON API beside the check URL
(`<root>/pypi/<name>/<version>/json`, for a check URL `<root>/simple/`), without credentials, through the bounded
read path (reads.py, the guarded transport: deadline, capped answer). Not being able to ask is a warning, never a
refusal: the upload itself would still get PyPI's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from packaging.utils import canonicalize_name

from publisher.auth.model import ReadAuth
from publisher.dists.collect import Dist
from publisher.index.reads import get
from publisher.net.bodies import body_limit, json_value
from publisher.net.bounds import deadline_from
from publisher.net.transport import client_routing
from publisher.preflight.problems import LEGACY, Problem
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import PublishError
from publisher.version import USER_AGENT

MAX_AGE = timedelta(days=14)
JSON_CAP = 4 * 1024 * 1024
_NOBODY = ReadAuth(auth=None, source="none")


def json_url(check_url: str, name: str, version: str) -> str | None:
    """The JSON API URL of one release, beside a check URL that ends in `/simple/`; None for any other."""
    parts = urlsplit(check_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/simple") and path != "simple":
        return None
    root = path[: -len("simple")]
    wanted = f"{root}pypi/{quote(canonicalize_name(name), safe='')}/{quote(version, safe='')}/json"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], wanted, "", ""))


def _files(answer: object) -> list[dict[str, object]] | None:
    if not isinstance(answer, dict) or not isinstance(answer.get("urls"), list):
        return None
    return [f for f in answer["urls"] if isinstance(f, dict)]


def _uploaded(files: list[dict[str, object]]) -> datetime | None:
    times = []
    for f in files:
        raw = f.get("upload_time_iso_8601")
        try:
            when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            when = None
        if when is not None:
            times.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    return min(times, default=None)


def release_problems(dists: list[Dist], files: list[dict[str, object]], now: datetime) -> list[Problem]:
    """The refusals PyPI would give `dists` (one release) given the files the release already holds (pure)."""
    held = {name for f in files if isinstance(name := f.get("filename"), str)}  # outside JSON: any type
    new = [d for d in dists if d.filename not in held]  # a file already there is skip-existing's business
    problems: list[Problem] = []
    created = _uploaded(files)
    if created is not None and now - created > MAX_AGE:
        problems += [
            Problem(
                d.filename,
                "Uploading new files to releases older than 14 days is not allowed.",
                "publish a new version (a post-release, e.g. 1.0.post1) instead of adding files to this one",
                LEGACY,
            )
            for d in new
        ]
    if any(f.get("packagetype") == "sdist" for f in files):
        problems += [
            Problem(
                d.filename,
                "Only one sdist may be uploaded per release.",
                "upload the sdist the release already holds (skip existing files), or publish a new version",
                LEGACY,
            )
            for d in new
            if d.filetype == "sdist" and not any(p.file == d.filename for p in problems)
        ]
    return problems


def _ask(client: httpx.Client, url: str, front_end: str) -> list[dict[str, object]] | str:
    """The release's files, [] when the index does not know the release, or why the answer could not be had."""
    try:
        response = get(client, url, _NOBODY, what="The JSON API", extensions=body_limit(JSON_CAP), front_end=front_end)
    except (httpx.HTTPError, PublishError) as exc:
        return safe.inline(exc, 300)
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    files = _files(json_value(response))
    return "an answer that is not the JSON API's" if files is None else files


def index_problems(
    dists: list[Dist],
    check_url: str | None,
    environ: Mapping[str, str],
    console: Console,
    now: datetime | None = None,
    *,
    front_end: str,
    native_tls: bool,
) -> list[Problem]:
    """PyPI's refusals that depend on the index's state, asked once per release; warnings when it cannot be asked."""
    releases: dict[tuple[str, str], list[Dist]] = {}
    for dist in dists:
        releases.setdefault((canonicalize_name(dist.name), dist.version), []).append(dist)
    if check_url is None or not releases:
        return []
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    routing = client_routing(deadline_from(environ), native_tls=native_tls)
    with httpx.Client(timeout=15.0, headers={"User-Agent": USER_AGENT}, follow_redirects=False, **routing) as client:
        for (name, version), members in releases.items():
            url = json_url(check_url, name, version)
            if url is None:
                console.debug(f"Preflight: no JSON API beside {safe.exact(check_url, 300)}; release rules not asked.")
                return problems
            answer = _ask(client, url, front_end)
            if isinstance(answer, str):
                console.warning(
                    f"Preflight could not ask {safe.exact(url, 300)} what release {safe.exact(version, 100)} of "
                    f"{safe.exact(name, 100)} holds ({answer}); the release-age and one-sdist rules were not checked.",
                    title="Release rules not checked",
                )
                continue
            problems += release_problems(members, answer, now)
    return problems
