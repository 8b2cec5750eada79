"""How each registry answers a duplicate, an identical re-upload or bad credentials, and the retry policy.

Unit tests of the pure parts of upload.py (`is_duplicate_answer`, `is_identical_answer`, `registry_message`) fed
with the registries' real answers (see the facts table; bodies as the registries send them, HTML included), and
of retry.py with a fake `send`, `sleep` and `clock`: nothing here sleeps or opens a socket.

The pypiserver and devpi bodies below were captured from pypiserver 2.4.2 and devpi-server 6.20.3 on loopback;
the others are quoted from the registries' answers in twine, uv, poetry and pdm bug reports.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from publisher.index.upload import is_duplicate_answer, is_identical_answer, registry_message
from publisher.net.retry import (
    Final,
    RetryPolicy,
    backoff,
    call_with_retries,
    describe,
    error_is_retryable,
    may_have_arrived,
    next_wait,
    parse_retry_after,
    policy_from,
    status_is_retryable,
)
from publisher.net.unreachable import host_not_found, tls_failed
from tests.support.clock import Clock

UPLOAD_URL = "https://registry.example/upload/"
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"


def answer(
    status: int,
    body: str = "",
    *,
    reason: str | None = None,
    content_type: str = "text/html; charset=UTF-8",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A registry's answer as httpx hands it over: status, reason phrase (devpi puts its message there), body."""
    extensions = {"reason_phrase": reason.encode()} if reason is not None else {}
    return httpx.Response(
        status,
        content=body.encode(),
        headers={"Content-Type": content_type, **(headers or {})},
        extensions=extensions,
        request=httpx.Request("POST", UPLOAD_URL),
    )


def _bottle_error(status: int, reason: str, detail: str) -> str:
    """pypiserver's error page (bottle's default template), verbatim apart from the port."""
    return f"""
    <!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
    <html>
        <head>
            <title>Error: {status} {reason}</title>
            <style type="text/css">
              html {{background-color: #eee; font-family: sans;}}
              body {{background-color: #fff; border: 1px solid #ddd;
                    padding: 15px; margin: 15px;}}
              pre {{background-color: #eee; border: 1px solid #ddd; padding: 5px;}}
            </style>
        </head>
        <body>
            <h1>Error: {status} {reason}</h1>
            <p>Sorry, the requested URL <tt>&#039;http://127.0.0.1:41807/&#039;</tt>
               caused an error:</p>
            <pre>{detail}</pre>
        </body>
    </html>
"""


def _pyramid_page(status: int, message: str, detail: str = "") -> str:
    """devpi-server's (pyramid's) HTML answer: the message is also the reason phrase."""
    return (
        f"<html>\n <head>\n  <title>{status} {message}</title>\n </head>\n <body>\n  <h1>{status} {message}</h1>\n"
        f"  {detail}<br/><br/>\n\n\n\n </body>\n</html>"
    )


def _warehouse_page(message: str) -> str:
    """PyPI's (warehouse, via pyramid) 400 page; the same message is the reason phrase."""
    return (
        f"<html>\n <head>\n  <title>400 {message}</title>\n </head>\n <body>\n  <h1>400 {message}</h1>\n"
        "  The server could not comply with the request since it is either malformed or otherwise incorrect."
        f"<br/><br/>\n{message}\n\n\n </body>\n</html>"
    )


