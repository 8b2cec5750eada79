"""Index names from a `.pypirc`, by twine's rules (`twine/utils.py` get_config, get_repository_from_config):

- the file is `$HOME/.pypirc` (HOME, else the user's home directory), or the one named by the `pypirc` input /
  `--pypirc` (relative to the workspace, `~` expanded). The home file may be absent: then only the built-in names
  exist. A named file that is absent is an error, as in twine;
- it is read by `configparser.RawConfigParser` (no interpolation: a `%` in a password is a `%`), as twine reads it;
- `[distutils] index-servers` lists the names (whitespace-separated); without it the names are `pypi testpypi`;
- `pypi` always exists, with repository https://upload.pypi.org/legacy/; `testpypi` exists with
  https://test.pypi.org/legacy/ when it is listed (or by default);
- each listed name takes `repository`, `username` and `password` from its `[NAME]` section; a section that is not
  listed is not an index (twine's rule too). `[server-login] username / password` (obsolete, kept by twine) are
  every name's defaults;
- on PyPI and TestPyPI the username is `__token__`, as twine sends it (those indexes accept API tokens only).

Differences, each in the safe direction: the file is decoded as UTF-8 (a byte-order mark allowed) before the
locale's encoding, where twine tries the locale's first and so misreads a UTF-8 password on Windows; a listed name
without a `repository` is a clear error where twine crashes; nothing from the file is ever quoted (a syntax error
names its line only, as netrcfile.py does), and the file is read only when `--index` names no `[[tool.uv.index]]`.
"""

from __future__ import annotations

import configparser
import locale
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publisher.config import files
from publisher.report import safe
from publisher.report.errors import ConfigError

PYPI_REPOSITORY = "https://upload.pypi.org/legacy/"
TESTPYPI_REPOSITORY = "https://test.pypi.org/legacy/"
DEFAULT_INDEX_SERVERS = ("pypi", "testpypi")
# The Simple API of the two indexes twine knows: a check URL is derived for these only. For any other repository
# the Simple API's address cannot be told from the upload URL (Artifactory, Nexus, GitLab each place it elsewhere).
CHECK_URLS = {PYPI_REPOSITORY: "https://pypi.org/simple/", TESTPYPI_REPOSITORY: "https://test.pypi.org/simple/"}
TOKEN_USERNAME = "__token__"  # noqa: S105 - the username PyPI expects with API tokens
# twine's normalize_repository_url: the old PyPI host names are upgraded to https.
_PYPI_HOSTS = ("pypi.python.org", "testpypi.python.org", "upload.pypi.org", "test.pypi.org")
_SPEC = "https://packaging.python.org/specifications/pypirc/"
IGNORED = {
    "ca_cert": "set SSL_CERT_FILE to that file for this run instead (the HTTP client reads it).",
    "client_cert": "client certificates are not supported; a registry that requires one refuses the upload.",
}


@dataclass(frozen=True)
class Repository:
    """One index name of the file. Values are never part of repr or of any message."""

    name: str
    url: str | None = field(repr=False)  # `repository`; may carry user:pass@ (shown only through urls.display)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ignored: tuple[str, ...] = ()  # keys twine reads that are not used here (IGNORED says why)

    @property
    def check_url(self) -> str | None:
        """The Simple API, derived only where it is known for sure (PyPI, TestPyPI)."""
        return CHECK_URLS.get(self.url or "")


@dataclass(frozen=True)
class Pypirc:
    path: Path
    exists: bool
    repositories: dict[str, Repository]

    @property
    def names(self) -> list[str]:
        return list(self.repositories)

    def where(self, name: str | None = None) -> str:
        """How messages name the file (and a section of it): `/home/me/.pypirc [corp]`."""
        return safe.exact(self.path) + (f" [{name}]" if name else "")


def home(environ: Mapping[str, str]) -> Path:
    """$HOME, else the user's home directory (%USERPROFILE% on Windows): where netrc is looked for too."""
    return Path(environ.get("HOME") or Path.home())


def expand(path: Path, environ: Mapping[str, str]) -> Path:
    """A leading `~` is the home directory, as twine expands `--config-file` (no shell expands `--pypirc=~/x`)."""
    parts = path.parts
    if parts and parts[0] == "~":
        return home(environ).joinpath(*parts[1:])
    return path


