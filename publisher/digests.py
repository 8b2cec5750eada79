"""File digests for the upload form, computed in one chunked pass so memory stays flat for any file size."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    sha256: str
    blake2_256: str


def file_digests(path: Path) -> Digests:
    sha256 = hashlib.sha256()
    blake2 = hashlib.blake2b(digest_size=32)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            sha256.update(chunk)
            blake2.update(chunk)
    return Digests(sha256.hexdigest(), blake2.hexdigest())
