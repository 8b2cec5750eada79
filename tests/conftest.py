"""Fixtures for the real-registry test bed (see tests/support): servers, real dists and a ready checkout.

Costs, measured on 2 cores: `pypiserver` ~0.3 s per test, `devpi` ~5 s once per session plus ~0.4 s per
`devpi_index`, a new `dist_factory` build ~0.2 s (then cached for the session).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `from tests.support ...` whatever directory pytest was started from
    sys.path.insert(0, str(ROOT))

from tests import platforms  # noqa: E402
from tests.fakes.github_oidc import FakeGitHubOIDC  # noqa: E402
from tests.fakes.trusted_index import FakeTrustedIndex, Publisher  # noqa: E402
from tests.support.builders import Dists, build_project, build_sdist, build_wheel, make_workspace, share_builds  # noqa: E402  # noqa: E402
from tests.support.servers import DevpiIndex, DevpiServer, PypiServer  # noqa: E402

INDEX_NAME = "private-repo"
_FAILED = pytest.StashKey[bool]()
_index_numbers = itertools.count(1)
DEVPI_GROUP = "devpi"
NATIVE_MODULE = "tests/test_native_action.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (with the reason) what tests/platforms.py says cannot run on this operating system, and hold the devpi
    tests to the naming rule `pytest_xdist_make_scheduler` groups them by. First among the hooks, before `-m` and
    `-k` deselect anything: the ids of everything collected are kept (platforms.collected_ids)."""
    config.stash[platforms.COLLECTED] = [item.nodeid for item in items]
    platforms.apply(items)
    unnamed = [item.nodeid for item in items if _uses_devpi(item) and DEVPI_GROUP not in item.nodeid]
    if unnamed:
        raise pytest.UsageError(
            f"these tests use the session's devpi-server but have no {DEVPI_GROUP!r} in their id, so `make test` "
            f"would start another server for them: {', '.join(unnamed)}. Put it in the test's name or parameter id."
        )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under pytest-xdist (`make test`), tests that share an expensive session fixture run on one worker, so it is
    made once, not once per worker: the session's devpi-server (~10 s of CPU to start) and the native action's venv
    (tests/test_native_action.py: a pip install of the lock, ~8 s of CPU). xdist hands out the largest groups first,
    so these start at once instead of ending the run.

    xdist's own grouping (the `xdist_group` mark with `--dist loadgroup`) renames test ids, which pytest 9.2's
    structured ids ignore: it silently grouped nothing and each worker started its own devpi-server. The scheduler
    sees only test ids, so the groups are named by them (devpi's is checked at collection, above).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedFixturesTogether(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if DEVPI_GROUP in nodeid:
                return DEVPI_GROUP
            if nodeid.startswith(NATIVE_MODULE + "::"):
                return NATIVE_MODULE
            return super()._split_scope(nodeid)

    return SharedFixturesTogether(config, log)  # type: ignore[arg-type]


def _uses_devpi(item: pytest.Item) -> bool:
    """Requests the devpi fixtures, or names one as a parameter (for `request.getfixturevalue`)."""
    if "devpi" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(str(value).startswith("devpi") for value in callspec.params.values())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether a test failed, so server fixtures print their log only when it helps."""
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


def _show_log_if_failed(request: pytest.FixtureRequest, title: str, log: str) -> None:
    if request.node.stash.get(_FAILED, False):
        tail = log[-20_000:]
        print(f"\n----- {title} (last {len(tail)} characters) -----\n{tail}")  # shown as "Captured stdout teardown"


@pytest.fixture(scope="session", autouse=True)
def _builds_shared_by_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Build each dist once per run: pytest-xdist workers' temporary roots sit in the run's own, which all see."""
    base = tmp_path_factory.getbasetemp()
    share_builds((base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "built-dists-cache")


@pytest.fixture
def pypiserver(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    """A fresh, empty pypiserver per test; user `alice`, password `.password`; uploads need it, reads do not."""
    server = PypiServer(workdir=tmp_path_factory.mktemp("pypiserver"))
    try:
        server.start()
        yield server
    finally:
        _show_log_if_failed(request, f"pypiserver log {server.log_path}", server.log())
        server.stop()


@pytest.fixture(scope="session")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    """One devpi-server for the session (it takes ~5 s to start); use `devpi_index` for a clean index per test."""
    server = DevpiServer(workdir=tmp_path_factory.mktemp("devpi"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def devpi_index(request: pytest.FixtureRequest, devpi: DevpiServer) -> Iterator[DevpiIndex]:
    """A new, empty, non-volatile index (409 on other bytes under a taken name) owned by `devpi.user`."""
    index = devpi.create_index(f"test{next(_index_numbers)}")
    yield index
    _show_log_if_failed(request, f"devpi-server log {devpi.log_path}", devpi.log())


@pytest.fixture(scope="session")
def built_dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The real wheel and sdist of `demo-pkg` 1.0.0 (import `demo_pkg`: `__version__`, `hello()`), built once.

    Shared by the whole session: copy before changing them (the `workspace` fixture holds copies).
    """
    return build_project(tmp_path_factory.mktemp("built-dists"))


@pytest.fixture
def dist_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Dists]:
    """`dist_factory(name, version, readme=..., readme_type=..., extra_metadata=...)` -> fresh copies of real dists."""

    def build(name: str = "demo-pkg", version: str = "1.0.0", **options: str) -> Dists:
        return build_project(tmp_path_factory.mktemp("dists"), name, version, **options)

    return build


@pytest.fixture
def workspace(tmp_path_factory: pytest.TempPathFactory, pypiserver: PypiServer, built_dists: Dists) -> Path:
    """A checkout whose pyproject.toml declares index `private-repo` (the `pypiserver`), with both dists in dist/."""
    return make_workspace(
        tmp_path_factory.mktemp("workspace"),
        simple_url=pypiserver.simple_url,
        upload_url=pypiserver.upload_url,
        dists=list(built_dists),
        index_name=INDEX_NAME,
    )


# -- trusted publishing: the fakes most OIDC tests share -----------------------------------------------------------


@pytest.fixture
def github() -> Iterator[FakeGitHubOIDC]:
    """GitHub's OIDC token service, faked on loopback (tests/fakes/github_oidc.py); `github.env` is the job's."""
    with FakeGitHubOIDC() as fake:
        yield fake


@pytest.fixture
def index(github: FakeGitHubOIDC) -> Iterator[FakeTrustedIndex]:
    """A PyPI-like index that trusts octo-org/octo-repo's release.yml (tests/fakes/trusted_index.py)."""
    with FakeTrustedIndex(github.public_key, publisher=Publisher("octo-org/octo-repo", "release.yml")) as fake:
        yield fake


@pytest.fixture
def tp_workspace(tmp_path: Path) -> Path:
    """A checkout with a wheel and an sdist in dist/, and nothing else: the publish URL comes from the inputs."""
    workspace = tmp_path / "workspace"
    dist = workspace / "dist"
    dist.mkdir(parents=True)
    build_wheel(dist, "tp-demo", "1.0.0")
    build_sdist(dist, "tp-demo", "1.0.0")
    return workspace
