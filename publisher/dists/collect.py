"""Find the distributions to upload and validate every one of them before the first byte is sent.

A release is all-or-nothing: one bad file (corrupt archive, missing METADATA/PKG-INFO, a name or version
inside that disagrees with the file name) stops the run with exit 2 and nothing is uploaded.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Literal

from packaging.metadata import RawMetadata, parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from publisher.config import hints
from publisher.config.settings import Settings
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError, DistError, every_file

if TYPE_CHECKING:
    import tarfile

FileType = Literal["bdist_wheel", "sdist"]
ATTESTATION_SUFFIX = ".publish.attestation"
MAX_ATTESTATION = 256 * 1024  # a real one is 5-10 KB: a certificate, a transparency-log entry and a signature
_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
_MAX_METADATA = 16 * 1024 * 1024


@dataclass(frozen=True)
class Dist:
    """One validated distribution: its file, what the upload form needs, and where it came from."""

    path: Path
    filetype: FileType
    name: str
    version: str
    pyversion: str
    metadata: RawMetadata
    size: int
    attestations: str | None = None  # the form's JSON array, from `<file>.publish.attestation` when present
    # (device, inode, size, mtime in ns) when validated: the upload checks it is still the same file
    identity: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def filename(self) -> str:
        return self.path.name


def _shown(path: Path | str) -> str:
    """A path as messages show it: names in a packages directory come from outside (escaped, not redacted)."""
    return safe.exact(path)


def _expand(settings: Settings) -> list[Path]:
    """Paths named on the command line (globs allowed; a directory named as such means the files in it, as
    `packages-dir` does), or everything in the packages directory. A directory a glob matches is not expanded:
    `dist/**` matches `dist/` and its files both."""
    if settings.files:
        paths: list[Path] = []
        for pattern in settings.files:
            full = str(settings.resolve(Path(pattern)))
            matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
            if not matches or (not glob.has_magic(full) and not Path(full).exists()):
                raise ConfigError(
                    f"No file matches {safe.code(pattern, name=True)}.",
                    hint="Build the distributions first (`uv build` or `python -m build`) or fix the path.",
                )
            if not glob.has_magic(full) and Path(full).is_dir():
                paths += _directory_entries(Path(full))
            else:
                paths += [Path(m) for m in matches]
        return paths
    directory = settings.resolve(settings.packages_dir)
    if not directory.is_dir():
        raise ConfigError(
            f"Packages directory {_shown(directory)} does not exist.",
            hint=hints.no_packages_dir(settings),
        )
    return _directory_entries(directory)


def _directory_entries(directory: Path) -> list[Path]:
    # Not only is_file(): a broken symlink or a FIFO named like a dist must fail the run, not vanish from it.
    return sorted(p for p in directory.iterdir() if not p.is_dir())


def select(paths: list[Path], console: Console) -> list[Path]:
    """Keep wheels and .tar.gz sdists; ignore hidden files, warn about others; refuse duplicates and .zip sdists."""
    kept: list[Path] = []
    seen: dict[str, Path] = {}
    for path in paths:
        name = path.name
        if name.endswith(ATTESTATION_SUFFIX) or path.is_dir():
            continue
        if name.endswith(_DIST_SUFFIXES) and not name.startswith("."):
            refuse_unprintable_name(path)
        if name.startswith("."):  # uv build writes dist/.gitignore: tooling files, not a mistake worth a warning
            console.debug(f"Ignoring {_shown(path)}: a hidden file.")
            continue
        if name.endswith(".zip"):
            raise DistError(
                f"{_shown(path)}: .zip source distributions are no longer accepted by PyPI-compatible indexes "
                "(PEP 625).",
                hint="Rebuild the sdist as .tar.gz (`uv build --sdist` or `python -m build --sdist`).",
            )
        if not (name.endswith(".whl") or name.endswith(".tar.gz")):
            console.warning(f"Skipping {_shown(path)}: not a wheel (.whl) or source distribution (.tar.gz).")
            continue
        if name in seen:
            raise DistError(
                f"{safe.exact(name)} is listed twice ({_shown(seen[name])} and {_shown(path)}).",
                hint="Name each distribution once; an index keeps one file per file name.",
            )
        seen[name] = path
        kept.append(path)
    return kept


def _read_wheel_metadata(path: Path, file: IO[bytes], name: str) -> bytes:
    """METADATA from the zip's central directory and that one member: the rest of the wheel is not read."""
    try:
        with zipfile.ZipFile(file) as archive:
            candidates = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if not candidates:
                raise DistError(
                    f"{_shown(path)}: no *.dist-info/METADATA inside the wheel.",
                    hint="Rebuild the wheel with a standard build backend.",
                )
            wanted = [c for c in candidates if canonicalize_name(c.split("-")[0]) == canonicalize_name(name)]
            info = archive.getinfo((wanted or candidates)[0])
            if info.file_size > _MAX_METADATA:
                raise DistError(f"{_shown(path)}: METADATA is implausibly large ({info.file_size} bytes).")
            return archive.read(info)
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:  # a name flagged UTF-8 that is not
        raise DistError(
            f"{_shown(path)}: not a valid wheel (zip) file: {safe.exact(exc, 300)}.", hint="Rebuild the wheel."
        ) from None


