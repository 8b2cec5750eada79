"""The printing edge: GitHub workflow commands when running in Actions, plain text on a terminal.

Everything user-visible goes through a Console so the pipeline never decides *how* to print, and so secrets are
registered with `mask()` (an `::add-mask::` command in Actions) before any other line can contain them. Text from
outside the tool reaches a Console only through `safe.inline` (or `safe.code`/`safe.cell`), and every line a
Console prints goes through `safe.defuse` last.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from publisher.report import safe
from publisher.report.github_limits import annotation, fit_summary


class Console(Protocol):
    verbose: bool

    def mask(self, secret: str | None) -> None: ...
    def info(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...
    def notice(self, message: str, title: str | None = None) -> None: ...
    def warning(self, message: str, title: str | None = None) -> None: ...
    def error(self, message: str, title: str | None = None) -> None: ...
    def group(self, title: str) -> AbstractContextManager[None]: ...
    def set_output(self, name: str, value: str) -> None: ...
    def summary(self, markdown: str) -> None: ...


def _mask_forms(secret: str | None) -> list[str]:
    """The value and its trimmed form (a secret pasted with a trailing newline is sent trimmed), registered with
    `safe` so that outside text quoting them is redacted: the forms to mask. None shorter than
    safe.MIN_SECRET_LENGTH: masking a few letters would make the whole log unreadable (see safe.py)."""
    if secret is None or len(secret.strip()) < safe.MIN_SECRET_LENGTH:
        return []
    forms = list(dict.fromkeys((secret, secret.strip())))
    for value in forms:
        safe.register_secret(value)
    return forms


class TerminalConsole:
    """Plain output for a terminal or another CI: messages on stderr, the report on stdout.

    Nothing is redacted here by replacing strings: our own text holds no secret by construction, and text from
    outside had its secrets taken out by `safe.inline` before it was cut to length. `mask()` registers the secret
    for that. Every line still goes through `safe.defuse`, for CI systems that read commands from the output.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose

    def mask(self, secret: str | None) -> None:
        _mask_forms(secret)

    def info(self, message: str) -> None:
        print(safe.defuse(message), flush=True)

    def debug(self, message: str) -> None:
        if self.verbose:
            print(safe.defuse(message), file=sys.stderr, flush=True)

    def notice(self, message: str, title: str | None = None) -> None:
        prefix = f"notice: {title}: " if title else "notice: "
        print(safe.defuse(prefix + message), file=sys.stderr, flush=True)

    def warning(self, message: str, title: str | None = None) -> None:
        prefix = f"warning: {title}: " if title else "warning: "
        print(safe.defuse(prefix + message), file=sys.stderr, flush=True)

    def error(self, message: str, title: str | None = None) -> None:
        prefix = f"error: {title}: " if title else "error: "
        print(safe.defuse(prefix + message), file=sys.stderr, flush=True)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        print(safe.defuse(title), flush=True)
        yield

    def set_output(self, name: str, value: str) -> None:
        """Outputs only exist in Actions; a terminal user reads the report instead."""

    def summary(self, markdown: str) -> None:
        """Job summaries only exist in Actions."""


