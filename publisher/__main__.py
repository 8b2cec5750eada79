"""The command line front end: `python -m publisher [FILES ...]` / `publish-dists`.

Flags mirror `uv publish` where uv has one, so the same muscle memory works; outside Actions the report is
printed to the terminal, inside Actions (GITHUB_ACTIONS=true) the same workflow commands as the action are used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from publisher import launch
from publisher.report.console import make_console
from publisher.version import __version__

if TYPE_CHECKING:  # imported where used, so --help and --version load neither pydantic nor httpx
    from publisher.config.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="publish-dists",
        description="Upload wheels and sdists to a named index from pyproject.toml ([[tool.uv.index]]) or PyPI.",
        epilog="Exit status: 0 success, 1 an upload or authentication failed (or was accepted but not stored and "
        "listed), 2 bad configuration or input.",
    )
    p.add_argument("files", nargs="*", help="files or globs to upload (default: dist/*)")
    p.add_argument("--index", help="name of a [[tool.uv.index]] entry (env: UV_PUBLISH_INDEX)")
    p.add_argument("--publish-url", help="upload URL (env: UV_PUBLISH_URL)")
    p.add_argument("--check-url", help="Simple API URL to find existing files (env: UV_PUBLISH_CHECK_URL)")
    p.add_argument("--pyproject", help="path to pyproject.toml (default: ./pyproject.toml)")
    p.add_argument(
        "--pypirc",
        help="the .pypirc to find --index names in when pyproject.toml declares none (default: ~/.pypirc)",
    )
    p.add_argument("--packages-dir", help="directory of dists when no FILES are given (default: dist)")
    p.add_argument("-u", "--username", help="username (env: UV_PUBLISH_USERNAME)")
    p.add_argument("-p", "--password", help="password (env: UV_PUBLISH_PASSWORD)")
    p.add_argument("-t", "--token", help="API token, sent as __token__ (env: UV_PUBLISH_TOKEN)")
    p.add_argument(
        "--trusted-publishing",
        choices=["automatic", "always", "never"],
        help="OIDC from GitHub Actions: automatic = when no other credentials (env: UV_TRUSTED_PUBLISHING)",
    )
    p.add_argument("--skip-existing", action="store_true", default=None, help="skip files already on the index")
    p.add_argument("--dry-run", action="store_true", default=None, help="validate everything, upload nothing")
    p.add_argument(
        "--keyring-provider",
        choices=["disabled", "subprocess"],
        help="ask the `keyring` command for the password (env: UV_KEYRING_PROVIDER)",
    )
    p.add_argument(
        "--no-verify-metadata",
        dest="verify_metadata",
        action="store_false",
        default=None,
        help="the older spelling of --preflight off",
    )
    p.add_argument(
        "--preflight",
        choices=["auto", "pypi", "basic", "off"],
        help="check every file against the index's upload rules first: auto (PyPI's rules for PyPI and TestPyPI, "
        "else basic), pypi, basic (valid metadata, a sound archive) or off (default auto)",
    )
    p.add_argument(
        "--no-print-hash", dest="print_hash", action="store_false", default=None, help="do not print file digests"
    )
    p.add_argument(
        "--attestations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sign PEP 740 attestations with Sigstore when trusted publishing to an index that takes them "
        "(default: on)",
    )
    p.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=None,
        help="allow credentials over plain http to a host that is not loopback",
    )
    p.add_argument(
        "--native-tls",
        action="store_true",
        default=None,
        help="verify https with the operating system's trust store (as uv --native-tls) instead of certifi's bundle",
    )
    p.add_argument("--retries", type=int, help="retries after transport errors, 5xx and 429 (default 3)")
    p.add_argument("--parallel", type=int, help="wheels uploaded at once (default 4, 1 = sequential)")
    p.add_argument(
        "--jfrog-oidc-provider-name",
        help="exchange the CI system's OIDC token at this JFrog OIDC integration for an access token "
        "(env: JFROG_OIDC_PROVIDER_NAME)",
    )
    p.add_argument(
        "--jfrog-oidc-audience",
        help="audience of the OIDC token for JFrog; empty: the CI system's default (env: JFROG_OIDC_AUDIENCE)",
    )
    p.add_argument("--jfrog-project-key", help="JFrog project key sent with the exchange (env: JFROG_PROJECT_KEY)")
    p.add_argument(
        "--jfrog-url",
        help="JFrog Platform base URL (default: the publish URL up to /artifactory/) (env: JFROG_URL)",
    )
    p.add_argument(
        "--verify-published",
        action="store_true",
        default=None,
        help="after each upload, confirm that the check URL lists the file with its sha256, then download it back "
        "from the check URL's origin and compare",
    )
    p.add_argument(
        "--confirm-timeout",
        type=float,
        help="seconds to wait for an accepted upload to be stored and listed (default 300)",
    )
    p.add_argument("-v", "--verbose", action="store_true", default=None, help="log each HTTP request")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


_ENV_DEFAULTS = {
    "index": "UV_PUBLISH_INDEX",
    "publish_url": "UV_PUBLISH_URL",
    "check_url": "UV_PUBLISH_CHECK_URL",
    "trusted_publishing": "UV_TRUSTED_PUBLISHING",
    "keyring_provider": "UV_KEYRING_PROVIDER",
    "jfrog_oidc_provider_name": "JFROG_OIDC_PROVIDER_NAME",
    "jfrog_oidc_audience": "JFROG_OIDC_AUDIENCE",
    "jfrog_project_key": "JFROG_PROJECT_KEY",
    "jfrog_url": "JFROG_URL",
}


def settings_from_args(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    args = vars(parser().parse_args(argv))
    from publisher.config.settings import build_settings

    raw: dict[str, object] = {"files": tuple(args.pop("files"))}
    for key, value in args.items():
        if value is None and key in _ENV_DEFAULTS:
            value = (environ.get(_ENV_DEFAULTS[key]) or "").strip() or None
        if value is not None:
            raw[key] = value
    return build_settings(raw, source="option")


def _utf8_output() -> None:
    """UTF-8 to pipes and files (another CI's log), and no crash on what a console cannot show: Windows writes
    redirected output in its ANSI code page, which has no room for most names and for safe.defuse's marks."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            if stream.isatty():
                stream.reconfigure(errors="backslashreplace")
            else:
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _utf8_output()
    environ = os.environ
    argv = sys.argv[1:] if argv is None else argv
    console = make_console(environ, verbose="-v" in argv or "--verbose" in argv)
    return launch(console, lambda: settings_from_args(argv, environ), environ)


if __name__ == "__main__":
    sys.exit(main())
