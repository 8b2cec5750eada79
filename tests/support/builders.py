"""Real wheels and sdists, built with hatchling from a small generated project (offline, ~0.2 s a build).

Built dists are cached by everything that shapes them (name, version, README, extra metadata), and hatchling builds
are reproducible, so the same call always yields the same bytes while a different README yields the same file names
with other bytes (what a "same name, other content" test needs). Callers get copies, so they may rename, corrupt or
delete them freely. The cache lives on disk: tests/conftest.py points it (`share_builds`) at a directory every
pytest-xdist worker of the run sees, so each build happens once per run, not once per worker.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

from tests.support import warm
from tests.support.servers import clean_env

DEFAULT_README = "# {name}\n\nA package built by the publish-dists test bed.\n"


class Dists(NamedTuple):
    wheel: Path
    sdist: Path


def module_name(name: str) -> str:
    """The import name for a distribution name: `demo-pkg` -> `demo_pkg`."""
    return re.sub(r"[-_.]+", "_", name).lower()


def write_project(
    root: Path,
    name: str = "demo-pkg",
    version: str = "1.0.0",
    *,
    readme: str | None = None,
    readme_type: str = "text/markdown",
    extra_metadata: str = "",
) -> Path:
    """Write a hatchling project whose package has `__version__` and `hello()`, so an install can be proven."""
    module = module_name(name)
    package = root / "src" / module
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        f'"""{name}: built by the publish-dists test bed."""\n\n'
        f'__version__ = "{version}"\n\n\n'
        "def hello() -> str:\n"
        f'    return "hello from {name} {version}"\n'
    )
    suffix = ".rst" if readme_type == "text/x-rst" else (".md" if readme_type == "text/markdown" else ".txt")
    (root / f"README{suffix}").write_text(DEFAULT_README.format(name=name) if readme is None else readme)
    (root / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        f'description = "{name}, built by the publish-dists test bed"\n'
        f'readme = {{file = "README{suffix}", content-type = "{readme_type}"}}\n'
        'requires-python = ">=3.8"\n'  # a py3-none-any wheel (without it, hatchling tags py2.py3)
        f"{extra_metadata.strip()}\n"
    )
    return root


# hatchling's modules, imported once per test process: each build was ~0.5 s of CPU started fresh (warm.py).
WARM_BUILDS = warm.Server(preload=("hatchling.cli", "hatchling.builders.wheel", "hatchling.builders.sdist"))


def build_dir(project: Path, out_dir: Path) -> Dists:
    """Build an existing project's wheel and sdist into `out_dir` with hatchling, in-venv (no isolation, offline)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())
    argv = [sys.executable, "-m", "hatchling", "build", "--target", "wheel", "--target", "sdist", "-d", str(out_dir)]
    ran = WARM_BUILDS.run(argv, project, clean_env(), 120)
    if isinstance(ran, subprocess.TimeoutExpired):
        raise RuntimeError(f"hatchling build of {project} took more than 120 s")
    code, out, err = ran
    if code != 0:
        raise RuntimeError(
            f"hatchling build of {project} failed ({code}):\n{out.decode(errors='replace')}"
            f"{err.decode(errors='replace')}"
        )
    new = sorted(set(out_dir.iterdir()) - before)
    wheels = [p for p in new if p.name.endswith(".whl")]
    sdists = [p for p in new if p.name.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1:
        raise RuntimeError(f"expected one wheel and one sdist from {project}, got {[p.name for p in new]}")
    return Dists(wheels[0], sdists[0])


_CacheKey = tuple[str, str, str | None, str, str]
_cache: dict[_CacheKey, Dists] = {}
_lock = threading.Lock()
_cache_root: Path | None = None


def share_builds(root: Path) -> None:
    """Keep built dists under `root` (made if needed), where other processes of the same test run find them."""
    global _cache_root
    with _lock:
        root.mkdir(parents=True, exist_ok=True)
        _cache_root = root


def _root() -> Path:
    global _cache_root
    if _cache_root is None:
        _cache_root = Path(tempfile.mkdtemp(prefix="publish-dists-builds-"))
        atexit.register(shutil.rmtree, _cache_root, ignore_errors=True)
    return _cache_root


def _stored(slot: Path) -> Dists:
    dist = slot / "dist"
    return Dists(next(dist.glob("*.whl")), next(dist.glob("*.tar.gz")))


def _built(name: str, version: str, readme: str | None, readme_type: str, extra_metadata: str) -> Dists:
    """The cached build for these arguments; a slot appears whole (renamed into place once built), so a process
    that finds one never reads half a build, and of two processes building the same key at once, the first to
    rename wins and the other uses its slot (the same bytes: the build is reproducible)."""
    key = (name, version, readme, readme_type, extra_metadata)
    with _lock:
        if key not in _cache:
            root = _root()
            slot = root / f"{module_name(name)}-{version}-{hashlib.sha256(repr(key).encode()).hexdigest()[:16]}"
            if not slot.is_dir():
                scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
                project = write_project(
                    scratch / "src",
                    name,
                    version,
                    readme=readme,
                    readme_type=readme_type,
                    extra_metadata=extra_metadata,
                )
                build_dir(project, scratch / "dist")
                try:
                    os.rename(scratch, slot)
                except OSError:  # another process stored this key first
                    shutil.rmtree(scratch, ignore_errors=True)
            _cache[key] = _stored(slot)
        return _cache[key]


def build_project(
    out_dir: Path,
    name: str = "demo-pkg",
    version: str = "1.0.0",
    *,
    readme: str | None = None,
    readme_type: str = "text/markdown",
    extra_metadata: str = "",
) -> Dists:
    """Copies of a real wheel and sdist in `out_dir` (created if needed); built once per session per arguments.

    `extra_metadata` is TOML appended to the `[project]` table, e.g. `'license = "MIT"'`.
    """
    built = _built(name, version, readme, readme_type, extra_metadata)
    return Dists(_copy_into(out_dir, built.wheel), _copy_into(out_dir, built.sdist))


# Pulp (pulp_python) accepts core metadata up to 2.4; hatchling writes 2.5 since 1.32.
_CORE_METADATA_24 = (
    '\n[tool.hatch.build.targets.wheel]\ncore-metadata-version = "2.4"\n'
    '[tool.hatch.build.targets.sdist]\ncore-metadata-version = "2.4"\n'
)


def pulp_dists(out_dir: Path, name: str = "demo-pkg", version: str = "1.0.0", *, readme: str | None = None) -> Dists:
    """Like build_project, with core metadata 2.4: what a Pulp index accepts (tests/fakes/pulp.py)."""
    return build_project(out_dir, name, version, readme=readme, extra_metadata=_CORE_METADATA_24)


def _copy_into(out_dir: Path, path: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, out_dir / path.name))