def _nexus_page(message: str) -> str:
    """Nexus Repository 3's HTML error page, as quoted in twine #693 (styles and scripts shortened)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <title>400 - Nexus Repository Manager</title>
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>
  <link rel="icon" type="image/png" href="https://nexus.example.com/static/rapture/resources/safari-favicon-32x32.png">
  <link rel="stylesheet" type="text/css" href="https://nexus.example.com/static/css/nexus-content.css?3.25.1-04"/>
  <style>.nexus-body {{ padding: 20px; }}</style>
  <script type="text/javascript">if (window.top !== window) {{ window.top.location = window.location; }}</script>
</head>
<body>
<div class="nexus-header">
  <a href="https://nexus.example.com/">
    <div class="product-logo">
      <img src="https://nexus.example.com/static/rapture/resources/images/nxrm.png" alt="Product logo"/>
    </div>
    <div class="product-id">
      <div class="product-id__line-1"><span class="product-name">Nexus Repository Manager</span></div>
      <div class="product-id__line-2"><span class="product-spec">OSS 3.25.1-04</span></div>
    </div>
  </a>
</div>
<div class="nexus-body">
  <div class="content-header">
    <img src="https://nexus.example.com/static/rapture/resources/icons/x32/exclamation.png?3.25.1-04"
         alt="Exclamation point" aria-role="presentation"/>
    <span class="title">Error 400</span>
    <span class="description">Bad Request</span>
  </div>
  <div class="content-body">
    <div class="content-section">
      {message}
    </div>
  </div>
</div>
</body>
</html>
"""


# -- the answers, registry by registry (facts table "Duplicates and bad credentials, by registry") ---------------

PYPI_EXISTS_MESSAGE = (
    f"File already exists ('{WHEEL}', with blake2_256 hash "
    "'c6b1b40ddaa05516843fc626057988b30b2898131825b00e7624a23bd382ce53'). "
    "See https://pypi.org/help/#file-name-reuse for more information."
)
PYPI_REUSED_MESSAGE = (
    "This filename has already been used, use a different version. "
    "See https://test.pypi.org/help/#file-name-reuse for more information."
)

DUPLICATES = {
    "pypi-file-already-exists": answer(400, _warehouse_page(PYPI_EXISTS_MESSAGE), reason=PYPI_EXISTS_MESSAGE),
    "testpypi-filename-reused": answer(400, _warehouse_page(PYPI_REUSED_MESSAGE), reason=PYPI_REUSED_MESSAGE),
    "pypiserver-409": answer(
        409,
        _bottle_error(
            409,
            "Conflict",
            f"Package &#039;{WHEEL}&#039; already exists!\n  You may start server with `--overwrite` option.",
        ),
    ),
    "pypiserver-400-for-twine": answer(  # pypiserver answers 400 when the User-Agent contains "twine"
        400,
        _bottle_error(
            400,
            "Bad Request",
            f"Package &#039;{WHEEL}&#039; already exists!\n  You may start server with `--overwrite` option.",
        ),
    ),
    "devpi-409-non-volatile": answer(
        409,
        _pyramid_page(409, f"{WHEEL} already exists in non-volatile index"),
        reason=f"{WHEEL} already exists in non-volatile index",
    ),
    "nexus-orientdb-400": answer(400, _nexus_page("Repository does not allow updating assets: pypi-hosted")),
    "nexus-3.70-400": answer(  # Nexus on H2/PostgreSQL words it differently (twine #1044, poetry #10602)
        400, f"pypi-hosted/packages/demo-pkg/1.0.0/{WHEEL} cannot be updated", content_type="text/plain"
    ),
    "artifactory-403": answer(
        403,
        '{\n  "errors" : [ {\n    "status" : 403,\n    "message" : "Not enough permissions to delete/overwrite '
        f"artifact 'pypi-local:demo-pkg/1.0.0/{WHEEL}' (user: 'ci-publisher' needs DELETE permission).\"\n"
        "  } ]\n}",
        content_type="application/json",
    ),
    "gitlab-400": answer(
        400, '{"message":"Validation failed: File name has already been taken"}', content_type="application/json"
    ),
    "azure-409": answer(
        409,
        f"Conflict - The feed 'releases' already contains file '{WHEEL}' in package 'demo-pkg 1.0.0'.",
        content_type="text/plain",
    ),
}

