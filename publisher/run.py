"""Orchestration only: settings -> target -> dists -> credentials -> upload -> report.

Dists are validated before credentials are resolved because trusted publishing talks to the network: bad
input must fail (exit 2) before any request is made. The report is written whatever happens, so a failed run
still says which files went up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING

from publisher import cancel, safe
from publisher import report as render
from publisher.check import check
from publisher.console import BufferedConsole, Console, ThreadConsole
from publisher.credentials import resolve_credentials
from publisher.dists import Dist, collect
from publisher.errors import ConfigError, PublishError
from publisher.index import Target, resolve_target
from publisher.report import FileResult, Report
from publisher.settings import Settings
from publisher.upload import Session, make_client, open_session, upload_one
from publisher.urls import display, sends_in_clear, userinfo_secrets

if TYPE_CHECKING:
    from concurrent.futures import Future

# `<AUDIENCE>_ID_TOKEN`: the ID tokens a GitLab CI job's `id_tokens:` hold (identity.py).
_SECRET_ENV = re.compile(
    r"^(UV_INDEX_.+_PASSWORD|UV_PUBLISH_PASSWORD|UV_PUBLISH_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN|[A-Z_][A-Z0-9_]*_ID_TOKEN)$"
)


def mask_environment(settings: Settings, environ: Mapping[str, str], console: Console) -> None:
    """Register every secret we might read before anything can be printed."""
    for name, value in environ.items():
        if _SECRET_ENV.match(name):
            console.mask(value)
    for secret in (settings.password, settings.token):
        if secret is not None:
            console.mask(secret.get_secret_value())
    mask_urls((settings.publish_url, settings.check_url), console)


def mask_urls(urls: tuple[str | None, ...], console: Console) -> None:
    """The secrets in URLs' user info (urls.userinfo_secrets), masked before anything can print them."""
    for url in urls:
        for form in userinfo_secrets(url):
            console.mask(form)


def _refuse_plain_http(settings: Settings, target: Target, has_credentials: bool) -> None:
    url = target.publish_url
    if has_credentials and sends_in_clear(url, settings.allow_insecure_http):
        raise ConfigError(
            f"Refusing to send credentials over plain http to {target.display_url}: anyone on the network "
            "path could read them.",
            hint="Use the registry's https:// URL. If this network is trusted (a private build network), set "
            f"{settings.turned_on('allow-insecure-http')}.",
        )


def publish(settings: Settings, environ: Mapping[str, str], console: Console, report: Report) -> None:
    """Run the pipeline, filling `report` as it goes; raise PublishError on the first failure."""
    mask_environment(settings, environ, console)
    target = resolve_target(settings, environ, console)  # a .pypirc password is masked as it is read
    mask_urls((target.publish_url, target.check_url), console)  # the index's URLs, from pyproject.toml or uv.toml
    report.publish_url, report.index_name = target.display_url, target.index_name

    dists = collect(settings, console)
    if settings.verify_metadata:
        for dist in dists:
            check(dist)

    # Through the router: a trusted-publishing token renewed by an upload worker logs into that worker's buffer.
    router = ThreadConsole(console)  # the client's request log follows each upload into its worker's buffer too
    credentials = resolve_credentials(settings, target, environ, router, project_names=[d.name for d in dists])
    report.auth_method = credentials.method
    _refuse_plain_http(settings, target, credentials.present)

    if settings.dry_run:  # what the real run would do with each file, from the check URL (predict.py)
        from publisher.predict import predict

        predict(settings, target, credentials, dists, environ, router, report)
        return

    with make_client(credentials, router, environ) as client, cancel.uploading():
        upload_all(open_session(client, target, credentials, settings, environ, router), dists, router, report)


def upload_all(session: Session, dists: list[Dist], console: Console, report: Report) -> None:
    """Wheels first (`parallel` at a time), then sdists only once every wheel is up, as uv orders them.

    On the first failure nothing new is started, uploads in flight finish, the rest are `not uploaded`, every
    file is reported in dist order, and the first error (in dist order) is re-raised.
    """
    wheels = [d for d in dists if d.filetype == "bdist_wheel"]
    sdists = [d for d in dists if d.filetype != "bdist_wheel"]
    batches = [batch for batch in (wheels, sdists) if batch]
    for number, batch in enumerate(batches):
        outcomes = _upload_batch(session, batch, console)
        cancelled = cancel.requested()
        for dist, outcome in zip(batch, outcomes, strict=True):
            report.results.append(outcome if isinstance(outcome, FileResult) else _unfinished(dist, outcome, cancelled))
        error = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if error is not None or cancelled:
            report.results += [_unfinished(d, None) for later in batches[number + 1 :] for d in later]
            cancel.check()  # a cancelled run says so, rather than quoting the upload its abort cut short
            assert error is not None
            raise error


