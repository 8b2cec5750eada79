"""Property: text from outside, whatever it holds, neither adds a line nor starts a workflow command.

Every message template that carries outside text (file names, metadata, registry bodies and headers, OIDC answers,
URLs, environment values, exception texts) is run twice through the real ActionsConsole: once with a benign value
and once with an arbitrary one from hypothesis. stdout is read the way GitHub's runner reads it
(tests/support/workflow_commands.py: `TryParseV2` and `TryParse`), and both runs must have the same shape: the same
number of lines, and a command on exactly the same lines, with the same names. Summary tables must keep one row per
file with four cells.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.report import results as render
from publisher.report import safe
from publisher.report.console import ActionsConsole, Console
from publisher.report.errors import PublishError
from publisher.report.github_limits import ANNOTATION_CAP, annotation
from publisher.report.results import FileResult, Report
from tests.support.workflow_commands import commands, shape

# Fragments that have broken printing edges before: command markers, every line break the runner or a terminal
# honours, Markdown and HTML that would render, escape sequences, bidi overrides, lone surrogates.
FRAGMENTS = [
    "::",
    "::warning title=x::pwned",
    "::group::g",
    "::endgroup::",
    "::add-mask::x",
    "::stop-commands::tok",
    "##[error]legacy",
    "##vso[task.setvariable variable=x]1",
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    " \t ",
    "|",
    "`",
    "```",
    "<img src=x onerror=alert(1)>",
    "[link](https://evil.example)",
    "![img](https://evil.example/i.png)",
    "https://evil.example/",
    "\x1b[31m",
    "\u202e",
    "\ud800",
    "%0A",
    "%25",
    "\\",
]

outside = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=12).map("".join),
)

BENIGN = "x"


def _printed(template: Callable[[Console, str], None], value: str) -> tuple[str, str]:
    """stdout and the job summary of one template run through a real ActionsConsole."""
    summary: list[str] = []

    class Capturing(ActionsConsole):
        def summary(self, markdown: str) -> None:
            summary.append(markdown)

    console = Capturing(verbose=True, environ={"GITHUB_ACTIONS": "true"})
    out = io.StringIO()
    with redirect_stdout(out):
        template(console, value)
    return out.getvalue(), "".join(summary)


def _assert_same_shape(template: Callable[[Console, str], None], value: str) -> None:
    benign_out, benign_summary = _printed(template, BENIGN)
    hostile_out, hostile_summary = _printed(template, value)
    assert shape(hostile_out) == shape(benign_out), f"{value!r} changed the output's shape:\n{hostile_out}"
    ours = {c.name for c in commands(benign_out)}
    assert {c.name for c in commands(hostile_out)} <= ours
    assert len(hostile_summary.splitlines()) == len(benign_summary.splitlines()), hostile_summary
    assert _rendered(hostile_summary).count("<") == _rendered(benign_summary).count("<"), hostile_summary
    assert _rendered(hostile_summary).count("](") == _rendered(benign_summary).count("]("), hostile_summary


_FENCE = re.compile(r"^(`{3,})[^\n]*\n.*?^\1\s*$", re.M | re.S)
_SPAN = re.compile(r"(`+)(?:(?!\1).)*?\1")


def _rendered(markdown: str) -> str:
    """What of a job summary GitHub would render as Markdown: fenced blocks and code spans removed (they render
    verbatim). A tag (`<img ...>`) or a link (`[x](y)`) from outside must not be left in the rest."""
    return _SPAN.sub("", _FENCE.sub("", markdown))


# ---- the templates ----------------------------------------------------------------------------------------------


def _report(value: str) -> Report:
    report = Report(publish_url=f"https://{value}/legacy/", index_name=value, auth_method="password")
    report.results = [
        FileResult(value, 1234, "ab" * 32, "published", detail=value),
        FileResult(f"{value}.tar.gz", 10, "", "not uploaded"),
    ]
    report.error = f"Upload failed: {safe.inline(value)}\nhint: {safe.inline(value)}"
    return report


def report_to_terminal(console: Console, value: str) -> None:
    for line in render.terminal_lines(_report(value)):
        console.info(line)


def report_to_summary(console: Console, value: str) -> None:
    console.summary(render.summary_markdown(_report(value)))


def dry_run_report(console: Console, value: str) -> None:
    report = _report(value)
    report.dry_run = True
    for line in render.terminal_lines(report):
        console.info(line)
    console.summary(render.summary_markdown(report))


def error_annotation(console: Console, value: str) -> None:
    error = PublishError(f"The registry said: {safe.inline(value, 400)}", hint=f"Check {safe.inline(value)}.")
    console.error(str(error), title=error.title)
    with console.group(f"Uploading {safe.inline(value)}"):
        console.warning(f"retrying: {safe.inline(value)}", title="Retrying")
        console.debug(f"> GET {safe.inline(value)}")


def _response(status: int, body: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=body.encode("utf-8", "surrogatepass"),
        headers=headers,
        request=httpx.Request("POST", "http://h/"),
    )


def registry_words(console: Console, value: str) -> None:
    from publisher.index.upload import registry_message

    for status in (400, 403, 409, 500):
        console.error(f"{status}: {registry_message(_response(status, value))}")
        console.error(registry_message(_response(status, f"<html><body><h1>{value}</h1></body></html>")))


def settings_errors(console: Console, value: str) -> None:
    from publisher.config.settings import build_settings
    from publisher.report.errors import ConfigError

    value = "x" + value  # never a valid value: each call must fail, whatever hypothesis drew
    for raw in ({"retries": value}, {"trusted-publishing": value}, {"skip-existing": value}, {value: "1"}):
        try:
            build_settings(dict(raw), source="input")
        except ConfigError as exc:
            console.error(str(exc), title=exc.title)


def index_name_error(console: Console, value: str) -> None:
    from publisher.config.target import validate_index_name

    try:
        validate_index_name(f"x {value}", "the `index` input")  # a space: never a valid name
    except PublishError as exc:
        console.error(str(exc), title=exc.title)


def retry_warning(console: Console, value: str) -> None:
    from publisher.net.retry import RetryPolicy, call_with_retries

    attempts = iter(range(3))

    def send() -> httpx.Response:
        next(attempts)
        raise httpx.ReadError(value)

    call_with_retries(send, RetryPolicy(retries=1, base_delay=0), console, "Uploading x", sleep=lambda _: None)


@functools.cache
def _idle_client() -> httpx.Client:
    """One client for the exchanges below, which answer from canned responses and never send: making a client
    (its TLS context) costs ~50 ms, which every one of hundreds of examples paid."""
    return httpx.Client()


def oidc_answers(console: Console, value: str) -> None:
    """The audience, GitHub's answer and the mint-token refusal, each in the index's (or GitHub's) own words."""
    from publisher.auth.identity import IdToken
    from publisher.auth.trusted_publishing import Minting
    from publisher.config.settings import Settings
    from publisher.net.retry import RetryPolicy

    class Canned(Minting):
        """The exchange with one canned answer instead of the network."""

        canned: httpx.Response

        def send(
            self, method: str, url: str, *, what: str, side: str, shown_url: str, **kwargs: object
        ) -> httpx.Response:
            return self.canned

    bodies = [
        _response(200, json.dumps({"audience": "x" + value})),  # never empty: an empty one is another path
        _response(500, value),
        _response(422, json.dumps({"message": value, "errors": [{"code": value, "description": value}]})),
        _response(400, json.dumps({"errors": [{"code": "invalid-publisher", "description": value}] * 3})),
    ]
    exchange = Canned(_idle_client(), console, "https://upload.example/legacy/", RetryPolicy(retries=0), {}, Settings())
    for response in bodies:
        exchange.canned = response
        try:
            console.debug(f"OIDC audience: {safe.inline(exchange.audience(), 200)}")
        except PublishError as exc:
            console.error(str(exc), title=exc.title)
        for token in (IdToken("e30.e30.sig", "github"), IdToken(_jwt_with(GITLAB_CLAIMS, value), "gitlab")):
            try:
                exchange.minted(response, token, [value])
            except PublishError as exc:
                console.error(str(exc), title=exc.title)


GITHUB_CLAIMS = ("repository", "ref", "workflow_ref", "environment", "sub", "aud", "job_workflow_ref")
GITLAB_CLAIMS = ("sub", "project_path", "namespace_path", "ci_config_ref_uri", "ref_path", "environment")


def _jwt_with(names: tuple[str, ...], value: str) -> str:
    """An (unsigned) ID token whose every named claim is `value`: the claims are outside text too."""
    payload = json.dumps(dict.fromkeys(names, value)).encode()
    return "e30." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"


def jfrog_answers(console: Console, value: str) -> None:
    """JFrog's refusals (an audience, a provider or mapping), odd answers, and the token's claims, in their words."""
    from publisher.auth.identity import IdToken
    from publisher.auth.jfrog import Config, JFrogExchange
    from publisher.config.settings import build_settings
    from publisher.net.retry import RetryPolicy

    settings = build_settings({"jfrog-oidc-provider-name": "p"})
    config = Config("p" + value, "a" + value, "k" + value, "https://jfrog.example", explicit=False)
    exchange = JFrogExchange(_idle_client(), console, RetryPolicy(retries=0), settings, config, {})
    tokens = [IdToken(_jwt_with(GITHUB_CLAIMS, value), "github"), IdToken(_jwt_with(GITLAB_CLAIMS, value), "gitlab")]
    bodies = [
        _response(400, json.dumps({"errors": [{"code": value, "message": f"Invalid audience {value}"}]})),
        _response(401, json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": value}] * 3})),
        _response(404, value),
        _response(200, json.dumps({"access_token": [value]})),
    ]
    for response in bodies:
        for token in tokens:
            try:
                exchange.granted(response, token)
                console.error("granted")
            except PublishError as exc:
                console.error(str(exc), title=exc.title)


def dist_names(console: Console, value: str) -> None:
    """select() on a directory listing (a hidden file, another file), and a dist name refused outright."""
    from publisher.dists.collect import refuse_unprintable_name, select

    name = "x" + value.replace("/", "_").replace("\0", "_")  # "x": a name starting with "." is a hidden file
    select([Path("dist") / f".{name}", Path("dist") / f"{name}.txt"], console)
    try:
        refuse_unprintable_name(Path("dist") / f"{name}\x07.whl")
    except PublishError as exc:
        console.error(str(exc), title=exc.title)


def internal_error(console: Console, value: str) -> None:
    """run.main's last resort: an exception of ours whose text holds outside text."""
    import publisher.run as run
    from publisher.config.settings import Settings
    from publisher.run import main

    def explode(*args: object, **kwargs: object) -> None:
        raise ValueError(value)

    original = run.publish
    run.publish = explode  # type: ignore[assignment]
    try:
        main(Settings(), {}, console)
    finally:
        run.publish = original


def check_url_pages(console: Console, value: str) -> None:
    """A 200 from the check URL that is not a project page, in each shape, and a redirect's refusal."""
    from publisher.index.existing import parse_listing

    pages = [
        ("text/plain", value),
        ("text/html", f"<html><body><form><input type='password'>{value}</form></body></html>"),
        ("application/json", json.dumps({"files": value})),
        (value, "x"),
    ]
    for content_type, body in pages:
        response = httpx.Response(
            200,
            content=body.encode("utf-8", "surrogatepass"),
            headers={"content-type": content_type.encode("utf-8", "surrogatepass")},
            request=httpx.Request("GET", "https://index.example/simple/x/"),
        )
        try:
            parse_listing(response, "demo-pkg", front_end="action")
            console.error("parsed")
        except PublishError as exc:
            console.error(str(exc), title=exc.title)


def url_refusals(console: Console, value: str) -> None:
    """A URL refused for its user info, however odd the rest of it."""
    from publisher.config.settings import build_settings
    from publisher.config.target import resolve_target

    settings = build_settings({"publish-url": f"https://alice:pa/ss{value}@registry.example/"}, source="input")
    try:
        resolve_target(settings)
        console.error("accepted")
    except PublishError as exc:
        console.error(str(exc), title=exc.title)


def confirmation_messages(console: Console, value: str) -> None:
    """An accepted upload's confirmation: a failed task's description, a task reference that is refused, the
    registry's reason phrase, all outside text; and the report lines of the new statuses."""
    import time
    from dataclasses import replace

    from publisher.dists.collect import Dist
    from publisher.dists.digests import Digests
    from publisher.index.accepted import Accepted
    from publisher.index.confirm import Confirmer
    from publisher.net.retry import RetryPolicy

    def answer(request: httpx.Request) -> httpx.Response:
        task = {"state": "failed", "error": {"description": value}}
        if request.url.path.endswith("/2/"):  # a state never heard of ("x": never a known one), until the deadline
            task = {"state": "x" + value}
        body = json.dumps(task)  # ASCII: lone surrogates escaped
        return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    confirmer = Confirmer(client, "https://pulp.example/pypi/x/simple/", "`x`", None, RetryPolicy(0), 5.0, str)
    dist = Dist(Path("dist/x-1.0-py3-none-any.whl"), "bdist_wheel", "x", "1.0", "py3", {}, 1)
    accepted = Accepted(dist, Digests("ab" * 32, "cd" * 32), f"202 {safe.inline(value, 100)}", None, time.monotonic())
    # followed (then failed), refused (never a path), followed until the deadline (a strange state, no time)
    for task, timeout in (("/pulp/api/v3/tasks/1/", 5.0), ("x" + value, 5.0), ("/pulp/api/v3/tasks/2/", 0.0001)):
        with console.group("Uploading x.whl"):
            try:
                replace(confirmer, timeout=timeout).confirm(replace(accepted, task=task), console)
            except PublishError as exc:
                console.error(str(exc), title=exc.title)
    report = _report(value)
    report.results = [FileResult(value, 1, "ab" * 32, "accepted, not stored", detail=value)]
    for line in render.terminal_lines(report):
        console.info(line)


TEMPLATES = [
    report_to_terminal,
    report_to_summary,
    dry_run_report,
    error_annotation,
    registry_words,
    settings_errors,
    index_name_error,
    retry_warning,
    oidc_answers,
    jfrog_answers,
    dist_names,
    internal_error,
    check_url_pages,
    url_refusals,
    confirmation_messages,
]


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    safe.forget_secrets()
    yield
    safe.forget_secrets()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=outside)
def test_outside_text_adds_no_line_and_no_command(template: Callable[[Console, str], None], value: str) -> None:
    _assert_same_shape(template, value)


def _cells(row: str) -> list[str]:
    """A GFM table row's cells: split on `|` not escaped by a backslash, outer pipes dropped."""
    return [cell for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


@settings(max_examples=300, deadline=None)
@given(value=outside)
def test_each_file_is_one_summary_row_of_four_cells_with_nothing_that_renders(value: str) -> None:
    markdown = render.summary_markdown(_report(value))
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(rows) == 3, markdown  # the header and one row per file
    for row in rows:
        assert len(_cells(row)) == 4, row
    # Outside text sits in code spans only: no tag, link or image can render from the rows.
    for row in rows[1:]:
        outside_spans = re.sub(r"(`+)(?:(?!\1).)*?\1", "", row)
        assert "<" not in outside_spans, row
        assert "](" not in outside_spans, row


@settings(max_examples=300, deadline=None)
@given(value=outside)
def test_defuse_leaves_no_command_whatever_the_text(value: str) -> None:
    assert commands(safe.defuse(value)) == []


@settings(max_examples=300, deadline=None)
@given(value=outside, limit=st.integers(min_value=1, max_value=60))
def test_inline_is_one_printable_line(value: str, limit: int) -> None:
    text = safe.inline(value, limit)
    assert len(shape(text)) == 1
    assert not safe.has_unprintable(text)
    assert len(text) <= limit + 3


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=40), after=st.text(max_size=40), cut=st.integers(min_value=1, max_value=80))
def test_a_secret_is_redacted_before_the_cut(before: str, after: str, cut: int) -> None:
    """Cutting first would leave a prefix of the secret; the cut comes after the redaction."""
    secret = "Sup3r-S3cret-Value-0123456789"
    safe.register_secret(secret)
    text = safe.inline(before + secret + after, cut)
    for size in range(6, len(secret) + 1):
        for start in range(len(secret) - size + 1):
            part = secret[start : start + size]
            assert part not in text or part in safe.inline(before + after), (part, text)


