"""Real package registries on loopback: pypiserver (fresh per test, ~0.3 s) and devpi-server (once per session, ~5 s).

Tests talk to real servers so that status codes, duplicate handling and the Simple API are the registries' own, not
our idea of them. Every server runs in its own process group with its output in a log file; `stop()` kills the whole
group, an atexit hook stops anything a crashed test left running, and on Linux the kernel kills a server whose test
process died without cleaning up (PR_SET_PDEATHSIG). On Windows, which has neither process groups nor POSIX signals,
`stop()` ends the server's process tree with `taskkill /T /F`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support import warm

LOOPBACK = "127.0.0.1"
BIN = Path(sys.executable).parent
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class ServerError(RuntimeError):
    """A server did not start (its log is in the message) or a client command against it failed."""


def free_port() -> int:
    """A port the kernel just handed out; a race with another process is possible, so `start()` retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET without proxies; an HTTP error status is returned, not raised (a 401 is an answer too)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment minus proxy settings, so loopback traffic never leaves the machine."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    return {**env, **extra}


def executable(name: str) -> str:
    """A console script of the running interpreter's environment (the venv), else from PATH (`.exe` on Windows)."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        raise ServerError(f"{name} not found next to {sys.executable} nor on PATH (run `make venv`)")
    return found


_RUNNING: set[ServerProcess] = set()


# pypiserver's modules, imported once per test process: the suite starts ~170 pypiservers, ~0.3 s of CPU each when
# started fresh (tests/support/warm.py).
WARM_SERVERS = warm.Server(preload=("pypiserver.__main__", "pypiserver._app", "waitress", "passlib.apache"))


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_RUNNING):
        process.stop()


class ServerProcess:
    """One server subprocess in its own session (so its whole group can be killed), output appended to `log_path`."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, *, cwd: Path | None = None, warm_start: bool = False
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.warm_start = warm_start  # a fork of WARM_SERVERS where that is the same start (tests/support/warm.py)
        self._popen: subprocess.Popen[bytes] | warm.Forked | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = clean_env(PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            if self.warm_start and WARM_SERVERS.forkable(self.argv, env):
                with open(os.devnull, "rb") as devnull:
                    self._popen = WARM_SERVERS.spawn(
                        self.argv,
                        self.cwd,
                        env,
                        stdin=devnull.fileno(),
                        stdout=log.fileno(),
                        stderr=log.fileno(),
                        new_session=True,
                        die_with_parent=True,
                    )
                _RUNNING.add(self)
                return
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,  # POSIX: its own process group, for stop()
                preexec_fn=warm.die_with_parent if sys.platform == "linux" else None,  # Windows refuses any preexec_fn
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),  # Windows: no Ctrl+C from our console
            )
        _RUNNING.add(self)

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def returncode(self) -> int | None:
        """None while running (or never started)."""
        return None if self._popen is None else self._popen.poll()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        """Poll `probe` until it is true; fail fast, with the log, if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                code = self.returncode()
                if code is not None:
                    raise ServerError(f"{self.name} exited with status {code} before it was ready. Log:\n{self.log()}")
                with contextlib.suppress(OSError):
                    if probe():
                        return
                if time.monotonic() > deadline:
                    raise ServerError(f"{self.name} was not ready after {timeout:.0f} s. Log:\n{self.log()}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers (Windows: end the process tree); idempotent."""
        _RUNNING.discard(self)
        popen, self._popen = self._popen, None
        if popen is None:
            return
        if os.name == "nt":
            if popen.poll() is None:
                # /T: the console-script launcher (pypi-server.exe) and the Python process it started.
                subprocess.run(
                    ["taskkill", "/T", "/F", "/PID", str(popen.pid)], capture_output=True, timeout=30, check=False
                )
            popen.wait(timeout)
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)  # any child the server left behind in its group


def _port_was_taken(message: str) -> bool:
    text = message.lower()
    return any(
        words in text
        for words in (
            "address already in use",  # Linux and macOS
            "errno 98",  # EADDRINUSE on Linux
            "errno 48",  # on macOS
            "10048",  # WSAEADDRINUSE
            "only one usage of each socket address",  # its Windows message
            "answered by another server",
        )
    )


class _Server:
    """Shared start/stop/context-manager plumbing; subclasses define `_launch()`."""

    _process: ServerProcess | None = None
    _owned_workdir: Path | None = None

    def _launch(self) -> ServerProcess:
        raise NotImplementedError

    def start(self) -> Self:
        """Start on a free port, retrying with another port if one was taken between choosing and binding."""
        for attempt in range(3):
            try:
                self._process = self._launch()
                return self
            except ServerError as exc:
                if attempt == 2 or not _port_was_taken(str(exc)):
                    raise
        raise AssertionError("unreachable")

    def log(self) -> str:
        """Everything the server printed (also after `stop()`, unless the server made its own temporary directory)."""
        return "" if self._process is None else self._process.log()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.returncode() is None

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        if self._owned_workdir is not None:
            shutil.rmtree(self._owned_workdir, ignore_errors=True)
            self._owned_workdir = None

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _workdir(workdir: Path | str | None, prefix: str) -> tuple[Path, bool]:
    if workdir is not None:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix=prefix)), True


