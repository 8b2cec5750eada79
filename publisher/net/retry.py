"""When to try a request again, and how long to wait first (pure policy), plus one small loop that applies it.

Retried: transport failures (connect refused, reset, timeouts, a passed per-request deadline), 5xx and 429 -- a
registry or proxy that is briefly unwell. Not retried: any other 4xx, because the same request would get the same
answer; a host name that does not resolve and a refused TLS handshake (unreachable.Unreachable, raised by the
transport for every request), which fail the same way every time; a cancelled run (bounds.Aborted, from
transport.abort_all), which must stop at once. uv retries transport errors
only and twine 5xx only; an upload is safe to repeat because every registry refuses to overwrite a file, and the
caller re-checks the index after an attempt that may have stored the file (see upload.py).

Waits grow exponentially from `base_delay` with jitter (so parallel uploads do not retry in lock step) and honour
`Retry-After` (seconds or an HTTP date), each wait capped, all attempts together capped by `total_cap`.
Environment knobs, documented for tests and for impatient users:

- `PUBLISHER_RETRY_BASE_DELAY` -- first wait in seconds (default 1; tests use 0.01).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Generic, TypeVar

import httpx

from publisher.net.bounds import Aborted
from publisher.net.unreachable import Unreachable
from publisher.report import cancel, safe
from publisher.report.console import Console

BASE_DELAY = 1.0
MAX_DELAY = 30.0
RETRY_AFTER_CAP = 120.0
TOTAL_CAP = 300.0
BASE_DELAY_ENV = "PUBLISHER_RETRY_BASE_DELAY"

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    retry_after_cap: float = RETRY_AFTER_CAP
    total_cap: float = TOTAL_CAP


def policy_from(retries: int, environ: Mapping[str, str] = os.environ) -> RetryPolicy:
    """The policy for `retries`, with the base delay overridable through PUBLISHER_RETRY_BASE_DELAY."""
    base = BASE_DELAY
    raw = environ.get(BASE_DELAY_ENV, "").strip()
    if raw:
        try:
            base = max(0.0, float(raw))
        except ValueError:
            base = BASE_DELAY
    return RetryPolicy(retries=retries, base_delay=base)


def status_is_retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def error_is_retryable(exc: BaseException) -> bool:
    """Network trouble is worth another try; our own mistakes (bad URL, protocol misuse), a host that cannot be
    reached this way (a name that does not resolve, TLS refused: unreachable.py) and a cancelled run are not. A passed
    deadline (bounds.DeadlineExceeded) is a timeout like any other: retried while the total cap allows (with the
    default 300 s deadline, a first expiry has used the cap up)."""
    if isinstance(exc, Aborted | Unreachable | httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.ProxyError):
        return False
    return isinstance(exc, httpx.TransportError)


def hint_for(error: BaseException | None, default: str) -> str | None:
    """The hint of an error built from a transport failure: none for an Unreachable one (its message says the fix,
    naming the host), else `default`."""
    return None if isinstance(error, Unreachable) else default


def may_have_arrived(result: httpx.Response | BaseException) -> bool:
    """True when the registry may have stored the file although we saw a failure: 5xx, or lost after sending.

    A refused or timed-out connection never carried the body; a 429 is a refusal before processing. A deadline that
    passed while connecting (bounds.ConnectDeadlineExceeded, a ConnectTimeout) sent nothing either; one that passed
    later may have left the whole file with the registry, which then answered too slowly: it may have arrived.
    """
    if isinstance(result, httpx.Response):
        return 500 <= result.status_code <= 599
    return not isinstance(result, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def seconds(wait: float) -> str:
    return f"{wait:.1f}s" if wait >= 0.1 else f"{wait * 1000:.0f}ms"


def describe(result: httpx.Response | BaseException) -> str:
    """`HTTP 503 Service Unavailable` or `ReadTimeout: ...`, one printable line: the reason phrase and an exception's
    text come from outside (safe.inline)."""
    if isinstance(result, httpx.Response):
        return f"HTTP {result.status_code} {safe.inline(result.reason_phrase, 100)}".rstrip()
    if isinstance(result, Unreachable):  # a whole sentence that names the host and the fix
        return safe.inline(str(result), 800)
    detail = str(result).strip()
    return safe.inline(f"{type(result).__name__}: {detail}" if detail else type(result).__name__, 500)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() alone accepts "²", which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """Exponential with equal jitter: half the step is fixed, half random; `attempt` counts from 1."""
    step = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return float(step / 2 + rng() * step / 2)


def next_wait(
    attempt: int,
    policy: RetryPolicy,
    elapsed: float,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to sleep before retry number `attempt`, or None when out of retries or out of time."""
    if attempt > policy.retries:
        return None
    wait = backoff(attempt, policy, rng)
    if retry_after is not None:
        wait = max(wait, min(retry_after, policy.retry_after_cap))
    if elapsed + wait > policy.total_cap:
        return None
    return wait


@dataclass
class Final(Generic[T]):
    """How a retried call ended: the last response or transport error, or what `settle` decided; and attempts."""

    response: httpx.Response | None = None
    error: httpx.TransportError | None = None
    settled: T | None = None
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)


def call_with_retries(
    send: Callable[[], httpx.Response],
    policy: RetryPolicy,
    console: Console,
    what: str,
    *,
    settle: Callable[[httpx.Response | httpx.TransportError], T | None] | None = None,
    sleep: Callable[[float], None] = cancel.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Final[T]:
    """Call `send` until it gives a non-retryable answer or the policy gives up.

    Before each retry `settle` (if given) may end the loop with a value -- e.g. the file turned out to be stored
    by the failed attempt. The last retryable transport error is returned in `error`, and so is an Unreachable one
    (a name that does not resolve, TLS refused) after its one attempt: every caller reports it as a failure to reach
    the registry, with the message that names the host and the fix. Other non-retryable transport errors are raised.
    """
    started = clock()
    final: Final[T] = Final()
    while True:
        final.attempts += 1
        result: httpx.Response | httpx.TransportError
        try:
            result = send()
        except httpx.TransportError as exc:
            if isinstance(exc, Unreachable):  # fails the same way every time: no retry, no settle
                final.response, final.error = None, exc
                final.reasons.append(describe(exc))
                return final
            if not error_is_retryable(exc):
                raise
            result = exc
        if isinstance(result, httpx.Response):
            final.response, final.error = result, None
            if not status_is_retryable(result.status_code):
                return final
            retry_after = parse_retry_after(result.headers.get("retry-after"))
        else:
            final.response, final.error = None, result
            retry_after = None
        reason = describe(result)
        final.reasons.append(reason)
        if settle is not None:
            settled = settle(result)
            if settled is not None:
                final.settled = settled
                return final
        wait = next_wait(final.attempts, policy, clock() - started, retry_after)
        if wait is None:
            return final
        hint = f" (Retry-After: {retry_after:g}s)" if retry_after is not None else ""
        console.warning(
            f"{what}: {reason}{hint}; retry {final.attempts}/{policy.retries} in {seconds(wait)}.", title="Retrying"
        )
        sleep(wait)
