"""Start-up stays lean: what each path imports is checked by name (deterministic), not timed (flaky)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_REPORT = "import json, sys; print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)))"


def _modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_REPORT}"], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_help_imports_neither_httpx_nor_pydantic() -> None:
    code = (
        "import sys\nfrom publisher.__main__ import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\nsys.stdout.write('\\n')"
    )
    loaded = _modules_after(code)
    assert not loaded & {"httpx", "httpcore", "pydantic", "pydantic_core", "packaging"}


@pytest.mark.parametrize("heavy", ["keyring", "readme_renderer", "github_action_utils", "click", "rich", "pygments"])
def test_the_upload_path_leaves_optional_modules_unimported(heavy: str) -> None:
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.upload, httpx")
    assert heavy not in loaded


def test_oidc_is_imported_only_for_trusted_publishing() -> None:
    code = "import publisher.run, sys\nprint('publisher.oidc' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
