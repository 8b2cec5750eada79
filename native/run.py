"""Start entrypoint.py in the native entry's virtual environment, as the image starts it.

The one difference from the image: the venv's scripts directory goes at the END of PATH (in the image it comes
first), so a `keyring` the runner already has, with the backends its owner installed, is the one
`keyring-provider: subprocess` runs; the venv's own `keyring` (`keyring.exe` on Windows) answers only when there is
none. Run with `python -I` (no PYTHONPATH or user site-packages from the job can change what is imported).
"""

from __future__ import annotations

import os
import runpy
import sys

os.environ["PATH"] = os.pathsep.join(filter(None, [os.environ.get("PATH"), os.path.dirname(sys.executable)]))
entrypoint = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "entrypoint.py")
sys.argv = [entrypoint]
runpy.run_path(entrypoint, run_name="__main__")
