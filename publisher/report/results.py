"""What happened, rendered three ways: step outputs, the job summary table, and terminal lines (all pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from publisher.report import safe

Status = Literal[
    "published",
    "skipped",
    "failed",
    "not uploaded",
    "would upload",
    "would skip",
    "would fail",
    "accepted, not stored",
    "accepted, not confirmed",
]
DRY_RUN_STATUSES: tuple[Status, ...] = ("would upload", "would skip", "would fail")  # predict.py
# Accepted by the registry, yet not shown to be stored and listed (confirm.py): neither published nor skipped.
UNSETTLED: tuple[Status, ...] = ("accepted, not stored", "accepted, not confirmed")


@dataclass(frozen=True)
class FileResult:
    filename: str
    size: int
    sha256: str
    status: Status
    detail: str = ""


@dataclass
class Report:
    publish_url: str
    index_name: str | None = None
    auth_method: str = "none"
    dry_run: bool = False
    results: list[FileResult] = field(default_factory=list)
    error: str | None = None
    attested: dict[str, int | None] = field(default_factory=dict)  # file -> Rekor log index (None: its own file)
    error_title: str = "Error"  # the error's own title (errors.py): the message does not repeat it
    preflight: str = ""  # the preflight's outcome, one line ("pypi rules: 3 file(s) passed")
    preflight_problems: list[str] = field(default_factory=list)  # "<file>: <rule words>", outside text

    def names(self, status: Status) -> list[str]:
        return [r.filename for r in self.results if r.status == status]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def outputs(report: Report) -> dict[str, str]:
    return {
        "published": json.dumps(report.names("published")),
        "skipped": json.dumps(report.names("skipped")),
        "publish-url": report.publish_url,
        "auth-method": report.auth_method,
    }


def _where(report: Report, markdown: bool = False) -> str:
    """The target as a reader sees it: in the summary every outside value is a code span (no link renders)."""
    if not report.publish_url:
        return ""
    url = safe.code(report.publish_url, name=True) if markdown else safe.exact(report.publish_url)
    if not report.index_name:
        return url
    name = safe.code(report.index_name, name=True) if markdown else f"`{safe.exact(report.index_name)}`"
    return f"index {name} ({url})"


def headline(report: Report, markdown: bool = False) -> str:
    published, skipped = report.names("published"), report.names("skipped")
    where = _where(report, markdown)
    if report.dry_run:
        if not report.results:  # stopped before any file was looked up
            if report.error:
                return f"Dry run failed{' for ' + where if where else ''}: nothing was uploaded."
            return f"Dry run for {where}: no files; nothing was uploaded."
        counts = ", ".join(f"{len(report.names(s))} {s}" for s in DRY_RUN_STATUSES if report.names(s))
        return f"Dry run for {where}: {counts} (auth: {report.auth_method}); nothing was uploaded."
    if report.error and not published and not skipped:
        return f"Nothing was published{' to ' + where if where else ''}." + _unsettled(report)
    parts = [f"Published {len(published)} file(s) to {where}"]
    if skipped:
        parts.append(f"skipped {len(skipped)} already present")
    if report.error:
        parts.append("then failed")
    return ", ".join(parts) + f" (auth: {report.auth_method})." + _unsettled(report)


def _unsettled(report: Report) -> str:
    """The counts of files the registry accepted without storing or listing them, as sentences of their own (the
    status names hold a comma): ` Accepted, not stored: 1.`"""
    counts = [(status, len(report.names(status))) for status in UNSETTLED]
    return "".join(f" {status[0].upper()}{status[1:]}: {count}." for status, count in counts if count)


def summary_markdown(report: Report) -> str:
    """A Markdown table for $GITHUB_STEP_SUMMARY: file, size, sha256, result.

    File names and details are code spans (`safe.cell`): whatever a name or a registry's words hold, each file is
    one table row, and no HTML, link or image from outside renders. The error is a fenced block longer than any
    backtick run in it.
    """
    lines = ["### Python package upload", "", headline(report, markdown=True), ""]
    if report.results:
        lines += ["| File | Size | SHA-256 | Result |", "| --- | --- | --- | --- |"]
        for r in report.results:
            result = r.status + (f": {safe.cell(r.detail)}" if r.detail else "")
            sha256 = f"`{r.sha256}`" if r.sha256 else ""
            lines.append(f"| {safe.cell(r.filename, name=True)} | {human_size(r.size)} | {sha256} | {result} |")
    if report.preflight:
        lines += ["", f"**Preflight**: {report.preflight}"]
        lines += [f"- {safe.code(problem, 500)}" for problem in report.preflight_problems]
    if report.attested:
        lines += ["", "**Attestations (PEP 740)**", ""]
        for name, index in report.attested.items():
            found = safe.code(name + ".publish.attestation", name=True)
            where = f"signed, Rekor log index {index}" if index is not None else f"uploaded from {found}"
            lines.append(f"- {safe.code(name, name=True)}: {where}")
    if report.error:
        fence = code_fence(report.error)
        lines += ["", f"**{report.error_title}**", "", fence, report.error, fence]
    return "\n".join(lines) + "\n"


def code_fence(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so a message quoting Markdown (```yaml) cannot
    close the block early: at least four backticks, as a message may well hold three."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(4, longest + 1)


def terminal_lines(report: Report) -> list[str]:
    names = [safe.exact(r.filename) for r in report.results]
    width = max((len(name) for name in names), default=0)
    column = max((len(r.status) for r in report.results), default=0)
    column = max(12, column)  # "not uploaded"; the two "accepted, ..." statuses widen it
    lines = [
        f"  {r.status:<{column}} {name:<{width}}  {human_size(r.size):>10}"
        + (f"  {safe.inline(r.detail)}" if r.detail else "")
        for r, name in zip(report.results, names, strict=True)
    ]
    return [*lines, headline(report)]
