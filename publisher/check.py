"""`twine check` before the upload: metadata valid per packaging, and an rst long description that renders.

PyPI rejects invalid metadata and refuses to render broken reStructuredText, but only after part of a release
may have gone up; checking every dist first keeps a release all-or-nothing.
"""

from __future__ import annotations

import io

from packaging.metadata import InvalidMetadata, Metadata

from publisher.dists import Dist
from publisher.errors import DistError
from publisher.settings import Settings

RST = "text/x-rst"


def _metadata_problems(dist: Dist) -> list[str]:
    try:
        Metadata.from_raw(dist.metadata, validate=True)
    except ExceptionGroup as group:
        return [str(e) for e in group.exceptions if isinstance(e, InvalidMetadata | ValueError)] or [str(group)]
    return []


def _rst_problem(dist: Dist) -> str | None:
    description = dist.metadata.get("description")
    content_type = (dist.metadata.get("description_content_type") or RST).split(";")[0].strip().lower()
    if not description or content_type != RST:
        return None
    from readme_renderer.rst import render

    warnings = io.StringIO()
    if render(description, stream=warnings) is None:
        detail = " ".join(warnings.getvalue().split())[:300]
        return f"the long description (reStructuredText) does not render: {detail or 'unknown error'}"
    return None


def check(dist: Dist, settings: Settings) -> None:
    """Raise a DistError (exit 2) listing every problem found in this dist's metadata."""
    problems = _metadata_problems(dist)
    rst = _rst_problem(dist)
    if rst:
        problems.append(rst)
    if problems:
        raise DistError(
            f"{dist.path}: invalid metadata:\n  - " + "\n  - ".join(problems),
            hint="Fix the project metadata (pyproject.toml [project]) and rebuild; "
            f"{settings.set_to('verify-metadata', False)} to upload anyway.",
        )
