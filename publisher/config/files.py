"""Reading a small configuration file (.pypirc, netrc, pyproject.toml, uv.toml) without trusting what is at its path.

A path can name a named pipe (reading it blocks until a writer comes: for ever), a device (`/dev/zero` never ends),
a socket, or a regular file of any size. Every configuration file is read through :func:`read_config`:

- opened with `O_NONBLOCK` (opening a pipe with no writer returns at once instead of waiting), then `fstat` on the
  open descriptor (no race with a file swapped in between): only a regular file is read. A directory raises
  IsADirectoryError as `open()` would, so callers keep treating it as before; anything else is a ConfigError;
- at most CONFIG_CAP (1 MiB) is read: a .pypirc or netrc is a few hundred bytes and the largest pyproject.toml files
  in the wild are around 100 KiB, so 1 MiB is ten times that, while a file beyond it costs neither memory nor TOML
  parsing time. A larger file is a ConfigError naming the cap. The size is checked on what is read, not only on
  `st_size`, so a file that grows while it is read is still refused.

An absent file raises FileNotFoundError / NotADirectoryError unchanged: whether that is an error is the caller's call.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from publisher.report import safe
from publisher.report.errors import ConfigError

CONFIG_CAP = 1024 * 1024  # named in the message as 1 MiB
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_config(path: Path, what: str, *, hint: str) -> bytes:
    """The bytes of the regular file at `path`, at most CONFIG_CAP of them.

    `what` names the file in messages (".pypirc file", "netrc file"); `hint` says how to fix it (which
    setting points at it). ConfigError for a file that is not a regular file or is too large.
    """
    shown = safe.exact(path)
    descriptor = os.open(path, _FLAGS)
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise ConfigError(
                f"Refusing to read {what} {shown}: it is {_kind(mode)}, not a regular file (reading it could block "
                "for ever or never end).",
                hint=hint,
            )
        chunks: list[bytes] = []
        size = 0
        while size <= CONFIG_CAP:
            chunk = os.read(descriptor, CONFIG_CAP + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > CONFIG_CAP:
        raise ConfigError(
            f"Refusing to read {what} {shown}: it is larger than 1 MiB, the most read from a configuration file.",
            hint=hint,
        )
    return b"".join(chunks)
