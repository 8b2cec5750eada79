"""PyPI's rules for a file's name: the platform tags it may carry, and the normalised names PEP 625 and the wheel
spec require (warehouse/forklift/legacy.py). Pure functions of the name and the parsed metadata.

publisher.dists.collect already refuses what every index refuses (a name that does not parse, a name or version that
disagrees with the metadata, a .zip sdist); these are the stricter rules PyPI adds on top.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from publisher.dists.collect import Dist
from publisher.preflight.problems import LEGACY, Problem

# Platform tags PyPI takes (legacy.py's static list and patterns), restated here.
_STATIC_PLATFORMS = frozenset(
    {
        "any",
        "win32",
        "win_arm64",
        "win_amd64",
        "win_ia64",
        "manylinux1_x86_64",
        "manylinux1_i686",
        "manylinux2010_x86_64",
        "manylinux2010_i686",
        "manylinux2014_x86_64",
        "manylinux2014_i686",
        "manylinux2014_aarch64",
        "manylinux2014_armv7l",
        "manylinux2014_ppc64",
        "manylinux2014_ppc64le",
        "manylinux2014_s390x",
        "linux_armv6l",
        "linux_armv7l",
    }
)
_MACOS = re.compile(r"macosx_(\d+)_(\d+)_(.*)")
_MACOS_ARCHES = frozenset(
    {"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64", "universal", "universal2"}
)
_MACOS_MAJORS = frozenset({"11", "12", "13", "14", "15", "26"})  # and 10, with any minor
_LINUX = re.compile(r"(many|musl)linux_(\d+)_(\d+)_(.*)")
_LINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
_IOS = re.compile(r"ios_(\d+)_(\d+)_(.*)_(iphoneos|iphonesimulator)")
_ANDROID = re.compile(r"android_(\d+)_(.*)")
_ANDROID_ARCHES = frozenset({"armeabi_v7a", "arm64_v8a", "x86", "x86_64"})
_EMSCRIPTEN = re.compile(r"pyemscripten_(\d+)_(\d+)_wasm32")
_MAX_NAME_BYTES = 255 - len(".metadata")  # PyPI stores `<file>.metadata` beside the wheel: one path component


def platform_allowed(tag: str) -> bool:
    """Whether PyPI takes a wheel built for this platform tag."""
    if tag in _STATIC_PLATFORMS:
        return True
    if m := _MACOS.fullmatch(tag):
        major, minor, arch = m.groups()
        return arch in _MACOS_ARCHES and (major == "10" or (major in _MACOS_MAJORS and minor == "0"))
    if m := _LINUX.fullmatch(tag):
        libc, arch = m.group(1), m.group(4)
        return arch in _LINUX_ARCHES or (libc == "many" and arch == "ppc64")
    if m := _IOS.fullmatch(tag):
        return m.group(3) in {"arm64", "x86_64"}
    if m := _ANDROID.fullmatch(tag):
        return m.group(2) in _ANDROID_ARCHES
    return _EMSCRIPTEN.fullmatch(tag) is not None


def _wheel_rules(dist: Dist) -> list[Problem]:
    file = dist.filename
    problems: list[Problem] = []
    _, _, _, tags = parse_wheel_filename(file)
    for platform in sorted({t.platform for t in tags}):
        if not platform_allowed(platform):
            problems.append(
                Problem(
                    file,
                    f"Binary wheel '{file}' has an unsupported platform tag '{platform}'.",
                    "build for a platform PyPI takes (manylinux/musllinux with auditwheel, macosx, win, ...), "
                    "or publish this wheel to another index",
                    LEGACY,
                )
            )
    normalized = canonicalize_name(dist.name).replace("-", "_")
    in_name = file.split("-", 1)[0]
    if in_name != normalized:
        problems.append(
            Problem(
                file,
                f"Filename '{file}' should contain the normalized project name '{normalized}', not '{in_name}'.",
                "rebuild with a current build backend, which writes the normalised name",
                LEGACY,
            )
        )
    if len(file.encode()) > _MAX_NAME_BYTES:
        problems.append(
            Problem(file, f"Filename is too long: '{file}'", "shorten the project name or the tags", LEGACY)
        )
    return problems


def _sdist_rules(dist: Dist) -> list[Problem]:
    file = dist.filename
    try:
        version = str(Version(dist.version))
    except InvalidVersion:
        return []  # publisher.dists.collect refused it already
    expected = f"{canonicalize_name(dist.name).replace('-', '_')}-{version}.tar.gz"
    if file == expected:
        return []
    return [
        Problem(
            file,
            f"Filename '{file}' is invalid, should be '{expected}'.",
            "rebuild the sdist with a current build backend (PEP 625 names: normalised name and version)",
            LEGACY,
        )
    ]


def name_problems(dist: Dist) -> list[Problem]:
    """PyPI's file-name rules for one dist."""
    return _wheel_rules(dist) if dist.filetype == "bdist_wheel" else _sdist_rules(dist)
