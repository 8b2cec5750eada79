"""Pure URL helpers: what a URL may be, how it is shown, whose credentials it may get, whether it stays on the machine.

The rules here decide where secrets go, so each is written to be read the same way by us, by httpx (which makes the
connection) and by the WHATWG parsers of uv and browsers:

- **Shown**: :func:`display` is the one way a URL reaches a message, an output or the summary. It drops the user
  info (`user:pass@`) and keeps every other character as given; a URL whose user info cannot be told apart (see
  below) is shown as `scheme://***@<text after its last @>`.
- **Ambiguous user info** (:func:`ambiguous_userinfo`): in `scheme://REST`, the authority is REST up to the first
  `/`, `\\`, `?` or `#`. A URL with an `@` after that point is refused: either a user name or password holds one of
  those characters unencoded (`https://user:pa/ss@host/` reads as host `user`, port `pa`, path `/ss@host/`: the
  password would be shown as part of the path), or its path holds a literal `@` (write it as `%40`).
- **Origin** (:func:`origin`, :func:`same_origin`): scheme + host + port, lower-cased, the scheme's default port the
  same written or not, as RFC 6454 and uv's `Realm` compare them. Credentials belong to origins, not host names.
- **Loopback** (:func:`is_loopback`): decided from the address itself: IPv4 in every spelling the C resolver's
  `inet_aton` accepts (`127.1`, `0x7f.1`, `2130706433`), IPv6 `::1` and `::ffff:127.x.x.x`. `localhost` and
  `*.localhost` count only when the system resolver maps them to loopback addresses alone. No other name is
  resolved: a DNS answer can change between this check and the connection, so a name is never loopback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

PYPI_UPLOAD_URL = "https://upload.pypi.org/legacy/"
PYPI_CHECK_URL = "https://pypi.org/simple/"

REDACTED = "***"
DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY_END = re.compile(r"[/\\?#]")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")

# host -> every address the system resolver gives for it; injectable so tests never look a name up.
Resolver = Callable[[str], Iterable[str]]


def _split_authority(url: str) -> tuple[str, str, str] | None:
    """(`scheme://`, authority, rest) by the rule in the module docstring; None without `://`."""
    head, sep, rest = url.partition("://")
    if not sep:
        return None
    found = _AUTHORITY_END.search(rest)
    end = found.start() if found else len(rest)
    return head + sep, rest[:end], rest[end:]


def ambiguous_userinfo(url: str) -> bool:
    """Whether an `@` follows the end of the authority (or the URL has `@` but no `scheme://` at all)."""
    if "@" not in url:
        return False
    parts = _split_authority(url)
    return parts is None or "@" in parts[2]


def display(url: str) -> str:
    """The URL as it may be shown: no user info; everything else exactly as given. The one display function."""
    if "@" not in url:
        return url
    parts = _split_authority(url)
    if parts is None:
        return f"{REDACTED}@{url.rpartition('@')[2]}"
    head, authority, rest = parts
    if "@" in rest:  # cannot tell where the user info ends: hide everything up to the last `@`
        return f"{head}{REDACTED}@{(authority + rest).rpartition('@')[2]}"
    return head + authority.rpartition("@")[2] + rest


strip_credentials = display  # the name the HTTP modules use: a URL without credentials is a URL fit to show


def _userinfo(url: str) -> str | None:
    """The user info as written: up to the authority's last `@`, or up to the URL's last `@` when ambiguous."""
    if "@" not in url:
        return None
    parts = _split_authority(url)
    if parts is None:
        return url.rpartition("@")[0]
    _, authority, rest = parts
    if "@" in rest:
        return (authority + rest).rpartition("@")[0]
    return authority.rpartition("@")[0] if "@" in authority else None


def userinfo_secrets(url: str | None) -> set[str]:
    """What to mask in a URL's user info, as written (percent-encoded) and decoded.

    The password; the user name when it is sent with an empty password (`https://TOKEN:@host/`: a token, the Gemfury
    style); in an ambiguous URL, every candidate (it is refused, but may have been printed by something else first).
    """
    userinfo = _userinfo(url) if url else None
    if not userinfo:
        return set()
    user, sep, password = userinfo.partition(":")
    forms = {password, unquote(password)}
    if (sep and not password) or ambiguous_userinfo(url or ""):
        forms |= {user, unquote(user)}
    return forms - {""}


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Return the URL without `user:pass@` and the decoded username and password found there.

    For URLs that passed :func:`url_problem` (an ambiguous one is refused before anything uses its credentials).
    """
    userinfo = None if ambiguous_userinfo(url) else _userinfo(url)
    if userinfo is None:
        return display(url), None, None
    user, sep, password = userinfo.partition(":")
    return display(url), unquote(user) or None, (unquote(password) if sep else None)


