"""The bytes sent are the bytes hashed: a dist rewritten or swapped while the run goes on is never uploaded under
digests that describe other bytes.

The digests go into the form before the file, and the summary shows them. The file is opened once, hashed, then
streamed from the same open file through `VerifiedReader`, which hashes again as it hands bytes to the HTTP client
and, at the end of the file, raises before the request's closing boundary when they differ.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import socketserver
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.auth.model import Credentials
from publisher.config.settings import build_settings
from publisher.config.target import Target
from publisher.dists.collect import load
from publisher.dists.digests import ChangedDuringUpload, VerifiedReader, read_digests
from publisher.index.upload import Session, upload_one
from publisher.net.retry import RetryPolicy
from publisher.report.console import TerminalConsole
from publisher.report.errors import UploadError
from tests.fakes import ServerThread
from tests.support.builders import Dists
from tests.support.runner import start_action
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024


def test_verified_reader_passes_the_same_bytes_through() -> None:
    data = os.urandom(300_000)
    file = io.BytesIO(data)
    reader = VerifiedReader(file, read_digests(file), len(data))
    reader.seek(0)
    assert b"".join(iter(lambda: reader.read(65536), b"")) == data
    reader.seek(0)  # a retry reads it again, hashing from the start
    assert b"".join(iter(lambda: reader.read(65536), b"")) == data


def test_verified_reader_refuses_bytes_changed_in_place() -> None:
    file = io.BytesIO(os.urandom(300_000))
    reader = VerifiedReader(file, read_digests(file), 300_000)
    reader.seek(0)
    reader.read(65536)
    file.seek(200_000)
    file.write(b"rewritten")
    file.seek(65536)

    def read_all() -> None:
        while reader.read(65536):
            pass

    with pytest.raises(ChangedDuringUpload, match="its sha256 is now"):
        read_all()


def test_verified_reader_refuses_a_file_that_grew() -> None:
    file = io.BytesIO(os.urandom(1000))
    reader = VerifiedReader(file, read_digests(file), 1000)
    file.seek(0, os.SEEK_END)
    file.write(b"more")
    reader.seek(0)
    with pytest.raises(ChangedDuringUpload, match="grew beyond the 1000 bytes"):
        reader.read(2000)


def big_wheel(source: Path, target: Path, extra: int) -> Path:
    """A copy of a real wheel with `extra` random (incompressible, stored) bytes in one more member."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item))
        new.writestr(zipfile.ZipInfo("demo_pkg/blob.bin"), os.urandom(extra))
    return target


def _session(client: httpx.Client, tmp_path: Path) -> Session:
    settings = build_settings({"publish-url": "https://upload.example/legacy/"}, source="option")
    target = Target("https://upload.example/legacy/", None)
    credentials = Credentials("alice", "pw", "password", "test", origin="https://upload.example")
    return Session(client, target, credentials, settings, RetryPolicy(retries=0), None)


