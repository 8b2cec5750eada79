"""Start-up stays lean: what each path imports is checked by name (deterministic), not timed (flaky)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_REPORT = "import json, sys; print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)))"


def _modules_after(code: str, *, top_level: bool = True) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_REPORT}"], capture_output=True, text=True, check=True, timeout=60
    )
    names = json.loads(result.stdout.splitlines()[-1])
    return {name.split(".")[0] for name in names} if top_level else set(names)


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


@pytest.mark.parametrize(
    "module", ["publisher.trusted_publishing", "publisher.jfrog", "publisher.identity", "publisher.exchange"]
)
def test_oidc_is_imported_only_for_an_exchange(module: str) -> None:
    """Trusted publishing and JFrog OIDC (and the ID tokens they need) load only when the credential chain gets to
    them."""
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.upload, httpx", top_level=False)
    assert module not in loaded


@pytest.mark.parametrize("module", ["publisher.existing", "html.parser", "tarfile"])
def test_the_upload_path_imports_check_url_and_sdist_code_only_when_used(module: str) -> None:
    """The Simple API client (and its HTML parser) only with a check URL; tarfile only for an sdist."""
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.upload, httpx", top_level=False)
    assert module not in loaded


def test_start_up_leaves_garbage_collection_on() -> None:
    code = (
        "import gc, publisher\nwith publisher.start_up():\n    assert not gc.isenabled()\n"
        "assert gc.isenabled()\ngc.disable()\nwith publisher.start_up():\n    pass\nassert not gc.isenabled()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
