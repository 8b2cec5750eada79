"""A monotonic clock for code that waits: it moves only when the code under test sleeps (or a fake says it took
time), so a five-minute retry or confirmation loop runs in milliseconds and its waits can be read back."""

from __future__ import annotations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
