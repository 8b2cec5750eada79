"""What every OIDC token exchange shares: its HTTP client, its diagnostics, and the renewal of what it got.

An exchange trades an ID token from the CI system (identity.py) for an upload credential at a registry: PyPI-style
trusted publishing (trusted_publishing.py, `/_/oidc/mint-token`) or the JFrog Platform (jfrog.py,
`/access/api/v1/oidc/token`). A third registry that adds OIDC is one more small module on top of this one:

- :func:`open_client`: the project's guarded transport (a deadline per request, answers read up to 64 KiB, proxies
  routed as for uploads, cut by `abort_all` on cancellation), no redirect followed: an answer that moves the request
  elsewhere is an answer to explain, not a place to send an ID token to.
- :class:`Exchange`: one request at a time under retry.py's one policy (transport errors, 429 and 5xx retried with
  backoff and Retry-After), and one diagnostics style: each failure is reported where it happens, with the whole
  explanation in an error annotation and the same text in the job summary (as pypa's action does), and the error
  raised then is marked `reported` (run.main does not annotate it twice) and carries a shorter message, which
  credentials.py quotes when `automatic` falls through to missing credentials.
- :meth:`Exchange.post_with_id_token`: a POST whose body carries an ID token, with a fresh one for every attempt (an
  index may refuse an ID token it has seen, as PyPI does).
- :class:`RenewingToken`: the credential an exchange returned, exchanged again shortly before it expires and shared
  by the upload threads; a failed renewal is reported once.
- :func:`decode_claims` / :func:`render_claims`: what an ID token says about the job, for diagnostics. Never the token.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from publisher.net.bodies import json_value
from publisher.net.bounds import deadline_from
from publisher.net.retry import Final, RetryPolicy, call_with_retries, describe
from publisher.net.transport import client_routing
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import PublishError, TokenExchangeError
from publisher.report.results import code_fence
from publisher.version import USER_AGENT

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
CLAIM_LIMIT = 300  # characters of one claim shown in a diagnostic
REASONS_SHOWN = 10  # a refusal shows at most this many of the registry's reasons


@dataclass(frozen=True)
class Purpose:
    """Who needs an ID token, in the words of every message about it.

    `name` starts sentences and annotation titles (`Trusted publishing`, `JFrog OIDC`); `activity` completes "could
    not reach <url> for ..."; `comment` follows `id-token: write` in the YAML shown; `then` is what to do once the
    job may have a token; `instead` what to do where no token can be had; `error` the type raised.
    """

    name: str
    activity: str
    comment: str
    then: str
    instead: str
    error: type[TokenExchangeError] = TokenExchangeError


def open_client(environ: Mapping[str, str], *, native_tls: bool = False) -> httpx.Client:
    """An HTTP client for token exchanges: the same guarded transport as uploads (transport.client_routing)."""
    routing = client_routing(deadline_from(environ), native_tls=native_tls)
    return httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=False, **routing)


def section(console: Console, title: str, *, renewal: bool) -> AbstractContextManager[None]:
    """The exchange's log group. A renewal runs inside an upload's group, and groups do not nest in GitHub's log (the
    inner one would end the outer): there its lines go into that upload's group."""
    return nullcontext() if renewal else console.group(title)


def field_of(value: object, key: str) -> str | None:
    """`value[key]` when `value` is a JSON object and that member a string, else None: JSON from an index or a token
    service is read for the strings we expect in it; a number, list or nested object in their place reaches no
    message."""
    member = value.get(key) if isinstance(value, dict) else None
    return member if isinstance(member, str) else None


# A token shorter than this in an exchange's answer is not a token: PyPI's are hundreds of characters, JFrog's access
# tokens are JWTs (reference tokens: 64), ID tokens are JWTs. Refused as a malformed answer, so a hostile answer cannot
# have a few common letters masked (safe.MIN_SECRET_LENGTH) and sent as a credential.
MIN_TOKEN_LENGTH = 16
NO_TOKEN = f"no token of at least {MIN_TOKEN_LENGTH} characters in the answer"


def token_field(value: object, key: str) -> str | None:
    """:func:`field_of` for a token: None unless it is at least MIN_TOKEN_LENGTH characters long."""
    token = field_of(value, key)
    return token if token is not None and len(token) >= MIN_TOKEN_LENGTH else None


def status_of(response: httpx.Response) -> str:
    """`500 Internal Server Error`: the reason phrase is the server's own text (safe.inline)."""
    return f"{response.status_code} {safe.inline(response.reason_phrase, 100)}".strip()


def body_detail(response: httpx.Response, limit: int = 300) -> str:
    """A short, printable account of a response body: its `message` if JSON, else its first characters."""
    payload = json_value(response)
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        text = payload["message"]
    else:
        text = " ".join(response.text.split())
    return safe.inline(text or "(empty body)", limit)


