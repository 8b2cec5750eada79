"""What a preflight finds: one Problem per broken rule per file, and the one error that lists them all."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.report import safe
from publisher.report.errors import DistError

LEGACY = "warehouse/forklift/legacy.py"
METADATA = "warehouse/forklift/metadata.py"
ZIPFILES = "warehouse/utils/zipfiles.py"
WHEEL = "warehouse/utils/wheel.py"
MORE_INFO_METADATA = " See https://packaging.python.org/specifications/core-metadata for more information."
ARCHIVES = ". See https://docs.pypi.org/archives for more information"


@dataclass(frozen=True)
class Problem:
    """One refusal: the file, the rule as Warehouse words its answer, how to fix it, and the Warehouse source file."""

    file: str
    rule: str
    fix: str
    source: str

    def line(self) -> str:
        """One list item of the refusal; the file name and the rule words may hold outside text (escaped)."""
        return f"{safe.exact(self.file)}: {safe.inline(self.rule, 500)} (fix: {self.fix}; rule: {self.source})"


class PreflightError(DistError):
    """The files break the index's rules (exit 2, nothing sent)."""

    title = "Files break the index's rules"

    def __init__(self, problems: list[Problem], rules: str) -> None:
        files = len({p.file for p in problems})
        listed = "\n  - ".join(p.line() for p in problems)
        super().__init__(
            f"Preflight ({rules} rules): {len(problems)} problem(s) in {files} file(s); nothing was uploaded:"
            f"\n  - {listed}",
            hint="Fix each problem above and rebuild the files; `preflight: basic` (--preflight basic) keeps only "
            "the index-neutral checks, `preflight: off` none.",
        )
        self.problems = problems
