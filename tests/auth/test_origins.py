"""Credentials reach their own origin only, end to end: the action and the CLI against pypiserver, with a second
loopback origin (another port) standing where a careless configuration or a hostile input would send them.

- UV_INDEX_<NAME>_USERNAME / _PASSWORD go to the index's own `url` and `publish-url` origins, as in uv;
- the upload credentials go to the publish URL, and to the check URL only on that same origin (not: the same host);
- what was set but not sent is said, naming the origins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.support.runner import run_action, run_cli

pytestmark = pytest.mark.timeout(120)

INDEX = "private-repo"
PREFIX = "UV_INDEX_PRIVATE_REPO"
NO_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}


class OtherOrigin(FakeServer):
    """127.0.0.1 on another port: a Simple API that knows no project, recording the Authorization it was sent."""

    def handle(self, request: Request) -> Response:
        return Response.text(404, "not found")

    @property
    def authorizations(self) -> list[str | None]:
        return [r.headers.get("authorization") for r in self.requests]


def index_env(server: Any) -> dict[str, str]:
    return {**NO_OIDC, f"{PREFIX}_USERNAME": server.username, f"{PREFIX}_PASSWORD": server.password}


def test_a_check_url_on_another_origin_gets_no_index_credentials(pypiserver: Any, workspace: Path) -> None:
    with OtherOrigin() as other:
        inputs = {"index": INDEX, "skip-existing": "true", "check-url": f"{other.url}/simple/"}
        run = run_action(workspace, inputs, env=index_env(pypiserver))

    assert run.returncode == 0, run.output
    assert len(pypiserver.files()) == 2  # the upload did use them: the publish URL is the index's
    assert run.outputs["auth-method"] == "password"
    assert [r.path for r in other.requests] == ["/simple/demo-pkg/"]
    assert other.authorizations == [None]


def test_upload_credentials_are_not_lent_to_another_port_of_the_same_host(pypiserver: Any, workspace: Path) -> None:
    with OtherOrigin() as other:
        inputs = {
            "index": INDEX,
            "skip-existing": "true",
            "check-url": f"{other.url}/simple/",
            "username": pypiserver.username,
            "password": pypiserver.password,
        }
        run = run_action(workspace, inputs, env=NO_OIDC)

    assert run.returncode == 0, run.output
    assert len(pypiserver.files()) == 2
    assert other.requests
    assert other.authorizations == [None] * len(other.requests)


def test_a_check_url_refusing_anonymous_reads_says_which_credentials_stayed_home(
    pypiserver: Any, workspace: Path
) -> None:
    class Refusing(OtherOrigin):
        def handle(self, request: Request) -> Response:
            return Response.text(401, "log in")

    with Refusing() as other:
        inputs = {"index": INDEX, "skip-existing": "true", "check-url": f"{other.url}/simple/"}
        run = run_action(workspace, inputs, env=index_env(pypiserver))
        port = other.port

    assert run.returncode == 1, run.output
    assert other.authorizations == [None]
    assert (
        f"{PREFIX}_USERNAME / {PREFIX}_PASSWORD are set but were not used: they belong to index `{INDEX}`'s own "
        f"origins (http://127.0.0.1:{pypiserver.port}), and the check URL is on http://127.0.0.1:{port}"
    ) in run.output
    assert pypiserver.password not in run.visible


@pytest.mark.parametrize("front_end", ["action", "cli"])
def test_index_credentials_do_not_follow_a_publish_url_elsewhere(
    front_end: str, pypiserver: Any, workspace: Path
) -> None:
    """The index declares only `url` (for installing); the publish URL given on another origin gets nothing."""
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(
        "\n".join(line for line in pyproject.read_text().splitlines() if not line.startswith("publish-url"))
    )

    def publish(url: str) -> Any:
        if front_end == "action":
            return run_action(workspace, {"index": INDEX, "publish-url": url}, env=index_env(pypiserver))
        return run_cli(["--index", INDEX], cwd=workspace, env={**index_env(pypiserver), "UV_PUBLISH_URL": url})

    with OtherOrigin() as other:
        run = publish(f"{other.url}/legacy/")
        port = other.port
    assert run.returncode == 2, run.output
    assert other.requests == []
    assert "Missing credentials" in run.output
    assert (
        f"{PREFIX}_USERNAME / {PREFIX}_PASSWORD are set but were not used: they belong to index `{INDEX}`'s own "
        f"origins (http://127.0.0.1:{pypiserver.port}), and the publish URL is on http://127.0.0.1:{port}."
    ) in run.output
    assert pypiserver.password not in (run.visible if front_end == "action" else run.output)

    run = publish(pypiserver.upload_url)  # on the index's own origin they are used, as uv uses them
    assert run.returncode == 0, run.output
    assert len(pypiserver.files()) == 2
