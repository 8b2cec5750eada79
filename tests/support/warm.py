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
from pathlib import Path

# What every run loads before it reads its input: the front ends' own modules and, through them, pydantic (the
# Settings model), httpx/httpcore and packaging. Imported here once; a run that needs less still behaves the same,
# because none of these reads its surroundings at import time but the ones `_child` and `forkable` deal with.
PRELOAD = ("publisher.report.console", "publisher.action", "publisher.run")

# Read by the interpreter (or OpenSSL, or the time module) when it starts, so a child could not take them over.
_AT_START_PREFIXES = ("PYTHON", "PYDANTIC", "LC_", "OPENSSL")
_AT_START_NAMES = ("LANG", "LANGUAGE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")


def startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The part of an environment a Python process reads when it starts."""
    return {k: v for k, v in env.items() if k.startswith(_AT_START_PREFIXES) or k in _AT_START_NAMES}


def _child(request: dict[str, object]) -> None:
    """In the forked child: become the run, then end as an interpreter ends (SystemExit from here on up)."""
    import runpy

    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    for number, handler in _FRESH_SIGNALS.items():
        signal.signal(number, handler)
    _fresh_stdio()
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    if argv[:2] == ["-m", "publisher"] or Path(argv[0]).name == "entrypoint.py":
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
            sys.argv = argv
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
        buffer = open(fd, "rb" if fd == 0 else "wb", closefd=False)  # noqa: SIM115  (lives as long as the run)
        line_buffering = fd != 0 and (fd == 2 or os.isatty(fd))
        stream = io.TextIOWrapper(
            buffer, encoding=old.encoding, errors=old.errors, newline="\n", line_buffering=line_buffering
        )
        stream.mode = "r" if fd == 0 else "w"  # type: ignore[misc]
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def serve(path: str) -> dict[str, object] | None:
    """Fork a child per request; returns only in a child, with its request."""
    for name in PRELOAD:
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


class Server:
    """The warm interpreter of this test process: started on first use with `env`'s start-up part, stopped at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket = ""
        self._startup: dict[str, str] | None = None

    def forkable(self, argv: list[str], env: dict[str, str]) -> bool:
        """Whether a fork of this server is the same start as `argv` with `env` would be (see the module docstring)."""
        if os.environ.get("PUBLISHER_TESTS_FRESH") or not hasattr(os, "fork") or argv[0] != sys.executable:
            return False
        if argv[1:3] != ["-m", "publisher"] and not (len(argv) >= 2 and argv[1].endswith(".py")):
            return False
        return self._startup is None or startup_environment(env) == self._startup

    def run(
        self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, bytes, bytes] | subprocess.TimeoutExpired:
        """Run `argv` as a fork of the server: (exit code, stdout, stderr), or the expiry after killing it."""
        path = self._ensure(env)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            request = json.dumps({"argv": argv[1:], "cwd": str(cwd), "env": env}).encode() + b"\n"
            stdin = 0 if _valid(0) else os.open(os.devnull, os.O_RDONLY)
            try:
                socket.send_fds(conn, [request], [stdin, out_w, err_w])
            finally:
                if stdin != 0:
                    os.close(stdin)
        finally:
            os.close(out_w)
            os.close(err_w)
        return _collect(conn, out_r, err_r, timeout, argv)

    def _ensure(self, env: dict[str, str]) -> str:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return self._socket
            scratch = Path(tempfile.mkdtemp(prefix="warm-"))
            self._socket = str(scratch / "socket")
            self._startup = startup_environment(env)
            home = scratch / "home"
            home.mkdir()
            own = {"PATH": env.get("PATH", os.defpath), "HOME": str(home), **self._startup}
            with open(scratch / "log", "ab") as log:
                self._process = subprocess.Popen(
                    [sys.executable, __file__, self._socket],
                    cwd=scratch,
                    env=own,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                )
            assert self._process.stdout is not None
            if self._process.stdout.readline() != b"ready\n":
                raise RuntimeError(f"the warm interpreter did not start:\n{(scratch / 'log').read_text()}")
            if len(_servers) == 0:
                atexit.register(_stop_all)
            _servers.append(self._process)
            return self._socket


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
    conn: socket.socket, out_r: int, err_r: int, timeout: float, argv: list[str]
) -> tuple[int, bytes, bytes] | subprocess.TimeoutExpired:
    """Read both streams to their end and the wait status, as `communicate` does; past `timeout`, kill the child."""
    deadline = time.monotonic() + timeout
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    answer = b""
    pid = status = None
    expired = False
    with selectors.DefaultSelector() as selector:
        selector.register(out_r, selectors.EVENT_READ)
        selector.register(err_r, selectors.EVENT_READ)
        selector.register(conn, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0 and not expired:
                expired = True
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            for key, _ in selector.select(timeout=max(left, 0.05) if not expired else 1.0):
                if key.fileobj is conn:
                    data = conn.recv(4096)
                    answer += data
                    if not data:
                        selector.unregister(conn)
                    continue
                fd = key.fd
                data = os.read(fd, 1 << 16)
                if data:
                    chunks[fd].append(data)
                else:
                    selector.unregister(fd)
            for line in answer.split(b"\n"):
                if line:
                    message = json.loads(line)
                    pid = message.get("pid", pid)
                    status = message.get("status", status)
    conn.close()
    os.close(out_r)
    os.close(err_r)
    stdout, stderr = b"".join(chunks[out_r]), b"".join(chunks[err_r])
    if expired:
        return subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
    if status is None:
        raise RuntimeError(f"the warm interpreter ended before the run did: {argv}\n{stderr.decode(errors='replace')}")
    return os.waitstatus_to_exitcode(status), stdout, stderr


if __name__ == "__main__":
    job = serve(sys.argv[1])
    if job is not None:
        _child(job)
