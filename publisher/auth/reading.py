"""Credentials for reading the index (the check URL's Simple API), each bound to the one origin it may go to."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.auth.model import EXCHANGED, Credentials, ReadAuth
from publisher.config.target import Target
from publisher.config.urls import Resolver, origin, same_origin, sends_in_clear, split_userinfo


def index_origin_note(target: Target, names: str, what: str, url: str) -> str:
    """Why the index's variables were not sent to `url`: they belong to other origins (named)."""
    belong = ", ".join(target.index_origins) or "none"
    return (
        f"{names} are set but were not used: they belong to index `{target.index_name}`'s own origins ({belong}), "
        f"and {what} is on {origin(url)}."
    )


def read_auth(
    check_url: str,
    target: Target,
    credentials: Credentials,
    environ: Mapping[str, str],
    allow_insecure_http: bool = False,
    resolve: Resolver | None = None,
) -> ReadAuth:
    """Credentials to read the index, bound to the check URL's origin (`ReadAuth.origin`):

    1. `user:pass@` in the check URL;
    2. UV_INDEX_<NAME>_USERNAME / _PASSWORD (the install-time credentials), when the check URL is on one of the
       index's own origins (its `url` or `publish-url`), as uv sends them;
    3. the upload credentials, when the check URL is on the publish URL's origin; never a trusted-publishing token.

    Nothing is sent over plain http to a non-loopback host unless allowed, as for uploads. When the index's variables
    are set but the check URL is elsewhere, `source` says so, naming the origins, for the check URL's auth error.
    """
    bound = origin(check_url)
    if sends_in_clear(check_url, allow_insecure_http, resolve):
        return ReadAuth(None, "no credentials (the check URL is plain http, and not allowed to carry them)", bound)
    _, url_user, url_password = split_userinfo(check_url)
    if url_user is not None or url_password is not None:
        return ReadAuth((url_user or "", url_password or ""), "user:pass@ in the check URL", bound)
    withheld = []  # what was set but is not for this origin, said in the check URL's auth error
    prefix = target.env_prefix
    if prefix:
        user = (environ.get(f"{prefix}_USERNAME") or "").strip()
        password = (environ.get(f"{prefix}_PASSWORD") or "").strip()
        names = f"{prefix}_USERNAME / {prefix}_PASSWORD"
        if (user or password) and any(same_origin(check_url, o) for o in target.index_origins):
            return ReadAuth((user, password), names, bound)
        if user or password:
            withheld.append(index_origin_note(target, names, "the check URL", check_url))
    if credentials.renewal is not None:  # an exchanged token is for uploading, and expires
        withheld.insert(0, f"{EXCHANGED.get(credentials.method, 'exchanged tokens')} are not used to read the index")
    elif credentials.auth is not None and same_origin(check_url, target.publish_url):
        return ReadAuth(credentials.auth, f"the upload credentials ({credentials.source})", bound)
    elif credentials.present:
        withheld.append(f"the upload credentials stay on the publish URL's origin {origin(target.publish_url)}")
    return ReadAuth(None, "no credentials" + (f" ({'; '.join(withheld)})" if withheld else ""), bound)