NOT_DUPLICATES = {
    "pypiserver-403-wrong-password": answer(403, _bottle_error(403, "Forbidden", "None")),
    "pypiserver-401-no-credentials": answer(
        401, _bottle_error(401, "Unauthorized", "None"), headers={"WWW-Authenticate": 'Basic realm="pypi"'}
    ),
    "devpi-401": answer(
        401,
        _pyramid_page(
            401,
            "Unauthorized",
            "This server could not verify that you are authorized to access the document you requested.  Either "
            "you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to "
            "supply the credentials required.",
        ),
    ),
    "pypi-403-invalid-auth": answer(
        403,
        "Invalid or non-existent authentication information. See https://pypi.org/help/#invalid-auth for more "
        "information.",
        content_type="text/plain",
    ),
    "pypi-403-not-allowed": answer(
        403,
        "The user 'octocat' isn't allowed to upload to project 'demo-pkg'. See https://pypi.org/help/#project-name "
        "for more information.",
        content_type="text/plain",
    ),
    "artifactory-401": answer(
        401,
        '{\n  "errors" : [ {\n    "status" : 401,\n    "message" : "Bad credentials"\n  } ]\n}',
        content_type="application/json",
    ),
    "pypi-400-invalid-metadata": answer(
        400,
        _warehouse_page("Invalid distribution metadata: 'invalid' is an invalid value for Metadata-Version."),
        reason="Invalid distribution metadata: 'invalid' is an invalid value for Metadata-Version.",
    ),
    "gitlab-400-missing-field": answer(400, '{"error":"requires_python is missing"}', content_type="application/json"),
    "nginx-413": answer(
        413,
        "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request "
        "Entity Too Large</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n",
    ),
    "nginx-403": answer(
        403,
        "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>"
        "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    ),
    "gateway-502": answer(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The proxy server received "
        "an invalid response from an upstream server. The file already exists? Nobody knows.</p></body></html>",
    ),
    "pypi-200": answer(200, "OK", content_type="text/plain"),
    "devpi-200-volatile-overwrite": answer(200, ""),
}


@pytest.mark.parametrize("name", DUPLICATES)
def test_each_registrys_duplicate_answer_is_recognised(name: str) -> None:
    response = DUPLICATES[name]
    message = registry_message(response)
    assert is_duplicate_answer(response.status_code, message), message
    assert not is_identical_answer(response.status_code, message)


@pytest.mark.parametrize("name", NOT_DUPLICATES)
def test_other_answers_are_not_duplicates(name: str) -> None:
    response = NOT_DUPLICATES[name]
    message = registry_message(response)
    assert not is_duplicate_answer(response.status_code, message), message
    assert not is_identical_answer(response.status_code, message), message


def test_devpi_identical_reupload_is_an_identical_answer_not_a_duplicate() -> None:
    response = answer(
        200,
        _pyramid_page(200, "Upload of identical file to non volatile index."),
        reason="Upload of identical file to non volatile index.",
    )
    message = registry_message(response)
    assert message == "200 Upload of identical file to non volatile index."
    assert is_identical_answer(200, message)
    assert not is_duplicate_answer(200, message)


@pytest.mark.parametrize("status", [409, 400, 403])
def test_409_is_a_duplicate_on_every_registry_but_400_and_403_need_the_words(status: int) -> None:
    assert is_duplicate_answer(status, "already exists") is True
    assert is_duplicate_answer(status, "") is (status == 409)
    assert is_duplicate_answer(status, "Conflict") is (status == 409)


@pytest.mark.parametrize("status", [401, 404, 413, 422, 429, 500, 503])
def test_duplicate_words_with_another_status_are_not_a_duplicate(status: int) -> None:
    """A 500 page that mentions "already exists" is a server failure: retried, never counted as present."""
    assert not is_duplicate_answer(status, f"File already exists ('{WHEEL}'). See .../#file-name-reuse")


def test_identical_words_need_a_success_status() -> None:
    assert not is_identical_answer(409, "Upload of identical file to non volatile index.")
    assert not is_identical_answer(400, "identical file")
    assert is_identical_answer(201, "upload of IDENTICAL FILE")


# -- registry_message: the registry's own words, short enough for an annotation -------------------------------------


def test_pypiserver_409_message_keeps_the_words_and_drops_markup_styles_and_title() -> None:
    message = registry_message(DUPLICATES["pypiserver-409"])
    assert message == (
        "Error: 409 Conflict Sorry, the requested URL 'http://127.0.0.1:41807/' caused an error: "
        f"Package '{WHEEL}' already exists! You may start server with `--overwrite` option."
    )
    assert "background-color" not in message  # the <style> block is gone, not flattened into the text


def test_pypiserver_wrong_password_body_none_is_shown_with_the_reason() -> None:
    assert registry_message(NOT_DUPLICATES["pypiserver-403-wrong-password"]) == (
        "Error: 403 Forbidden Sorry, the requested URL 'http://127.0.0.1:41807/' caused an error: None"
    )


def test_devpi_message_is_not_doubled_by_its_reason_phrase() -> None:
    message = registry_message(DUPLICATES["devpi-409-non-volatile"])
    assert message == f"409 {WHEEL} already exists in non-volatile index"  # the reason phrase is not repeated


def test_nexus_page_message_reaches_the_sentence_within_the_limit() -> None:
    message = registry_message(DUPLICATES["nexus-orientdb-400"])
    assert message == (
        "Nexus Repository Manager OSS 3.25.1-04 Error 400 Bad Request Repository does not allow updating assets: "
        "pypi-hosted"
    )  # no <title>, <script> or <style> text


def test_a_page_without_body_keeps_its_title() -> None:
    page = "<html><head><title>Upload refused: file already exists</title></head></html>"
    assert registry_message(answer(400, page)) == "Bad Request: Upload refused: file already exists"


def test_pypi_message_keeps_the_registry_sentence_first() -> None:
    message = registry_message(DUPLICATES["pypi-file-already-exists"])
    assert message.startswith(f"400 {PYPI_EXISTS_MESSAGE} The server could not comply")
    assert len(message) == 403
    assert message.endswith("...")


def test_json_bodies_are_quoted_as_sent_with_the_reason_in_front() -> None:
    assert registry_message(DUPLICATES["gitlab-400"]) == (
        'Bad Request: {"message":"Validation failed: File name has already been taken"}'
    )
    artifactory = registry_message(DUPLICATES["artifactory-403"])
    assert artifactory.startswith('Forbidden: { "errors" : [ { "status" : 403, "message" : "Not enough permissions')


def test_reason_only_when_the_body_is_empty() -> None:
    assert registry_message(answer(401, "")) == "Unauthorized"
    assert registry_message(answer(418, "", reason="")) == ""


def test_long_messages_are_cut_with_an_ellipsis() -> None:
    response = answer(400, "x" * 1000, reason="Bad Request", content_type="text/plain")
    short = registry_message(response, limit=50)
    assert short == ("Bad Request: " + "x" * 1000)[:50] + "..."
    assert registry_message(response, limit=2000) == "Bad Request: " + "x" * 1000


def test_entities_and_whitespace_are_normalised() -> None:
    body = "<p>Package &quot;a&amp;b&quot;\n\n\t already&nbsp;exists</p>"
    assert registry_message(answer(400, body, reason="Bad Request")) == 'Bad Request: Package "a&b" already exists'


def test_a_streamed_answer_that_was_not_read_gives_the_reason() -> None:
    response = httpx.Response(503, stream=httpx.ByteStream(b"not read"), request=httpx.Request("POST", UPLOAD_URL))
    assert registry_message(response) == "Service Unavailable"


def test_undecodable_bytes_do_not_break_the_message() -> None:
    response = httpx.Response(
        400,
        content=b"Package \xff\xfe already exists",
        headers={"Content-Type": "text/plain; charset=utf-8"},
        request=httpx.Request("POST", UPLOAD_URL),
    )
    message = registry_message(response)
    assert message.startswith("Bad Request: Package ")
    assert is_duplicate_answer(400, message)


# -- retry.py: the policy -------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # RFC 9110: delay-seconds is a whole number
        ("²", None),  # a digit to str.isdigit(), not to float(): must not crash the upload
    ],
)
def test_parse_retry_after_delta_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)  # "Wed, 25 Nov 2026 12:01:30 GMT"
    assert later.endswith("GMT")
    assert parse_retry_after(later, now=NOW) == 90.0
    earlier = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(earlier, now=NOW) == 0.0  # a date in the past means "now"
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 -0000", now=NOW) == 30.0  # no zone: read as UTC
    assert parse_retry_after("Wed, 25 Nov 2026 13:00:30 +0100", now=NOW) == 30.0


