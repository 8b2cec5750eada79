"""Publish built Python distributions to a named package index declared in pyproject.toml."""

import gc as _gc
import os as _os
import sys as _sys
from collections.abc import Iterator as _Iterator
from contextlib import contextmanager as _contextmanager

__version__ = "1.0.0"
USER_AGENT = f"publish-dists/{__version__}"

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
