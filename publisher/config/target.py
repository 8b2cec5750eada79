"""Resolve the upload target from `[[tool.uv.index]]` the way `uv publish --index NAME` does.

Reads the index list (uv.toml beside pyproject.toml wins, as in uv), validates each entry with pydantic and
picks the named one. Names are exact and case-sensitive; errors reuse uv's wording plus the names found and a
did-you-mean, so users can match them against uv's documentation.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from publisher.config import files
from publisher.config.settings import Settings
from publisher.config.urls import (
    AMBIGUOUS_HINT,
    NOT_HTTP,
    PYPI_CHECK_URL,
    PYPI_UPLOAD_URL,
    ambiguous_userinfo,
    display,
    origin,
    url_problem,
)
from publisher.report import safe
from publisher.report.errors import ConfigError, IndexResolutionError

if TYPE_CHECKING:
    import tomllib

    from publisher.config import pypirc
    from publisher.report.console import Console

_NAME = re.compile(r"[A-Za-z0-9._-]+")  # fullmatch: `$` would let a trailing newline through


def env_name(index_name: str) -> str:
    """uv's rule: upper-case ASCII letters and digits kept, every other character becomes `_`."""
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in index_name.upper())


def validate_index_name(name: str, where: str) -> str:
    if not _NAME.fullmatch(name):
        raise IndexResolutionError(
            f"Invalid index name {safe.code(name, 100)} in {where}: names may contain only ASCII letters, digits, `-`, "
            "`_` and `.`.",
            hint="Use the `name` of a `[[tool.uv.index]]` entry exactly as written there.",
        )
    return name


class IndexDefinition(BaseModel):
    """One `[[tool.uv.index]]` table; uv's other keys (explicit, default, format, ...) are accepted and ignored."""

    # built on first use: most runs name no index and never validate one (start-up, issue 18)
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    name: str
    url: str
    publish_url: str | None = Field(default=None, alias="publish-url")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("may contain only ASCII letters, digits, `-`, `_` and `.`")
        return value

    @field_validator("url", "publish_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        problem = None if value is None else url_problem(value)
        if problem is not None:
            raise ValueError("must be an http:// or https:// URL" if problem == NOT_HTTP else problem)
        return value


@dataclass(frozen=True)
class PypircLogin:
    """The `username` / `password` of the .pypirc section an index name resolved from (either may be missing)."""

    username: str | None
    password: str | None = field(repr=False)
    where: str  # `/home/me/.pypirc [corp]`, for messages; never a value


@dataclass(frozen=True)
class Target:
    """Where dists go. `publish_url` may still carry `user:pass@`; show `display_url` instead.

    `index_origins` are the origins of the named index's own `url` and `publish-url`, as declared in the file (for a
    .pypirc name: its `repository`): the only places UV_INDEX_<NAME>_USERNAME / _PASSWORD, and the .pypirc's own
    username and password, may be sent, as in uv.
    """

    publish_url: str
    check_url: str | None
    index_name: str | None = None
    config_file: Path | None = None
    index_origins: tuple[str, ...] = ()
    pypirc_login: PypircLogin | None = None  # the index came from a .pypirc: its username and password

    @property
    def display_url(self) -> str:
        return display(self.publish_url)

    @property
    def env_prefix(self) -> str | None:
        return f"UV_INDEX_{env_name(self.index_name)}" if self.index_name else None


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError, quote: bool) -> ConfigError:
    """uv-style syntax error: the parser's words, the line number and, for a file of the workspace, the offending
    line itself. A file elsewhere (a `pyproject` input, or a symbolic link, leading to /etc or ~/.netrc) is not
    quoted: an error message must not become a way to print another file's contents into the log."""
    lines = text.splitlines()
    found = _TOML_POSITION.search(str(exc))
    if found:
        line, column = int(found[1]), int(found[2])
    else:  # "at end of document": an unclosed bracket, string or table header somewhere above
        line, column = max(len(lines), 1), len(lines[-1]) + 1 if lines else 1
    reason = safe.inline(_TOML_POSITION.sub("", str(exc)).replace("(at end of document)", "").strip(), 200)
    where = f"{safe.exact(path)} is not valid TOML: {reason} at line {line}, column {column}"
    hint = (
        'Fix the syntax at the line shown (an unclosed `[`, `"` or `{` may be reported at the end of the file); '
        "`uv lock` reports the same error."
    )
    if not quote:
        return ConfigError(f"{where} (the line is not shown: the file is outside the workspace).", hint=hint)
    shown = safe.inline(lines[line - 1], 300) if 0 < line <= len(lines) else ""
    return ConfigError(f"{where}:\n    {shown}\n    {' ' * (column - 1)}^", hint=hint)


