"""When an accepted upload counts as published: the confirmation's decision table and its rhythm, pure.

The decision table (:func:`decide`, pure):

| the task's state (last poll)          | the listing          | result                                              |
|---------------------------------------|----------------------|-----------------------------------------------------|
| (not polled yet)                      | -                    | poll, whatever the time                             |
| `waiting`, `running`, `canceling`, .. | -                    | poll again; at the deadline accepted, not stored    |
| `failed`, `canceled`, `skipped`       | -                    | accepted, not stored (the task's error)             |
| `completed`                           | (no check URL)       | published (stored, by the task's word)              |
| `completed`, or no task followed      | listed, same sha256  | published (with verify-published: download it back) |
| (verify-published) downloaded back    | same sha256          | published                                           |
| (verify-published) downloaded back    | other bytes          | accepted, not stored: "served with other contents"  |
| (verify-published) not downloaded     | (another origin, ..) | accepted, not confirmed                             |
| `completed`, or no task followed      | listed, other sha256 | accepted, not stored: "listed with other contents"  |
| `completed`, or no task followed      | absent               | look again; at the deadline accepted, not confirmed |
| no task followed                      | (no check URL)       | accepted, not confirmed                             |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from publisher.index.tasks import COMPLETED, ENDED, NOT_POLLED

NOT_STORED: Final = "accepted, not stored"
NOT_CONFIRMED: Final = "accepted, not confirmed"

FIRST_WAIT = 0.25
MAX_WAIT = 5.0
PROGRESS_EVERY = 10.0

Listed = Literal["identical", "different", "absent"]
Fetched = Literal["same", "other", "refused"]  # the download back: same sha256, other bytes, not downloaded
Action = Literal["poll task", "read listing", "download back"]
Reason = Literal[
    "listed",
    "stored",
    "task ended",
    "task pending",
    "other contents",
    "not listed",
    "unconfirmable",
    "downloaded back",
    "served other contents",
    "not downloaded",
]


@dataclass(frozen=True)
class Seen:
    """What the confirmation has seen so far. `task`: the followed task's last state (None: no task followed);
    `listed`: the listing's last verdict (None: not read yet); `checkable`: there is a check URL; `fetch_back`: a
    listed file is downloaded back (verify-published); `fetched`: what that download showed (None: not yet)."""

    task: str | None = None
    listed: Listed | None = None
    checkable: bool = False
    timed_out: bool = False
    fetch_back: bool = False
    fetched: Fetched | None = None


@dataclass(frozen=True)
class Verdict:
    status: Literal["published", "accepted, not stored", "accepted, not confirmed"]
    reason: Reason


def decide(seen: Seen) -> Action | Verdict:
    """The decision table of the module docstring: what to do next, or how it ends."""
    if seen.task == NOT_POLLED:  # asked at least once, however short the deadline
        return "poll task"
    if seen.task is not None:
        if seen.task in ENDED:
            return Verdict(NOT_STORED, "task ended")
        if seen.task != COMPLETED:
            return Verdict(NOT_STORED, "task pending") if seen.timed_out else "poll task"
        if not seen.checkable:
            return Verdict("published", "stored")
    elif not seen.checkable:
        return Verdict(NOT_CONFIRMED, "unconfirmable")
    if seen.listed == "identical":
        if not seen.fetch_back:
            return Verdict("published", "listed")
        if seen.fetched == "same":
            return Verdict("published", "downloaded back")
        if seen.fetched == "other":
            return Verdict(NOT_STORED, "served other contents")
        if seen.fetched == "refused":
            return Verdict(NOT_CONFIRMED, "not downloaded")
        return "download back"  # once, whatever the time: the listing has just shown it
    if seen.listed == "different":
        return Verdict(NOT_STORED, "other contents")
    if seen.listed == "absent" and seen.timed_out:
        return Verdict(NOT_CONFIRMED, "not listed")
    return "read listing"


def poll_wait(looks: int) -> float:
    """Seconds to wait before looking again after `looks` looks of one kind: 0.25, 0.5, 1, 2, 4, then 5."""
    return float(min(MAX_WAIT, FIRST_WAIT * 2 ** max(0, looks - 1)))


class Progress:
    """When to say that we are still waiting: about every `every` seconds, whatever the polls' rhythm."""

    def __init__(self, every: float = PROGRESS_EVERY) -> None:
        self.every = every
        self.next_at = every

    def due(self, elapsed: float) -> bool:
        if elapsed < self.next_at:
            return False
        self.next_at = (elapsed // self.every + 1) * self.every
        return True
