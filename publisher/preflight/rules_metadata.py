"""The metadata rules: valid core metadata (packaging's validation, and an rst description that renders) for any
index, and PyPI's own additions from warehouse/forklift/metadata.py (supported Metadata-Versions, classifiers, direct
URL requirements, project URLs, field lengths, Dynamic). Pure functions of the metadata already read by dists.py.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from packaging.metadata import InvalidMetadata, Metadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from publisher.dists.collect import Dist
from publisher.preflight.problems import LEGACY, METADATA, MORE_INFO_METADATA, Problem
from publisher.report import safe

SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})
MAX_SUMMARY = 512
MAX_URL_LABEL = 32
DYNAMIC_FIELDS = frozenset(
    name.lower()
    for name in (
        *("Platform", "Supported-Platform", "Summary", "Description", "Description-Content-Type", "Keywords"),
        *("Home-Page", "Download-Url", "Author", "Author-Email", "Maintainer", "Maintainer-Email", "License"),
        *("License-Expression", "License-File", "Classifier", "Requires-Dist", "Requires-Python"),
        *("Requires-External", "Project-Url", "Provides-Extra", "Provides-Dist", "Obsoletes-Dist", "Requires"),
        *("Provides", "Obsoletes", "Import-Name", "Import-Namespace"),
    )
)
RST = "text/x-rst"
_FIX = "correct [project] in pyproject.toml and rebuild"


def _said(message: str) -> str:
    """A metadata refusal as Warehouse words it: the reason, a full stop, and where the spec is."""
    return message + ("" if message.endswith(".") else ".") + MORE_INFO_METADATA


def _valid(dist: Dist) -> list[Problem]:
    try:
        Metadata.from_raw(dist.metadata, validate=True)
    except ExceptionGroup as group:
        errors = [str(e) for e in group.exceptions if isinstance(e, InvalidMetadata | ValueError)] or [str(group)]
        return [Problem(dist.filename, _said(e), _FIX, METADATA) for e in errors]
    return []


def _renders(dist: Dist) -> list[Problem]:
    description = dist.metadata.get("description")
    declared = dist.metadata.get("description_content_type")
    content_type = (declared or RST).split(";")[0].strip().lower()
    if not description or content_type != RST:
        return []  # Markdown and plain text render whatever they hold
    from readme_renderer.rst import render

    warnings = io.StringIO()
    if render(description, stream=warnings) is not None:
        return []
    # the renderer quotes the description (outside text): redacted, escaped, then cut
    detail = safe.inline(" ".join(warnings.getvalue().split()), 300) or "no detail"
    said = (
        f"The description failed to render for '{declared}'."
        if declared
        else "The description failed to render in the default format of reStructuredText."
    )
    return [
        Problem(
            dist.filename,
            said + " See https://pypi.org/help/#description-content-type for more information.",
            f"fix the reStructuredText of the README (the renderer says: {detail}), or declare its real content "
            'type (readme = {file = ..., content-type = "text/markdown"})',
            LEGACY,
        )
    ]


def basic_metadata_problems(dist: Dist) -> list[Problem]:
    """What any index refuses (and `twine check` checks): invalid core metadata, an rst description that breaks."""
    return _valid(dist) + _renders(dist)


def _is_url(value: str) -> bool:
    """An http(s) URL with nothing a URI may not hold (Warehouse's is_valid_uri, host not required)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and not any(c.isspace() or ord(c) < 0x20 for c in value)


def _classifiers(file: str, classifiers: list[str]) -> list[Problem]:
    from trove_classifiers import all_classifiers, deprecated_classifiers

    problems = [
        Problem(
            file,
            _said(f"{c!r} is not a valid classifier."),
            "drop `Private ::` classifiers before publishing to PyPI"
            if c.startswith("Private ::")
            else "use a classifier from https://pypi.org/classifiers/",
            METADATA,
        )
        for c in sorted(set(classifiers) - set(all_classifiers))
    ]
    for c in sorted(set(classifiers) & deprecated_classifiers.keys()):
        instead = deprecated_classifiers[c]
        said = f"The classifier {c!r} has been deprecated" + (f", use one of {instead} instead." if instead else ".")
        problems.append(Problem(file, _said(said), "replace the deprecated classifier", METADATA))
    return problems


def _urls(file: str, raw: dict[str, object]) -> list[Problem]:
    problems = []
    for key, field in (("home_page", "home-page"), ("download_url", "download-url")):
        url = raw.get(key)
        if isinstance(url, str) and not _is_url(url):
            problems.append(Problem(file, _said(f"{url!r} is not a valid url."), f"fix {field}", METADATA))
    labels = raw.get("project_urls")
    for label, url in (labels if isinstance(labels, dict) else {}).items():
        said = (
            "Must have a label"
            if not label
            else f"{label!r} must be {MAX_URL_LABEL} characters or less."
            if len(label) > MAX_URL_LABEL
            else "Must have a URL"
            if not url
            else f"{url!r} is not a valid url"
            if not _is_url(url)
            else None
        )
        if said:
            problems.append(Problem(file, _said(said), "fix [project.urls] (label: at most 32 characters)", METADATA))
    return problems


def _requirements(file: str, raw: dict[str, object]) -> list[Problem]:
    problems = []
    fix = "depend on a released package by name and version; PyPI takes no direct URL references"
    fields = [("requires_dist", "Requires-Dist"), ("provides_dist", "Provides-Dist")]
    fields.append(("obsoletes_dist", "Obsoletes-Dist"))
    for key, field in fields:
        for text in raw.get(key) or []:  # type: ignore[attr-defined]
            try:
                requirement = Requirement(text)
            except InvalidRequirement as exc:
                if key != "requires_dist":  # packaging's own validation reports Requires-Dist
                    problems.append(Problem(file, _said(f"{text!r} is invalid: {exc}"), f"fix {field}", METADATA))
                continue
            if requirement.url is not None:
                shown = str(requirement) if key == "requires_dist" else repr(text)
                problems.append(Problem(file, _said(f"Can't have direct dependency: {shown}"), fix, METADATA))
    return problems


def pypi_metadata_problems(dist: Dist) -> list[Problem]:
    """PyPI's additions (warehouse/forklift/metadata.py), on the raw metadata so that they hold even when packaging's
    own validation failed."""
    file, raw = dist.filename, dict(dist.metadata)
    problems: list[Problem] = []
    version = raw.get("metadata_version")
    if isinstance(version, str) and version not in SUPPORTED_METADATA_VERSIONS:
        problems.append(
            Problem(
                file,
                _said(f"{version!r} is not a valid metadata version"),
                "build with a backend that writes a Metadata-Version PyPI takes (up to 2.5)",
                METADATA,
            )
        )
    try:
        local = Version(str(raw.get("version"))).local
    except InvalidVersion:
        local = None
    if local:
        problems.append(
            Problem(
                file,
                f"The use of local versions in '{raw.get('version')}' is not allowed. See https://packaging.python.org/"
                "en/latest/specifications/version-specifiers/#local-version-identifiers for more information.",
                "drop the `+local` part of the version (set it in pyproject.toml or your VCS tag)",
                METADATA,
            )
        )
    summary = raw.get("summary")
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        problems.append(
            Problem(
                file,
                _said(f"'Summary' field must be {MAX_SUMMARY} characters or less."),
                "shorten `description` in [project]",
                METADATA,
            )
        )
    problems += _classifiers(file, list(raw.get("classifiers") or []))  # type: ignore[call-overload]
    problems += _urls(file, raw)
    problems += _requirements(file, raw)
    for key in raw.get("dynamic") or []:  # type: ignore[attr-defined]
        if str(key).lower() not in DYNAMIC_FIELDS:
            said = _said(f"Dynamic field {str(key).lower()!r} is not a valid dynamic field.")
            problems.append(Problem(file, said, "mark only fields PEP 643 allows as Dynamic", METADATA))
    if raw.get("license") and raw.get("license_expression"):
        said = "License is deprecated when License-Expression is present. Only License-Expression should be present."
        problems.append(Problem(file, _said(said), 'drop the `license` text; keep `license = "SPDX"`', METADATA))
    return problems
