"""The printing edge: GitHub workflow commands when running in Actions, plain text on a terminal.

Everything user-visible goes through a Console so the pipeline never decides *how* to print, and so secrets are
registered with `mask()` (an `::add-mask::` command in Actions) before any other line can contain them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Console(Protocol):
    verbose: bool

    def mask(self, secret: str | None) -> None: ...
    def info(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def warning(self, message: str, title: str | None = None) -> None: ...
    def error(self, message: str, title: str | None = None) -> None: ...
    def group(self, title: str) -> AbstractContextManager[None]: ...
    def set_output(self, name: str, value: str) -> None: ...
    def summary(self, markdown: str) -> None: ...


class _Redactor:
    """Local safety net: replace every masked value in text we print ourselves (the runner does it in Actions)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: str | None) -> bool:
        if not secret or secret in self.secrets:
            return False
        self.secrets.add(secret)
        return True

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class TerminalConsole:
    """Plain output for a terminal or another CI: messages on stderr, the report on stdout."""

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self._redact = _Redactor()

    def mask(self, secret: str | None) -> None:
        self._redact.add(secret)

    def info(self, message: str) -> None:
        print(self._redact(message), flush=True)

    def debug(self, message: str) -> None:
        if self.verbose:
            print(self._redact(message), file=sys.stderr, flush=True)

    def warning(self, message: str, title: str | None = None) -> None:
        prefix = f"warning: {title}: " if title else "warning: "
        print(self._redact(prefix + message), file=sys.stderr, flush=True)

    def error(self, message: str, title: str | None = None) -> None:
        prefix = f"error: {title}: " if title else "error: "
        print(self._redact(prefix + message), file=sys.stderr, flush=True)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        print(self._redact(title), flush=True)
        yield

    def set_output(self, name: str, value: str) -> None:
        """Outputs only exist in Actions; a terminal user reads the report instead."""

    def summary(self, markdown: str) -> None:
        """Job summaries only exist in Actions."""


class ActionsConsole:
    """Workflow commands through github-action-utils: masks, annotations, groups, outputs and the job summary."""

    def __init__(self, *, verbose: bool = False, environ: Mapping[str, str] | None = None) -> None:
        import github_action_utils as gha

        self._gha = gha
        self.verbose = verbose
        self._environ = os.environ if environ is None else environ
        self._redact = _Redactor()

    def mask(self, secret: str | None) -> None:
        if secret is None:
            return
        for value in {secret, secret.strip()}:
            if value and self._redact.add(value):
                self._gha.add_mask(value)

    def info(self, message: str) -> None:
        self._gha.echo(self._redact(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self._gha.echo(self._redact(message))
        else:
            self._gha.debug(self._redact(message))

    def warning(self, message: str, title: str | None = None) -> None:
        self._gha.warning(self._redact(message), title=title)

    def error(self, message: str, title: str | None = None) -> None:
        self._gha.error(self._redact(message), title=title)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        with self._gha.group(self._redact(title)):
            yield

    def set_output(self, name: str, value: str) -> None:
        if self._environ.get("GITHUB_OUTPUT"):
            self._gha.set_output(name, self._redact(value))

    def summary(self, markdown: str) -> None:
        if self._environ.get("GITHUB_STEP_SUMMARY"):
            self._gha.append_job_summary(self._redact(markdown))


def make_console(environ: Mapping[str, str], *, verbose: bool) -> Console:
    """Actions commands only when GitHub runs us; elsewhere they would be noise."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return ActionsConsole(verbose=verbose, environ=environ)
    return TerminalConsole(verbose=verbose)