class ActionsConsole:
    """Workflow commands through github-action-utils: masks, annotations, groups, outputs and the job summary.

    Annotation and group texts are escaped by github-action-utils (`%0A`: one command, one line); plain lines go
    through `safe.defuse`, so no line can start a command we did not emit. Outputs and the summary are written
    exactly: they carry file names and URLs, never a secret.
    """

    def __init__(self, *, verbose: bool = False, environ: Mapping[str, str] | None = None) -> None:
        import github_action_utils as gha

        self._gha = gha
        self.verbose = verbose
        self._environ = os.environ if environ is None else environ
        self._masked: set[str] = set()
        self._summary_cut = False

    def mask(self, secret: str | None) -> None:
        for value in _mask_forms(secret):
            if value not in self._masked:
                self._masked.add(value)
                self._gha.add_mask(value)

    def info(self, message: str) -> None:
        self._gha.echo(safe.defuse(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self._gha.echo(safe.defuse(message))
        else:
            self._gha.debug(safe.defuse(message))

    def notice(self, message: str, title: str | None = None) -> None:
        self._gha.notice(annotation(safe.defuse(message)), title=title)

    def warning(self, message: str, title: str | None = None) -> None:
        self._gha.warning(annotation(safe.defuse(message)), title=title)

    def error(self, message: str, title: str | None = None) -> None:
        self._gha.error(annotation(safe.defuse(message)), title=title)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        with self._gha.group(safe.defuse(title)):
            yield

    def set_output(self, name: str, value: str) -> None:
        if self._environ.get("GITHUB_OUTPUT"):
            self._gha.set_output(name, value)

    def summary(self, markdown: str) -> None:
        """Appended whole while the step's summary stays within SUMMARY_CAP; cut with a note (once) beyond it."""
        path = self._environ.get("GITHUB_STEP_SUMMARY")
        if not path or self._summary_cut:
            return
        try:
            used = os.path.getsize(path)
        except OSError:
            used = 0
        fitted = fit_summary(markdown, used)
        self._summary_cut = fitted != markdown
        if fitted is not None:
            self._gha.append_job_summary(fitted)


class _Call:
    """One recorded console call (plain classes: dataclasses cost start-up time for no gain here)."""

    __slots__ = ("args", "method", "title")

    def __init__(self, method: str, args: tuple[str, ...], title: str | None = None) -> None:
        self.method, self.args, self.title = method, args, title


class _Group:
    __slots__ = ("events", "title")

    def __init__(self, title: str) -> None:
        self.title = title
        self.events: list[_Call | _Group] = []


_Event = _Call | _Group


class BufferedConsole:
    """Records one dist's output so concurrent uploads can be printed one whole group at a time, in dist order.

    `mask()` is forwarded to the real console at once (under `lock`), so a secret is registered before any line
    that could contain it is printed; everything else waits for `replay()`, which the real console redacts. Once
    every dist before this one is printed, `go_live()` prints what was recorded and passes later calls straight
    through (a group still open is opened on the real console and closed when its block ends): the dist being
    waited for shows its progress as it happens.
    """

    def __init__(self, target: Console, lock: threading.Lock) -> None:
        self.verbose = target.verbose
        self._target = target
        self._lock = lock
        self._root: list[_Event] = []
        self._stack: list[list[_Event]] = [self._root]
        self._live = False
        # The groups whose blocks are running: recorded (a _Group) or opened on the real console (its context).
        self._open: list[_Group | AbstractContextManager[None]] = []

    def _emit(self, call: _Call) -> None:
        with self._lock:
            if self._live:
                _play(call, self._target)
            else:
                self._stack[-1].append(call)

    def mask(self, secret: str | None) -> None:
        with self._lock:
            self._target.mask(secret)

    def info(self, message: str) -> None:
        self._emit(_Call("info", (message,)))

    def debug(self, message: str) -> None:
        self._emit(_Call("debug", (message,)))

    def notice(self, message: str, title: str | None = None) -> None:
        self._emit(_Call("notice", (message,), title))

    def warning(self, message: str, title: str | None = None) -> None:
        self._emit(_Call("warning", (message,), title))

    def error(self, message: str, title: str | None = None) -> None:
        self._emit(_Call("error", (message,), title))

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        with self._lock:
            if self._live:
                real = self._target.group(title)
                real.__enter__()
                self._open.append(real)
            else:
                group = _Group(title)
                self._stack[-1].append(group)
                self._stack.append(group.events)
                self._open.append(group)
        try:
            yield
        finally:
            with self._lock:
                entry = self._open.pop()
                if isinstance(entry, _Group):
                    self._stack.pop()
                else:
                    entry.__exit__(None, None, None)

    def set_output(self, name: str, value: str) -> None:
        self._emit(_Call("set_output", (name, value)))

    def summary(self, markdown: str) -> None:
        self._emit(_Call("summary", (markdown,)))

    def replay(self) -> None:
        """Print everything recorded, groups included, on the real console; call from one thread at a time."""
        with self._lock:
            _replay(self._root, self._target)
            self._root.clear()

    def go_live(self) -> None:
        """Print what was recorded and pass everything after it straight to the real console (see the class)."""
        with self._lock:
            if self._live:
                return
            running = {id(entry): position for position, entry in enumerate(self._open)}
            opened: dict[int, AbstractContextManager[None]] = {}

            def play(events: list[_Event]) -> None:
                for event in events:
                    if isinstance(event, _Group) and id(event) in running:
                        real = self._target.group(event.title)  # still running: left open, closed by its block
                        real.__enter__()
                        opened[id(event)] = real
                        play(event.events)
                    elif isinstance(event, _Group):
                        with self._target.group(event.title):
                            play(event.events)
                    else:
                        _play(event, self._target)

            play(self._root)
            self._open = [opened.get(id(entry), entry) for entry in self._open]
            self._root.clear()
            self._stack = [self._root]
            self._live = True


def _play(call: _Call, console: Console) -> None:
    if call.method in ("notice", "warning", "error"):
        getattr(console, call.method)(*call.args, title=call.title)
    else:
        getattr(console, call.method)(*call.args)


def _replay(events: list[_Event], console: Console) -> None:
    for event in events:
        if isinstance(event, _Group):
            with console.group(event.title):
                _replay(event.events, console)
        else:
            _play(event, console)


class ThreadConsole:
    """Routes each call to the console bound to the calling thread (a worker's buffer), else to the default.

    The shared HTTP client's request hooks log through this, so a worker's request lines land in its own buffer.
    """

    def __init__(self, default: Console) -> None:
        self._default = default
        self._local = threading.local()

    @property
    def current(self) -> Console:
        bound: Console | None = getattr(self._local, "console", None)
        return bound if bound is not None else self._default

    @property
    def verbose(self) -> bool:
        return self._default.verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._default.verbose = value

    @contextmanager
    def bind(self, console: Console) -> Iterator[None]:
        """Send this thread's calls to `console` for the duration of the block."""
        previous = getattr(self._local, "console", None)
        self._local.console = console
        try:
            yield
        finally:
            self._local.console = previous

    def mask(self, secret: str | None) -> None:
        self.current.mask(secret)

    def info(self, message: str) -> None:
        self.current.info(message)

    def debug(self, message: str) -> None:
        self.current.debug(message)

    def notice(self, message: str, title: str | None = None) -> None:
        self.current.notice(message, title=title)

    def warning(self, message: str, title: str | None = None) -> None:
        self.current.warning(message, title=title)

    def error(self, message: str, title: str | None = None) -> None:
        self.current.error(message, title=title)

    def group(self, title: str) -> AbstractContextManager[None]:
        return self.current.group(title)

    def set_output(self, name: str, value: str) -> None:
        self.current.set_output(name, value)

    def summary(self, markdown: str) -> None:
        self.current.summary(markdown)


def make_console(environ: Mapping[str, str], *, verbose: bool) -> Console:
    """Actions commands only when GitHub runs us; elsewhere they would be noise."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return ActionsConsole(verbose=verbose, environ=environ)
    return TerminalConsole(verbose=verbose)
