"""Publish built Python distributions to a named package index declared in pyproject.toml."""

import os as _os
import sys as _sys

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