def test_parse_retry_after_from_a_real_header_with_a_latin1_byte() -> None:
    """httpx decodes header bytes outside ASCII as latin-1: b"\\xb2" arrives as "²"."""
    response = httpx.Response(429, headers=[(b"Retry-After", b"\xb2")])
    assert parse_retry_after(response.headers.get("retry-after")) is None


FIXED = RetryPolicy(retries=3, base_delay=1.0, max_delay=30.0, retry_after_cap=120.0, total_cap=300.0)


@pytest.mark.parametrize(("attempt", "step"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (10, 30.0)])
def test_backoff_is_exponential_with_equal_jitter_and_capped(attempt: int, step: float) -> None:
    assert backoff(attempt, FIXED, rng=lambda: 0.0) == step / 2
    assert backoff(attempt, FIXED, rng=lambda: 0.5) == step * 0.75
    assert step / 2 <= backoff(attempt, FIXED, rng=lambda: 0.999999) < step


def test_backoff_with_a_seeded_rng_stays_within_bounds() -> None:
    rng = random.Random(1234)
    for attempt in range(1, 11):
        step = min(FIXED.max_delay, FIXED.base_delay * 2 ** (attempt - 1))
        wait = backoff(attempt, FIXED, rng=rng.random)
        assert step / 2 <= wait <= step