def normalize_repository_url(url: str) -> str:
    """twine's rule: PyPI's own host names are always https."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].lower()
    if sep and scheme.lower() == "http" and host in _PYPI_HOSTS:
        return "https://" + rest
    return url


def parse(text: str, where: str) -> dict[str, Repository]:
    """The index names the file declares, by twine's rules (see the module docstring); ConfigError on bad syntax.

    `where` names the file in messages. configparser's own exceptions quote the offending line, so each is
    translated into a message with its line number only.
    """
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source="pypirc")
    except configparser.Error as exc:
        raise ConfigError(
            f"{where} is not a valid .pypirc: {_syntax_problem(exc)} (the line is not shown: the file may hold "
            "passwords).",
            hint=f"Fix the line shown by number; the format is described at {_SPEC}",
        ) from None
    defaults = {key: parser.get("server-login", key, fallback=None) for key in ("username", "password")}
    listed = parser.get("distutils", "index-servers", fallback=" ".join(DEFAULT_INDEX_SERVERS)).split()
    values: dict[str, dict[str, str | None]] = {"pypi": {**defaults, "repository": PYPI_REPOSITORY}}
    if "testpypi" in listed:
        values["testpypi"] = {**defaults, "repository": TESTPYPI_REPOSITORY}
    ignored: dict[str, tuple[str, ...]] = {}
    for name in listed:
        entry = values.setdefault(name, {**defaults, "repository": None})
        for key in ("username", "password", "repository"):
            if parser.has_option(name, key):
                entry[key] = parser.get(name, key)
        ignored[name] = tuple(key for key in IGNORED if parser.has_option(name, key))
    return {name: _repository(name, entry, ignored.get(name, ())) for name, entry in values.items()}


def _repository(name: str, entry: Mapping[str, str | None], ignored: tuple[str, ...]) -> Repository:
    url = entry.get("repository")
    url = normalize_repository_url(url) if url else None
    username, password = entry.get("username") or None, entry.get("password") or None
    if url is not None and url.startswith((PYPI_REPOSITORY, TESTPYPI_REPOSITORY)):
        username = TOKEN_USERNAME  # twine: PyPI accepts API tokens only, sent as __token__ whatever the file says
    return Repository(name, url, username, password, ignored)


def _syntax_problem(exc: configparser.Error) -> str:
    """What is wrong, and where, in words that quote nothing from the file."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before any `[section]` header"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"a section is declared twice (again on line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"a key is given twice in one section (again on line {exc.lineno})"
    if isinstance(exc, configparser.ParsingError):  # its `errors` (or, for a subclass, `lineno`): numbers only
        numbers = [number for number, _ in getattr(exc, "errors", [])] or [getattr(exc, "lineno", "?")]
        lines = ", ".join(str(number) for number in numbers[:10])
        return f"not a `[section]`, a `key = value` or a continuation line: line(s) {lines}"
    return f"unreadable ({type(exc).__name__})"


def _decode(data: bytes) -> str | None:
    """UTF-8 first (with or without a byte-order mark), then the locale's encoding, as twine falls back."""
    for encoding in ("utf-8-sig", locale.getpreferredencoding(False)):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def load(path: Path, *, named_by: str | None) -> Pypirc:
    """Read and parse the file. `named_by` (the flag or input that named it) makes an absent file an error; the
    home file may be absent."""
    shown = safe.exact(path)
    try:
        data = files.read_config(
            path,
            "the .pypirc file",
            hint=f"Point {named_by or 'the pypirc input (--pypirc)'} at a regular file under 1 MiB (or remove "
            "what is there).",
        )
    except (FileNotFoundError, NotADirectoryError):
        if named_by is None:
            return Pypirc(path, False, parse("", shown))
        raise ConfigError(
            f"The .pypirc file {shown} named by {named_by} does not exist.",
            hint=f"Point {named_by} at an existing file (relative to the workspace), or leave it out to read "
            "~/.pypirc.",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read {shown}: {safe.inline(exc.strerror or type(exc).__name__)}.",
            hint="Fix the file's permissions" + (f", or point {named_by} at another file." if named_by else "."),
        ) from None
    text = _decode(data)
    if text is None:
        raise ConfigError(
            f"{shown} is not text in UTF-8 or in this system's encoding ({locale.getpreferredencoding(False)}).",
            hint="Save the file as UTF-8.",
        )
    return Pypirc(path, True, parse(text, shown))


def locate(setting: Path | None, workspace: Path, environ: Mapping[str, str]) -> Path:
    """The file to read: the one named (relative to the workspace, `~` expanded), else $HOME/.pypirc."""
    if setting is None:
        return home(environ) / ".pypirc"
    path = expand(setting, environ)
    return path if path.is_absolute() else workspace / path
