"""Preflight: every file checked against the upload rules of the index it goes to, before the first byte is sent.

PyPI refuses a file for rules nothing checked beforehand (a `linux_x86_64` wheel, a `Private ::` classifier, a direct
URL dependency, a License-File missing from the archive, a ZIP two readers parse differently), and it does so at the
second or third file of a release, when the first is already up. Here every file is checked first, every problem of
every file is listed at once in PyPI's own words (as Warehouse would answer), with the fix and the Warehouse source
file the rule comes from, and nothing is sent while one remains.

Modes (`preflight` input, `--preflight`): `auto` (PyPI's rules for PyPI and TestPyPI, the index-neutral ones
elsewhere), `pypi`, `basic` (index-neutral: valid metadata, a sound archive), `off`.

This package may import only the reading-level modules of publisher (dists, errors, safe, settings, console, bodies,
reads, bounds, transport, credentials' ReadAuth) -- never upload, confirm or run: it decides before they start
(tests/preflight/test_preflight_rules.py keeps it so).
The rules were written from Warehouse commit 6b62157124ab7865029afeeadf282bce27d601d9 (no code copied).
"""

from __future__ import annotations

from publisher.preflight.gate import Mode, resolve_mode, run_preflight

__all__ = ["Mode", "resolve_mode", "run_preflight"]
