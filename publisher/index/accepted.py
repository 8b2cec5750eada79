"""What an upload the registry accepted without showing it stored hands to confirm.py.

Its own module so that upload.py and run.py can name it without loading the confirmation machinery (confirm.py,
its decision table): only a 202, a task or verify-published needs that (start-up, issue 18).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.dists.collect import Dist
    from publisher.dists.digests import Digests


@dataclass(frozen=True)
class Accepted:
    """An upload the registry accepted without showing it stored: what its confirmation needs.

    `answer`: the status line (`202 Accepted`); `task`: the answer's `task` as given (outside text); `at`: when the
    answer came (time.monotonic), the deadline counts from it; `verifying`: a plain 2xx checked for verify-published.
    """

    dist: Dist
    digests: Digests
    answer: str
    task: str | None
    at: float
    verifying: bool = False
