"""Cancelled runs keep their record: SIGINT and SIGTERM stop the run in order instead of killing it.

GitHub cancels a container step by signalling `docker run`, which forwards the signal to our process (PID 1 in the
container, where an unhandled SIGTERM would be ignored): SIGINT first, SIGTERM 7.5 s later, SIGKILL 2.5 s after
that. `docker stop` sends SIGTERM and kills 10 s later. So, on the first signal:

- before the uploads (reading settings, validating dists, minting a token, asking a keyring): the handler raises
  `Cancelled` at once, in the main thread, out of whatever it was waiting for;
- during the uploads: no new upload starts; the ones in flight get `GRACE` seconds (PUBLISHER_CANCEL_GRACE,
  default 3) to finish, then `abort` (the transport's: every live connection is shut) ends them; retry waits end
  at once. The run then writes its outputs, summary and report for what landed, and exits 128 + the signal's
  number (130 for SIGINT, 143 for SIGTERM), as shells do;
- a second signal aborts the uploads in flight without waiting for the grace.

The state is process-wide, as signals are.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

from publisher.report.errors import PublishError
from publisher.report.wording import written

GRACE = 3.0
GRACE_ENV = "PUBLISHER_CANCEL_GRACE"
# Windows runners cancel with Ctrl+C, then Ctrl+Break (SIGBREAK), whose default kills the process.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name))

_requested = threading.Event()
_lock = threading.Lock()
# mode: "preparing" (a signal raises Cancelled at once), "uploading" (stop in order), "reporting" (only noted: the
# record being written must not be cut short; the exit status still says cancelled).
_state: dict[str, object] = {
    "signal": None,
    "mode": "preparing",
    "abort": None,
    "timer": None,
    "grace": GRACE,
    "front_end": "action",  # how Cancelled's hint spells skip-existing (settings.written)
}


class Cancelled(PublishError):
    """The run was stopped by a signal; exit 128 + the signal's number."""

    title = "Cancelled"

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} received: no new upload was started after it; the files listed went up before.",
            hint=f"Re-run with {written('skip-existing', True, str(_state['front_end']))} to finish the release: "
            "identical files already on the index are skipped.",
        )
        self.exit_code = 128 + signum
        self.signum = signum


def grace_from(environ: Mapping[str, str]) -> float:
    raw = environ.get(GRACE_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else GRACE
    except ValueError:
        return GRACE


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise Cancelled if a signal arrived: called before starting anything new."""
    signum = _state["signal"]
    if _requested.is_set() and isinstance(signum, int):
        raise Cancelled(signum)


def sleep(seconds: float) -> None:
    """time.sleep for retry waits, cut short (with Cancelled) by a signal."""
    if _requested.wait(seconds):
        check()


def _abort() -> None:
    abort = _state["abort"]
    if callable(abort):
        abort()


def _handle(signum: int, frame: FrameType | None) -> None:
    with _lock:
        first = not _requested.is_set()
        if first:
            _state["signal"] = signum
            _requested.set()
        mode = _state["mode"]
        if mode == "uploading" and first:
            grace = _state["grace"]
            timer = threading.Timer(grace if isinstance(grace, float) else GRACE, _abort)
            timer.daemon = True
            _state["timer"] = timer
            timer.start()
    if mode == "preparing":
        check()
    elif mode == "uploading" and not first:
        _abort()


@contextmanager
def signals_handled(
    abort: Callable[[], object], environ: Mapping[str, str] = os.environ, front_end: str = "action"
) -> Iterator[None]:
    """Install the handlers for the run (main thread only; elsewhere, as in tests calling the pipeline from a
    thread, signals keep their default behaviour). `front_end` spells the settings named in Cancelled's hint."""
    _state["front_end"] = front_end
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.update(abort=abort, grace=grace_from(environ), mode="preparing")
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        timer = _state["timer"]
        if isinstance(timer, threading.Timer):
            timer.cancel()
        _state.update(abort=None, timer=None, mode="preparing")


@contextmanager
def uploading() -> Iterator[None]:
    """The uploads are running: a signal now stops them in order (grace, then abort) instead of raising."""
    check()  # a signal that came just before the uploads: none starts
    _set_mode("uploading")
    try:
        yield
    finally:
        _set_mode("reporting")


def reporting() -> None:
    """The run is over and its record is being written: a signal is only noted."""
    _set_mode("reporting")


def _set_mode(mode: str) -> None:
    with _lock:
        _state["mode"] = mode


def reset() -> None:
    """For tests that run several pipelines in one process."""
    with _lock:
        _requested.clear()
        _state.update(signal=None, mode="preparing", abort=None, timer=None)
