"""Concurrent uploads against a real pypiserver: everything lands, order and output stay deterministic, wheels
go before sdists, and one failure stops the rest cleanly."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from publisher import run
from publisher.config.settings import Settings, build_settings
from publisher.report import safe
from publisher.report.console import BufferedConsole, TerminalConsole, ThreadConsole
from publisher.report.errors import UploadError
from publisher.report.results import Report, outputs
from publisher.run import main, publish
from tests.support.servers import PypiServer

pytestmark = pytest.mark.timeout(120)


def _settings(server: PypiServer, files: list[Path], parallel: int) -> Settings:
    return build_settings(
        {
            "publish_url": server.upload_url,
            "username": server.username,
            "password": server.password,
            "files": tuple(str(f) for f in files),
            "parallel": parallel,
            "trusted_publishing": "never",
        },
        source="option",
    )


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: parallel test\n\n".encode()


def build_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal valid wheel (METADATA, WHEEL, RECORD); tiny, so many can be built per test."""
    stem = name.replace("-", "_")
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    info = f"{stem}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}/__init__.py", "")
        archive.writestr(f"{info}/METADATA", _metadata(name, version))
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def build_sdist(directory: Path, name: str, version: str) -> Path:
    """A minimal valid sdist: PKG-INFO at the top of a .tar.gz."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{stem}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = _metadata(name, version)
        member = tarfile.TarInfo(f"{stem}/PKG-INFO")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return path


def _dists(directory: Path, wheels: int, sdists: int = 1) -> list[Path]:
    built = [build_wheel(directory, f"par-pkg-{n:02d}", "1.0") for n in range(wheels)]
    built += [build_sdist(directory, f"par-pkg-{n:02d}", "1.0") for n in range(sdists)]
    return built


def _expected_order(files: list[Path]) -> list[str]:
    """Wheels then sdists, each sorted by file name: what collect() produces."""
    return sorted((f.name for f in files), key=lambda name: (not name.endswith(".whl"), name))


def _groups(out: str) -> list[list[str]]:
    """The terminal output cut into per-dist groups (each starts with its `Uploading` title)."""
    groups: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("Uploading "):
            groups.append([line])
        elif groups and line.startswith("  ") and len(groups[-1]) < 4:
            groups[-1].append(line)
    return groups


@pytest.mark.parametrize("parallel", [4, 1])
def test_every_dist_lands_and_the_report_keeps_dist_order(
    pypiserver: PypiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], parallel: int
) -> None:
    files = _dists(tmp_path, wheels=9, sdists=1)
    report = Report(publish_url="")

    publish(_settings(pypiserver, files, parallel), {}, TerminalConsole(), report)

    expected = _expected_order(files)
    assert sorted(pypiserver.files()) == sorted(expected)
    assert [r.filename for r in report.results] == expected
    assert {r.status for r in report.results} == {"published"}
    assert json.loads(outputs(report)["published"]) == expected
    groups = _groups(capsys.readouterr().out)
    assert [g[0].split()[1] for g in groups] == expected
    for group in groups:  # a group's own lines follow its title, never another upload's
        assert group[1].strip().startswith("sha256"), group
        assert group[-1].strip() == "published", group


def test_sdists_are_sent_only_after_every_wheel(
    pypiserver: PypiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _dists(tmp_path, wheels=8, sdists=2)
    spans: dict[str, tuple[float, float]] = {}
    real_upload_one = run.upload_one

    def timed(*args: object) -> object:
        start = time.monotonic()
        result = real_upload_one(*args)  # type: ignore[arg-type]
        spans[args[1].filename] = (start, time.monotonic())  # type: ignore[attr-defined]
        return result

    monkeypatch.setattr(run, "upload_one", timed)

    publish(_settings(pypiserver, files, 4), {}, TerminalConsole(), Report(publish_url=""))

    assert sorted(pypiserver.files()) == sorted(f.name for f in files)
    last_wheel_done = max(end for name, (_, end) in spans.items() if name.endswith(".whl"))
    first_sdist_start = min(start for name, (start, _) in spans.items() if name.endswith(".tar.gz"))
    assert last_wheel_done <= first_sdist_start
    wheel_spans = sorted(span for name, span in spans.items() if name.endswith(".whl"))
    assert any(b[0] < a[1] for a, b in itertools.pairwise(wheel_spans))  # wheels overlapped


def test_a_failed_wheel_stops_the_run_and_the_rest_is_reported(
    pypiserver: PypiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _dists(tmp_path, wheels=10, sdists=1)
    taken = sorted(f for f in files if f.name.endswith(".whl"))[2]
    publish(_settings(pypiserver, [taken], 1), {}, TerminalConsole(), Report(publish_url=""))  # now a 409 conflict
    capsys.readouterr()
    report = Report(publish_url="")

    with pytest.raises(UploadError, match=taken.name):
        publish(_settings(pypiserver, files, 4), {}, TerminalConsole(), report)

    expected = _expected_order(files)
    assert [r.filename for r in report.results] == expected
    status = {r.filename: r.status for r in report.results}
    assert status[taken.name] == "failed"
    assert status[expected[-1]] == "not uploaded"  # the sdist
    assert not any(name.endswith(".tar.gz") for name in pypiserver.files())
    assert set(status.values()) <= {"published", "failed", "not uploaded"}
    on_server = set(pypiserver.files())
    for name, result in status.items():
        assert (name in on_server) == (result == "published" or name == taken.name), name


def test_main_reports_the_failure_with_exit_status_1(
    pypiserver: PypiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _dists(tmp_path, wheels=6, sdists=1)
    first = sorted(f for f in files if f.name.endswith(".whl"))[0]
    publish(_settings(pypiserver, [first], 1), {}, TerminalConsole(), Report(publish_url=""))
    capsys.readouterr()

    code = main(_settings(pypiserver, files, 4), {}, TerminalConsole())

    captured = capsys.readouterr()
    assert code == 1
    assert f"failed       {first.name}" in captured.out
    assert "not uploaded" in captured.out
    assert pypiserver.password not in captured.out + captured.err


def test_buffered_console_masks_at_once_and_replays_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    real = TerminalConsole()
    buffer = BufferedConsole(real, threading.Lock())
    with buffer.group("Uploading x"):
        buffer.info("first line")
        buffer.mask("s3cr3t-value")
        buffer.warning("careful", title="t")
    assert capsys.readouterr().out == ""  # nothing printed before replay...
    assert safe.inline("a registry said s3cr3t-value") == "a registry said ***"  # ...but the mask is registered

    buffer.replay()

    captured = capsys.readouterr()
    assert captured.out == "Uploading x\nfirst line\n"
    assert captured.err == "warning: t: careful\n"


def test_thread_console_routes_each_thread_to_its_own_buffer(capsys: pytest.CaptureFixture[str]) -> None:
    real = TerminalConsole()
    router = ThreadConsole(real)
    buffer = BufferedConsole(real, threading.Lock())

    def worker() -> None:
        with router.bind(buffer):
            router.info("from the worker")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    router.info("from the main thread")
    assert capsys.readouterr().out == "from the main thread\n"
    buffer.replay()
    assert capsys.readouterr().out == "from the worker\n"
