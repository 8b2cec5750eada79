"""A ZIP archive taken apart into its records and put back together, so tests can build the parser confusions PyPI
refuses from a real wheel: each local record (header + data), each central-directory record, the end record's
comment. `join` recomputes every offset and the end record, so only the change a test makes is wrong."""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field
from io import BytesIO


@dataclass
class Parts:
    locals: list[tuple[str, bytes]]
    centrals: list[tuple[str, bytes]]
    comment: bytes = b""
    extra_end: bytes = field(default=b"")  # anything appended after the end record


def split(data: bytes) -> Parts:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
        cd_start = archive.start_dir
        comment = archive.comment
    locals_ = []
    for n, info in enumerate(infos):
        end = infos[n + 1].header_offset if n + 1 < len(infos) else cd_start
        locals_.append((info.filename, data[info.header_offset : end]))
    centrals, pos = [], cd_start
    names = {_raw(info): info.filename for info in infos}
    for _ in infos:
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        size = 46 + name_len + extra_len + comment_len
        centrals.append((names[data[pos + 46 : pos + 46 + name_len]], data[pos : pos + size]))
        pos += size
    return Parts(locals_, centrals, comment)


def _raw(info: zipfile.ZipInfo) -> bytes:
    return info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")


def join(parts: Parts, *, prefix: bytes = b"") -> bytes:
    out = bytearray(prefix)
    offsets = {}
    for name, record in parts.locals:
        offsets[name] = len(out)
        out += record
    cd_start = len(out)
    for name, record in parts.centrals:
        patched = bytearray(record)
        patched[42:46] = struct.pack("<L", offsets.get(name, 0))
        out += patched
    cd_size = len(out) - cd_start
    count = len(parts.centrals)
    out += b"PK\x05\x06" + struct.pack("<HHHHLLH", 0, 0, count, count, cd_size, cd_start, len(parts.comment))
    out += parts.comment + parts.extra_end
    return bytes(out)
