"""Index resolution as `uv publish --index NAME` does it: names, env names, uv's error texts, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config.settings import Settings, build_settings
from publisher.config.target import Target, env_name, resolve_target
from publisher.config.urls import PYPI_UPLOAD_URL
from publisher.report.errors import ConfigError, IndexResolutionError

PYPROJECT = """
[project]
name = "x"

[[tool.uv.index]]
name = "my_artifactory"
url = "https://example.jfrog.io/artifactory/api/pypi/pypi/simple"
publish-url = "https://example.jfrog.io/artifactory/api/pypi/pypi-local"
explicit = true

[[tool.uv.index]]
name = "internal"
url = "https://nexus.example/repository/pypi/simple"
"""


def _target(settings: Settings) -> Target:
    """Resolved with HOME in the test's own directory: no developer's ~/.pypirc is read."""
    return resolve_target(settings, {"HOME": str(settings.working_directory)})


def _settings(tmp_path: Path, text: str = PYPROJECT, **raw: str):  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(text)
    return build_settings({"working-directory": str(tmp_path), **raw})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("my_artifactory", "MY_ARTIFACTORY"),
        ("My.Private-Index", "MY_PRIVATE_INDEX"),
        ("pypi", "PYPI"),
        ("a1-b2", "A1_B2"),
    ],
)
def test_env_name_follows_uv(name: str, expected: str) -> None:
    assert env_name(name) == expected


def test_named_index_gives_publish_and_check_url(tmp_path: Path) -> None:
    target = _target(_settings(tmp_path, index="my_artifactory"))
    assert target.publish_url == "https://example.jfrog.io/artifactory/api/pypi/pypi-local"
    assert target.check_url == "https://example.jfrog.io/artifactory/api/pypi/pypi/simple"
    assert target.env_prefix == "UV_INDEX_MY_ARTIFACTORY"
    assert target.config_file == tmp_path / "pyproject.toml"


def test_unknown_index_lists_names_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(IndexResolutionError) as info:
        _target(_settings(tmp_path, index="my-artifactory"))
    assert "Index not found: `my-artifactory`. Found indexes: `my_artifactory`, `internal`" in info.value.message
    assert "Did you mean `my_artifactory`?" in str(info.value)
    assert info.value.exit_code == 2


def test_names_are_case_sensitive(tmp_path: Path) -> None:
    with pytest.raises(IndexResolutionError, match="Index not found: `Internal`") as info:
        _target(_settings(tmp_path, index="Internal"))
    assert "case-sensitive" in str(info.value)


def test_no_indexes_at_all(tmp_path: Path) -> None:
    with pytest.raises(IndexResolutionError, match="No indexes were found, can't use index: `bar`"):
        _target(_settings(tmp_path, text="[project]\nname='x'\n", index="bar"))


def test_index_without_publish_url(tmp_path: Path) -> None:
    with pytest.raises(IndexResolutionError, match="Index is missing a publish URL: `internal`") as info:
        _target(_settings(tmp_path, index="internal"))
    assert "publish-url" in str(info.value.hint)


def test_publish_url_input_fills_an_index_without_one(tmp_path: Path) -> None:
    target = _target(_settings(tmp_path, index="internal", **{"publish-url": "https://nexus.example/up/"}))
    assert target.publish_url == "https://nexus.example/up/"
    assert target.check_url == "https://nexus.example/repository/pypi/simple"


def test_conflicting_publish_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Conflicting upload URLs"):
        _target(_settings(tmp_path, index="my_artifactory", **{"publish-url": "https://other.example/"}))


def test_check_url_input_overrides(tmp_path: Path) -> None:
    target = _target(_settings(tmp_path, index="my_artifactory", **{"check-url": "https://c.example/simple/"}))
    assert target.check_url == "https://c.example/simple/"


def test_no_index_means_pypi(tmp_path: Path) -> None:
    target = _target(build_settings({"working-directory": str(tmp_path)}))
    assert target.publish_url == PYPI_UPLOAD_URL
    assert target.index_name is None


def test_uv_toml_wins(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text(
        '[[index]]\nname = "internal"\nurl = "https://u/simple"\npublish-url = "https://u/up"\n'
    )
    target = _target(_settings(tmp_path, index="internal"))
    assert target.publish_url == "https://u/up"
    assert target.config_file == tmp_path / "uv.toml"


def test_toml_syntax_error_shows_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 3"):
        _target(_settings(tmp_path, text='[project]\nname = "x"\n[[tool.uv.index]\n', index="x"))


def test_display_url_strips_credentials(tmp_path: Path) -> None:
    text = '[[tool.uv.index]]\nname = "a"\nurl = "https://h/simple"\npublish-url = "https://u:p@h/up/"\n'
    target = _target(_settings(tmp_path, text=text, index="a"))
    assert target.display_url == "https://h/up/"