def test_next_wait_stops_after_the_configured_retries() -> None:
    policy = RetryPolicy(retries=2, base_delay=1.0)
    assert next_wait(1, policy, elapsed=0.0, rng=lambda: 0.0) == 0.5
    assert next_wait(2, policy, elapsed=0.0, rng=lambda: 0.0) == 1.0
    assert next_wait(3, policy, elapsed=0.0, rng=lambda: 0.0) is None
    assert next_wait(1, RetryPolicy(retries=0), elapsed=0.0) is None


def test_next_wait_honours_retry_after_up_to_its_cap() -> None:
    assert next_wait(1, FIXED, elapsed=0.0, retry_after=20.0, rng=lambda: 0.0) == 20.0
    assert next_wait(1, FIXED, elapsed=0.0, retry_after=3600.0, rng=lambda: 0.0) == 120.0  # capped
    assert next_wait(3, FIXED, elapsed=0.0, retry_after=0.0, rng=lambda: 0.0) == 2.0  # backoff wins when larger


def test_next_wait_gives_up_when_the_total_cap_would_be_passed() -> None:
    assert next_wait(1, FIXED, elapsed=299.6, rng=lambda: 0.0) is None  # 299.6 + 0.5 > 300
    assert next_wait(1, FIXED, elapsed=299.5, rng=lambda: 0.0) == 0.5  # exactly at the cap is still allowed
    assert next_wait(1, FIXED, elapsed=200.0, retry_after=120.0) is None  # Retry-After would overrun it