def _unfinished(dist: Dist, error: BaseException | None, cancelled: bool = False) -> FileResult:
    if error is None:
        return FileResult(dist.filename, dist.size, "", "not uploaded")
    detail = "aborted by the cancellation; it may have been stored (re-run with skip-existing)" if cancelled else ""
    return FileResult(dist.filename, dist.size, "", "failed", detail)


_Outcome = FileResult | BaseException | None  # None: never started


def _upload_batch(session: Session, batch: list[Dist], console: Console) -> list[_Outcome]:
    """Upload one batch, returning an outcome per dist in batch order; output is replayed in that order."""
    outcomes: list[_Outcome] = [None] * len(batch)
    workers = min(session.settings.parallel, len(batch))
    if workers <= 1:  # sequential: print live, no threads
        for position, dist in enumerate(batch):
            if cancel.requested():
                break
            try:
                outcomes[position] = upload_one(session, dist, console)
            except Exception as exc:
                outcomes[position] = exc
                break
        return outcomes

    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # only runs with 2+ files import it

    router = console if isinstance(console, ThreadConsole) else None
    real = router.current if router is not None else console
    lock = threading.Lock()
    buffers: dict[int, BufferedConsole] = {}
    done: set[int] = set()
    printed = 0

    def work(dist: Dist, buffer: BufferedConsole) -> FileResult:
        with router.bind(buffer) if router is not None else nullcontext():
            return upload_one(session, dist, buffer)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload") as pool:
        in_flight: dict[Future[FileResult], int] = {}
        queue = iter(range(len(batch)))
        stopping = False
        while True:
            stopping = stopping or cancel.requested()
            while not stopping and len(in_flight) < workers and (start := next(queue, None)) is not None:
                buffers[start] = BufferedConsole(real, lock)
                in_flight[pool.submit(work, batch[start], buffers[start])] = start
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                position = in_flight.pop(future)
                error = future.exception()
                outcomes[position] = future.result() if error is None else error
                stopping = stopping or error is not None
                done.add(position)
            while printed in done:  # replay each finished upload once all before it are printed
                buffers.pop(printed).replay()
                printed += 1
    return outcomes


def finish(report: Report, console: Console) -> bool:
    """Outputs, job summary and the terminal report, written on success and failure alike.

    False when the runner's output or summary file could not be written (e.g. the container runs as a user that
    may not write the runner's files): later steps would read wrong outputs, so the step must fail, with a reason.
    """
    written = True
    try:
        for name, value in render.outputs(report).items():
            console.set_output(name, value)
        console.summary(render.summary_markdown(report))
    except OSError as exc:
        written = False
        console.error(
            f"{exc.strerror or type(exc).__name__}: {exc.filename or 'GITHUB_OUTPUT / GITHUB_STEP_SUMMARY'}. Later "
            "steps cannot read this step's outputs; the files listed below went up all the same.",
            title="Outputs not written",
        )
    for line in render.terminal_lines(report):
        console.info(line)
    return written


def main(settings: Settings, environ: Mapping[str, str], console: Console) -> int:
    """Run and translate the outcome into the exit status contract (0 ok, 1 upload/auth failed, 2 bad input)."""
    report = Report(publish_url=display(settings.publish_url or ""), dry_run=settings.dry_run)
    with cancel.signals_handled(_abort_transfers, environ):
        code = _run(settings, environ, console, report)
        if not finish(report, console) and code == 0:
            code = 1
    return code


def _abort_transfers() -> None:
    """Cut every upload still in flight when the cancellation's grace is over (transport.py)."""
    import sys

    transport = sys.modules.get("publisher.transport")
    abort_all = getattr(transport, "abort_all", None)
    if callable(abort_all):
        abort_all()


def _run(settings: Settings, environ: Mapping[str, str], console: Console, report: Report) -> int:
    """The pipeline, its outcome translated into the exit status; the report is filled either way."""
    try:
        try:
            publish(settings, environ, console, report)
        finally:
            cancel.reporting()  # from here a signal is only noted: the record must be written whole
    except PublishError as exc:  # Cancelled included: a signal before the uploads raises out of what it stopped
        if not exc.reported:  # a reported error already has its (longer) annotation: one per failure
            console.error(str(exc), title=exc.title)
        report.error, report.error_title = str(exc), exc.title
        return exc.exit_code
    except Exception as exc:  # a bug of ours: still report, never a raw traceback with values in it
        detail = safe.inline(f"{type(exc).__name__}: {exc}", 2000)
        console.error(f"{detail} (a bug in publish-dists: please report it with this message)", title="Internal error")
        report.error, report.error_title = detail, "Internal error"
        return 1
    return 0