def _is_top_pkg_info(member: tarfile.TarInfo) -> bool:
    parts = PurePosixPath(member.name).parts
    return member.isfile() and len(parts) == 2 and parts[1] == "PKG-INFO"


def _read_sdist_metadata(path: Path, file: IO[bytes]) -> bytes:
    """The first top-level PKG-INFO, read as the archive goes by: one decompression pass, which also checks the
    whole archive (a truncated or corrupt sdist fails here). Reading it afterwards would rewind the gzip stream and
    decompress again up to PKG-INFO, which some backends (hatchling) write last."""
    import tarfile  # sdists only

    try:
        with tarfile.open(fileobj=file, mode="r:gz") as archive:
            pkg_info: tarfile.TarInfo | None = None
            data = b""
            for member in archive:
                if pkg_info is None and _is_top_pkg_info(member):
                    pkg_info = member
                    if member.size <= _MAX_METADATA:
                        extracted = archive.extractfile(member)
                        assert extracted is not None
                        data = extracted.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DistError(
            f"{_shown(path)}: not a valid .tar.gz sdist: {safe.exact(exc, 300)}.", hint="Rebuild the sdist."
        ) from None
    if pkg_info is None:
        raise DistError(
            f"{_shown(path)}: no PKG-INFO at the top of the sdist.",
            hint="Build the sdist with `uv build --sdist` or `python -m build --sdist`.",
        )
    if pkg_info.size > _MAX_METADATA:
        raise DistError(f"{_shown(path)}: PKG-INFO is implausibly large ({pkg_info.size} bytes).")
    return data


def _normalized_filename_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def load(path: Path) -> Dist:
    """Parse the file name, read the metadata inside and check the two agree."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # opening a FIFO would block forever
            raise DistError(
                f"{_shown(path)}: not a regular file.",
                hint="Point at the built distribution itself, not a pipe or device.",
            )
        file = path.open("rb")  # opened once: the readability check, then the archive read
    except OSError as exc:
        broken = path.is_symlink() and not path.exists()
        raise DistError(
            f"{_shown(path)}: cannot be read: {'broken symbolic link' if broken else safe.inline(exc.strerror)}.",
            hint="Check that the file exists and that the user running the upload may read it (`ls -l`).",
        ) from None
    with file:
        opened = os.fstat(file.fileno())  # the file read, whatever happened at the path since the stat above
        dist = _load(path, file, opened.st_size)
    return replace(dist, identity=file_identity(opened))


def file_identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one file from another one put at the same path, or the same one rewritten."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _load(path: Path, file: IO[bytes], size: int) -> Dist:
    filename = path.name
    if size == 0:
        raise DistError(f"{_shown(path)}: the file is empty (0 bytes).", hint="Rebuild the distribution.")

    filetype: FileType
    try:
        if filename.endswith(".whl"):
            filetype = "bdist_wheel"
            file_name, file_version, _, _ = parse_wheel_filename(filename)
            name_part = filename.split("-")[0]
            pyversion = filename[: -len(".whl")].split("-")[-3]
        else:
            filetype = "sdist"
            file_name, file_version = parse_sdist_filename(filename)
            name_part = filename[: -len(".tar.gz")].rpartition("-")[0]
            pyversion = "source"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise DistError(
            f"{_shown(path)}: invalid distribution file name: {safe.exact(exc, 300)}",
            hint="Keep the file name the build backend produced ({name}-{version}[-tags].whl or .tar.gz).",
        ) from None
    expected = _normalized_filename_name(file_name)
    if name_part != expected and not (filetype == "bdist_wheel" and name_part.lower() == expected):
        raise DistError(
            f"{_shown(path)}: the project name in the file name is not normalised (expected `{expected}`).",
            hint="Rebuild with a current build backend (hatchling, setuptools>=69.3, uv build), which writes "
            "normalised file names as PEP 625 and the wheel spec require.",
        )

    raw_bytes = (
        _read_wheel_metadata(path, file, str(file_name))
        if filetype == "bdist_wheel"
        else _read_sdist_metadata(path, file)
    )
    raw, _unparsed = parse_email(raw_bytes)
    meta_name, meta_version = raw.get("name"), raw.get("version")
    if not meta_name or not meta_version or not raw.get("metadata_version"):
        raise DistError(
            f"{_shown(path)}: metadata lacks Metadata-Version, Name or Version.",
            hint="Rebuild the distribution with a standard build backend.",
        )
    if canonicalize_name(meta_name) != file_name:
        raise DistError(
            f"{_shown(path)}: metadata says Name {safe.code(meta_name, 200)}, the file name says `{file_name}`.",
            hint="A renamed file cannot be uploaded; rebuild it instead.",
        )
    try:
        same_version = Version(meta_version) == file_version
    except InvalidVersion:
        same_version = False
    if not same_version:
        raise DistError(
            f"{_shown(path)}: metadata says Version {safe.code(meta_version, 200)}, "
            f"the file name says `{file_version}`.",
            hint="A renamed file cannot be uploaded; rebuild it instead.",
        )
    return Dist(
        path=path,
        filetype=filetype,
        name=meta_name,
        version=meta_version,
        pyversion=pyversion,
        metadata=raw,
        size=size,
        attestations=_attestations(path.with_name(filename + ATTESTATION_SUFFIX)),
    )


def refuse_unprintable_name(path: Path) -> None:
    """A dist's name goes into the upload form, the log, the summary and the `published` output: one with a control
    character (packaging accepts a newline in a wheel's platform tag) or bytes that are not UTF-8 is refused before
    any request, rather than escaped into a name the index would store differently."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DistError(
            f"{_shown(path)}: the file name is not valid UTF-8.",
            hint="Rename the file to the name its build backend gave it, or rebuild it.",
        ) from None
    if safe.has_unprintable(name):
        raise DistError(
            f"{_shown(path)}: the file name contains control characters (shown escaped here).",
            hint="A distribution's file name is {name}-{version}-{tags}.whl or {name}-{version}.tar.gz, printable "
            "only. Rebuild it, or rename it to what its build backend produced.",
        )


