"""Pure URL helpers: credentials in URLs, display forms, trusted-publishing base URLs, loopback detection."""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote, urlsplit, urlunsplit

PYPI_UPLOAD_URL = "https://upload.pypi.org/legacy/"
PYPI_CHECK_URL = "https://pypi.org/simple/"


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Return the URL without `user:pass@` and the decoded username and password found there."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, (unquote(password) if sep else None)


def userinfo_password_forms(url: str | None) -> set[str]:
    """The password in `scheme://user:password@host/` as written (percent-encoded) and decoded, for masking."""
    if not url or "@" not in urlsplit(url).netloc:
        return set()
    _user, sep, written = urlsplit(url).netloc.rpartition("@")[0].partition(":")
    return {written, unquote(written)} - {""} if sep else set()


def sends_in_clear(url: str, allowed: bool) -> bool:
    """Whether credentials for `url` would cross a network in clear text without the user having allowed it."""
    return url.startswith("http://") and not is_loopback(url) and not allowed


def strip_credentials(url: str) -> str:
    """The URL as it may be shown in logs, outputs and summaries."""
    return split_userinfo(url)[0]


def origin(url: str) -> str:
    """Scheme, host and port: the base of the trusted-publishing endpoints."""
    parts = urlsplit(strip_credentials(url))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def is_loopback(url: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1, where plain http cannot be sniffed on a network."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_valid_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def hostname(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
