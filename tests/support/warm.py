"""A warm interpreter for the test runs of the CLI and the action: started once per test process, forked per run.

Why: each `python -m publisher` or `python entrypoint.py` spends ~0.3 s of CPU starting an interpreter and importing
pydantic, httpx and packaging before it reads one argument; the suite runs ~500 of them, and on two cores that CPU
was the largest share of `make test`'s wall time (issue 18). Here one interpreter pays that once: it imports the
modules every run loads, then forks a child per run. The child is a process of its own (its own pid, environment,
working directory, standard streams, exit status and signals) and runs the same code a fresh interpreter would:
`runpy` runs `publisher` as `__main__` (what `-m` does) or the entrypoint file as a script, and the child ends
through the interpreter's normal shutdown (non-daemon threads joined, atexit, flushed streams).

What a fresh start would do differently is ruled out, not assumed:

- the interpreter reads its configuration from the environment at start (PYTHON*, the locale, TZ, OPENSSL_*):
  a run whose environment differs there from this server's is not forked but started fresh (`forkable`);
- our own import-time read of the environment (publisher/__init__.py's PYDANTIC_DISABLE_PLUGINS default) is re-run
  in the child against the run's environment (`_child`); runs that set PYDANTIC_* (read by the pydantic plugin
  stand-in at import) start fresh;
- runs that measure memory or time, send signals, or count imports always start fresh (runner.py).

`PUBLISHER_TESTS_FRESH=1` makes every run start fresh, to compare.

Protocol, over a Unix socket: the test process sends one JSON line ({"argv": [...], "cwd": ..., "env": {...}}) with
its stdin and the write ends of two pipes attached (SCM_RIGHTS); this server forks, answers {"pid": N} and, when
the child has ended, {"status": S} (a wait status), then closes the connection.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Mapping
from pathlib import Path

# What every run loads before it reads its input: the front ends' own modules and, through them, pydantic (the
# Settings model), httpx/httpcore and packaging. Imported here once; a run that needs less still behaves the same,
# because none of these reads its surroundings at import time but the ones `_child` and `forkable` deal with.
PRELOAD = ("publisher.report.console", "publisher.action", "publisher.run")

# Read by the interpreter (or OpenSSL, or the time module) when it starts, so a child could not take them over.
_AT_START_PREFIXES = ("PYTHON", "PYDANTIC", "LC_", "OPENSSL")
_AT_START_NAMES = ("LANG", "LANGUAGE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


def runs_publisher(program: list[str]) -> bool:
    """`program` (what follows the interpreter) is the CLI or an action entrypoint: what PRELOAD is for."""
    return program[:2] == ["-m", "publisher"] or (len(program) == 1 and Path(program[0]).name == "entrypoint.py")


def startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The part of an environment a Python process reads when it starts."""
    return {k: v for k, v in env.items() if k.startswith(_AT_START_PREFIXES) or k in _AT_START_NAMES}


def _child(request: dict[str, object]) -> None:
    """In the forked child: become the run, then end as an interpreter ends (SystemExit from here on up)."""
    import runpy

    if request.get("session"):
        os.setsid()  # its own process group, for killpg (subprocess's start_new_session)
    if request.get("die_with_parent"):
        die_with_parent()
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    for number, handler in _FRESH_SIGNALS.items():
        signal.signal(number, handler)
    _fresh_stdio()
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]  # after the interpreter: -m M ... or FILE ...
    if runs_publisher(argv):
        # Our programs import publisher: its import-time default, applied to this run's environment as it would be.
        importlib.reload(sys.modules["publisher"])
    here = __file__
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            sys.path[0] = os.getcwd()  # what `-m` puts first
            sys.modules["__main__"] = types.ModuleType("__main__")  # the run's own, as `-m` runs in a fresh one
            runpy._run_module_as_main(argv[1], alter_argv=True)  # type: ignore[attr-defined]  # what `-m` calls
        else:
            sys.argv = [str(a) for a in request.get("script_argv", argv)]  # type: ignore[attr-defined]
            sys.path[0] = str(Path(argv[0]).resolve().parent)  # what running a script puts first
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:  # shown as the interpreter shows it: without this module's frames (nor runpy's
        tb = exc.__traceback__  # for a script, which a fresh run does not go through)
        while tb is not None and tb.tb_frame.f_code.co_filename in (here, "" if argv[0] == "-m" else "<frozen runpy>"):
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # the printer reads the exception's own
        if isinstance(exc, KeyboardInterrupt):  # the interpreter ends by SIGINT then (exit status -2 / 130)
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)
    sys.exit(0)


