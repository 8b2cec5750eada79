"""Time and memory bounds for tests of hostile input: `with within(seconds=1, mib=20): ...` fails the test when the
block runs longer or its Python allocations peak higher (tracemalloc, so only this process's Python heap)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass
class Spent:
    seconds: float = 0.0
    peak: int = 0  # bytes


@contextmanager
def within(*, seconds: float, mib: float) -> Iterator[Spent]:
    spent = Spent()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.monotonic()
    try:
        yield spent
    finally:
        spent.seconds = time.monotonic() - start
        spent.peak = tracemalloc.get_traced_memory()[1]
        if started_tracing:
            tracemalloc.stop()
    assert spent.seconds < seconds, f"took {spent.seconds:.2f} s, more than {seconds} s"
    assert spent.peak < mib * MIB, f"allocated up to {spent.peak / MIB:.1f} MiB, more than {mib} MiB"
