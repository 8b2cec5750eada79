"""A hostile registry cannot make a run slow, big or confused: each case bounded in time and memory.

Unit level first (the functions that read what a registry sent), end to end through the real command line and
action further down, against tests/fakes/hostile.py.
"""

from __future__ import annotations

import httpx
import pytest

from publisher.upload import registry_message
from tests.support.budget import within

MIB = 1024 * 1024


def _answer(status: int, body: str, content_type: str = "text/html") -> httpx.Response:
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": content_type}, request=httpx.Request("POST", "http://x/")
    )


# -- registry messages: linear in the body, whatever markup it holds ------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "body",
    [
        "<" * MIB,
        "<script" * 100_000,
        "<style" * 100_000,
        "<body>" + "<head" * 100_000,
        "<script>" * 100_000 + "</style>",
        "<a" * 300_000,
        "<<>" * 300_000,
    ],
    ids=["lt", "script", "style", "head", "script-open", "unclosed-tags", "empty-tags"],
)
def test_registry_message_takes_linear_time_on_redos_bait(body: str) -> None:
    with within(seconds=1.0, mib=64):
        message = registry_message(_answer(400, body), limit=2000)
    assert message.startswith("Bad Request")
    assert len(message) <= 2003
