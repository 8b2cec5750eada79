"""The one way a file the index lists is downloaded: hashed as it arrives, never more bytes than the local file has.

Two callers: existing.py, when a listing publishes no hash to compare by, and download_back.py, which proves under
`verify-published` that what the listing's URL serves is what was built. Both want the same answer -- the sha256 of
the index's copy, or "it is larger than ours" -- and the same bounds:

- At most `size` bytes are read (bounds: the body cap); one more and the contents differ, whatever follows, so a
  huge answer costs no more than the local file. The request's deadline allows for receiving that many bytes
  (bodies.body_limit `expected`), and `within` shortens it to a confirmation's deadline.
- Redirects and read credentials follow reads.py: credentials only to their own origin, checked at every hop;
  with `same_origin_only`, a redirect to another origin is refused (`off_origin_hint` says what to do).
"""

from __future__ import annotations

import hashlib

import httpx

from publisher.auth.model import ReadAuth
from publisher.index import reads
from publisher.index.answers import registry_message
from publisher.net import bodies
from publisher.net.bodies import body_limit, incomplete, was_cut
from publisher.net.retry import describe, hint_for
from publisher.report import safe
from publisher.report.errors import UploadError


def download_sha256(
    client: httpx.Client,
    url: str,
    auth: ReadAuth,
    *,
    filename: str,
    size: int,
    purpose: str,
    hint: str,
    front_end: str,
    same_origin_only: bool = False,
    off_origin_hint: str | None = None,
    within: float | None = None,
) -> str | None:
    """The sha256 of the file at `url`, read up to `size` bytes; None when it has more. UploadError when it cannot
    be downloaded in full; `purpose` ("to compare hashes") and `hint` complete its message."""
    digest = hashlib.sha256()
    what = f"Downloading {filename} from"
    extensions = body_limit(size, expected=True) | (bodies.within(within) if within is not None else {})
    try:
        response = reads.get(
            client,
            url,
            auth,
            what=what,
            extensions=extensions,
            stream=True,
            same_origin_only=same_origin_only,
            off_origin_hint=off_origin_hint,
            front_end=front_end,
        )
        try:
            if response.status_code != 200:
                response.read()  # for the registry's words; bounded like the file
                raise UploadError(
                    f"{filename} is listed at {reads.shown(url)} but downloading it {purpose} answered "
                    f"{response.status_code}: {registry_message(response, 200)}",
                    hint=hint,
                )
            for chunk in response.iter_bytes():
                digest.update(chunk)
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise UploadError(
            f"Could not download {filename} from {reads.shown(url)} {purpose}: {safe.inline(describe(exc), 800)}",
            hint=hint_for(exc, hint),
        ) from None
    if was_cut(response):
        return None
    problem = incomplete(response)
    if problem is not None:
        raise UploadError(
            f"{filename} could not be read in full from {reads.shown(url)} {purpose}: {safe.inline(problem, 200)}.",
            hint=hint,
        )
    return digest.hexdigest()