class PypiServer(_Server):
    """pypiserver with an htpasswd file: uploads need a password (`-a update`), reads are anonymous.

    `authenticate="."` (with no password file) accepts anything from anyone; `users` adds accounts next to the
    default one, and `add_user()` adds one to a running server (pypiserver re-reads the file when it changes).
    """

    def __init__(
        self,
        packages_dir: Path | str | None = None,
        *,
        username: str = "alice",
        password: str | None = None,
        users: Mapping[str, str] | None = None,
        authenticate: str = "update",
        overwrite: bool = False,
        extra_args: Sequence[str] = (),
        workdir: Path | str | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.workdir, owned = _workdir(workdir, "pypiserver-")
        self._owned_workdir = self.workdir if owned else None
        self.packages_dir = Path(packages_dir) if packages_dir is not None else self.workdir / "packages"
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password if password is not None else f"Pypi-Srv-{secrets.token_hex(8)}"
        self.authenticate = authenticate
        self.htpasswd = self.workdir / "htpasswd"
        self.log_path = self.workdir / "pypiserver.log"
        self._extra_args = [*(["--overwrite"] if overwrite else []), *extra_args]
        self._startup_timeout = startup_timeout
        self._token = secrets.token_hex(16)
        self.port = 0
        if authenticate != ".":
            self._write_users({username: self.password, **(users or {})})

    def _write_users(self, users: Mapping[str, str]) -> None:
        with warnings.catch_warnings():  # passlib imports the `crypt` module, deprecated since Python 3.11
            warnings.simplefilter("ignore", DeprecationWarning)
            from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]

        htpasswd = HtpasswdFile(str(self.htpasswd), new=not self.htpasswd.exists())
        for name, password in users.items():
            htpasswd.set_password(name, password)
        htpasswd.save()

    def add_user(self, username: str, password: str) -> str:
        """Add (or re-password) an account; returns the password so a test can write `token = add_user(...)`."""
        if self.authenticate == ".":
            raise ServerError("this pypiserver runs without authentication (authenticate='.'); users mean nothing")
        self._write_users({username: password})
        return password

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def upload_url(self) -> str:
        return self.url + "/"

    @property
    def simple_url(self) -> str:
        return self.url + "/simple/"

    def _launch(self) -> ServerProcess:
        self.port = free_port()
        welcome = self.workdir / "welcome.html"
        welcome.write_text(f"pypiserver test bed {self._token}\n")  # proves the port answering is ours
        password_file = "." if self.authenticate == "." else str(self.htpasswd)
        auth = ["-a", self.authenticate, "-P", password_file]
        argv = [
            executable("pypi-server"),
            "run",
            "-i",
            LOOPBACK,
            "-p",
            str(self.port),
            *auth,
            "--disable-fallback",
            "--welcome",
            str(welcome),
            *self._extra_args,
            str(self.packages_dir),
        ]
        process = ServerProcess("pypiserver", argv, self.log_path, warm_start=True)
        process.start()

        def ready() -> bool:
            if http_get(self.url + "/health", timeout=1)[0] != 200:
                return False
            status, body = http_get(self.url + "/", timeout=1)
            if status == 200 and self._token.encode() not in body:
                raise ServerError(f"port {self.port} is answered by another server")
            return True

        process.wait_ready(ready, self._startup_timeout)
        return process

    def files(self) -> list[str]:
        """Names of the stored files, sorted (what the server would list; pypiserver keeps them on disk as is)."""
        return sorted(p.name for p in self.packages_dir.rglob("*") if p.is_file() and not p.name.startswith("."))

    def read(self, filename: str) -> bytes:
        for path in self.packages_dir.rglob(filename):
            if path.is_file():
                return path.read_bytes()
        raise FileNotFoundError(f"{filename} is not on the server; it holds {self.files()}")

    def __repr__(self) -> str:
        return f"PypiServer(url={self.url!r}, packages_dir={str(self.packages_dir)!r})"


@dataclass(frozen=True)
class DevpiIndex:
    """One index on a DevpiServer, with the account allowed to upload to it."""

    server: DevpiServer
    user: str
    password: str
    name: str
    volatile: bool = False

    @property
    def username(self) -> str:
        return self.user

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.user}/{self.name}"

    @property
    def upload_url(self) -> str:
        return self.url + "/"

    @property
    def simple_url(self) -> str:
        return self.url + "/+simple/"

    def files(self) -> list[str]:
        return self.server.files(self.name, user=self.user)

    def read(self, filename: str) -> bytes:
        return self.server.read(self.name, filename, user=self.user)


