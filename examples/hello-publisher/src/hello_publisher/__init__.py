"""hello-publisher: proof that a package went up to a private index and came back down."""

from __future__ import annotations

__version__ = "0.1.0"


def greet(name: str = "world") -> str:
    return f"Hello, {name}! (hello-publisher {__version__}, installed from a private index)"


def main() -> None:
    print(greet())
