"""Start-up stays lean: what each path imports is checked by name (deterministic), not timed (flaky)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.support.builders import Dists
from tests.support.servers import PypiServer

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


@pytest.mark.parametrize(
    "heavy",
    [
        "keyring",
        "readme_renderer",
        "github_action_utils",
        "click",
        "rich",
        "pygments",
        "sigstore",
        "pypi_attestations",
        "requests",
    ],
)
def test_the_upload_path_leaves_optional_modules_unimported(heavy: str) -> None:
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.index.upload, httpx")
    assert heavy not in loaded


@pytest.mark.parametrize(
    "module",
    [
        "publisher.auth.trusted_publishing",
        "publisher.auth.jfrog",
        "publisher.auth.identity",
        "publisher.auth.exchange",
    ],
)
def test_oidc_is_imported_only_for_an_exchange(module: str) -> None:
    """Trusted publishing and JFrog OIDC (and the ID tokens they need) load only when the credential chain gets to
    them."""
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.index.upload, httpx", top_level=False)
    assert module not in loaded


@pytest.mark.parametrize("module", ["publisher.index.existing", "html.parser", "tarfile"])
def test_the_upload_path_imports_check_url_and_sdist_code_only_when_used(module: str) -> None:
    """The Simple API client (and its HTML parser) only with a check URL; tarfile only for an sdist."""
    loaded = _modules_after("import publisher.__main__, publisher.run, publisher.index.upload, httpx", top_level=False)
    assert module not in loaded


_UNUSED_ON_A_PASSWORD_UPLOAD = ("anyio", "trio", "sniffio", "h2", "hpack", "hyperframe", "certifi", "truststore")


# Every pydantic model whose validator was built (not deferred), by module and name: each costs start-up time.
_BUILT_MODELS = """
def _built():
    from pydantic import BaseModel
    seen, todo = [], list(BaseModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__pydantic_complete__:
            seen.append(f"{cls.__module__}.{cls.__qualname__}")
    return sorted(seen)
"""


@pytest.fixture(scope="module")
def password_upload(tmp_path_factory: pytest.TempPathFactory, built_dists: Dists) -> set[str]:
    """Every module a real password upload over http to pypiserver had loaded when it exited (status 0), and
    `model:<module>.<name>` for every pydantic model it had built."""
    out = tmp_path_factory.mktemp("modules") / "modules.json"
    models = out.with_name("models.json")
    with PypiServer(workdir=tmp_path_factory.mktemp("pypiserver")) as server:
        argv = ["--publish-url", server.upload_url, "-u", server.username, "-p", server.password]
        code = (
            "import atexit, json, sys\n"
            f"atexit.register(lambda: open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
            f"atexit.register(lambda: open({str(models)!r}, 'w').write(json.dumps(_built())))\n"
            f"{_BUILT_MODELS}\n"
            "from publisher.__main__ import main\n"
            f"sys.exit(main({[*argv, str(built_dists.wheel)]!r}))"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True)
        assert len(server.files()) == 1
    return set(json.loads(out.read_text())) | {f"model:{name}" for name in json.loads(models.read_text())}


@pytest.mark.parametrize("module", [*_UNUSED_ON_A_PASSWORD_UPLOAD, "sigstore", "publisher.auth.exchange"])
def test_a_password_upload_over_http_loads_no_async_http2_or_tls_trust_modules(
    password_upload: set[str], module: str
) -> None:
    """httpcore's package imports its async extras (anyio, trio), HTTP/2 (h2) and certifi at its top; none is used
    by a synchronous HTTP/1.1 upload over http (publisher/net/httpcore_lean.py). truststore loads only with native-tls,
    sigstore only to sign, the token exchange only for OIDC."""
    assert password_upload  # the upload ran and recorded its modules
    assert not {name for name in password_upload if name == module or name.startswith(f"{module}.")}


# What a password upload of a wheel with a Markdown description over http to an index that is not PyPI (preflight
# `auto`: the basic rules) never uses, so never loads (issue 18, start-up): PyPI's rules (classifier list, name rules,
# the JSON API), the rst renderer, TOML (no project file is read with --publish-url), the confirmation machinery
# (nothing answered 202), importlib.metadata (pydantic's plugin loader's:
# plugins are off), difflib (no did-you-mean), the netrc reader (-u and -p were given).
_UNUSED_STAGES = (
    "trove_classifiers",
    "readme_renderer",
    "publisher.preflight.remote",
    "publisher.preflight.rules_names",
    "tomllib",
    "publisher.index.confirm",
    "publisher.index.confirm_table",
    "importlib.metadata",
    "difflib",
    "publisher.config.netrcfile",
)


@pytest.mark.parametrize("module", _UNUSED_STAGES)
def test_a_password_upload_of_a_markdown_wheel_loads_only_the_stages_it_uses(
    password_upload: set[str], built_dists: Dists, module: str
) -> None:
    with zipfile.ZipFile(built_dists.wheel) as wheel:
        metadata = next(wheel.read(n) for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert b"Description-Content-Type: text/markdown" in metadata
    assert password_upload
    assert not {name for name in password_upload if name == module or name.startswith(f"{module}.")}


def test_a_password_upload_builds_no_pydantic_model_but_its_settings(password_upload: set[str]) -> None:
    """The models of a `[[tool.uv.index]]` entry and of a PEP 740 attestation are built when one is read, not at
    import: this upload reads neither."""
    assert {name for name in password_upload if name.startswith("model:")} == {
        "model:publisher.config.settings.Settings"
    }


def _plugin_loader_after(setting: str | None, code: str) -> str:
    """Which pydantic plugin loader serves a model built after importing publisher, with the setting given."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    script = (
        "import sys, publisher.config.settings\nfrom pydantic import BaseModel\n"
        f"{code}\n"
        "class M(BaseModel):\n    x: int\n"
        "assert M(x=1).x == 1\n"
        "loader = sys.modules['pydantic.plugin._loader']\n"
        "print('real' if getattr(loader, '__file__', None) else 'stand-in', 'importlib.metadata' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("setting", [None, "__all__", "1", "true"])
def test_with_pydantic_plugins_off_its_loader_and_importlib_metadata_stay_unloaded(setting: str | None) -> None:
    assert _plugin_loader_after(setting, "") == "stand-in False"


@pytest.mark.parametrize(
    ("setting", "code"),
    [("some_plugin", ""), ("__all__", "import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = 'some_plugin'")],
)
def test_with_pydantic_plugins_on_its_own_loader_serves_them(setting: str, code: str) -> None:
    """A user who turns plugins on (only some off, or later in the process) gets pydantic's loader, as ever."""
    assert _plugin_loader_after(setting, code) == "real True"


def test_the_stand_ins_leave_the_optional_modules_importable() -> None:
    """After the lean import, anyio and certifi import as ever (for whoever uses them), and httpcore's certifi
    reference reaches the real one."""
    code = (
        "import publisher.net.transport, httpcore._ssl, anyio, certifi, sys\n"
        "assert httpcore._ssl.certifi.where() == certifi.where()\n"
        "assert sys.modules['anyio'] is anyio and sys.modules['certifi'] is certifi"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_start_up_leaves_garbage_collection_on() -> None:
    code = (
        "import gc, publisher\nwith publisher.start_up():\n    assert not gc.isenabled()\n"
        "assert gc.isenabled()\ngc.disable()\nwith publisher.start_up():\n    pass\nassert not gc.isenabled()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