def _inside(path: Path, workspace: Path | None) -> bool:
    """Whether `path`, symbolic links resolved, lies inside the workspace (None: no workspace, nothing is)."""
    if workspace is None:
        return False
    try:
        return path.resolve().is_relative_to(workspace.resolve())
    except (OSError, RuntimeError):
        return False


def _read_toml(path: Path, workspace: Path | None) -> dict[str, Any]:
    try:
        text = files.read_config(
            path,
            "the project file",
            hint=f"Make {safe.exact(path.name)} a regular TOML file under 1 MiB (check what the path points at).",
        ).decode("utf-8")
    except FileNotFoundError:
        raise _missing_file(path, None) from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = safe.inline(exc.strerror if isinstance(exc, OSError) else "not UTF-8 text", 200)
        raise ConfigError(
            f"Cannot read {safe.exact(path)}: {problem}", hint="Check the file's permissions and encoding."
        ) from None
    # imported here: a run without a project file (or with --publish-url and none beside it) never parses TOML
    if sys.version_info >= (3, 11):  # noqa: UP036 - tomli stays the documented fallback
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc, _inside(path, workspace)) from None


def load_indexes(pyproject: Path, workspace: Path | None = None) -> tuple[list[IndexDefinition], Path]:
    """The index list and the file it came from: `uv.toml` beside pyproject.toml wins, as in uv.

    `workspace`: only files inside it are quoted in syntax errors.
    """
    uv_toml = pyproject.parent / "uv.toml"
    if uv_toml.is_file():
        source, entries = uv_toml, _read_toml(uv_toml, workspace).get("index", [])
    else:
        data = _read_toml(pyproject, workspace)
        tool = data.get("tool")
        uv = tool.get("uv") if isinstance(tool, dict) else None
        source, entries = pyproject, uv.get("index", []) if isinstance(uv, dict) else []
    if not isinstance(entries, list):
        raise ConfigError(f"{safe.exact(source)}: `index` must be an array of tables (`[[tool.uv.index]]`).")
    indexes = []
    for position, entry in enumerate(entries, start=1):
        try:
            indexes.append(IndexDefinition.model_validate(entry))
        except ValidationError as exc:
            label = safe.exact(entry.get("name", f"#{position}") if isinstance(entry, dict) else f"#{position}", 100)
            errors = exc.errors(include_url=False)
            problems = "; ".join(_entry_problem(e) for e in errors)
            ambiguous = any(isinstance(e.get("input"), str) and ambiguous_userinfo(e["input"]) for e in errors)
            raise ConfigError(
                f"{safe.exact(source)}: index `{label}` is invalid: {problems}.",
                hint=AMBIGUOUS_HINT
                if ambiguous
                else "Each `[[tool.uv.index]]` entry needs `name` and `url`; uploads also need `publish-url`.",
            ) from None
    return indexes, source


def _entry_problem(error: ErrorDetails) -> str:
    """`url` 'ftp://x/': must be an http:// or https:// URL -- the key, the value found and the rule."""
    key = ".".join(str(p) for p in error["loc"]) or "entry"
    detail = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"`{key}` is missing"
    value = error.get("input")
    shown = display(value) if isinstance(value, str) else value
    return f"`{key}` = {shown!r}: {detail}"