def test_policy_from_reads_the_base_delay_knob() -> None:
    assert policy_from(5, {}) == RetryPolicy(retries=5, base_delay=1.0)
    assert policy_from(3, {"PUBLISHER_RETRY_BASE_DELAY": "0.01"}).base_delay == 0.01
    assert policy_from(3, {"PUBLISHER_RETRY_BASE_DELAY": " 2 "}).base_delay == 2.0
    assert policy_from(3, {"PUBLISHER_RETRY_BASE_DELAY": "-1"}).base_delay == 0.0
    assert policy_from(3, {"PUBLISHER_RETRY_BASE_DELAY": "fast"}).base_delay == 1.0
    assert policy_from(3, {"PUBLISHER_RETRY_BASE_DELAY": ""}).base_delay == 1.0


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (502, True), (503, True), (599, True)])
def test_5xx_and_429_are_retried(status: int, retryable: bool) -> None:
    assert status_is_retryable(status) is retryable


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 409, 413, 422, 600])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not status_is_retryable(status)


REQUEST = httpx.Request("POST", UPLOAD_URL)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST),
        httpx.ConnectTimeout("timed out", request=REQUEST),
        httpx.ReadTimeout("timed out", request=REQUEST),
        httpx.WriteTimeout("timed out", request=REQUEST),
        httpx.PoolTimeout("timed out", request=REQUEST),
        httpx.ReadError("[Errno 104] Connection reset by peer", request=REQUEST),
        httpx.WriteError("[Errno 32] Broken pipe", request=REQUEST),
        httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQUEST),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_trouble_is_retryable(error: httpx.TransportError) -> None:
    assert error_is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'.", request=REQUEST),
        httpx.LocalProtocolError("Illegal header value", request=REQUEST),
        httpx.ProxyError("407 Proxy Authentication Required", request=REQUEST),
        tls_failed("upload.example.org", 443, ssl.SSLCertVerificationError(1, "certificate verify failed")),
        host_not_found("upload.example.org", "Name or service not known"),
        ValueError("not a transport error"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_our_own_mistakes_are_not_retryable(error: Exception) -> None:
    assert not error_is_retryable(error)


@pytest.mark.parametrize(
    ("result", "arrived"),
    [
        (httpx.Response(500), True),
        (httpx.Response(502), True),
        (httpx.Response(503), True),
        (httpx.Response(429), False),  # refused before processing
        (httpx.Response(409), False),
        (httpx.ConnectError("refused", request=REQUEST), False),  # the body never left
        (httpx.ConnectTimeout("timed out", request=REQUEST), False),
        (httpx.PoolTimeout("timed out", request=REQUEST), False),
        (httpx.ReadTimeout("timed out", request=REQUEST), True),  # sent, answer lost
        (httpx.RemoteProtocolError("Server disconnected", request=REQUEST), True),
        (httpx.ReadError("reset", request=REQUEST), True),
    ],
    ids=lambda r: f"{r.status_code}" if isinstance(r, httpx.Response) else type(r).__name__,
)
def test_may_have_arrived(result: httpx.Response | httpx.TransportError, arrived: bool) -> None:
    assert may_have_arrived(result) is arrived


def test_describe() -> None:
    assert describe(httpx.Response(503)) == "HTTP 503 Service Unavailable"
    assert describe(httpx.Response(299)) == "HTTP 299"
    assert describe(httpx.ReadTimeout("The read operation timed out", request=REQUEST)) == (
        "ReadTimeout: The read operation timed out"
    )
    assert describe(httpx.RemoteProtocolError("", request=REQUEST)) == "RemoteProtocolError"


# -- retry.py: call_with_retries with a fake send, sleep and clock --------------------------------------------------


class Console:
    """Records warnings; everything else is accepted and dropped."""

    verbose = False

    def __init__(self) -> None:
        self.warnings: list[tuple[str, str | None]] = []

    def mask(self, secret: str | None) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def debug(self, message: str) -> None:
        pass

    def warning(self, message: str, title: str | None = None) -> None:
        self.warnings.append((message, title))

    def error(self, message: str, title: str | None = None) -> None:
        pass

    def group(self, title: str) -> AbstractContextManager[None]:
        return nullcontext()

    def set_output(self, name: str, value: str) -> None:
        pass

    def summary(self, markdown: str) -> None:
        pass


Outcome = httpx.Response | httpx.TransportError


def scripted(*outcomes: Outcome, clock: Clock | None = None, takes: float = 0.0) -> Callable[[], httpx.Response]:
    """A `send` that answers with each outcome in turn (raising the errors), each taking `takes` seconds."""
    queue: Iterator[Outcome] = iter(outcomes)
    sent: list[int] = []

    def send() -> httpx.Response:
        sent.append(1)
        if clock is not None:
            clock.now += takes
        outcome = next(queue)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    send.calls = sent  # type: ignore[attr-defined]
    return send


def calls(send: Callable[[], httpx.Response]) -> int:
    return len(send.calls)  # type: ignore[attr-defined]


POLICY = RetryPolicy(retries=3, base_delay=1.0, max_delay=30.0, retry_after_cap=120.0, total_cap=300.0)


def run(
    send: Callable[[], httpx.Response],
    clock: Clock,
    console: Console,
    policy: RetryPolicy = POLICY,
    settle: Callable[[httpx.Response | httpx.TransportError], str | None] | None = None,
) -> Final[str]:
    return call_with_retries(send, policy, console, f"Uploading {WHEEL}", settle=settle, sleep=clock.sleep, clock=clock)


def test_503_twice_then_200() -> None:
    clock, console = Clock(), Console()
    send = scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200))
    final = run(send, clock, console)
    assert final.response is not None
    assert final.response.status_code == 200
    assert final.error is None
    assert final.settled is None
    assert final.attempts == 3 == calls(send)
    assert final.reasons == ["HTTP 503 Service Unavailable"] * 2
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] < 1.0
    assert 1.0 <= clock.sleeps[1] < 2.0
    assert [title for _, title in console.warnings] == ["Retrying", "Retrying"]
    assert console.warnings[0][0].startswith(f"Uploading {WHEEL}: HTTP 503 Service Unavailable; retry 1/3 in ")
    assert "retry 2/3" in console.warnings[1][0]


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409])
def test_a_final_answer_is_returned_at_once(status: int) -> None:
    clock, console = Clock(), Console()
    send = scripted(httpx.Response(status))
    final = run(send, clock, console)
    assert final.response is not None
    assert final.response.status_code == status
    assert final.attempts == 1
    assert clock.sleeps == []
    assert console.warnings == []