_FRESH_SIGNALS: dict[int, object] = {}


def _fresh_stdio() -> None:
    """sys.stdin/stdout/stderr made anew on the child's 0, 1 and 2, as the interpreter makes them when it starts
    (Python/pylifecycle.c, create_stdio): the server's were made for its own streams (a log file is seekable, a
    pipe is not; a terminal is line-buffered), so keeping them would not be the start the run would have had."""
    import io

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        unbuffered = fd != 0 and old.write_through  # PYTHONUNBUFFERED (part of the start-up environment)
        buffer = open(fd, "rb" if fd == 0 else "wb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
        line_buffering = fd != 0 and not unbuffered and (fd == 2 or os.isatty(fd))
        stream = io.TextIOWrapper(
            buffer,  # type: ignore[arg-type]
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=line_buffering,
            write_through=unbuffered,
        )
        stream.mode = "r" if fd == 0 else "w"  # type: ignore[misc]
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def serve(path: str, preload: list[str]) -> dict[str, object] | None:
    """Fork a child per request; returns only in a child, with its request."""
    for name in preload:
        importlib.import_module(name)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        _FRESH_SIGNALS[number] = signal.getsignal(number)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                request, fds = _receive(conn)
                if request is None:
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    selector.close()
                    listener.close()
                    for other in waiting.values():
                        other.close()
                    conn.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)  # inheritable, as a child's 0, 1 and 2 are
                    for fd in fds:
                        if fd > 2:
                            os.close(fd)
                    return request
                for fd in fds:
                    os.close(fd)
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                waiting[pid] = conn
            else:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
                _reap(waiting)


def _receive(conn: socket.socket) -> tuple[dict[str, object] | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            for fd in fds:
                os.close(fd)
            return None, []
        data += more
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"status": status}).encode() + b"\n")
            conn.close()


# -- the test process's side ------------------------------------------------------------------------------------


def enabled() -> bool:
    """Whether runs may be forked here: on Linux, unless PUBLISHER_TESTS_FRESH is set (macOS: a fork may not use what
    its parent's Objective-C runtime began; Windows has no fork)."""
    return sys.platform == "linux" and not os.environ.get("PUBLISHER_TESTS_FRESH")