def test_rewritten_while_streaming_fails_before_the_request_ends(built_dists: Dists, tmp_path: Path) -> None:
    """The registry (here a transport reading the body as a server would) sees the request cut short."""
    wheel = big_wheel(built_dists.wheel, tmp_path / built_dists.wheel.name, 512 * 1024)
    dist = load(wheel)
    received: list[bytes] = []

    class Registry(httpx.BaseTransport):
        """Reads the body as a server does, chunk by chunk as it arrives (MockTransport would read it all first)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            for number, chunk in enumerate(request.stream):  # type: ignore[union-attr]
                received.append(chunk)
                if number == 0:  # the first part went out: now something rewrites the file in place
                    with wheel.open("r+b") as file:
                        file.seek(-100_000, os.SEEK_END)
                        file.write(os.urandom(100))
            return httpx.Response(200)

    with httpx.Client(transport=Registry()) as client, pytest.raises(UploadError) as failure:
        upload_one(_session(client, tmp_path), dist, TerminalConsole())

    assert f"{dist.filename} changed during upload: its sha256 is now" in failure.value.message
    assert failure.value.exit_code == 1
    assert not b"".join(received).rstrip().endswith(b"--"), "the closing boundary went out"


def test_swapped_after_validation_is_not_uploaded(built_dists: Dists, tmp_path: Path) -> None:
    wheel = tmp_path / built_dists.wheel.name
    wheel.write_bytes(built_dists.wheel.read_bytes())
    dist = load(wheel)
    other = tmp_path / "other.whl"
    other.write_bytes(built_dists.wheel.read_bytes() + b"\0")
    other.replace(wheel)  # renamed over it: another inode at the same path
    sent: list[httpx.Request] = []

    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    with httpx.Client(transport=transport) as client, pytest.raises(UploadError, match="changed after it was"):
        upload_one(_session(client, tmp_path), dist, TerminalConsole())
    assert sent == []


class BodyPause(ServerThread):
    """A reverse proxy that reads an upload's first MiB, then waits for `resume` before reading the rest and
    forwarding the whole request upstream. A request cut short is never forwarded, as a registry stores nothing
    of an incomplete body."""

    def __init__(self, upstream: PypiServer) -> None:
        super().__init__()
        self.upstream = upstream
        self.paused, self.resume = threading.Event(), threading.Event()
        self.forwarded = 0
        self.incomplete = 0

    def start(self) -> BodyPause:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy.serve(self.connection, self.rfile)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return self._serve_in_background(server)  # type: ignore[return-value]

    def serve(self, connection: socket.socket, reader: io.BufferedIOBase) -> None:
        request_line = reader.readline().decode("latin-1").split()
        headers: list[tuple[str, str]] = []
        while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
        body = reader.read(min(length, MIB))
        if request_line[0] == "POST" and length > MIB:
            self.paused.set()
            self.resume.wait(30)
        body += reader.read(length - len(body))
        if len(body) < length:
            self.incomplete += 1
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream.port, timeout=30)
        upstream.request(request_line[0], request_line[1], body=body, headers=dict(headers))
        answer = upstream.getresponse()
        data = answer.read()
        self.forwarded += 1
        head = f"HTTP/1.1 {answer.status} {answer.reason}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        connection.sendall(head.encode() + data)


@pytest.fixture
def paused(pypiserver: PypiServer) -> Iterator[BodyPause]:
    proxy = BodyPause(pypiserver)
    with proxy:
        yield proxy


def test_end_to_end_a_wheel_rewritten_mid_upload_is_not_stored(
    tmp_path: Path, pypiserver: PypiServer, paused: BodyPause, built_dists: Dists
) -> None:
    """A 24 MiB wheel is rewritten (same size) while its upload waits half way: exit 1, nothing on pypiserver."""
    workspace = tmp_path / "ws"
    (workspace / "dist").mkdir(parents=True)
    wheel = big_wheel(built_dists.wheel, workspace / "dist" / built_dists.wheel.name, 24 * MIB)
    index = f'name = "private-repo"\nurl = "{pypiserver.simple_url}"\npublish-url = "{paused.url}/"\n'
    (workspace / "pyproject.toml").write_text(f"[[tool.uv.index]]\n{index}")
    env = {
        "UV_INDEX_PRIVATE_REPO_USERNAME": pypiserver.username,
        "UV_INDEX_PRIVATE_REPO_PASSWORD": pypiserver.password,
    }
    with start_action(workspace, {"index": "private-repo"}, env) as running:
        assert paused.paused.wait(30), running.wait().output
        with wheel.open("r+b") as file:  # the same size, other bytes: what a second build writing there does
            file.seek(-200_000, os.SEEK_END)
            file.write(os.urandom(100_000))
        paused.resume.set()
        run = running.wait(60)

    assert run.returncode == 1, run.output
    assert f"{wheel.name} changed during upload" in run.stdout
    assert pypiserver.files() == []
    assert paused.forwarded == 0
    assert "| failed |" in run.summary