def _missing_file(path: Path, settings: Settings | None, extra: str = "") -> ConfigError:
    """`settings` None: the file vanished after resolve_target saw it (there the setting is named)."""
    pointer = (
        f", or point {settings.label('pyproject')} at the file that declares `[[tool.uv.index]]`" if settings else ""
    )
    return ConfigError(
        f"{safe.exact(path)} not found (working directory: {safe.exact(Path.cwd())}).",
        hint=f"Run in the repository root{pointer}." + extra,
    )


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{safe.exact(n, 100)}`" for n in names)


def _not_found(name: str, indexes: list[IndexDefinition], source: Path, rc: pypirc.Pypirc) -> IndexResolutionError:
    """uv's words for the pyproject side, then the names a .pypirc gives (twine's built-in `pypi`/`testpypi` at
    least), and a did-you-mean over both."""
    names = [i.name for i in indexes]
    rc_names = [n for n in rc.names if n not in names]
    in_rc = f"{_listed(rc_names)} (from {rc.where()}" + ("" if rc.exists else ", which does not exist: built in") + ")"
    candidates = names + rc_names
    import difflib  # only for this message

    close = difflib.get_close_matches(name, candidates, n=1) or [n for n in candidates if n.lower() == name.lower()]
    hint = (
        f"Did you mean `{close[0]}`? Index names are case-sensitive."
        if close
        else "Use one of the names above, exactly as written, or declare the index."
    )
    if not names:
        return IndexResolutionError(
            f"No indexes were found, can't use index: `{name}` (looked in {safe.exact(source)}; the .pypirc names "
            f"are {in_rc}).",
            hint=(hint + "\n" if close else "") + "Declare it in pyproject.toml:\n\n[[tool.uv.index]]\n"
            f'name = "{name}"\nurl = "https://.../simple"\npublish-url = "https://.../upload"\nexplicit = true\n\n'
            f"or in .pypirc (listed in `[distutils] index-servers`, with a `[{name}]` section holding `repository`).",
        )
    return IndexResolutionError(
        f"Index not found: `{name}`. Found indexes: {_listed(names)} (in {safe.exact(source)}); .pypirc names: "
        f"{in_rc}.",
        hint=hint,
    )


DEFAULT_PYPROJECT = Path("pyproject.toml")


def resolve_target(
    settings: Settings, environ: Mapping[str, str] | None = None, console: Console | None = None
) -> Target:
    """Settings -> Target. Without an index: the publish-url input, or PyPI's upload URL. A name is looked for in
    `[[tool.uv.index]]` (pyproject.toml or uv.toml) first, then in the .pypirc (`environ` gives HOME; `console`
    masks the .pypirc password the moment it is read)."""
    _check_urls(settings, settings.publish_url, settings.check_url)  # before anything shows or compares them
    if settings.index is None:
        publish_url = settings.publish_url or PYPI_UPLOAD_URL
        check_url = settings.check_url or (PYPI_CHECK_URL if publish_url == PYPI_UPLOAD_URL else None)
        _check_urls(settings, publish_url, check_url)
        return Target(publish_url=publish_url, check_url=check_url)

    name = validate_index_name(settings.index, f"the {settings.label('index')}")
    pyproject = settings.resolve(settings.pyproject)
    # A twine user's checkout may have no pyproject.toml at all: the default one may be absent when the name is
    # a .pypirc name. A pyproject input naming another file must exist.
    absent = (
        settings.pyproject == DEFAULT_PYPROJECT
        and not pyproject.exists()
        and not (pyproject.parent / "uv.toml").is_file()
    )
    if not absent and not pyproject.exists() and not (pyproject.parent / "uv.toml").is_file():
        raise _missing_file(pyproject, settings)
    indexes, source = ([], pyproject) if absent else load_indexes(pyproject, settings.working_directory)
    matches = [i for i in indexes if i.name == name]
    if matches:
        return _from_pyproject(settings, name, matches[0], source)
    rc = _read_pypirc(settings, os.environ if environ is None else environ)
    repository = rc.repositories.get(name)
    if repository is not None:
        return _from_pypirc(settings, repository, rc, console)
    if absent:
        raise _missing_file(pyproject, settings, f" The .pypirc names are {_listed(rc.names)} (from {rc.where()}).")
    raise _not_found(name, indexes, source, rc)


def _read_pypirc(settings: Settings, environ: Mapping[str, str]) -> pypirc.Pypirc:
    from publisher.config import pypirc  # configparser only for a name pyproject.toml lacks

    path = pypirc.locate(settings.pypirc, settings.working_directory, environ)
    return pypirc.load(path, named_by=settings.label("pypirc") if settings.pypirc is not None else None)


def _conflict(settings: Settings, name: str, declared: str, source: str) -> ConfigError:
    return ConfigError(
        f"Conflicting upload URLs: index `{name}` in {source} declares {declared} but "
        f"{settings.label('publish-url')} is {display(settings.publish_url or '')}.",
        hint=f"Set only one of {settings.labels('index', 'publish-url')}, or make them agree.",
    )


def _from_pyproject(settings: Settings, name: str, index: IndexDefinition, source: Path) -> Target:
    if (
        settings.publish_url and index.publish_url and display(settings.publish_url) != display(index.publish_url)
    ):  # the same URL with `user:pass@` added is not a conflict
        raise _conflict(settings, name, f"publish-url {display(index.publish_url)}", safe.exact(source))
    index_publish_url = settings.publish_url or index.publish_url
    if index_publish_url is None:
        raise IndexResolutionError(
            f"Index is missing a publish URL: `{name}` (in {safe.exact(source)}).",
            hint=f'Add `publish-url = "https://.../upload"` to the `[[tool.uv.index]]` entry named `{name}`, '
            f"or pass {settings.label('publish-url')}.",
        )
    check_url = settings.check_url or index.url
    _check_urls(settings, index_publish_url, check_url)
    origins = tuple(dict.fromkeys(origin(url) for url in (index.url, index.publish_url) if url))
    return Target(index_publish_url, check_url, name, source, origins)


def _from_pypirc(
    settings: Settings, repository: pypirc.Repository, rc: pypirc.Pypirc, console: Console | None
) -> Target:
    """A .pypirc name: its `repository` receives the dists, its username and password rank after the index's
    variables. A check URL is derived for PyPI and TestPyPI only (pypirc.CHECK_URLS)."""
    name, where = repository.name, rc.where(repository.name)
    if console is not None:
        console.mask(repository.password)
    if repository.url is None:
        raise IndexResolutionError(
            f"Index is missing a publish URL: `{name}` (in {rc.where()}: listed in `[distutils] index-servers`, "
            "without a `repository`).",
            hint=f"Add `repository = https://.../` (the upload URL) to the `[{name}]` section, or pass "
            f"{settings.label('publish-url')}.",
        )
    _check_urls(settings, repository.url, None, what=f"`repository` of {where}")
    if settings.publish_url and display(settings.publish_url) != display(repository.url):
        raise _conflict(settings, name, f"repository {display(repository.url)}", rc.where())
    check_url = settings.check_url or repository.check_url
    _check_urls(settings, repository.url, check_url)
    login = PypircLogin(repository.username, repository.password, where)
    from publisher.config.pypirc import IGNORED

    for key in repository.ignored:
        if console is not None:
            console.warning(f"`{key}` in {where} is not used: {IGNORED[key]}", title="Ignored .pypirc key")
    return Target(settings.publish_url or repository.url, check_url, name, rc.path, (origin(repository.url),), login)


_URL_EXAMPLES = {
    "publish-url": "the registry's full upload URL, e.g. https://upload.pypi.org/legacy/",
    "check-url": "the index's Simple API root, e.g. https://pypi.org/simple/",
}


def _check_urls(settings: Settings, publish_url: str | None, check_url: str | None, *, what: str | None = None) -> None:
    """Refuse a URL we cannot use or cannot show safely (urls.url_problem), naming it with its user info hidden."""
    for name, url in (("publish-url", publish_url), ("check-url", check_url)):
        problem = None if url is None else url_problem(url)
        if url is not None and problem is not None:
            raise ConfigError(
                f"{what or settings.label(name)} {display(url)!r} {problem}.",
                hint=AMBIGUOUS_HINT if ambiguous_userinfo(url) else f"Give {_URL_EXAMPLES[name]}.",
            )
