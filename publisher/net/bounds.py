"""What one request to a registry may cost at most: bytes read, seconds spent. Pure values and exception types.

A registry (or whatever answers in its place: a proxy, a login page, an attacker) decides how much it sends and how
slowly. Every request is bounded whatever it does:

- **Answers** (upload answers, error pages, trusted-publishing JSON): at most `ANSWER_CAP` (64 KiB) decoded bytes are
  kept; the rest is never read. A registry's message is in its first lines.
- **Task resources** (an asynchronous registry's upload task, confirm.py): at most `TASK_CAP` (256 KiB).
- **Simple API listings**: at most `LISTING_CAP` (64 MiB) decoded; a bigger page is an error naming the cap
  (PyPI's largest project pages are a few MB).
- **Downloads to compare hashes**: at most the local file's size; one byte more and the contents differ.
- **Time**: each request must be complete -- connected, sent, answered and its body read -- within a total deadline,
  `PUBLISHER_REQUEST_DEADLINE` seconds (default 300), plus 1 s per MiB it moves: the body it sends (a 500 MiB
  wheel gets 300 + 500 s) or the file it downloads to compare hashes (the local file's size). A big transfer on a
  slow link (1 MiB/s or better) still fits, and a server trickling one byte at a time still ends.

Limits are on decoded bytes: a gzip body is inflated in pieces of at most 64 KiB, so a small bomb cannot grow
past the cap in memory either.

Retry decisions (retry.py): a passed deadline is a transport error like a read timeout, so it is retried while the
retry policy's total time allows. Whether an upload may have arrived follows the phase it passed in: still
connecting (TCP or TLS handshake) means nothing was sent (:class:`ConnectDeadlineExceeded`, a ConnectTimeout);
later, the file may have been stored and the index is asked before retrying. :class:`Aborted` (the run is being
cancelled) is never retried.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import httpx

ANSWER_CAP = 64 * 1024
TASK_CAP = 256 * 1024  # a registry's task resource (Pulp's carries a traceback when it failed)
LISTING_CAP = 64 * 1024 * 1024
DEADLINE_ENV = "PUBLISHER_REQUEST_DEADLINE"
DEFAULT_DEADLINE = 300.0
SECONDS_PER_MIB = 1.0  # allowance on top of the deadline per MiB moved: a link of 1 MiB/s or better always fits
MIB = 1024 * 1024


def deadline_from(environ: Mapping[str, str]) -> float:
    """Seconds per request: PUBLISHER_REQUEST_DEADLINE when it is a positive number, else the default."""
    raw = environ.get(DEADLINE_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_DEADLINE
    except ValueError:
        return DEFAULT_DEADLINE
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_DEADLINE


def request_budget(deadline: float, size: int) -> float:
    """The deadline of one request that moves `size` bytes (sent, or expected back): SECONDS_PER_MIB per MiB more."""
    return deadline + max(0, size) / MIB * SECONDS_PER_MIB


def size_text(size: int) -> str:
    """A cap for messages: 64 KiB, 64 MiB, 1234 bytes."""
    for unit, name in ((MIB, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


class DeadlineExceeded(httpx.TimeoutException):
    """The request was not complete (connected, sent, answered, read) within its total deadline."""


class ConnectDeadlineExceeded(DeadlineExceeded, httpx.ConnectTimeout):
    """The deadline passed while connecting (TCP or TLS handshake): nothing of the request was sent."""


class Aborted(httpx.TransportError):
    """The run is being cancelled (transport.abort_all): this request was cut or refused. Never retried."""
