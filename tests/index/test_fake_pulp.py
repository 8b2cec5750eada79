"""The fake Pulp is no yes-machine: it checks what it receives and answers in Pulp's shapes (tests/fakes/pulp.py)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.pulp import FakePulp
from tests.support.builders import pulp_dists

pytestmark = [pytest.mark.timeout(60), pytest.mark.serial]  # tasks move on a wall-clock schedule

AUTH = ("alice", "pulp-password")
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pulp_dists(tmp_path_factory.mktemp("dists")).wheel


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as plain:
        yield plain


def form(path: Path, **changes: str) -> dict[str, str]:
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.4",
        "name": "demo-pkg",
        "version": "1.0.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    return {**fields, **changes}


def upload(
    client: httpx.Client, pulp: FakePulp, path: Path, auth: tuple[str, str] | None = AUTH, **changes: str
) -> httpx.Response:
    files = {"content": (path.name, path.read_bytes(), "application/octet-stream")}
    return client.post(pulp.upload_url, data=form(path, **changes), files=files, auth=auth)


def test_uploads_need_pulps_basic_credentials(client: httpx.Client, wheel: Path) -> None:
    with FakePulp() as pulp:
        none = upload(client, pulp, wheel, auth=None)
        wrong = upload(client, pulp, wheel, auth=("alice", "wrong"))
    assert none.status_code == 401
    assert none.json() == {"detail": "Authentication credentials were not provided."}
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid username/password."}
    assert none.headers["www-authenticate"] == 'Basic realm="api"'
    assert pulp.uploads == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sha256_digest": "0" * 64}, "non_field_errors"),
        ({"sha256_digest": "abc"}, "sha256_digest"),
        ({":action": "submit"}, "non_field_errors"),
        ({"filetype": "sdist"}, "filetype"),
        ({"metadata_version": "2.5"}, "metadata_version"),
        ({"protocol_version": "2"}, "protocol_version"),
    ],
)
def test_the_form_is_checked_as_pulp_python_checks_it(
    client: httpx.Client, wheel: Path, changes: dict[str, str], field: str
) -> None:
    with FakePulp() as pulp:
        answer = upload(client, pulp, wheel, **changes)
    assert answer.status_code == 400
    assert field in answer.json()
    assert pulp.uploads == []


def test_a_task_moves_on_schedule_and_the_file_is_listed_only_once_it_completed(
    client: httpx.Client, wheel: Path
) -> None:
    with FakePulp(waiting=0.3, running=0.3) as pulp:
        accepted = upload(client, pulp, wheel)
        assert accepted.status_code == 202
        task = accepted.json()["task"]
        assert task.startswith("/pulp/api/v3/tasks/")
        states, listed = [], []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            answer = client.get(f"{pulp.url}{task}", auth=AUTH).json()
            page = client.get(f"{pulp.simple_url}demo-pkg/", headers={**JSON, "Cache-Control": "no-cache"})
            states.append(answer["state"])
            listed.append(page.status_code == 200)
            if answer["state"] == "completed":
                break
            time.sleep(0.05)
        assert answer["pulp_href"] == task
        assert answer["created_resources"]
        assert answer["error"] is None
        assert client.get(f"{pulp.url}{task}").status_code == 401
        assert client.get(f"{pulp.url}{task}", auth=("bob", "x")).status_code == 401
    assert states[0] == "waiting"
    assert "running" in states
    assert states[-1] == "completed"
    assert listed == [state == "completed" for state in states]  # listed exactly when completed
    files = page.json()["files"]
    assert files[0]["filename"] == wheel.name
    assert files[0]["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert page.headers["cache-control"] == "max-age=600"


def test_a_task_fails_with_a_description_or_waits_for_a_worker(client: httpx.Client, wheel: Path) -> None:
    with FakePulp(waiting=0.05, running=0.05, fail={wheel.name: "No METADATA"}) as pulp:
        task = upload(client, pulp, wheel).json()["task"]
        time.sleep(0.2)
        failed = client.get(f"{pulp.url}{task}", auth=AUTH).json()
        assert pulp.listed("demo-pkg") == {}
    assert failed["state"] == "failed"
    assert failed["error"]["description"] == "No METADATA"
    with FakePulp(waiting=0.05, running=0.05, workers=False) as pulp:
        task = upload(client, pulp, wheel).json()["task"]
        time.sleep(0.2)
        assert client.get(f"{pulp.url}{task}", auth=AUTH).json()["state"] == "waiting"
        pulp.start_worker()
        time.sleep(0.2)
        assert client.get(f"{pulp.url}{task}", auth=AUTH).json()["state"] == "completed"


def test_a_taken_name_is_refused_in_the_reason_phrase_and_a_race_is_won_by_the_last(
    client: httpx.Client, tmp_path: Path, wheel: Path
) -> None:
    other = pulp_dists(tmp_path / "other", readme="# other bytes\n").wheel
    with FakePulp(waiting=0.05, running=0.05, workers=False) as pulp:
        assert upload(client, pulp, wheel).status_code == 202
        assert upload(client, pulp, other).status_code == 202  # nothing completed yet: both accepted
        pulp.start_worker()
        time.sleep(0.3)
        again = upload(client, pulp, wheel)
        assert pulp.listed("demo-pkg") == {wheel.name: hashlib.sha256(other.read_bytes()).hexdigest()}
    assert again.status_code == 400
    assert again.reason_phrase == f"Package {wheel.name} already exists in index"
    assert again.content == b""


def test_the_cache_in_front_serves_a_stale_page_unless_asked_for_a_fresh_one(client: httpx.Client, wheel: Path) -> None:
    with FakePulp(waiting=0.05, running=0.05) as pulp:
        page = f"{pulp.simple_url}demo-pkg/"
        assert client.get(page, headers=JSON).status_code == 404  # kept for 600 s
        upload(client, pulp, wheel)
        time.sleep(0.3)
        stale = client.get(page, headers=JSON)
        fresh = client.get(page, headers={**JSON, "Cache-Control": "no-cache"})
        kept = client.get(page, headers=JSON)  # the fresh answer replaced the kept page
        assert client.get(page, headers={"Authorization": "Basic YWxpY2U6d3Jvbmc="}).status_code == 401
    assert stale.status_code == 404
    assert "age" in stale.headers
    assert fresh.status_code == 200
    assert kept.status_code == 200
    assert [how for _, how in pulp.simple_gets] == ["origin", "cache", "origin", "cache"]