def test_the_templates_are_all_exercised() -> None:
    """Guard against a template that silently prints nothing (and so could never fail)."""
    for template in TEMPLATES:
        out, summary = _printed(template, "::warning::x\nline")
        assert out or summary, template.__name__


def test_a_short_secret_is_neither_masked_nor_redacted() -> None:
    """Issue 17 #9: a one-letter password turned `202 Accepted` into `202 Acce***ted`, and an exchange's hostile
    answer could have `::add-mask::e` make the whole log unreadable. Below safe.MIN_SECRET_LENGTH, nothing is
    registered; from that length on, everything is."""
    out = io.StringIO()
    with redirect_stdout(out):
        console = ActionsConsole(environ={})
        for short in ("p", "e", "1234567", " 1234567\n"):
            console.mask(short)
        console.mask("S3cret-8")
    assert safe.inline("202 Accepted: 1234567") == "202 Accepted: 1234567"
    assert safe.inline("said S3cret-8") == "said ***"
    masks = [line for line in out.getvalue().splitlines() if re.match(r"::add-mask ?::", line)]
    assert [line.rsplit("::", 1)[1] for line in masks] == ["S3cret-8"]


@pytest.mark.parametrize("echo", [str.lower, str.upper, str.swapcase])
def test_a_secret_echoed_in_another_case_is_redacted(echo: Callable[[str], str]) -> None:
    """The runner's mask is case-sensitive: a registry (or a listing) echoing the password lower-cased got past it."""
    secret = "ABCDEF0123456789Sup3r"
    safe.register_secret(secret)
    assert safe.inline(f"invalid password {echo(secret)}!") == "invalid password ***!"


def test_an_annotation_is_bounded_and_says_what_was_cut() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        ActionsConsole(environ={}).error("x" * 5_000_000, title="Upload failed")
    line = out.getvalue()
    assert len(line) < ANNOTATION_CAP + 200
    assert f"({5_000_000 - ANNOTATION_CAP} more characters cut)" in line
    assert annotation("short") == "short"
