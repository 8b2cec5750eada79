"""Advice that several messages share, in the words of the front end that runs (settings.label / set_to).

A workflow builds in an earlier job and hands the dists over as an artifact; a command line names them. A check URL
is the index's `url` or the check-url setting; turning skip-existing off is a different gesture in each front end.
"""

from __future__ import annotations

from publisher.config.settings import Settings
from publisher.report.wording import label, set_to

BUILD = "Build them first (`uv build` or `python -m build`)"


def no_dists(settings: Settings) -> str:
    where = settings.labels("packages-dir")
    if settings.front_end == "action":
        return (
            f"{BUILD} in the same job, or download the artifact that holds them, before this step; or point {where} "
            "at the folder that holds them."
        )
    return f"{BUILD}, or name them: the files or their folder as arguments (`publish-dists dist`), or {where}."


def no_packages_dir(settings: Settings) -> str:
    return f"{BUILD}, or point {settings.labels('packages-dir')} at the folder that holds them."


def simple_root(front_end: str) -> str:
    return (
        f"Point the index's `url` (or {label('check-url', front_end)}) at the index's Simple API root, e.g. "
        "https://host/simple/."
    )


def unreachable_check_url(front_end: str) -> str:
    return f"Check that the check URL (the index's `url`, or {label('check-url', front_end)}) is reachable from here."


def skip_existing_off(front_end: str) -> str:
    return set_to("skip-existing", False, front_end)


def read_credentials(env_prefix: str | None, front_end: str) -> str:
    """For a check URL that refused to be read: give it credentials, or stop reading it."""
    check_url, off = label("check-url", front_end), skip_existing_off(front_end)
    if env_prefix:
        return (
            f"Give the check URL read credentials: set {env_prefix}_USERNAME and {env_prefix}_PASSWORD (as for "
            f"installing from the index), or put user:pass@ in {check_url}; or {off}."
        )
    return f"Give the check URL read credentials (user:pass@ in {check_url}), or {off}."