def test_retries_exhausted_return_the_last_answer() -> None:
    clock, console = Clock(), Console()
    send = scripted(*[httpx.Response(502)] * 4)
    final = run(send, clock, console)
    assert final.response is not None
    assert final.response.status_code == 502
    assert final.attempts == 4 == calls(send)  # the first try and 3 retries
    assert len(clock.sleeps) == 3
    assert len(final.reasons) == 4


def test_retries_zero_means_one_attempt() -> None:
    clock, console = Clock(), Console()
    final = run(scripted(httpx.Response(503)), clock, console, RetryPolicy(retries=0))
    assert final.attempts == 1
    assert clock.sleeps == []


def test_transport_errors_are_retried_and_the_last_one_is_returned() -> None:
    clock, console = Clock(), Console()
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST)
    final = run(scripted(refused, refused, refused, refused), clock, console)
    assert final.response is None
    assert final.error is refused
    assert final.attempts == 4
    assert final.reasons == ["ConnectError: [Errno 111] Connection refused"] * 4


def test_a_transport_error_then_success() -> None:
    clock, console = Clock(), Console()
    send = scripted(httpx.ReadTimeout("timed out", request=REQUEST), httpx.Response(200))
    final = run(send, clock, console)
    assert final.response is not None
    assert final.response.status_code == 200
    assert final.error is None
    assert final.attempts == 2


