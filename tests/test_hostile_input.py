"""Local input an attacker may shape (a workflow's inputs, a checked-out pyproject.toml, files in dist/): refused
with exit 2 before any request, or shown without letting its contents out.

Each workspace's index is a loopback tripwire (test_bad_input.Tripwire) that must see no connection.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.runner import run_action, run_cli
from tests.test_bad_input import CREDS, INDEX, NO_OIDC, SDIST, WHEEL, Tripwire, pyproject_text, template, tripwire, ws

__all__ = ["template", "tripwire", "ws"]  # fixtures, imported for pytest

ATTESTATION = {
    "version": 1,
    "verification_material": {"certificate": "MIIB", "transparency_entries": [{"logIndex": "7"}]},
    "envelope": {"statement": "c3RhdGVtZW50", "signature": "c2ln"},
}


def _run(ws: Path, **inputs: str):  # type: ignore[no-untyped-def]
    return run_action(ws, {"index": INDEX, **inputs}, env={**CREDS, **NO_OIDC})


def _refused(run, tripwire: Tripwire, *phrases: str) -> None:  # type: ignore[no-untyped-def]
    assert run.returncode == 2, run.output
    for phrase in phrases:
        assert phrase in run.output, f"{phrase!r} not in:\n{run.output}"
    assert tripwire.connections == [], "a request was made"


def test_index_name_with_a_trailing_newline_is_refused(ws: Path, tripwire: Tripwire) -> None:
    """`^...$` with re.match accepted `private-repo\\n`; the name is matched whole now."""
    run = run_cli(["--index", "private-repo\n"], ws, env={**CREDS})
    _refused(run, tripwire, "Invalid index name `private-repo\\n`")


def test_index_entry_named_with_a_newline_is_refused(ws: Path, tripwire: Tripwire) -> None:
    (ws / "pyproject.toml").write_text(
        pyproject_text(tripwire.url).replace(f'name = "{INDEX}"', f'name = "{INDEX}\\n"')
    )
    run = _run(ws)
    _refused(run, tripwire, "is invalid", "`name`")


def test_toml_error_quotes_no_line_of_a_file_outside_the_workspace(
    ws: Path, tripwire: Tripwire, tmp_path: Path
) -> None:
    """A pyproject.toml that is a symbolic link to another file (here a credentials file) is not quoted."""
    secret_line = 'token = "Outs1de-Secret-Value" oops'
    outside = tmp_path / "elsewhere" / "credentials.toml"
    outside.parent.mkdir()
    outside.write_text(f"[auth]\n{secret_line}\n")
    (ws / "pyproject.toml").unlink()
    (ws / "pyproject.toml").symlink_to(outside)

    run = _run(ws)

    _refused(
        run, tripwire, "is not valid TOML", "at line 2", "the line is not shown: the file is outside the workspace"
    )
    assert "Outs1de-Secret-Value" not in run.output + run.summary


def test_toml_error_inside_the_workspace_still_quotes_the_line(ws: Path, tripwire: Tripwire) -> None:
    (ws / "pyproject.toml").write_text('[project]\nname = "demo-pkg" oops\n')
    run = _run(ws)
    _refused(run, tripwire, "is not valid TOML", 'name = "demo-pkg" oops')


@pytest.mark.parametrize("toml", ["tool = 5\n", '[tool]\nuv = "x"\n', "[tool.uv]\nindex = 5\n"])
def test_odd_toml_shapes_are_a_clear_error(ws: Path, tripwire: Tripwire, toml: str) -> None:
    (ws / "pyproject.toml").write_text(toml)
    run = _run(ws)
    assert "Internal error" not in run.output
    _refused(run, tripwire)
    assert "index" in run.output


def test_dry_run_that_fails_at_setup_says_so(ws: Path, tripwire: Tripwire) -> None:
    """It used to say `Dry run: 0 file(s) validated for ;`."""
    run = _run(ws, index="no-such-index", **{"dry-run": "true"})
    _refused(run, tripwire, "Dry run failed: nothing was uploaded.")
    assert "validated for ;" not in run.output + run.summary
    assert "Dry run failed" in run.summary


def _attest(ws: Path, name: str = WHEEL) -> Path:
    return ws / "dist" / f"{name}.publish.attestation"


def test_attestation_symlink_out_of_the_packages_directory_is_refused(
    ws: Path, tripwire: Tripwire, tmp_path: Path
) -> None:
    import json

    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(ATTESTATION))
    _attest(ws).symlink_to(outside)
    run = _run(ws)
    _refused(run, tripwire, f"{WHEEL}.publish.attestation is a symbolic link that leads out of the packages directory")


def test_attestation_symlink_inside_the_packages_directory_is_read(ws: Path, tripwire: Tripwire) -> None:
    import hashlib
    import json

    from tests.fakes.sigstore_stack import SigstoreStack

    digest = hashlib.sha256((ws / "dist" / WHEEL).read_bytes()).hexdigest()
    with SigstoreStack() as stack:  # current and valid: it is verified before it is sent (publisher/attest/planted.py)
        (ws / "dist" / "kept.json").write_text(json.dumps(stack.attestation(WHEEL, digest)))
        _attest(ws).symlink_to(ws / "dist" / "kept.json")
        trust = {"PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path)}
        run = run_action(ws, {"index": INDEX, "dry-run": "true", "retries": "0"}, env={**CREDS, **NO_OIDC, **trust})
    assert run.returncode == 0, run.output
    assert tripwire.requests == ["GET /simple/demo-pkg/ HTTP/1.1"]  # the dry run's look at the check URL, no upload


def test_attestation_that_is_too_large_is_refused(ws: Path, tripwire: Tripwire) -> None:
    _attest(ws).write_bytes(b"{" + b" " * (300 * 1024) + b"}")
    run = _run(ws)
    _refused(run, tripwire, f"{WHEEL}.publish.attestation is {300 * 1024 + 2} bytes; an attestation is at most")


def test_attestation_that_is_a_fifo_is_refused(ws: Path, tripwire: Tripwire) -> None:
    os.mkfifo(_attest(ws, SDIST))
    run = _run(ws)
    _refused(run, tripwire, f"{SDIST}.publish.attestation is not a regular file")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[]", "is not a PEP 740 attestation"),
        ('{"version": 2}', "version"),
        ('{"version": 1, "envelope": {"statement": "x", "signature": "y"}}', "verification_material"),
        (
            '{"version": 1, "envelope": {"statement": "x", "signature": "y"}, '
            '"verification_material": {"certificate": "c", "transparency_entries": []}}',
            "transparency_entries",
        ),
        ("[" * 100_000, "is not a PEP 740 attestation"),
    ],
    ids=["array", "version-2", "no-verification-material", "no-transparency-entry", "deep-nesting"],
)
def test_attestation_that_is_not_pep_740_shaped_is_refused(
    ws: Path, tripwire: Tripwire, document: str, problem: str
) -> None:
    _attest(ws).write_text(document)
    run = _run(ws)
    _refused(run, tripwire, f"{WHEEL}.publish.attestation", problem)
    assert "Internal error" not in run.output


def test_packages_dir_with_a_hostile_name_is_shown_escaped(ws: Path, tripwire: Tripwire) -> None:
    hostile = "out\n::error::pwned"
    shutil.move(ws / "dist", ws / hostile)
    (ws / hostile / WHEEL).unlink()
    (ws / hostile / SDIST).unlink()
    run = _run(ws, **{"packages-dir": hostile})
    _refused(run, tripwire, "out\\n::error::pwned")
    assert "\n::error::pwned" not in run.stdout
