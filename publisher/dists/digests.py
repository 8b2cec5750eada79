"""File digests for the upload form, and the guarantee that the bytes sent are the bytes hashed.

The digests go into the form before the file (`sha256_digest`, `blake2_256_digest`), and the summary shows them,
so they must describe exactly what was sent. A file swapped (renamed over) between hashing and sending is not a
risk when hashing and sending read one open file; one rewritten in place is: `VerifiedReader` hashes what it hands
to the HTTP client and, at the end of the file, compares with the digests already sent. On a difference it raises
before the multipart body's closing boundary goes out, so the registry receives an incomplete request and stores
nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    sha256: str
    blake2_256: str


class ChangedDuringUpload(Exception):
    """The file's bytes differ from those hashed before the upload started."""


def _hashers() -> tuple[hashlib._Hash, hashlib.blake2b]:
    return hashlib.sha256(), hashlib.blake2b(digest_size=32)


def read_digests(file: IO[bytes]) -> Digests:
    """Digests of an open file from its start, in one chunked pass (memory stays flat for any size)."""
    sha256, blake2 = _hashers()
    file.seek(0)
    while chunk := file.read(CHUNK):
        sha256.update(chunk)
        blake2.update(chunk)
    return Digests(sha256.hexdigest(), blake2.hexdigest())


def file_digests(path: Path) -> Digests:
    with path.open("rb") as file:
        return read_digests(file)


class VerifiedReader:
    """The dist's open file as the HTTP client streams it: hashed as it is read, never more than `size` bytes, and
    at its end the same digests as those sent in the form, or ChangedDuringUpload.

    httpx needs `read`, `seek` (it rewinds before each attempt: the hashes start again) and `fileno` (Content-
    Length from fstat, so the body is streamed, not chunked). `progress(sent, total)` is called as bytes go out.
    """

    def __init__(
        self, file: IO[bytes], expected: Digests, size: int, progress: Callable[[int], None] | None = None
    ) -> None:
        self._file, self._expected, self._size, self._progress = file, expected, size, progress
        self._sha256 = hashlib.sha256()  # one hash is enough: equal sha256, equal bytes, so equal blake2 too
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if not chunk:
            self._verify()
            return chunk
        self._read += len(chunk)
        if self._read > self._size:
            raise ChangedDuringUpload(f"it grew beyond the {self._size} bytes hashed before the upload")
        self._sha256.update(chunk)
        if self._progress is not None:
            self._progress(self._read)
        return chunk

    def _verify(self) -> None:
        if self._read != self._size:
            raise ChangedDuringUpload(f"{self._read} bytes were read of the {self._size} hashed before the upload")
        sent = self._sha256.hexdigest()
        if sent != self._expected.sha256:
            raise ChangedDuringUpload(
                f"its sha256 is now {sent}, not the {self._expected.sha256} hashed before the upload"
            )

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if position == 0:
            self._sha256 = hashlib.sha256()
            self._read = 0
        return position

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()