def decode_claims(jwt: str) -> dict[str, Any]:
    """The JWT's payload, NOT verified: for display only. The registry verifies the signature; we only explain."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _claim_text(value: object) -> str:
    if value is None:
        return "MISSING"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render_claims(claims: Mapping[str, Any], names: Sequence[str]) -> str:
    """Markdown bullets of the named claims, `MISSING` for absent ones, as pypa's action shows them. The values come
    from the token: outside text, so code spans of safe.inline text, cut to CLAIM_LIMIT."""
    return "\n".join(f"- `{name}`: {safe.code(_claim_text(claims.get(name)), CLAIM_LIMIT)}" for name in names)


def expires_at(value: object, *, relative: bool, clock: Callable[[], float] = time.time) -> float | None:
    """Epoch seconds from an answer's expiry: absolute (PyPI's `expires`) or relative (OAuth's `expires_in`); None
    for anything that is not a finite, positive number."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        return None
    return clock() + float(value) if relative else float(value)


def until(expires: float | None) -> str | None:
    """`valid until 12:34:56 UTC`, or None when the expiry is unknown or cannot be shown."""
    if expires is None:
        return None
    try:
        moment = datetime.fromtimestamp(expires, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"valid until {moment:%H:%M:%S} UTC"


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can replace time.sleep


@dataclass
class Exchange:
    """One token exchange: an HTTP client plus what every message needs (the purpose, the console, the policy).

    `unreachable_hint` is said when a host never answered. `expires` is set by an exchange that learns when its
    credential expires (epoch seconds).
    """

    client: httpx.Client
    console: Console
    policy: RetryPolicy
    purpose: Purpose
    unreachable_hint: str
    expires: float | None = field(default=None, init=False)

    def fail(
        self,
        title: str,
        details: str,
        hint: str,
        *,
        short: str | None = None,
        exit_code: int = 1,
        supported: bool = True,
    ) -> TokenExchangeError:
        """Annotate and summarise the whole explanation; the exception carries the short form for quoting."""
        self.console.error(f"{details}\n\n{hint}", title=title)
        # In a fenced block: the explanation quotes the registry's and the token service's words, which must not
        # render in the job summary (no HTML, link or image from outside); the fence outruns any backtick run.
        fence = code_fence(f"{details}\n\n{hint}")
        self.console.summary(f"### {title}\n\n{fence}\n{details}\n\n{hint}\n{fence}\n")
        error = self.purpose.error(short or details, hint=hint, exit_code=exit_code, supported=supported)
        error.reported = True
        return error

    def send(self, method: str, url: str, *, what: str, side: str, shown_url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on transport errors, 429 and 5xx; the last answer is returned. `side` names who did
        not answer (`index`, `GitHub`, `JFrog`) in the annotation's title."""

        def attempt() -> httpx.Response:
            self.console.debug(f"> {method} {shown_url}")
            response = self.client.request(method, url, **kwargs)
            self.console.debug(f"< {response.status_code} {method} {shown_url}")
            return response

        return self.answer(attempt, what, shown_url, side)

    def answer(self, attempt: Callable[[], httpx.Response], what: str, shown_url: str, side: str) -> httpx.Response:
        """Run `attempt` with retries; a host that never answered is reported (and raised) as unreachable."""
        try:
            final: Final[None] = call_with_retries(attempt, self.policy, self.console, what, sleep=_sleep)
        except httpx.TransportError as exc:  # not worth retrying: a TLS failure, a URL httpx cannot use
            final = Final(error=exc, attempts=1)
        if final.response is not None:
            return final.response
        assert final.error is not None
        message = (
            f"Could not reach {shown_url} for {self.purpose.activity} after {final.attempts} attempt(s): "
            f"{describe(final.error)}."
        )
        raise self.fail(f"{self.purpose.name}: {side} unreachable", message, self.unreachable_hint)

    def post_with_id_token(
        self,
        url: str,
        body: Callable[[str], dict[str, Any]],
        id_token: Callable[[], str],
        *,
        what: str,
        side: str,
    ) -> tuple[httpx.Response, str]:
        """POST `body(jwt)` as JSON, each attempt with a new ID token from `id_token()`; the last answer and the ID
        token it answered."""
        jwts: list[str] = []

        def attempt() -> httpx.Response:
            jwts.append(id_token())
            self.console.debug(f"> POST {url}")
            response = self.client.post(url, json=body(jwts[-1]))
            self.console.debug(f"< {response.status_code} POST {url}")
            return response

        response = self.answer(attempt, what, url, side)
        return response, jwts[-1]


def registry_reasons(errors: list[Any], message_key: str) -> list[tuple[str, str]]:
    """(code, words) of each error a registry listed (`{"code": ..., <message_key>: ...}`), in its own words:
    redacted (a registry may quote the token back), one line each, bounded in length and number."""
    return [
        (
            safe.inline(field_of(error, "code") or "unknown", 100),
            safe.inline(field_of(error, message_key) or "(none)", 500),
        )
        for error in errors[:REASONS_SHOWN]
    ]


DEFAULT_LIFETIME = 900.0  # PyPI's, assumed when a registry does not say when its credential expires
RENEW_MARGIN = 60.0  # exchange again when a request would go out later than this before the expiry


class RenewingToken:
    """The exchanged credential of a run, exchanged again shortly before it expires; shared by the upload threads.

    `renew` runs the whole exchange again (a new ID token, a new credential) and returns `(token, expires)`; it masks
    what it gets. A failed renewal raises its error into the upload that needed the token. A credential that lasts
    less than the margin (a JFrog identity mapping may issue 30-second tokens) is exchanged again before every
    request that needs it.
    """

    def __init__(
        self,
        token: str,
        expires: float | None,
        renew: Callable[[], tuple[str, float | None]],
        *,
        clock: Callable[[], float] = time.time,
        margin: float = RENEW_MARGIN,
    ) -> None:
        self._lock = threading.Lock()
        self._renew, self._clock, self._margin = renew, clock, margin
        self._token, self._expires = token, self._expiry(expires)
        self._failure: PublishError | None = None
        self.renewals = 0

    def _expiry(self, expires: float | None) -> float:
        return expires if expires is not None else self._clock() + DEFAULT_LIFETIME

    def current(self) -> str:
        """The token to send now: the one held, or a new one when it expires within the margin.

        A failed renewal is reported once (by the exchange) and raised again to every later caller, rather than
        each waiting upload running the exchange (and its annotation) again.
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._clock() >= self._expires - self._margin:
                try:
                    token, expires = self._renew()
                except PublishError as exc:
                    self._failure = exc
                    raise
                self._token, self._expires = token, self._expiry(expires)
                self.renewals += 1
            return self._token
