"""Orchestration only: settings -> target -> dists -> credentials -> upload -> report.

Dists are validated before credentials are resolved because trusted publishing talks to the network: bad
input must fail (exit 2) before any request is made. The report is written whatever happens, so a failed run
still says which files went up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import cast

from publisher.attest import prepare as attestations
from publisher.auth.chain import resolve_credentials
from publisher.config.declared import note_declared_indexes
from publisher.config.settings import Settings
from publisher.config.target import Target, resolve_target
from publisher.config.urls import display, sends_in_clear, userinfo_secrets
from publisher.dists.collect import Dist, collect
from publisher.index.accepted import Accepted
from publisher.index.client import make_client
from publisher.index.upload import Session, open_session, upload_one
from publisher.net.transport import abort_all
from publisher.preflight import resolve_mode, run_preflight
from publisher.preflight.problems import PreflightError
from publisher.report import cancel, safe
from publisher.report import results as render
from publisher.report.console import BufferedConsole, Console, ThreadConsole
from publisher.report.errors import ConfigError, NotPublishedError, PublishError
from publisher.report.results import FileResult, Report, Status, human_size

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


def _refuse_verify_without_check_url(settings: Settings, target: Target) -> None:
    if settings.verify_published and target.check_url is None:
        raise ConfigError(
            f"{settings.turned_on('verify-published')} needs a check URL (the index's Simple API) to confirm uploads "
            f"on, and none is set for {target.display_url}.",
            hint=f"Set {settings.label('check-url')} to the index's Simple API (e.g. https://host/simple/), or use "
            f"{settings.label('index')} with an index whose `url` is its Simple API; or "
            f"{settings.set_to('verify-published', False)}.",
        )


def publish(settings: Settings, environ: Mapping[str, str], console: Console, report: Report) -> None:
    """Run the pipeline, filling `report` as it goes; raise PublishError on the first failure."""
    mask_environment(settings, environ, console)
    target = resolve_target(settings, environ, console)  # a .pypirc password is masked as it is read
    mask_urls((target.publish_url, target.check_url), console)  # the index's URLs, from pyproject.toml or uv.toml
    report.publish_url, report.index_name = target.display_url, target.index_name
    note_declared_indexes(settings, target, console)  # no index named: say so when the project declares one
    _refuse_verify_without_check_url(settings, target)

    dists = collect(settings, console)
    _preflight(settings, target, dists, environ, console, report)

    # Through the router: a trusted-publishing token renewed by an upload worker logs into that worker's buffer.
    router = ThreadConsole(console)  # the client's request log follows each upload into its worker's buffer too
    credentials = resolve_credentials(settings, target, environ, router, project_names=[d.name for d in dists])
    report.auth_method = credentials.method
    _refuse_plain_http(settings, target, credentials.present)

    if settings.dry_run:  # what the real run would do with each file, from the check URL (predict.py)
        from publisher.index.predict import predict

        attestations.check_existing(settings, credentials, dists, environ, router)
        predict(settings, target, credentials, dists, environ, router, report)
        return

    with make_client(credentials, router, environ, native_tls=settings.native_tls) as client:
        session = open_session(client, target, credentials, settings, environ, router)
        read = session.checker.auth if session.checker is not None else None
        prepared = attestations.prepare(settings, target, credentials, dists, environ, router, client, read)
        report.attested = prepared.attested
        with cancel.uploading():
            upload_all(session, prepared.dists, router, report)


def _preflight(
    settings: Settings, target: Target, dists: list[Dist], environ: Mapping[str, str], console: Console, report: Report
) -> None:
    """Every file against the index's upload rules before the first byte (publisher/preflight); the dry run too."""
    rules = resolve_mode(settings, target.publish_url)
    try:
        report.preflight = run_preflight(
            dists,
            rules,
            target.check_url,
            environ,
            console,
            front_end=settings.front_end,
            native_tls=settings.native_tls,
        )
    except PreflightError as exc:
        report.preflight = f"{rules} rules: refused"
        report.preflight_problems = [f"{p.file}: {p.rule}" for p in exc.problems]
        raise


def upload_all(session: Session, dists: list[Dist], console: Console, report: Report) -> None:
    """Wheels first (`parallel` at a time), then sdists only once every wheel is stored, as uv orders them.

    On the first failure nothing new is started, uploads and confirmations in flight finish, the rest are
    `not uploaded`, every file is reported in dist order, and the first error (in dist order) is re-raised.
    """
    wheels = [d for d in dists if d.filetype == "bdist_wheel"]
    sdists = [d for d in dists if d.filetype != "bdist_wheel"]
    batches = [batch for batch in (wheels, sdists) if batch]
    for number, batch in enumerate(batches):
        outcomes = _upload_batch(session, batch, console)
        cancelled = cancel.requested()
        for dist, outcome in zip(batch, outcomes, strict=True):
            report.results.append(_result(dist, outcome, cancelled))
        error = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if error is not None or cancelled:
            report.results += [_unfinished(d, None) for later in batches[number + 1 :] for d in later]
            cancel.check()  # a cancelled run says so, rather than quoting the upload its abort cut short
            assert error is not None
            raise error


def _result(dist: Dist, outcome: _Outcome, cancelled: bool) -> FileResult:
    if isinstance(outcome, FileResult):
        return outcome
    if isinstance(outcome, NotPublishedError):  # accepted, not stored / not confirmed: its own status
        return FileResult(dist.filename, dist.size, outcome.sha256, cast(Status, outcome.status), outcome.detail)
    return _unfinished(dist, outcome, cancelled)


