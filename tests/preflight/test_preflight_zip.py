"""ZIP parser confusions, built from a real wheel by rewriting its bytes: each must be refused in every mode but
`off` (they are index-neutral: two ZIP readers would install different files), in Warehouse's words. A wheel with
honest data descriptors passes `basic` (PyPI alone refuses descriptors) and is refused by PyPI's rules."""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from publisher.dists.collect import load
from publisher.preflight.gate import file_problems
from publisher.preflight.zipcheck import ZipFinding, zip_findings
from publisher.report.errors import DistError
from tests.support.builders import build_wheel
from tests.support.dist_edits import rewrite_wheel
from tests.support.zip_bytes import Parts, join, split

pytestmark = pytest.mark.timeout(120)

SAID = (
    "Invalid distribution file. ZIP archive not accepted: {}. See https://docs.pypi.org/archives for more information"
)


def _drop_central(parts: Parts) -> bytes:
    parts.centrals = [c for c in parts.centrals if not c[0].endswith("__init__.py")]
    return join(parts)


def _drop_local(parts: Parts) -> bytes:
    parts.locals = [c for c in parts.locals if not c[0].endswith("__init__.py")]
    return join(parts)


def _second_end_in_comment(parts: Parts) -> bytes:
    parts.comment = b"PK\x05\x06" + bytes(18)
    return join(parts)


def _utf8_flag_lie(parts: Parts) -> bytes:
    """A non-ASCII name: the central directory says UTF-8, the local header's flag says cp437."""
    name, record = parts.locals[0]
    patched = bytearray(record)
    flags = struct.unpack("<H", patched[6:8])[0]
    patched[6:8] = struct.pack("<H", flags & ~0x800)
    parts.locals[0] = (name, bytes(patched))
    return join(parts)


def _unicode_wheel(tmp: Path) -> bytes:
    source = build_wheel(tmp)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(tmp / "u.whl", "w", zipfile.ZIP_DEFLATED) as new:
        new.writestr("demo_pkg/données.txt", b"x")
        for info in old.infolist():
            new.writestr(info, old.read(info))
    return (tmp / "u.whl").read_bytes()


CONFUSIONS: dict[str, tuple[Callable[[Parts], bytes], str]] = {
    "data before the first entry": (lambda p: join(p, prefix=b"#!/bin/sh\nexit 0\n"), "Unknown record signature"),
    "data after the end record": (lambda p: join(p) + b"trailing bytes", "Trailing data"),
    "a second end record in the comment": (
        _second_end_in_comment,
        "Filename not in central directory",  # Python's zipfile takes the last end record: none of the entries
    ),
    "an entry only in the local headers": (_drop_central, "Filename not in central directory"),
    "an entry only in the central directory": (_drop_local, "Missing filename in local headers"),
}


@pytest.mark.parametrize("case", sorted(CONFUSIONS))
@pytest.mark.parametrize("rules", ["basic", "pypi"])
def test_parser_confusions_are_refused(case: str, rules: str, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    rewrite, reason = CONFUSIONS[case]
    wheel.write_bytes(rewrite(split(wheel.read_bytes())))
    with wheel.open("rb") as file:
        assert ZipFinding(reason, neutral=True) in zip_findings(file, wheel.stat().st_size)
    if case == "a second end record in the comment":  # Python's zipfile reads the second: an empty archive
        with pytest.raises(DistError, match=r"no \*\.dist-info/METADATA inside the wheel"):
            load(wheel)
        return
    dist = load(wheel)
    found = [p.rule for p in file_problems(dist, rules)]  # type: ignore[arg-type]
    assert SAID.format(reason) in found, found
    assert file_problems(dist, "off") == []


def test_an_untouched_split_and_join_is_clean(tmp_path: Path) -> None:
    """The rewriting itself breaks nothing: only each case's change is refused."""
    wheel = build_wheel(tmp_path)
    wheel.write_bytes(join(split(wheel.read_bytes())))
    assert file_problems(load(wheel), "pypi") == []


def test_an_encoding_flag_that_lies_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w")
    wheel.write_bytes(_utf8_flag_lie(split(_unicode_wheel(tmp_path))))
    reason = "Filename encoding flag differs between local header and central directory"
    assert SAID.format(reason) in [p.rule for p in file_problems(load(wheel), "basic")]


def test_a_utf8_flag_on_bytes_that_are_not_utf8_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w")
    parts = split(_unicode_wheel(tmp_path))
    for records in (parts.locals, parts.centrals):
        name, record = records[0]
        records[0] = (name, record.replace("données".encode(), "donn\xe9es".encode("latin-1") + b"\x00"))
    wheel.write_bytes(join(parts))
    with pytest.raises(DistError, match=r"not a valid wheel \(zip\) file: 'utf-8' codec can't decode"):
        load(wheel)  # Python's zipfile cannot read the name at all: refused before preflight, not a crash


class _Unseekable:
    """A write-only stream: zipfile then writes data descriptors after each entry's data."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass


def _with_descriptors(source: Path, *, zip64: bool = False) -> bytes:
    stream = _Unseekable()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as new:  # type: ignore[arg-type]
        for info in old.infolist():
            with new.open(info.filename, "w", force_zip64=zip64) as member:  # ZIP64: 8-byte descriptor sizes
                member.write(old.read(info))
    return bytes(stream.data)


@pytest.mark.parametrize("zip64", [False, True])
def test_honest_data_descriptors_pass_basic_and_pypi_refuses_them(zip64: bool, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    wheel.write_bytes(_with_descriptors(wheel, zip64=zip64))
    assert file_problems(load(wheel), "basic") == []
    assert SAID.format("ZIP contains a data descriptor") in [p.rule for p in file_problems(load(wheel), "pypi")]


def test_data_descriptors_that_disagree_are_refused(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    data = bytearray(_with_descriptors(wheel))
    at = data.index(b"PK\x07\x08")  # the first entry's descriptor: its CRC-32 changed
    data[at + 4 : at + 8] = b"\x00\x00\x00\x00"
    wheel.write_bytes(bytes(data))
    found = [p.rule for p in file_problems(load(wheel), "basic")]
    assert SAID.format("Data descriptor disagrees with the central directory") in found, found


def test_preflight_reads_headers_and_small_members_only(tmp_path: Path) -> None:
    """A wheel's member data is skipped over, never read: 8 MiB stored in it cost the walk and PyPI's content rules
    a few KiB of reads (what keeps a 200 MiB wheel's preflight in the milliseconds)."""
    wheel = rewrite_wheel(build_wheel(tmp_path), add={"demo_pkg/payload.bin": os.urandom(8 * 1024 * 1024)})
    dist = load(wheel)
    read: list[int] = []
    original = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        file = original(self, *args, **kwargs)
        raw_read = file.read

        def counted(size: int = -1) -> bytes:
            chunk: bytes = raw_read(size)
            read.append(len(chunk))
            return chunk

        file.read = counted
        return file

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", counting_open)
        assert file_problems(dist, "pypi") == []
    assert 0 < sum(read) < 256 * 1024, sum(read)
