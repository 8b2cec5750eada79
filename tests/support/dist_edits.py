"""Rewrite real built dists to break one rule at a time: members of a wheel or an sdist, METADATA/PKG-INFO headers,
the file name. Each helper rewrites the file in place (or renames it) and returns its path."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

Edit = Callable[[str], str]


def add_header(header: str) -> Edit:
    """Add `Name: value` to the metadata's headers."""

    def edit(metadata: str) -> str:
        head, sep, body = metadata.partition("\n\n")
        return head + "\n" + header + sep + body

    return edit


def set_header(name: str, value: str) -> Edit:
    """Replace every `Name:` header with one `Name: value`."""

    def edit(metadata: str) -> str:
        head, sep, body = metadata.partition("\n\n")
        lines = [line for line in head.split("\n") if not line.startswith(f"{name}:")]
        return "\n".join([*lines, f"{name}: {value}"]) + sep + body

    return edit


def rewrite_wheel(
    wheel: Path,
    *,
    metadata: Edit | None = None,
    drop: tuple[str, ...] = (),
    add: Mapping[str, bytes] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Rewrite the wheel: METADATA through `metadata`, members ending in one of `drop` left out, `add` appended."""
    with zipfile.ZipFile(wheel) as old:
        members = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(wheel, "w", compression) as new:
        for info, data in members:
            if info.filename.endswith(drop) and drop:
                continue
            if metadata is not None and info.filename.endswith(".dist-info/METADATA"):
                data = metadata(data.decode()).encode()
            info.compress_type = compression
            new.writestr(info, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return wheel


def rewrite_sdist(sdist: Path, *, metadata: Edit | None = None, add: Mapping[str, bytes] | None = None) -> Path:
    """Rewrite the sdist: the top-level PKG-INFO through `metadata`, `add` appended (paths as given)."""
    with tarfile.open(sdist, "r:gz") as old:
        members = [(m, old.extractfile(m).read() if m.isfile() else None) for m in old.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(sdist, "w:gz") as new:
        for member, data in members:
            if (
                data is not None
                and metadata is not None
                and member.name.count("/") == 1
                and member.name.endswith("/PKG-INFO")
            ):
                data = metadata(data.decode()).encode()
                member.size = len(data)
            new.addfile(member, None if data is None else io.BytesIO(data))
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    return sdist


def rename(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))
