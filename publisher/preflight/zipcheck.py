"""ZIP framing read the way a streaming reader reads it, compared with the central directory a seeking reader trusts.

Two ZIP readers can see two different archives in the same bytes: one walks the local headers from the start (as
installers that stream do), the other jumps to the end record and trusts the central directory (Python's zipfile,
pip). A wheel whose two views differ can install other code than the one inspected, so PyPI refuses it. The
index-neutral findings (`neutral=True`) are those parser confusions themselves and run in `basic` too; the others
are stricter framing rules of PyPI's (no data descriptors, no central-directory comments, ...).

The rules follow warehouse/utils/zipfiles.py (the commit named in publisher/preflight/__init__.py); the walk is
our own: it reads headers only and seeks over the file data, so a 200 MiB wheel costs a few reads per entry.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from typing import IO

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
END = b"PK\x05\x06"
END64 = b"PK\x06\x06"
LOCATOR64 = b"PK\x06\x07"
DESCRIPTOR = b"PK\x07\x08"
_UNPRINTABLE = frozenset(range(0x20)) | {0x7F}
_UTF8_FLAG = 0x800
_DESCRIPTOR_FLAG = 0x08
_FULL = 0xFFFFFFFF


@dataclass(frozen=True)
class ZipFinding:
    """One framing problem, in Warehouse's words; `neutral`: a parser confusion any index should refuse."""

    reason: str
    neutral: bool


class _Stop(Exception):
    """Framing that cannot be followed further: the walk ends with this finding."""

    def __init__(self, reason: str, neutral: bool = True) -> None:
        super().__init__(reason)
        self.finding = ZipFinding(reason, neutral)


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The name's bytes as stored: zipfile decoded them as UTF-8 when the flag says so, else as cp437."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_FLAG else "cp437")