def _unfinished(dist: Dist, error: BaseException | None, cancelled: bool = False) -> FileResult:
    """A detail is a table cell: it names no setting (the error's hint does, in the front end's words)."""
    if error is None:
        return FileResult(dist.filename, dist.size, "", "not uploaded")
    detail = (
        "aborted by the cancellation; it may have been stored (re-run skipping existing files)" if cancelled else ""
    )
    return FileResult(dist.filename, dist.size, "", "failed", detail)


_Outcome = FileResult | BaseException | None  # None: never started


class _Job:
    """One dist of a batch: its log buffer and, once `done`, its outcome."""

    def __init__(self, dist: Dist, buffer: BufferedConsole) -> None:
        self.dist = dist
        self.buffer = buffer
        self.done = False
        self.outcome: _Outcome = None


class _Batch:
    """One batch in flight: `parallel` upload slots, each a thread that takes the next dist itself (no hand-off per
    file), and a thread per confirmation, so that waiting for a registry's task never holds up the next upload.

    Each dist logs into its own buffer inside its group `Uploading <file> (<size>)`; the group opens in the upload
    slot and, for a confirmed upload, closes in the confirmation's thread. The caller's thread prints finished dists
    whole, in dist order, and shows the first one not yet printed live (`go_live`): the one being waited for reports
    its progress as it goes.
    """

    def __init__(self, session: Session, batch: list[Dist], console: Console) -> None:
        self.session, self.batch = session, batch
        self.router = console if isinstance(console, ThreadConsole) else None
        self.real = self.router.current if self.router is not None else console
        self.lock = threading.Lock()  # the real console's
        self.changed = threading.Condition()  # guards everything below; notified at every move
        self.jobs: list[_Job] = []
        self.slots = min(session.settings.parallel, len(batch))
        self.moves = 0

    def _moved(self) -> None:
        self.moves += 1
        self.changed.notify_all()

    def _stopping(self) -> bool:
        """Nothing new starts after a failure (in any dist) or a cancellation."""
        return cancel.requested() or any(isinstance(job.outcome, BaseException) for job in self.jobs)

    def _claim(self) -> _Job | None:
        with self.changed:
            if self._stopping() or len(self.jobs) == len(self.batch):
                return None
            job = _Job(self.batch[len(self.jobs)], BufferedConsole(self.real, self.lock))
            self.jobs.append(job)
            self._moved()
            return job

    def _finish(self, job: _Job, outcome: _Outcome) -> None:
        with self.changed:
            job.outcome, job.done = outcome, True
            self._moved()

    def _bound(self, job: _Job) -> AbstractContextManager[None]:
        """The HTTP client's request log (and trusted publishing's renewal) follows the dist into its buffer."""
        return self.router.bind(job.buffer) if self.router is not None else nullcontext()

    def _slot(self) -> None:
        try:
            while (job := self._claim()) is not None:
                group = ExitStack()
                outcome: _Outcome
                with self._bound(job):
                    try:
                        group.enter_context(
                            job.buffer.group(f"Uploading {job.dist.filename} ({human_size(job.dist.size)})")
                        )
                        sent = upload_one(self.session, job.dist, job.buffer)
                    except Exception as exc:
                        outcome = exc
                    else:
                        if isinstance(sent, Accepted):  # confirmed beside the next uploads (confirm.py)
                            args = (job, sent, group)
                            threading.Thread(target=self._confirm, args=args, name="confirm", daemon=True).start()
                            continue
                        outcome = sent
                    group.close()
                self._finish(job, outcome)
        finally:
            with self.changed:
                self.slots -= 1
                self._moved()

    def _confirm(self, job: _Job, accepted: Accepted, group: ExitStack) -> None:
        outcome: _Outcome
        with self._bound(job):
            try:
                outcome = self.session.confirmer.confirm(accepted, job.buffer)
            except Exception as exc:
                outcome = exc
            group.close()
        self._finish(job, outcome)

    def run(self) -> list[_Outcome]:
        """Every dist's outcome in batch order (None: never started), once every started one is done."""
        for number in range(self.slots):
            threading.Thread(target=self._slot, name=f"upload-{number + 1}", daemon=True).start()
        printed = 0
        while True:
            with self.changed:
                seen = self.moves
                done = [job.done for job in self.jobs]
                idle = self.slots == 0
            while printed < len(done) and done[printed]:  # each finished dist once all before it are printed
                self.jobs[printed].buffer.replay()
                printed += 1
            if printed < len(done):
                self.jobs[printed].buffer.go_live()
            elif idle:
                break
            with self.changed:
                if self.moves == seen:
                    self.changed.wait(timeout=0.2)  # woken by any move; the timeout notices a cancellation
        return [job.outcome for job in self.jobs] + [None] * (len(self.batch) - len(self.jobs))


def _upload_batch(session: Session, batch: list[Dist], console: Console) -> list[_Outcome]:
    """Publish one batch (see _Batch), returning an outcome per dist in batch order."""
    return _Batch(session, batch, console).run()


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
    with cancel.signals_handled(
        abort_all, environ, settings.front_end
    ):  # cuts the uploads in flight once the grace is over
        code = _run(settings, environ, console, report)
        if not finish(report, console) and code == 0:
            code = 1
    return code


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