NOT_HTTP = "is not an http:// or https:// URL"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be used as a registry URL, in words that complete "`<name>` '<display>' ...", or None."""
    if ambiguous_userinfo(url):
        return (
            "is ambiguous: it has an `@` after the end of its host part, so a user name or password in it holds an "
            "unencoded `/`, `\\`, `?` or `#` (or its path holds a literal `@`)"
        )
    if _WHITESPACE_OR_CONTROL.search(url):
        return "contains whitespace or a control character"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed `[` of an IPv6 address
        return NOT_HTTP
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return NOT_HTTP
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return "has an invalid port"
    return None


AMBIGUOUS_HINT = (
    "Percent-encode those characters in the user name and password (`/` as %2F, `\\` as %5C, `?` as %3F, `#` as %23, "
    "`@` as %40) and write a literal `@` in a path as %40. Better still, keep credentials out of URLs: pass them as "
    "UV_INDEX_<NAME>_USERNAME / UV_INDEX_<NAME>_PASSWORD or a token."
)


def is_valid_http_url(url: str) -> bool:
    return url_problem(url) is None


def scheme(url: str) -> str:
    """The scheme, lower-cased (`HTTP://` is http)."""
    return urlsplit(url).scheme.lower()


def hostname(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def origin(url: str) -> str:
    """`scheme://host[:port]`: lower-cased, IPv6 in brackets, the default port left out (`https://H:443/x` is
    `https://h`). Also the base of the trusted-publishing endpoints. Raises ValueError for an invalid port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme_ = parts.scheme.lower()
    port = parts.port
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS.get(scheme_):
        return f"{scheme_}://{shown}"
    return f"{scheme_}://{shown}:{port}"


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs (or origins) share scheme, host and effective port; never for a URL without a host."""
    try:
        first, second = origin(a), origin(b)
    except ValueError:
        return False
    return first == second and not first.endswith("://")


# ---- loopback -----------------------------------------------------------------------------------------------------

_INET_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 as the C resolver's `inet_aton` reads it: 1 to 4 parts, each decimal, octal (`0` prefix) or hex (`0x`),
    the last one filling the remaining bytes (`127.1`, `0x7f.1`, `2130706433` are all 127.0.0.1). None otherwise."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_PART.fullmatch(p) for p in parts):
        return None
    numbers = [int(p, 16) if p[:2] in ("0x", "0X") else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for position, number in enumerate(leading):
        value |= number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _loopback_address(text: str) -> bool:
    """A literal address (IPv6 without brackets, scope id allowed) that is loopback, IPv4-mapped IPv6 included."""
    v4 = inet_aton(text)
    if v4 is not None:
        return v4.is_loopback
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def system_resolver(host: str) -> list[str]:
    """Every address getaddrinfo gives for `host` (the lookup the HTTP client's connection makes too)."""
    import socket

    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def _is_localhost_name(host: str) -> bool:
    name = host.removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def is_loopback(url: str, resolve: Resolver | None = None) -> bool:
    """True when connections to `url` cannot leave the machine (see the module docstring)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if _loopback_address(host):
        return True
    if not _is_localhost_name(host):
        return False
    try:
        addresses = list((resolve or system_resolver)(host))
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(_loopback_address(a) for a in addresses)


def sends_in_clear(url: str, allowed: bool, resolve: Resolver | None = None) -> bool:
    """Whether credentials for `url` would cross a network in clear text without the user having allowed it.

    Anything but https counts as clear text (the scheme compared case-insensitively: `HTTP://` is plain http).
    """
    return scheme(url) != "https" and not allowed and not is_loopback(url, resolve)
