"""Run the offline Sigstore stack by hand or from a test: `python -m tests.fakes.sigstore_stack --trust-config PATH`.

It writes the ClientTrustConfig to PATH, prints what a client needs as `NAME=value` lines, then `ready`, and serves
until SIGTERM or SIGINT (exit status 0).

- `--issuer ISSUER=JWKS_URL` (repeatable): Fulcio trusts tokens from ISSUER, with keys fetched from JWKS_URL (e.g. a
  `FakeGitHubOIDC`'s `jwks_url`). No fake GitHub is started then.
- Without `--issuer`, the stack starts its own fake GitHub OIDC token service and Fulcio trusts its key. Its two
  variables are printed (`ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`): with them a job, or
  curl, gets a token for audience `sigstore` as on GitHub (`$URL&audience=sigstore`, `Authorization: bearer $TOKEN`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tests.fakes.github_oidc import ISSUER
from tests.fakes.sigstore_stack.stack import SigstoreStack


def _issuer(text: str) -> tuple[str, str]:
    issuer, separator, jwks_url = text.partition("=")
    if not separator or not issuer or not jwks_url:
        raise argparse.ArgumentTypeError(f"expected ISSUER=JWKS_URL, got {text!r}")
    return issuer, jwks_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.sigstore_stack", description=__doc__.splitlines()[0])
    parser.add_argument("--trust-config", type=Path, required=True, help="where to write the ClientTrustConfig JSON")
    parser.add_argument("--issuer", type=_issuer, action="append", default=[], metavar="ISSUER=JWKS_URL")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with SigstoreStack(dict(args.issuer) or None, trust_config_path=args.trust_config) as stack:
        lines = [f"FULCIO_URL={stack.fulcio.url}", f"REKOR_URL={stack.rekor.url}", f"TRUST_CONFIG={args.trust_config}"]
        if stack.github is not None:
            lines += [f"OIDC_ISSUER={ISSUER}", f"JWKS_URL={stack.github.jwks_url}"]
            lines += [f"{name}={value}" for name, value in stack.github.env.items()]
        print("\n".join([*lines, "ready"]), flush=True)
        while not stopping.wait(0.2):
            pass
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