def test_a_non_retryable_transport_error_is_raised() -> None:
    clock, console = Clock(), Console()
    bad = httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'.", request=REQUEST)
    with pytest.raises(httpx.UnsupportedProtocol):
        run(scripted(bad), clock, console)
    assert clock.sleeps == []


def test_retry_after_is_honoured_and_shown() -> None:
    clock, console = Clock(), Console()
    send = scripted(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    final = run(send, clock, console)
    assert final.attempts == 2
    assert clock.sleeps == [7.0]
    assert "HTTP 429 Too Many Requests (Retry-After: 7s); retry 1/3 in 7.0s." in console.warnings[0][0]


def test_a_huge_retry_after_is_capped() -> None:
    clock, console = Clock(), Console()
    send = scripted(httpx.Response(503, headers={"Retry-After": "86400"}), httpx.Response(200))
    run(send, clock, console)
    assert clock.sleeps == [120.0]


def test_the_total_cap_ends_the_loop_early() -> None:
    """Each attempt takes 100 s (a slow registry timing out): the third would start after the 300 s cap."""
    clock, console = Clock(), Console()
    send = scripted(*[httpx.Response(504)] * 4, clock=clock, takes=100.0)
    final = run(send, clock, console)
    assert final.attempts == 3
    assert final.response is not None
    assert final.response.status_code == 504
    assert len(clock.sleeps) == 2


def test_settle_is_asked_before_each_retry_and_can_end_the_loop() -> None:
    clock, console = Clock(), Console()
    seen: list[str] = []

    def settle(result: httpx.Response | httpx.TransportError) -> str | None:
        seen.append(describe(result))
        return "stored after all" if len(seen) == 2 else None

    send = scripted(httpx.Response(500), httpx.ReadTimeout("timed out", request=REQUEST), httpx.Response(200))
    final = run(send, clock, console, settle=settle)
    assert final.settled == "stored after all"
    assert final.attempts == 2 == calls(send)
    assert seen == ["HTTP 500 Internal Server Error", "ReadTimeout: timed out"]
    assert len(clock.sleeps) == 1  # no sleep once settled


def test_settle_is_not_asked_about_a_final_answer() -> None:
    clock, console = Clock(), Console()
    asked: list[str] = []

    def settle(result: httpx.Response | httpx.TransportError) -> str | None:
        asked.append(describe(result))
        return None

    run(scripted(httpx.Response(409)), clock, console, settle=settle)
    assert asked == []


def test_settle_is_asked_after_the_last_failed_attempt_too() -> None:
    clock, console = Clock(), Console()
    asked: list[str] = []

    def settle(result: httpx.Response | httpx.TransportError) -> str | None:
        asked.append(describe(result))
        return None

    final = run(scripted(*[httpx.Response(503)] * 4), clock, console, settle=settle)
    assert final.attempts == 4
    assert len(asked) == 4


# --- the hint after a 401/403 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "username", "expected", "absent"),
    [
        ("https://acme.jfrog.io/artifactory/api/pypi/pypi-local", "alice", "JFrog Artifactory wants", "PyPI's"),
        ("https://nexus.example/repository/pypi-hosted/", "__token__", "`__token__` is PyPI's convention", "JFrog"),
        ("https://upload.pypi.org/legacy/", "__token__", "secret behind that source", "convention"),
        ("http://127.0.0.1:8080/", "alice", "secret behind that source", "JFrog"),
    ],
)
def test_auth_hint_names_the_trap_only_where_it_applies(url: str, username: str, expected: str, absent: str) -> None:
    from publisher.auth.model import Credentials
    from publisher.index.answers import auth_hint

    hint = auth_hint(url, Credentials(username, "x", "password", "`username` input / `password` input"))
    assert expected in hint
    assert absent not in hint
