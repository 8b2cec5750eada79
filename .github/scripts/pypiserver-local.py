"""Start an authenticated pypiserver on 127.0.0.1 in the background, for a job without service containers (macOS and
Windows runners have no Docker), and wait until it answers.

Usage: python pypiserver-local.py PORT WORKDIR   with PYPI_USERNAME and PYPI_PASSWORD in the environment; run it with
a Python that has pypiserver and passlib (the dev extra). The server outlives this script and the step (the runner
ends it with the job); its log is WORKDIR/pypiserver.log. Uploads need the account, reads are anonymous, and there
is no fallback to PyPI. The password reaches only the htpasswd file, never a command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path


def main(port: str, workdir: str) -> int:
    root = Path(workdir)
    (root / "packages").mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # passlib imports `crypt`, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]

    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password(os.environ["PYPI_USERNAME"], os.environ["PYPI_PASSWORD"])
    htpasswd.save()

    argv = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", port, "-a", "update"]
    argv += ["-P", str(root / "htpasswd"), "--disable-fallback", str(root / "packages")]
    detached: dict[str, object] = (
        {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
        if os.name == "nt"
        else {"start_new_session": True}
    )
    with open(root / "pypiserver.log", "wb") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **detached)  # type: ignore[call-overload]
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    print(f"pypiserver (pid {process.pid}) answers on 127.0.0.1:{port}")
                    return 0
        except OSError:
            if process.poll() is not None:
                break
        time.sleep(0.2)
    print(f"::error::pypiserver did not answer on 127.0.0.1:{port}")
    print((root / "pypiserver.log").read_text(encoding="utf-8", errors="replace"))
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
