"""The lenient netrc reader (publisher/config/netrcfile.py): samples of what curl and requests accept, and what a broken
entry costs (that entry only, named by its line, its text never repeated)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.config.netrcfile import Entry, lookup, parse, read
from publisher.report.errors import ConfigError
from tests.support.builders import build_wheel
from tests.support.runner import run_cli


def found(text: str, host: str, username: str | None = None) -> tuple[str | None, str | None] | None:
    entry, _ = lookup(parse(text), host, username)
    return None if entry is None else (entry.login, entry.password)


@pytest.mark.parametrize(
    ("text", "host", "expected"),
    [
        ("machine h login u password p", "h", ("u", "p")),
        ("machine h\n  login u\n  password p\n", "h", ("u", "p")),  # one value per line, indented
        ("MACHINE h LOGIN u PASSWORD p", "h", ("u", "p")),  # keywords in any case, as curl reads them
        ("machine H.Example login u password p", "h.example", ("u", "p")),  # host names case-insensitive
        ("machine h login u account acct password p", "h", ("u", "p")),
        ('machine h login u password "with space"', "h", ("u", "with space")),
        ('machine h login "u s" password "q\\"uote\\\\back\\tslash"', "h", ("u s", 'q"uote\\back\tslash')),
        ('machine h login u password "a"b', "h", ("u", "a")),  # a quoted token ends at its closing quote
        ("machine h login u password p#not-a-comment", "h", ("u", "p#not-a-comment")),
        ("# machine h login no password no\nmachine h login u password p", "h", ("u", "p")),
        ("machine other login o password q\ndefault login d password dp", "h", ("d", "dp")),
        ("default login d password dp\nmachine h login u password p", "h", ("u", "p")),  # a machine wins
        ("machine h login u password p\nmachine h login v password q", "h", ("u", "p")),  # the first one
        ("machine h login u", "h", ("u", None)),
        ("machine h password p", "h", None),  # no login: nothing to send it with
        ("machine other login o password q", "h", None),
        ("", "h", None),
    ],
)
def test_samples(text: str, host: str, expected: tuple[str, str | None] | None) -> None:
    assert found(text, host) == expected


def test_the_known_username_picks_the_entry() -> None:
    text = "machine h login u password p\nmachine h login v password q\n"
    assert found(text, "h", "v") == ("v", "q")
    assert found(text, "h", "w") is None


def test_macdef_is_skipped_up_to_the_next_empty_line() -> None:
    text = (
        "machine h login u password p\n"
        "macdef init\n"
        "machine h login evil password evil\n"
        "cd /\n"
        "\n"
        "machine other login o password q\n"
    )
    entries = parse(text)
    assert [(e.machine, e.login) for e in entries] == [("h", "u"), ("other", "o")]


BROKEN_OTHER_HOSTS = [
    # Lines a typo can produce; the standard library refuses the whole file for some, quoting a token in its error:
    "machine other.example login bob S3cr3t-Follower\n",  # a token where a keyword belongs
    'machine other.example login bob password "S3cr3t-unterminated\n',
    "machine other.example login bob password\n",  # a keyword without its value at the end of the file
    "machine\n",  # a machine without a name
    "S3cr3t-Top-Level machine-ish tokens\n",
]


@pytest.mark.parametrize("broken", BROKEN_OTHER_HOSTS)
def test_a_broken_entry_for_another_host_costs_nothing(broken: str) -> None:
    text = "machine registry.example login n-user password n-pass\n" + broken
    assert found(text, "registry.example") == ("n-user", "n-pass")
    assert found(broken + text, "registry.example") == ("n-user", "n-pass")


def test_a_broken_entry_for_our_host_is_unusable_and_named_by_line_only() -> None:
    text = 'machine other login o password q\nmachine registry.example login u password "S3cr3t-half\n'
    entry, broken = lookup(parse(text), "registry.example")
    assert entry is None
    assert [(e.machine, e.line, e.problem) for e in broken] == [
        ("registry.example", 2, "an unterminated quote on line 2")
    ]
    assert "S3cr3t" not in repr(broken)  # values are never part of a repr


def test_a_later_good_entry_for_our_host_is_still_used() -> None:
    text = 'machine h login u password "broken\nmachine h login u password good\n'
    entry, broken = lookup(parse(text), "h")
    assert entry is not None
    assert entry.password == "good"
    assert [e.line for e in broken] == [1]


def test_entries_keep_file_order_and_lines() -> None:
    entries = parse("machine a login x password y\n\ndefault login d password e\n")
    assert entries == [Entry("a", 1, "x", "y"), Entry(None, 3, "d", "e")]


@pytest.mark.timeout(30)
def test_a_pipe_a_device_or_a_huge_file_is_refused_without_blocking(tmp_path: Path) -> None:
    """A netrc path naming a pipe would block for ever, /dev/zero would never end: each is a clear error."""
    fifo = tmp_path / "netrc-pipe"
    os.mkfifo(fifo)
    with pytest.raises(
        ConfigError,
        match=r"Refusing to read the netrc file .*netrc-pipe: it is a named pipe \(FIFO\), not a regular file",
    ):
        read(fifo)
    with pytest.raises(ConfigError, match=r"/dev/zero: it is a character device, not a regular file"):
        read(Path("/dev/zero"))
    big = tmp_path / "netrc-big"
    big.write_bytes(b"machine h login u password p\n" + b"#" * (1024 * 1024))
    with pytest.raises(ConfigError, match=r"it is larger than 1 MiB, the most read from a configuration file") as info:
        read(big)
    assert "NETRC" in (info.value.hint or "")
    small = tmp_path / "netrc"
    small.write_text("machine h login u password p\n")
    assert read(small) == b"machine h login u password p\n"


@pytest.mark.timeout(60)
def test_cli_netrc_pointing_at_a_pipe_exits_2_at_once(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    build_wheel(tmp_path / "dist", "demo-pkg", "1.0.0")
    fifo = tmp_path / "netrc-pipe"
    os.mkfifo(fifo)
    run = run_cli(["--publish-url", "http://127.0.0.1:9/legacy/"], tmp_path, {"NETRC": str(fifo)}, timeout=20)
    assert run.returncode == 2, run.output
    assert "netrc-pipe: it is a named pipe (FIFO), not a regular file (reading it could block" in run.stderr
    assert "Point NETRC at a regular netrc file under 1 MiB" in run.stderr
