"""Publish built Python distributions to a named package index declared in pyproject.toml."""

import gc as _gc
import os as _os
import sys as _sys
from collections.abc import Callable as _Callable
from collections.abc import Iterator as _Iterator
from collections.abc import Mapping as _Mapping
from contextlib import contextmanager as _contextmanager
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from publisher.config.settings import Settings
    from publisher.report.console import Console

from publisher.version import USER_AGENT as USER_AGENT
from publisher.version import __version__ as __version__

# Start-up cost: httpx's __init__ imports its optional command line client (click, rich, pygments: ~40 ms) whenever
# those happen to be installed. We never use it; a None entry makes that import fail fast and httpx falls back to
# its stub `main`.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Pydantic looks for plugins by scanning the entry points of every installed distribution when the first model is
# built (~8 ms in a full virtualenv). This is an application with no pydantic plugins; an explicit setting wins.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


@_contextmanager
def start_up() -> _Iterator[None]:
    """For the front ends (CLI, action entrypoint): no cyclic garbage collection while the modules load.

    pydantic, httpx and packaging allocate hundreds of thousands of objects at import (classes, functions, schema
    dicts), almost none of them garbage, and the collector would walk them again and again: ~30 ms, 15 % of a
    one-file upload. They live as long as the process, so afterwards they are moved out of the collector's sight
    (`gc.freeze`, made for this) and collection is back on for the run itself. Left alone if it was already off.
    """
    if not _gc.isenabled():
        yield
        return
    _gc.disable()
    try:
        yield
    finally:
        _gc.freeze()
        _gc.enable()


def launch(console: "Console", build_settings: "_Callable[[], Settings]", environ: "_Mapping[str, str]") -> int:
    """The shared tail of both front ends: settings (bad input is exit 2 before the HTTP stack loads), then the run."""
    from publisher.report.errors import ConfigError

    with start_up():
        try:
            settings = build_settings()
        except ConfigError as exc:
            console.error(str(exc), title=exc.title)
            return exc.exit_code
        console.verbose = settings.verbose
        from publisher.run import main

    return main(settings, environ, console)
