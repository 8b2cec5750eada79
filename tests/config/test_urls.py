"""The URL rules that decide where secrets go (urls.py): scheme spellings, loopback forms, user info that cannot be
told apart, origins. Pure functions; a resolver is injected wherever a name would be looked up, so no test here
makes a DNS query."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from publisher.config.urls import (
    display,
    inet_aton,
    is_loopback,
    origin,
    same_origin,
    sends_in_clear,
    split_userinfo,
    url_problem,
    userinfo_secrets,
)


def no_lookup(host: str) -> Iterable[str]:
    raise AssertionError(f"{host!r} must not be resolved")


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


# -- plain http, by any spelling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://registry.example/", "HTTP://registry.example/", "Http://registry.example/", "hTtP://registry.example/"],
)
def test_plain_http_is_plain_http_however_it_is_spelt(url: str) -> None:
    assert sends_in_clear(url, allowed=False, resolve=no_lookup)
    assert not sends_in_clear(url, allowed=True, resolve=no_lookup)


@pytest.mark.parametrize("url", ["https://registry.example/", "HTTPS://registry.example/", "Https://Registry.Example/"])
def test_https_is_https_however_it_is_spelt(url: str) -> None:
    assert not sends_in_clear(url, allowed=False, resolve=no_lookup)


# -- loopback, from the address -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # inet_aton: the last part fills the remaining bytes
        "127.0.1",
        "0x7f.1",
        "0x7F.0.0.1",
        "0177.0.0.1",  # octal
        "2130706433",  # one 32-bit number
        "0x7f000001",
        "127.255.255.254",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:7f00:1]",
    ],
)
def test_loopback_addresses_in_every_spelling(host: str) -> None:
    assert is_loopback(f"http://{host}:8080/simple/", no_lookup)
    assert not sends_in_clear(f"HTTP://{host}/", allowed=False, resolve=no_lookup)


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "128.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "127.0.0.1.evil.example",
        "127.0.0.1.",  # a trailing dot makes it a name for the resolver
        "127.0.0.256",
        "127.0.0.08",  # 08 is not octal
        "0x",
        "1.2.3.4.5",
        "[::]",
        "[::127.0.0.1]",  # IPv4-compatible, not mapped: not loopback
        "[::ffff:10.0.0.1]",
        "registry.example",
        "evil-localhost.example",
        "localhost.example",
    ],
)
def test_not_loopback(host: str) -> None:
    assert not is_loopback(f"http://{host}/", no_lookup)
    assert sends_in_clear(f"http://{host}/", allowed=False, resolve=no_lookup)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("10.65535", "10.0.255.255")],
)
def test_inet_aton_reads_as_the_c_resolver_does(text: str, expected: str) -> None:
    assert str(inet_aton(text)) == expected


@pytest.mark.parametrize("text", ["", "1.", ".1", "256.1", "1.16777216", "4294967296", "0x1g", "1 .2", "+1"])
def test_inet_aton_refuses_what_the_c_resolver_refuses(text: str) -> None:
    assert inet_aton(text) is None


@pytest.mark.parametrize(
    ("host", "answers", "expected"),
    [
        ("localhost", ["127.0.0.1", "::1"], True),
        ("LOCALHOST", ["127.0.0.1"], True),
        ("api.localhost", ["127.0.0.1"], True),
        ("localhost.", ["127.0.0.1"], True),
        ("localhost", ["127.0.0.1", "192.0.2.7"], False),  # one address off the machine is enough to refuse
        ("localhost", [], False),
        ("api.localhost", None, False),  # the resolver does not know it
    ],
)
def test_localhost_counts_only_as_the_resolver_maps_it(host: str, answers: list[str] | None, expected: bool) -> None:
    resolve = resolver({} if answers is None else {host.lower(): answers})
    assert is_loopback(f"http://{host}:3141/", resolve) is expected
    assert resolve.asked == [host.lower()]  # type: ignore[attr-defined]


def test_no_other_name_is_resolved() -> None:
    resolve = resolver({"registry.example": ["127.0.0.1"]})  # a DNS answer can change before the connection
    assert not is_loopback("http://registry.example/", resolve)
    assert resolve.asked == []  # type: ignore[attr-defined]


# -- user info that cannot be told apart -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa/ss@host.example/simple/", "https://***@host.example/simple/"),
        ("https://user:p#ss@host.example/", "https://***@host.example/"),
        ("https://user:p?ss@host.example/", "https://***@host.example/"),
        ("https://user:p\\ss@host.example/", "https://***@host.example/"),
        ("https://tok/en@host.example/", "https://***@host.example/"),  # a token as the user name
        ("HTTPS://user:pa/ss@host.example:8443/up/", "HTTPS://***@host.example:8443/up/"),
        ("https://host.example/path@v2/", "https://***@v2/"),  # a literal @ in a path: refused too
        ("user:pass@host.example/", "***@host.example/"),  # no scheme://
    ],
)
def test_ambiguous_user_info_is_refused_and_never_shown(url: str, shown: str) -> None:
    problem = url_problem(url)
    assert problem is not None
    assert "ambiguous" in problem or "not an http" in problem
    assert display(url) == shown
    for secret in ("pa/ss", "p#ss", "p?ss", "p\\ss", "tok/en", "pass"):
        assert secret not in display(url)


@pytest.mark.parametrize(
    "url",
    ["https://user:pa/ss@host.example/", "https://user:p#ss@host.example/", "https://tok/en@host.example/"],
)
def test_ambiguous_user_info_is_masked_whole(url: str) -> None:
    secrets = userinfo_secrets(url)
    assert {"pa/ss", "p#ss", "tok/en"} & secrets
    assert "pa" not in secrets
    assert "p" not in secrets


@pytest.mark.parametrize(
    ("url", "shown", "user", "password"),
    [
        ("https://host.example/simple/", "https://host.example/simple/", None, None),
        ("https://u:p%2Fss@host.example/x/", "https://host.example/x/", "u", "p/ss"),
        ("https://u:p%40ss@host.example/", "https://host.example/", "u", "p@ss"),
        ("https://u:p@ss@host.example/", "https://host.example/", "u", "p@ss"),  # the authority's last @, as httpx
        ("https://TOKEN:@pypi.fury.io/me/", "https://pypi.fury.io/me/", "TOKEN", ""),
        ("https://alice@host.example/?q=1#f", "https://host.example/?q=1#f", "alice", None),
        ("HTTP://u:p@[::1]:8080/", "HTTP://[::1]:8080/", "u", "p"),
    ],
)
def test_user_info_is_split_and_dropped_exactly(url: str, shown: str, user: str | None, password: str | None) -> None:
    assert url_problem(url) is None
    assert display(url) == shown
    assert split_userinfo(url) == (shown, user, password)


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("https://u:p%2Fss@host.example/", {"p%2Fss", "p/ss"}),
        ("https://TOKEN:@pypi.fury.io/me/", {"TOKEN"}),  # sent with an empty password: the user name is the secret
        ("https://alice@host.example/", set()),  # a user name alone is not sent as it is: not a secret
        ("https://host.example/", set()),
    ],
)
def test_userinfo_secrets(url: str, secrets: set[str]) -> None:
    assert userinfo_secrets(url) == secrets


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host.example/", "is not an http:// or https:// URL"),
        ("https:///simple/", "is not an http:// or https:// URL"),
        ("https://host.example:99999/", "has an invalid port"),
        ("https://host.example:abc/", "has an invalid port"),
        ("https://host.example/a b/", "contains whitespace or a control character"),
        ("https://host.example/\n::error::x", "contains whitespace or a control character"),
        ("https://[::1/", "is not an http:// or https:// URL"),
    ],
)
def test_url_problems(url: str, problem: str) -> None:
    assert url_problem(url) == problem


# -- origins -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Registry.Example/simple/", "https://registry.example"),
        ("HTTPS://registry.example:443/x", "https://registry.example"),
        ("http://registry.example:80/", "http://registry.example"),
        ("http://registry.example:8080/", "http://registry.example:8080"),
        ("https://u:p@registry.example:8443/", "https://registry.example:8443"),
        ("http://[::1]:3141/", "http://[::1]:3141"),
    ],
)
def test_origin_normalises_case_and_default_ports(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("https://registry.example/simple/", "https://REGISTRY.example:443/legacy/", True),
        ("https://registry.example/", "https://u:p@registry.example/other/", True),
        ("https://registry.example/", "http://registry.example/", False),  # scheme
        ("https://registry.example/", "https://registry.example:8443/", False),  # port
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8081/", False),
        ("https://registry.example/", "https://mirror.registry.example/", False),  # a subdomain is another origin
        ("https://registry.example/", "https://registry.example.evil/", False),
        ("http://127.0.0.1/", "http://127.1/", False),  # spelt differently: not proven equal, so not the same
        ("https:///a", "https:///b", False),  # no host: never an origin
        ("https://registry.example:abc/", "https://registry.example:abc/", False),
    ],
)
def test_same_origin(a: str, b: str, expected: bool) -> None:
    assert same_origin(a, b) is expected
    assert same_origin(b, a) is expected
