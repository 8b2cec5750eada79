"""What is inside the archive: ZIP framing (zipcheck.py) for any index, and PyPI's content rules for wheels (WHEEL,
METADATA, RECORD, entry_points.txt, License-File, compression) and sdists (one top-level directory, PKG-INFO,
License-File, no sparse members), from warehouse/forklift/legacy.py and warehouse/utils/wheel.py.

Each file is opened once more: for a wheel the central directory, the headers and a few small members are read
(the file data is skipped over); an sdist is decompressed once more to list its members.
"""

from __future__ import annotations

import configparser
import csv
import os
import re
import zipfile
from typing import IO

from publisher.dists.collect import Dist
from publisher.preflight.problems import ARCHIVES, LEGACY, WHEEL, ZIPFILES, Problem
from publisher.preflight.zipcheck import zip_findings

RATIO_MIN_SIZE = 64 * 1024 * 1024
RATIO_LIMIT = 50
_MAX_SMALL = 16 * 1024 * 1024  # RECORD, entry_points.txt: larger is not plausible
_ENTRY_POINT_NAME = re.compile(r"[\w.-]+")
_REBUILD = "rebuild the file with a standard build backend (uv build, python -m build)"


def _invalid(file: str, reason: str, fix: str = _REBUILD, source: str = LEGACY) -> Problem:
    return Problem(file, f"Invalid distribution file. {reason}", fix, source)


def _zip_problems(dist: Dist, file: IO[bytes], pypi: bool) -> list[Problem]:
    return [
        _invalid(
            dist.filename,
            f"ZIP archive not accepted: {finding.reason}{ARCHIVES}",
            "rebuild the wheel with a standard build backend; do not edit or append to a built wheel",
            ZIPFILES,
        )
        for finding in zip_findings(file, dist.size)
        if finding.neutral or pypi
    ]


def _small(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    return archive.read(info) if info.file_size <= _MAX_SMALL else b""


def _entry_points_valid(data: bytes) -> bool:
    try:
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(data.decode())
    except (UnicodeDecodeError, configparser.Error):
        return False
    return all(
        _ENTRY_POINT_NAME.fullmatch(name) is not None
        for section in ("console_scripts", "gui_scripts")
        if parser.has_section(section)
        for name in parser[section]
    )


def _record_present(archive: zipfile.ZipFile, name: str) -> bool:
    data = _small(archive, name)
    if data is None:
        return False
    try:
        list(csv.reader(data.decode().splitlines()))
    except (UnicodeDecodeError, csv.Error):
        return False
    return True


def _wheel_contents(dist: Dist, archive: zipfile.ZipFile) -> list[Problem]:
    file = dist.filename
    infos = archive.infolist()
    problems: list[Problem] = []
    if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
        problems.append(_invalid(file, "File does not use a supported compression type"))
    unpacked = sum(i.file_size for i in infos)
    if unpacked > RATIO_MIN_SIZE and unpacked / max(dist.size, 1) > RATIO_LIMIT:
        problems.append(_invalid(file, f"File exceeds compression ratio of {RATIO_LIMIT}"))
    name, version, _ = file.split("-", 2)
    info_dir = f"{name}-{version}.dist-info"
    names = set(archive.namelist())
    if f"{info_dir}/WHEEL" not in names:
        problems.append(_invalid(file, f"WHEEL not found at {info_dir}/WHEEL"))
    for license_file in dist.metadata.get("license_files") or []:
        where = f"{info_dir}/licenses/{license_file}"
        if where not in names:
            problems.append(
                Problem(
                    file,
                    f"License-File {license_file} does not exist in distribution file {file} at {where}",
                    "list only files that exist in `license-files`, and build with a backend that supports "
                    "PEP 639 (it copies them into .dist-info/licenses/)",
                    LEGACY,
                )
            )
    if not _record_present(archive, f"{info_dir}/RECORD"):
        problems.append(
            Problem(
                file, f"Wheel '{file}' does not contain the required RECORD file: {info_dir}/RECORD", _REBUILD, LEGACY
            )
        )
    entry_points = _small(archive, f"{info_dir}/entry_points.txt")
    if entry_points is not None and not _entry_points_valid(entry_points):
        problems.append(
            Problem(
                file,
                f"Wheel '{file}' has invalid entry points defined in the entry_points.txt file",
                "name console and GUI scripts with letters, digits, `.`, `_` and `-` only ([project.scripts])",
                WHEEL,
            )
        )
    if f"{info_dir}/METADATA" not in names:
        problems.append(
            Problem(
                file,
                f"Wheel '{file}' does not contain the required METADATA file: {info_dir}/METADATA",
                _REBUILD,
                LEGACY,
            )
        )
    return problems


def _wheel(dist: Dist, file: IO[bytes], pypi: bool) -> list[Problem]:
    problems = _zip_problems(dist, file, pypi)
    if pypi:
        try:
            with zipfile.ZipFile(file) as archive:
                problems += _wheel_contents(dist, archive)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
            pass  # the ZIP findings above say why
    return problems


def _sdist(dist: Dist, file: IO[bytes]) -> list[Problem]:
    import tarfile

    with tarfile.open(fileobj=file, mode="r:gz") as archive:
        members = archive.getmembers()
    problems: list[Problem] = []
    file_name = dist.filename
    if any(m.issparse() for m in members):
        problems.append(
            _invalid(file_name, f"tar archive not accepted: Sparse members are not allowed{ARCHIVES}", _REBUILD)
        )
    names = [m.name for m in members]
    top = os.path.commonpath(names) if names else ""
    if top in ("", ".", "/"):
        problems.append(_invalid(file_name, "Incorrect number of top-level directories in sdist"))
        return problems
    present = set(names)
    if f"{top}/PKG-INFO" not in present:
        problems.append(_invalid(file_name, f"PKG-INFO not found at {top}/PKG-INFO"))
    for license_file in dist.metadata.get("license_files") or []:
        where = f"{top}/{license_file}"
        if where not in present:
            problems.append(
                Problem(
                    file_name,
                    f"License-File {license_file} does not exist in distribution file {file_name} at {where}",
                    "list only files that exist in `license-files` and that the sdist includes",
                    LEGACY,
                )
            )
    return problems


def archive_problems(dist: Dist, pypi: bool) -> list[Problem]:
    """The archive's problems: ZIP confusion always (wheels), PyPI's content rules when `pypi`."""
    with dist.path.open("rb") as file:
        if dist.filetype == "bdist_wheel":
            return _wheel(dist, file, pypi)
        return _sdist(dist, file) if pypi else []