class Server:
    """A warm interpreter of this test process, having imported `preload`: started on first use with the start-up
    part of the first run's environment, stopped at exit."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD) -> None:
        self.preload = preload
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket = ""
        self._startup: dict[str, str] | None = None

    def forkable(self, argv: list[str], env: Mapping[str, str]) -> bool:
        """Whether a fork of this server is the same start as `argv` with `env` would be (see the module docstring):
        this interpreter running a module (`-m`), a file, or a console script of this environment."""
        if not enabled() or _program(argv) is None:
            return False
        return self._startup is None or startup_environment(dict(env)) == self._startup

    def run(
        self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, bytes, bytes] | subprocess.TimeoutExpired:
        """Run `argv` to its end, as a fork of the server where that is the same start, else fresh (`fresh_run`):
        (exit code, stdout, stderr), or the expiry after killing it."""
        if not self.forkable(argv, env):
            return fresh_run(argv, cwd, env, timeout)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            child = self.spawn(argv, cwd, env, stdout=out_w, stderr=err_w)
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            return _collect(child, out_r, err_r, timeout, argv)
        except BaseException:  # pytest-timeout, Ctrl+C: the run does not outlive the test, as with subprocess.run
            child.kill()
            raise

    def spawn(
        self,
        argv: list[str],
        cwd: Path | None,
        env: Mapping[str, str],
        *,
        stdout: int,
        stderr: int,
        stdin: int | None = None,
        new_session: bool = False,
        die_with_parent: bool = False,
    ) -> Forked:
        """Start `argv` as a fork of the server with these standard streams (file descriptors; stdin: this
        process's own by default), as Popen would; `new_session` and `die_with_parent` as start_new_session and a
        PR_SET_PDEATHSIG preexec_fn would."""
        program = _program(argv)
        if program is None:
            raise ValueError(f"not a program this interpreter runs: {argv}")
        path = self._ensure(env)
        request = {
            "argv": program,
            "script_argv": argv if program[0] != "-m" and argv[0] != sys.executable else argv[1:],
            "cwd": str(cwd if cwd is not None else os.getcwd()),
            "env": dict(env),
            "session": new_session,
            "die_with_parent": die_with_parent,
        }
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        own_stdin = stdin is None and _valid(0)
        fd_in = 0 if own_stdin else (stdin if stdin is not None else os.open(os.devnull, os.O_RDONLY))
        try:
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [fd_in, stdout, stderr])
        finally:
            if stdin is None and not own_stdin:
                os.close(fd_in)
        return Forked(conn)

    def _ensure(self, env: Mapping[str, str]) -> str:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return self._socket
            scratch = Path(tempfile.mkdtemp(prefix="warm-"))
            self._socket = str(scratch / "socket")
            self._startup = startup_environment(dict(env))
            home = scratch / "home"
            home.mkdir()
            own = {"PATH": env.get("PATH", os.defpath), "HOME": str(home), **self._startup}
            with open(scratch / "log", "ab") as log:
                self._process = subprocess.Popen(
                    [sys.executable, __file__, self._socket, *self.preload],
                    cwd=scratch,
                    env=own,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    preexec_fn=die_with_parent,
                )
            assert self._process.stdout is not None
            if self._process.stdout.readline() != b"ready\n":
                raise RuntimeError(f"the warm interpreter did not start:\n{(scratch / 'log').read_text()}")
            if len(_servers) == 0:
                atexit.register(_stop_all)
            _servers.append(self._process)
            return self._socket


def fresh_run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, bytes, bytes] | subprocess.TimeoutExpired:
    """`Server.run`'s answer for a process started fresh (subprocess.run kills it past `timeout`)."""
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return exc
    return done.returncode, done.stdout, done.stderr


class Forked:
    """A forked run, as much of a Popen as the tests use: `pid`, `poll()`, `wait(timeout)`, `returncode`."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._answer = b""
        self.returncode: int | None = None
        self.pid: int = self._read(None, "pid")  # type: ignore[assignment]

    def _read(self, timeout: float | None, key: str) -> int | None:
        """The server's message `key`, waiting at most `timeout` seconds for it (None: as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for line in self._answer.split(b"\n")[:-1]:
                message = json.loads(line)
                if key in message:
                    return int(message[key])
            self._conn.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.0))
            try:
                data = self._conn.recv(4096)
            except (TimeoutError, BlockingIOError):
                return None
            if not data:
                raise RuntimeError("the warm interpreter ended before the run did")
            self._answer += data

    def poll(self) -> int | None:
        if self.returncode is None:
            status = self._read(0.0, "status")
            if status is not None:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            status = self._read(timeout, "status")
            if status is None:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            self._conn.close()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _program(argv: list[str]) -> list[str] | None:
    """What the child runs, after the interpreter: `-m M ARGS`, `FILE ARGS` (for a console script of this
    environment too: its `#!` line names this interpreter), or None if this interpreter would not run it."""
    if argv[0] == sys.executable and len(argv) >= 3 and argv[1] == "-m":
        return argv[1:]
    if argv[0] == sys.executable and len(argv) >= 2 and Path(argv[1]).is_file():
        return argv[1:]
    try:
        with open(argv[0], "rb") as script:
            first = script.readline().rstrip(b"\r\n")
    except OSError:
        return None
    return argv if first == b"#!" + os.fsencode(sys.executable) else None


def die_with_parent() -> None:
    """Runs in a child before it runs anything: on Linux, ask for SIGKILL when its parent dies, even by SIGKILL.

    (The kernel ties this to the thread that started the child: start servers from a thread that outlives them.)
    """
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_servers: list[subprocess.Popen[bytes]] = []


def _stop_all() -> None:
    for process in _servers:
        if process.poll() is None:
            process.kill()
            process.wait()


def _valid(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _collect(
    child: Forked, out_r: int, err_r: int, timeout: float, argv: list[str]
) -> tuple[int, bytes, bytes] | subprocess.TimeoutExpired:
    """Read both streams to their end and the exit status, as `communicate` does; past `timeout`, kill the child."""
    deadline = time.monotonic() + timeout
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    expired = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(out_r, selectors.EVENT_READ)
            selector.register(err_r, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0 and not expired:
                    expired = True
                    child.kill()
                for key, _ in selector.select(timeout=1.0 if expired else max(left, 0.05)):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
    finally:
        os.close(out_r)
        os.close(err_r)
    stdout, stderr = b"".join(chunks[out_r]), b"".join(chunks[err_r])
    if expired:
        child.wait()
        return subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
    return child.wait(max(deadline - time.monotonic(), 5.0)), stdout, stderr


if __name__ == "__main__":
    job = serve(sys.argv[1], sys.argv[2:])
    if job is not None:
        _child(job)
