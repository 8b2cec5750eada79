"""Preflight, rule by rule, on real dists: each refusal case is a real hatchling build broken in exactly one way
(by its pyproject, or by rewriting the built file), and must be refused in PyPI's words with its Warehouse source;
each accept case (unusual but valid: platform tags, abi3, Metadata-Version 2.4 / 2.5 with License-Expression and
License-File, Markdown, extras with markers, a summary of exactly 512 characters) must pass PyPI's rules untouched.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.config.settings import build_settings
from publisher.dists.collect import load
from publisher.preflight.gate import file_problems, resolve_mode
from publisher.preflight.problems import Problem
from tests.support.builders import build_dir, build_project, write_project
from tests.support.dist_edits import add_header, rename, rewrite_sdist, rewrite_wheel, set_header

pytestmark = pytest.mark.timeout(120)

WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"
LEGACY = "warehouse/forklift/legacy.py"
METADATA = "warehouse/forklift/metadata.py"


def problems(path: Path, rules: str = "pypi") -> list[Problem]:
    return file_problems(load(path), rules)  # type: ignore[arg-type]


def only(path: Path, words: str, source: str, rules: str = "pypi") -> Problem:
    """The one problem `path` has, in these words (a substring of the rule) and from this source."""
    found = problems(path, rules)
    assert len(found) == 1, [p.line() for p in found]
    assert words in found[0].rule, found[0].line()
    assert found[0].source == source
    assert found[0].file == path.name
    assert found[0].fix
    return found[0]


def wheel(tmp: Path, **options: str) -> Path:
    return build_project(tmp, **options).wheel


def sdist(tmp: Path, **options: str) -> Path:
    return build_project(tmp, **options).sdist


# -- refused: one rule per file -----------------------------------------------------------------------------------

REFUSED: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "linux_x86_64 platform tag": (
        lambda t: rename(wheel(t), "demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl"),
        "Binary wheel 'demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl' has an unsupported platform tag 'linux_x86_64'.",
        LEGACY,
    ),
    "macosx 11 with a minor": (
        lambda t: rename(wheel(t), "demo_pkg-1.0.0-cp311-cp311-macosx_11_2_arm64.whl"),
        "has an unsupported platform tag 'macosx_11_2_arm64'.",
        LEGACY,
    ),
    "Private classifier": (
        lambda t: wheel(t, extra_metadata='classifiers = ["Private :: Do Not Upload"]'),
        "'Private :: Do Not Upload' is not a valid classifier.",
        METADATA,
    ),
    "unknown classifier": (
        lambda t: rewrite_sdist(sdist(t), metadata=add_header("Classifier: Framework :: No Such Thing")),
        "'Framework :: No Such Thing' is not a valid classifier.",
        METADATA,
    ),
    "deprecated classifier": (
        lambda t: rewrite_wheel(wheel(t), metadata=add_header("Classifier: Framework :: Django CMS :: 4.2")),
        "The classifier 'Framework :: Django CMS :: 4.2' has been deprecated, use one of "
        "['Framework :: Django CMS :: 5.0'] instead.",
        METADATA,
    ),
    "direct URL dependency": (
        lambda t: wheel(
            t,
            extra_metadata='dependencies = ["requests @ https://example.org/requests-2.0-py3-none-any.whl"]\n'
            "[tool.hatch.metadata]\nallow-direct-references = true",
        ),
        "Can't have direct dependency: requests @ https://example.org/requests-2.0-py3-none-any.whl",
        METADATA,
    ),
    "invalid License-Expression": (
        lambda t: rewrite_wheel(wheel(t), metadata=add_header("License-Expression: MIT OR")),
        "'MIT OR' is invalid for 'license-expression'",
        METADATA,
    ),
    "License-File missing from the wheel": (
        lambda t: rewrite_wheel(wheel(t), metadata=add_header("License-File: LICENSE.txt")),
        "License-File LICENSE.txt does not exist in distribution file demo_pkg-1.0.0-py3-none-any.whl at "
        "demo_pkg-1.0.0.dist-info/licenses/LICENSE.txt",
        LEGACY,
    ),
    "License-File missing from the sdist": (
        lambda t: rewrite_sdist(sdist(t), metadata=add_header("License-File: COPYING")),
        "License-File COPYING does not exist in distribution file demo_pkg-1.0.0.tar.gz at demo_pkg-1.0.0/COPYING",
        LEGACY,
    ),
    "License and License-Expression": (
        lambda t: rewrite_wheel(
            wheel(t), metadata=lambda m: add_header("License: MIT")(add_header("License-Expression: MIT")(m))
        ),
        "License is deprecated when License-Expression is present. Only License-Expression should be present.",
        METADATA,
    ),
    "Metadata-Version PyPI does not take": (
        lambda t: rewrite_wheel(wheel(t), metadata=set_header("Metadata-Version", "2.6")),
        "'2.6' is not a valid metadata version",
        METADATA,
    ),
    "local version": (
        lambda t: wheel(t, version="1.0.0+local"),
        "The use of local versions in '1.0.0+local' is not allowed.",
        METADATA,
    ),
    "summary too long": (
        lambda t: rewrite_wheel(wheel(t), metadata=set_header("Summary", "s" * 513)),
        "'Summary' field must be 512 characters or less.",
        METADATA,
    ),
    "project URL label too long": (
        lambda t: wheel(t, extra_metadata='[project.urls]\n"A label that is longer than thirty-two" = "https://x.org"'),
        "'A label that is longer than thirty-two' must be 32 characters or less.",
        METADATA,
    ),
    "home page not a URL": (
        lambda t: rewrite_wheel(wheel(t), metadata=add_header("Home-page: ftp://example.org/")),
        "'ftp://example.org/' is not a valid url.",
        METADATA,
    ),
    "sdist version not normalised (PEP 625)": (
        lambda t: rename(sdist(t), "demo_pkg-1.0.00.tar.gz"),
        "Filename 'demo_pkg-1.0.00.tar.gz' is invalid, should be 'demo_pkg-1.0.0.tar.gz'.",
        LEGACY,
    ),
    "wheel without RECORD": (
        lambda t: rewrite_wheel(wheel(t), drop=(".dist-info/RECORD",)),
        f"Wheel '{WHEEL}' does not contain the required RECORD file: demo_pkg-1.0.0.dist-info/RECORD",
        LEGACY,
    ),
    "wheel without WHEEL": (
        lambda t: rewrite_wheel(wheel(t), drop=(".dist-info/WHEEL",)),
        "Invalid distribution file. WHEEL not found at demo_pkg-1.0.0.dist-info/WHEEL",
        LEGACY,
    ),
    "invalid entry point name": (
        lambda t: rewrite_wheel(
            wheel(t),
            add={"demo_pkg-1.0.0.dist-info/entry_points.txt": b"[console_scripts]\n../evil = demo_pkg:hello\n"},
        ),
        f"Wheel '{WHEEL}' has invalid entry points defined in the entry_points.txt file",
        "warehouse/utils/wheel.py",
    ),
    "unsupported compression": (
        lambda t: rewrite_wheel(wheel(t), compression=zipfile.ZIP_BZIP2),
        "Invalid distribution file. File does not use a supported compression type",
        LEGACY,
    ),
    "sdist with two top-level directories": (
        lambda t: rewrite_sdist(sdist(t), add={"other/file.txt": b"x"}),
        "Invalid distribution file. Incorrect number of top-level directories in sdist",
        LEGACY,
    ),
    "file name too long": (
        lambda t: wheel(t, name="p" * 225),  # 248 bytes: PyPI stores `<file>.metadata` (255 at most)
        "Filename is too long: 'p",
        LEGACY,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_rule_is_refused_in_pypis_words(case: str, tmp_path: Path) -> None:
    make, words, source = REFUSED[case]
    only(make(tmp_path), words, source)


def test_wheel_name_not_normalised_is_refused(tmp_path: Path) -> None:
    """dists.py takes a wheel name that differs only in case; PyPI does not (nor finds its .dist-info then)."""
    path = rename(wheel(tmp_path), "Demo_Pkg-1.0.0-py3-none-any.whl")
    rules = [p.rule for p in problems(path)]
    assert (
        "Filename 'Demo_Pkg-1.0.0-py3-none-any.whl' should contain the normalized project name 'demo_pkg', not "
        "'Demo_Pkg'." in rules
    )
    assert "Invalid distribution file. WHEEL not found at Demo_Pkg-1.0.0.dist-info/WHEEL" in rules
    assert problems(path, "basic") == []


def test_a_name_at_pypis_limit_passes(tmp_path: Path) -> None:
    """246 bytes is the longest name PyPI takes (it stores `<file>.metadata` beside it); no room is left for a
    `.publish.attestation` beside it either, which must mean "no attestation", not an unreadable one."""
    path = wheel(tmp_path, name="p" * 223)
    assert len(path.name) == 246
    assert problems(path) == []


def test_metadata_rules_run_in_basic_too(tmp_path: Path) -> None:
    """Invalid core metadata is refused by any index: `basic` refuses it; PyPI-only rules are not applied."""
    broken = rewrite_wheel(wheel(tmp_path / "a"), metadata=add_header("License-Expression: MIT OR"))
    only(broken, "'MIT OR' is invalid for 'license-expression'", METADATA, rules="basic")
    private = wheel(tmp_path / "b", extra_metadata='classifiers = ["Private :: Do Not Upload"]')
    assert problems(private, "basic") == []
    assert problems(private, "off") == []


def test_a_file_breaking_several_rules_lists_them_all(tmp_path: Path) -> None:
    path = rename(
        wheel(tmp_path, extra_metadata='classifiers = ["Private :: Do Not Upload"]'),
        "demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl",
    )
    rules = sorted(p.rule.split(" ")[0] for p in problems(path))
    assert rules == ["'Private", "Binary"]


# -- accepted: unusual but valid ----------------------------------------------------------------------------------

ACCEPTED_TAGS = [
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-musllinux_1_2_aarch64",
    "cp311-cp311-macosx_10_9_universal2",
    "cp312-cp312-macosx_11_0_universal2",
    "cp313-cp313-macosx_14_0_arm64",
    "cp311-cp311-win_arm64",
    "cp39-abi3-manylinux_2_28_x86_64",
    "cp39-abi3-win_amd64",
    "cp313-cp313-ios_13_0_arm64_iphoneos",
    "cp313-cp313-android_24_arm64_v8a",
    "cp311-cp311-linux_armv7l",
    "py2.py3-none-any",
]


@pytest.mark.parametrize("tags", ACCEPTED_TAGS)
def test_platform_tags_pypi_takes_pass(tags: str, tmp_path: Path) -> None:
    assert problems(rename(wheel(tmp_path), f"demo_pkg-1.0.0-{tags}.whl")) == []


def _licensed(tmp: Path, core_metadata: str) -> list[Path]:
    project = write_project(
        tmp / "src",
        "lic-pkg",
        extra_metadata='license = "MIT OR Apache-2.0"\nlicense-files = ["LICENSE", "licenses/*.txt"]\n'
        f'[tool.hatch.build.targets.wheel]\ncore-metadata-version = "{core_metadata}"\n'
        f'[tool.hatch.build.targets.sdist]\ncore-metadata-version = "{core_metadata}"\n',
    )
    (project / "LICENSE").write_text("MIT License\n")
    (project / "licenses").mkdir()
    (project / "licenses" / "APACHE.txt").write_text("Apache License 2.0\n")
    return list(build_dir(project, tmp / "dist"))


@pytest.mark.parametrize("core_metadata", ["2.4", "2.5"])
def test_license_expression_and_present_license_files_pass(core_metadata: str, tmp_path: Path) -> None:
    for path in _licensed(tmp_path, core_metadata):
        meta = load(path).metadata
        assert meta.get("metadata_version") == core_metadata
        assert meta.get("license_expression") == "MIT OR Apache-2.0"
        assert len(meta.get("license_files") or []) == 2
        assert problems(path) == [], path.name


def test_markdown_extras_with_markers_and_a_summary_of_exactly_512_pass(tmp_path: Path) -> None:
    readme = "# Title\n\n.. not-rst::\n\n| a | b |\n|---|---|\n| `x` | *y* |\n"
    extra = (
        "dependencies = [\"rich[jupyter]>=10; python_version >= '3.9'\", \"tomli; python_version < '3.11'\"]\n"
        'classifiers = ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]\n'
        "[project.optional-dependencies]\n"
        "cli = [\"click>=8; sys_platform != 'emscripten'\"]\n"
        "[project.urls]\n"
        f'"{"L" * 32}" = "https://example.org/x"\n'
    )
    dists = build_project(tmp_path, readme=readme, extra_metadata=extra)
    for path in dists:
        rewrite = rewrite_wheel if path.suffix == ".whl" else rewrite_sdist
        rewrite(path, metadata=set_header("Summary", "s" * 512))  # type: ignore[operator]
        assert load(path).metadata.get("summary") == "s" * 512
        assert problems(path) == [], path.name


# -- which rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "url", "rules"),
    [
        ({}, "https://upload.pypi.org/legacy/", "pypi"),
        ({}, "https://test.pypi.org/legacy/", "pypi"),
        ({}, "https://pkgs.example.org/upload/", "basic"),
        ({"preflight": "pypi"}, "https://pkgs.example.org/upload/", "pypi"),
        ({"preflight": "basic"}, "https://upload.pypi.org/legacy/", "basic"),
        ({"preflight": "off"}, "https://upload.pypi.org/legacy/", "off"),
        ({"verify-metadata": "false"}, "https://upload.pypi.org/legacy/", "off"),
        ({"verify-metadata": "false", "preflight": "pypi"}, "https://upload.pypi.org/legacy/", "off"),
    ],
)
def test_mode(raw: dict[str, str], url: str, rules: str) -> None:
    assert resolve_mode(build_settings(raw), url) == rules


def test_an_unknown_mode_names_the_accepted_ones() -> None:
    with pytest.raises(Exception, match=r"--preflight is 'strict': expected one of: auto, pypi, basic, off"):
        build_settings({"preflight": "strict"}, source="cli")


# The reading-level modules, by their own names: publisher.dists.collect, report.errors / safe / console,
# config.settings, net.bodies / bounds / transport, index.reads, auth.model (ReadAuth), version (the User-Agent).
ALLOWED = {
    "collect",
    "errors",
    "safe",
    "settings",
    "console",
    "bodies",
    "reads",
    "bounds",
    "transport",
    "model",
    "version",
}


def test_preflight_imports_reading_level_modules_only() -> None:
    """The package decides before anything is sent: it may not reach the upload, confirmation or run stages."""
    package = Path(__file__).resolve().parents[2] / "publisher" / "preflight"
    used: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("publisher"):
                if node.module.startswith("publisher.preflight"):
                    continue
                if node.module in ("publisher", "publisher.report"):  # `from publisher.report import safe`
                    used.update(alias.name for alias in node.names if alias.name[0].islower())
                else:
                    used.add(node.module.rsplit(".", 1)[-1])
    assert used <= ALLOWED, used - ALLOWED
    assert "collect" in used