def _read(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise _Stop("Malformed zip file")
    return data


def _extras(extra: bytes) -> dict[int, bytes]:
    """Extra fields by id; a torn field list is malformed, a duplicated ZIP64 or Unicode-path field is PyPI's no."""
    found: dict[int, bytes] = {}
    while extra:
        if len(extra) < 4:
            raise _Stop("Malformed zip file")
        kind, size = struct.unpack("<HH", extra[:4])
        if size + 4 > len(extra):
            raise _Stop("Malformed zip file")
        if kind in found and kind in (0x0001, 0x7075):
            raise _Stop("Invalid duplicate extra in local file", neutral=False)
        found[kind] = extra[4 : 4 + size]
        extra = extra[4 + size :]
    return found


class _Walk:
    """One pass from offset 0 to the end of the file, collecting findings; stops at framing it cannot follow."""

    def __init__(self, file: IO[bytes], central: list[zipfile.ZipInfo], size: int) -> None:
        self.file, self.size = file, size
        self.central = {_raw_name(info): info for info in central}
        self.findings: list[ZipFinding] = []
        self.local: dict[bytes, int] = {}  # name -> offset of its local header
        self.seen_central: set[bytes] = set()
        self.cd_start: int | None = None
        self.cd_records = 0
        self.cd_size = 0
        self.end64: tuple[int, int, int] | None = None  # records, size, offset

    def note(self, reason: str, neutral: bool = True) -> None:
        if ZipFinding(reason, neutral) not in self.findings:
            self.findings.append(ZipFinding(reason, neutral))

    def run(self) -> list[ZipFinding]:
        try:
            self.file.seek(0)
            while True:
                offset = self.file.tell()
                signature = _read(self.file, 4)
                if signature == LOCAL:
                    self._local(offset)
                elif signature == CENTRAL:
                    self._central(offset)
                elif signature == END64:
                    self._end64()
                elif signature == LOCATOR64:
                    _read(self.file, 16)
                elif signature == END:
                    self._end(offset)
                    break
                else:  # data before the first entry, between entries, or before the end record
                    raise _Stop("Unknown record signature")
        except _Stop as stop:
            self.findings.append(stop.finding)
        return self.findings

    def _local(self, offset: int) -> None:
        if self.cd_start is not None:
            raise _Stop("Unknown record signature")  # an entry after the central directory began
        header = _read(self.file, 26)
        flags, method, crc, csize, usize, name_len, extra_len = struct.unpack("<xxHHxxxxLLLHH", header)
        name = _read(self.file, name_len)
        extras = _extras(_read(self.file, extra_len))
        self._name_rules(name, flags, extras)
        if name in self.local:
            raise _Stop("Duplicate filename in local headers")
        self.local[name] = offset
        info = self.central.get(name)
        if info is None:
            raise _Stop("Filename not in central directory")
        if (flags ^ info.flag_bits) & _UTF8_FLAG:
            self.note("Filename encoding flag differs between local header and central directory")
        if info.header_offset != offset:
            self.note("Mismatched local header offset")
        if 0x0001 in extras:
            csize, usize = self._zip64_sizes(extras[0x0001], method, csize, usize)
        if flags & _DESCRIPTOR_FLAG:
            self.note("ZIP contains a data descriptor", neutral=False)
            self._skip(info.compress_size)
            self._descriptor(info, zip64=0x0001 in extras)
            return
        if csize != info.compress_size:
            self.note("Mis-matched data size")
        if usize != info.file_size:
            self.note("Mis-matched file size")
        if crc != info.CRC:
            self.note("Mis-matched CRC-32")
        self._skip(csize)

    def _name_rules(self, name: bytes, flags: int, extras: dict[int, bytes]) -> None:
        if any(ch in _UNPRINTABLE for ch in name):
            self.note("Invalid character in filename", neutral=False)
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            # The flag says UTF-8 and the bytes are not: readers fall back each their own way.
            self.note("Filename not unicode", neutral=bool(flags & _UTF8_FLAG))
        unicode_path = extras.get(0x7075)
        if unicode_path is not None:
            shown = unicode_path[5:]
            try:
                decoded = shown.decode("utf-8")
            except UnicodeDecodeError:
                self.note("Filename not valid UTF-8")
                return
            if any(ch in _UNPRINTABLE for ch in shown):
                self.note("Invalid character in filename", neutral=False)
            if decoded.encode() != name:  # readers that honour the extra see another name than those that do not
                self.note("Unicode path extra names another file than the header")

    def _zip64_sizes(self, data: bytes, method: int, csize: int, usize: int) -> tuple[int, int]:
        if len(data) not in (0, 8, 16, 24, 28):
            raise _Stop("Malformed zip file", neutral=False)
        if len(data) == 0:
            if _FULL in (csize, usize):
                raise _Stop("Malformed zip file")
            return csize, usize
        if len(data) == 8:
            if method != zipfile.ZIP_STORED:
                raise _Stop("Malformed zip file", neutral=False)
            (full,) = struct.unpack("<Q", data)
            return full, full if usize == _FULL else usize
        full_usize, full_csize = struct.unpack("<QQ", data[:16])
        return full_csize, full_usize if usize == _FULL else usize

    def _skip(self, size: int) -> None:
        if self.file.tell() + size > self.size:
            raise _Stop("Malformed zip file")
        self.file.seek(size, os.SEEK_CUR)

    def _descriptor(self, info: zipfile.ZipInfo, *, zip64: bool) -> None:
        """The data descriptor after the data must say what the central directory says (its sizes are 8 bytes each
        when the local header has a ZIP64 extra, APPNOTE 4.3.9.2)."""
        wide = zip64 or info.compress_size >= _FULL or info.file_size >= _FULL
        sizes = 16 if wide else 8
        first = _read(self.file, 4)  # the optional signature, or the CRC-32 already
        fields = _read(self.file, 4 + sizes) if first == DESCRIPTOR else first + _read(self.file, sizes)
        crc, csize, usize = struct.unpack("<LQQ" if wide else "<LLL", fields)
        if (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size):
            self.note("Data descriptor disagrees with the central directory")

    def _central(self, offset: int) -> None:
        if self.cd_start is None:
            self.cd_start = offset
        self.cd_records += 1
        header = _read(self.file, 42)
        name_len, extra_len, comment_len = struct.unpack("<24xHHH12x", header)
        name = _read(self.file, name_len)
        _read(self.file, extra_len)
        if comment_len:
            self.note("Comment in central directory", neutral=False)
            _read(self.file, comment_len)
        self.cd_size += 46 + name_len + extra_len + comment_len
        if any(ch in _UNPRINTABLE for ch in name):
            self.note("Invalid character in filename", neutral=False)
        if name in self.seen_central:
            raise _Stop("Duplicate filename in central directory")
        if name not in self.local:
            raise _Stop("Missing filename in local headers")
        self.seen_central.add(name)

    def _end64(self) -> None:
        size, records_here, records, cd_size, cd_offset = struct.unpack("<Q12xQQQQ", _read(self.file, 52))
        if records_here != records:
            raise _Stop("Malformed zip file")
        if size != 44:
            raise _Stop("ZIP64 extensible data not allowed", neutral=False)
        self.end64 = (records, cd_size, cd_offset)

    def _end(self, offset: int) -> None:
        records_here, records, cd_size, cd_offset, comment_len = struct.unpack("<4xHHLLH", _read(self.file, 18))
        if records_here != records:
            raise _Stop("Malformed zip file")
        if self.end64 is not None:
            records, cd_size, cd_offset = self.end64
        start = self.cd_start if self.cd_start is not None else offset - (56 + 20 if self.end64 else 0)
        if records != self.cd_records:
            self.note("Mismatched central directory records")
        if cd_offset != start:
            self.note("Mismatched central directory offset")
        if cd_size != self.cd_size:
            self.note("Mismatched central directory size")
        comment = _read(self.file, comment_len)
        if END in comment:
            self.note("A second end of central directory record in the archive comment")
        if self.file.tell() != self.size:
            self.note("Trailing data")
        if set(self.local) != self.seen_central:
            self.note("Mis-matched local headers and central directory")


def zip_findings(file: IO[bytes], size: int) -> list[ZipFinding]:
    """Every framing finding of the ZIP archive in `file` (`size` bytes); the file's position is not kept."""
    try:
        with zipfile.ZipFile(file) as archive:
            central = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        return [ZipFinding(f"Bad ZIP file: {exc}", neutral=True)]
    return _Walk(file, central, size).run()
