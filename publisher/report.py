"""What happened, rendered three ways: step outputs, the job summary table, and terminal lines (all pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["published", "skipped", "failed", "not uploaded", "dry run"]


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


def _where(report: Report) -> str:
    return f"index `{report.index_name}` ({report.publish_url})" if report.index_name else report.publish_url


def headline(report: Report) -> str:
    published, skipped = report.names("published"), report.names("skipped")
    if report.dry_run:
        return f"Dry run: {len(report.results)} file(s) validated for {_where(report)}; nothing was uploaded."
    if report.error and not published and not skipped:
        target = f" to {_where(report)}" if report.publish_url else ""
        return f"Nothing was published{target}."
    parts = [f"Published {len(published)} file(s) to {_where(report)}"]
    if skipped:
        parts.append(f"skipped {len(skipped)} already present")
    if report.error:
        parts.append("then failed")
    return ", ".join(parts) + f" (auth: {report.auth_method})."


def summary_markdown(report: Report) -> str:
    """A Markdown table for $GITHUB_STEP_SUMMARY: file, size, sha256, result."""
    lines = ["### Python package upload", "", headline(report), ""]
    if report.results:
        lines += ["| File | Size | SHA-256 | Result |", "| --- | --- | --- | --- |"]
        for r in report.results:
            result = r.status + (f": {r.detail}" if r.detail else "")
            lines.append(f"| `{r.filename}` | {human_size(r.size)} | `{r.sha256}` | {result.replace('|', '/')} |")
    if report.error:
        fence = code_fence(report.error)
        lines += ["", "**Error**", "", fence, report.error, fence]
    return "\n".join(lines) + "\n"


def code_fence(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so a message quoting Markdown (```yaml) cannot
    close the block early: at least four backticks, as a message may well hold three."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(4, longest + 1)


def terminal_lines(report: Report) -> list[str]:
    width = max((len(r.filename) for r in report.results), default=0)
    lines = [
        f"  {r.status:<12} {r.filename:<{width}}  {human_size(r.size):>10}" + (f"  {r.detail}" if r.detail else "")
        for r in report.results
    ]
    return [*lines, headline(report)]