class DevpiServer(_Server):
    """devpi-server without PyPI mirroring (`--no-root-pypi`, `--offline-mode`), with one ordinary user.

    devpi answers a wrong password with 401, accepts an identical re-upload with 200, and (on a non-volatile index)
    refuses other bytes under a taken file name with 409: behaviours pypiserver does not have. The devpi command
    line runs with a private `--clientdir`, so nothing reads or writes ~/.devpi.
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        *,
        user: str = "alice",
        password: str | None = None,
        root_password: str | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        base, owned = _workdir(workdir, "devpi-")  # holds server/ (--serverdir), client/ (--clientdir) and the log
        self._owned_workdir = base if owned else None
        self.workdir = base.resolve()
        self.serverdir = self.workdir / "server"
        self.clientdir = self.workdir / "client"
        self.log_path = self.workdir / "devpi-server.log"
        self.user = user
        self.password = password if password is not None else f"Devpi-Usr-{secrets.token_hex(8)}"
        self.root_password = root_password if root_password is not None else f"Devpi-Root-{secrets.token_hex(8)}"
        self._startup_timeout = startup_timeout
        self._logged_in: str | None = None
        self._passwords: dict[str, str] = {}
        self.port = 0

    @property
    def username(self) -> str:
        return self.user

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _launch(self) -> ServerProcess:
        if not (self.serverdir / ".nodeinfo").exists():
            init = subprocess.run(
                [
                    executable("devpi-init"),
                    "--serverdir",
                    str(self.serverdir),
                    "--no-root-pypi",
                    "--root-passwd",
                    self.root_password,
                ],
                capture_output=True,
                text=True,
                env=clean_env(),
                timeout=120,
                check=False,
            )
            if init.returncode != 0:
                raise ServerError(f"devpi-init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        self.port = free_port()
        argv = [
            executable("devpi-server"),
            "--serverdir",
            str(self.serverdir),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--offline-mode",
        ]
        process = ServerProcess("devpi-server", argv, self.log_path)
        process.start()

        def ready() -> bool:
            if http_get(self.url + "/+api", timeout=1)[0] != 200:
                return False
            status, body = http_get(self.url + "/+status", headers={"Accept": "application/json"}, timeout=2)
            if status != 200 or json.loads(body)["result"]["serverdir"] != str(self.serverdir):
                raise ServerError(f"port {self.port} is answered by another server")
            return True

        process.wait_ready(ready, self._startup_timeout)
        return process

    def start(self) -> Self:
        super().start()
        self._logged_in = None
        self.client("use", self.url)
        if self.user not in self._passwords:
            self.create_user(self.user, self.password)
        return self

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real `devpi` command line against this server, with its own client directory."""
        result = subprocess.run(
            [executable("devpi"), "--clientdir", str(self.clientdir), *args],
            capture_output=True,
            text=True,
            env=clean_env(HOME=str(self.workdir)),
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            shown = [
                "***" if prev == "--password" else ("password=***" if a.startswith("password=") else a)
                for prev, a in zip(("", *args), args, strict=False)
            ]
            raise ServerError(f"devpi {' '.join(shown)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def _login(self, user: str) -> None:
        if self._logged_in != user:
            password = self.root_password if user == "root" else self._passwords[user]
            self.client("login", user, "--password", password)
            self._logged_in = user

    def create_user(self, user: str, password: str) -> None:
        self._login("root")
        self.client("user", "-c", user, f"password={password}", f"email={user}@example.invalid")
        self._passwords[user] = password

    def create_index(self, name: str, *, user: str | None = None, volatile: bool = False) -> DevpiIndex:
        """A new index with no bases (so nothing is inherited), owned by `user` (default: the server's user)."""
        owner = user or self.user
        self._login(owner)
        self.client("index", "-c", f"{owner}/{name}", "bases=", f"volatile={volatile}")
        return DevpiIndex(self, owner, self._passwords[owner], name, volatile)

    def upload_url_for(self, index: str, *, user: str | None = None) -> str:
        return f"{self.url}/{user or self.user}/{index}/"

    def simple_url_for(self, index: str, *, user: str | None = None) -> str:
        return f"{self.url}/{user or self.user}/{index}/+simple/"

    def _json(self, path: str) -> Any:
        status, body = http_get(self.url + path, headers={"Accept": "application/json"})
        if status != 200:
            raise ServerError(f"GET {path} answered {status}: {body[:300]!r}")
        return json.loads(body)["result"]

    def _links(self, index: str, user: str | None) -> dict[str, str]:
        owner = user or self.user
        links: dict[str, str] = {}
        for project in self._json(f"/{owner}/{index}")["projects"]:
            for release in self._json(f"/{owner}/{index}/{project}").values():
                for link in release.get("+links", []):
                    if link.get("rel") == "releasefile":
                        links[link["href"].rsplit("/", 1)[-1]] = link["href"]
        return links

    def files(self, index: str, *, user: str | None = None) -> list[str]:
        """File names stored in the index, sorted, read through devpi's JSON API."""
        return sorted(self._links(index, user))

    def read(self, index: str, filename: str, *, user: str | None = None) -> bytes:
        links = self._links(index, user)
        if filename not in links:
            raise FileNotFoundError(f"{filename} is not in {index}; it holds {sorted(links)}")
        status, body = http_get(links[filename])
        if status != 200:
            raise ServerError(f"GET {links[filename]} answered {status}")
        return body

    def __repr__(self) -> str:
        return f"DevpiServer(url={self.url!r}, serverdir={str(self.serverdir)!r})"