def _attestations(path: Path) -> str | None:
    """The attestation beside a dist as the upload form's JSON array, read while validating: a broken one must
    stop the run before the first upload (exit 2), not half way through it.

    It must be a regular file in the dist's own directory (a symbolic link may not lead out of it), at most
    MAX_ATTESTATION bytes, and shaped as PEP 740 says: what we send on the user's behalf is read from the
    packages directory only, never from wherever a link points.
    """
    try:
        info = path.lstat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENAMETOOLONG):  # none (a name near the limit has no room for one)
            return None
        raise _attestation_error(path, f"cannot be read: {safe.inline(exc.strerror)}") from None
    if stat.S_ISLNK(info.st_mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _attestation_error(path, "is a broken symbolic link") from None
        if not target.is_relative_to(path.parent.resolve()):
            raise _attestation_error(path, "is a symbolic link that leads out of the packages directory")
        info = target.stat()
    if not stat.S_ISREG(info.st_mode):
        raise _attestation_error(path, "is not a regular file")
    if info.st_size > MAX_ATTESTATION:
        raise _attestation_error(path, f"is {info.st_size} bytes; an attestation is at most {MAX_ATTESTATION}")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ATTESTATION + 1)
    except OSError as exc:
        raise _attestation_error(path, f"cannot be read: {safe.inline(exc.strerror)}") from None
    if len(data) > MAX_ATTESTATION:
        raise _attestation_error(path, f"is larger than {MAX_ATTESTATION} bytes")
    from pydantic import ValidationError

    from publisher.dists.pep740 import Attestation  # its models are built only when there is one to read

    try:
        Attestation.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise _attestation_error(path, f"is not a PEP 740 attestation ({safe.inline(problems, 300)})") from None
    return _as_form_array(data)


def _as_form_array(data: bytes) -> str:
    """The file's own JSON object (validated above) inside the form's array, compacted."""
    import json

    return json.dumps([json.loads(data)], separators=(",", ":"))


def _attestation_error(path: Path, problem: str) -> DistError:
    return DistError(
        f"{_shown(path)} {problem}.",
        hint="Regenerate it (pypa/gh-action-pypi-publish or `pypi-attestations sign`), or delete it to upload "
        "without an attestation.",
    )


def collect(settings: Settings, console: Console) -> list[Dist]:
    """Every dist to upload, wheels first (as uv does), all validated before anything is sent."""
    paths = select(_expand(settings), console)
    if not paths:
        where = ", ".join(settings.files) if settings.files else str(settings.resolve(settings.packages_dir))
        raise ConfigError(
            f"No distributions (.whl or .tar.gz) found in {_shown(where)}.", hint=hints.no_dists(settings)
        )
    dists = every_file(paths, load)  # every bad file named at once
    return sorted(dists, key=lambda d: (d.filetype != "bdist_wheel", d.filename))
