"""httpcore, imported without the parts this tool never runs: its async half's extras, HTTP/2 and certifi.

httpcore's package imports everything at its top: anyio and trio for the async pools (`httpcore._synchronization`),
h2 for HTTP/2 when it is installed (`httpcore._sync.http2`), and certifi for the default SSL context
(`httpcore._ssl`). This tool's pools are synchronous, HTTP/1.1 only, and always given their SSL context
(transport.py), so none of them is used; yet a password upload over http paid for all of them at start-up (anyio
pulls in asyncio with some versions, h2 its own dozen modules).

So the first import of httpcore, here, sees anyio, trio and h2 as absent (httpcore then falls back to its stubs,
which raise only if async or HTTP/2 is used), and certifi as a stand-in that loads the real certifi on first use.
Nothing stays changed: the modules are importable as ever afterwards, by anyone. If httpcore was imported before
(by a caller that uses it asynchronously, say), it is used as it is. Every module of ours takes httpcore from here.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

OPTIONAL = ("anyio", "trio", "h2")  # httpcore imports each inside `try: ... except ImportError`


class _DeferredCertifi(types.ModuleType):
    """`certifi` for httpcore._ssl: the real module is imported when httpcore first asks it something."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("certifi"), name)


def _import_lean() -> None:
    if "httpcore" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType | None] = {name: None for name in OPTIONAL if name not in sys.modules}
    if "certifi" not in sys.modules:
        stand_ins["certifi"] = _DeferredCertifi("certifi")
    sys.modules.update(stand_ins)  # type: ignore[arg-type]  # None makes `import name` raise ImportError
    try:
        importlib.import_module("httpcore")
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name, stand_in) is stand_in:
                sys.modules.pop(name, None)


_import_lean()

import httpcore as httpcore  # noqa: E402  (after the lean import above, which it only looks up)

__all__ = ["httpcore"]