def build_wheel(
    out_dir: Path,
    name: str = "demo-pkg",
    version: str = "1.0.0",
    *,
    readme: str | None = None,
    readme_type: str = "text/markdown",
    extra_metadata: str = "",
) -> Path:
    """A copy of the real wheel only, e.g. `demo_pkg-1.0.0-py3-none-any.whl`."""
    return _copy_into(out_dir, _built(name, version, readme, readme_type, extra_metadata).wheel)


def build_sdist(
    out_dir: Path,
    name: str = "demo-pkg",
    version: str = "1.0.0",
    *,
    readme: str | None = None,
    readme_type: str = "text/markdown",
    extra_metadata: str = "",
) -> Path:
    """A copy of the real sdist only, e.g. `demo_pkg-1.0.0.tar.gz`."""
    return _copy_into(out_dir, _built(name, version, readme, readme_type, extra_metadata).sdist)


def make_workspace(
    root: Path,
    *,
    simple_url: str,
    upload_url: str,
    dists: tuple[Path, ...] | list[Path] = (),
    index_name: str = "private-repo",
    project_name: str = "demo-pkg",
    packages_dir: str = "dist",
) -> Path:
    """A checkout as the action sees it: pyproject.toml naming one `[[tool.uv.index]]`, and copies of `dists`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{project_name}"\nversion = "1.0.0"\n\n'
        "[[tool.uv.index]]\n"
        f'name = "{index_name}"\n'
        f'url = "{simple_url}"\n'
        f'publish-url = "{upload_url}"\n'
        "explicit = true\n"
    )
    out = root / packages_dir
    out.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        shutil.copy2(dist, out / dist.name)
    return root
