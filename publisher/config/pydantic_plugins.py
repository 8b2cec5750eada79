"""pydantic's plugin lookup, without its cost while plugins are off (imported before the first model is built).

pydantic imports its plugin loader when it builds the first model, and the loader imports importlib.metadata at its
top (~10 ms of start-up: issue 18), only to return no plugins: publisher/__init__.py turns them off unless the user
chose otherwise. While they are off (`__all__`, `1`, `true`, read at each call as pydantic does), this stand-in
answers "none"; once they are turned on, pydantic's own loader takes over.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable, Iterable

OFF = ("__all__", "1", "true")  # the values pydantic's loader reads as "no plugins at all"
LOADER = "pydantic.plugin._loader"


def get_plugins() -> Iterable[object]:
    """pydantic's `get_plugins`: none while plugins are off, else whatever its own loader finds."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in OFF:
        return ()
    if sys.modules.get(LOADER) is STAND_IN:
        del sys.modules[LOADER]
    real: Callable[[], Iterable[object]] = importlib.import_module(LOADER).get_plugins
    return real()


STAND_IN = types.ModuleType(LOADER, __doc__)
STAND_IN.get_plugins = get_plugins  # type: ignore[attr-defined]
if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in OFF:
    sys.modules.setdefault(LOADER, STAND_IN)
