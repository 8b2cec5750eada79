"""Response bodies read within a cap, decoded in bounded pieces, and JSON from them that cannot crash the caller.

The transport (transport.py) hands every answer over as a :class:`BoundedBody`: at most the request's
`BODY_LIMIT` extension (default bounds.ANSWER_CAP) decoded bytes reach httpx, whatever the server sends; reading
stops at the cap and the connection is dropped, never drained. A body that is cut, or cannot be decoded, is
recorded on the response (:func:`incomplete`) for the callers that need a whole body: a listing or a download
must not be read as shorter than it is; an error message can do with its beginning.

Only `gzip` and `deflate` are asked for (`Accept-Encoding`) and decoded, here rather than by httpx, because httpx
inflates a whole network chunk at once: 64 KiB of gzip can become 64 MB before any cap could see it. Here zlib
never returns more than 64 KiB per call.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx

from publisher.net.bounds import ANSWER_CAP, size_text
from publisher.report import safe

BODY_LIMIT = "publisher.body_limit"  # request extension: how many decoded bytes of the answer to read at most
EXPECTED_SIZE = "publisher.expected_size"  # request extension: bytes the answer should hold (for the deadline)
BODY_STATE = "publisher.body"  # response extension: the BodyState of its body
DEADLINE = "publisher.deadline"  # request extension: seconds this request may take at most, if less than the client's
ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024


def body_limit(limit: int, *, expected: bool = False) -> dict[str, object]:
    """Request extensions asking for at most `limit` decoded bytes of the answer; `expected` when about that many
    should come (a download), so the request's deadline allows for receiving them (bounds.request_budget)."""
    return {BODY_LIMIT: limit, EXPECTED_SIZE: limit} if expected else {BODY_LIMIT: limit}


def requested_limit(request: httpx.Request) -> int:
    limit = request.extensions.get(BODY_LIMIT)
    return limit if isinstance(limit, int) and limit >= 0 else ANSWER_CAP


def within(seconds: float) -> dict[str, object]:
    """A request extension shortening the client's deadline for this one request (a poll that must end with the
    wait it belongs to); the transport keeps whichever is shorter."""
    return {DEADLINE: max(0.0, seconds)}


def requested_deadline(request: httpx.Request, default: float) -> float:
    """The request's own deadline (see :func:`within`) when it is shorter than `default`."""
    seconds = request.extensions.get(DEADLINE)
    return min(default, float(seconds)) if isinstance(seconds, int | float) and seconds >= 0 else default


def moved_size(request: httpx.Request) -> int:
    """Bytes the request moves, for its deadline: its body, or the answer it expects if that is larger."""
    expected = request.extensions.get(EXPECTED_SIZE)
    sent = int(request.headers.get("content-length") or 0)
    return max(sent, expected if isinstance(expected, int) else 0)


@dataclass
class BodyState:
    """How reading a body went: `cut` when more than `limit` bytes came, `problem` says why it is not whole."""

    limit: int
    cut: bool = False
    problem: str | None = None


def incomplete(response: httpx.Response) -> str | None:
    """Why the response's body is not the whole answer (cut at its cap, undecodable), or None when it is."""
    state = response.extensions.get(BODY_STATE)
    return state.problem if isinstance(state, BodyState) else None


def was_cut(response: httpx.Response) -> bool:
    """True when the server sent more than the body's cap (only the cap's worth was read)."""
    state = response.extensions.get(BODY_STATE)
    return isinstance(state, BodyState) and state.cut


def loads(data: str | bytes) -> object:
    """JSON, or None when it is not JSON, is nested too deep (RecursionError), holds a number too long to convert or
    is not UTF-8: odd JSON from a server is an answer to explain, never a crash. Check the type of what you get."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def json_value(response: httpx.Response) -> object:
    """The body as JSON (see :func:`loads`), or None also when the body is not whole (cut at its cap)."""
    return None if incomplete(response) is not None else loads(response.content)


class _Decoder:
    """Content-Encoding undone in pieces of at most PIECE bytes, however much one chunk inflates."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib = None if encoding == "" else zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            yield data
            return
        while True:
            try:
                out = self._zlib.decompress(data, PIECE)
            except zlib.error:
                if self.encoding != "deflate" or self._started:
                    raise
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send (httpx does this)
                self._started = True
                continue
            self._started = True
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            if not data and len(out) < PIECE:
                return


def _encoding(header: str) -> str | None:
    """The one encoding to undo ('' for none), or None for one we did not ask for (or a stack of them)."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")]
    if not codings:
        return ""
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return codings[0]
    return None


class BoundedBody(httpx.SyncByteStream):
    """A response body decoded and cut at `state.limit` bytes; the rest is never read."""

    def __init__(self, raw: Iterable[bytes], content_encoding: str, state: BodyState) -> None:
        self._raw = raw
        self._encoding = _encoding(content_encoding)
        self._header = content_encoding
        self.state = state

    @property
    def decodes(self) -> bool:
        """Whether this body undoes a Content-Encoding (the header then no longer describes what is read)."""
        return bool(self._encoding) or self._encoding is None

    def __iter__(self) -> Iterator[bytes]:
        state = self.state
        if self._encoding is None:
            state.problem = f"sent with a Content-Encoding we did not ask for ({safe.inline(self._header, 100)})"
            return
        decoder = _Decoder(self._encoding)
        kept = 0
        try:
            for chunk in self._raw:
                for piece in decoder.feed(chunk):
                    room = state.limit - kept
                    if len(piece) > room:
                        if room:
                            yield piece[:room]
                        state.cut = True
                        state.problem = f"larger than {size_text(state.limit)}"
                        return
                    kept += len(piece)
                    yield piece
        except zlib.error as exc:
            state.problem = f"not valid {self._encoding} ({exc})"

    def close(self) -> None:
        if isinstance(self._raw, httpx.SyncByteStream):
            self._raw.close()
