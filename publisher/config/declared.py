"""Say where the files go when no index was named but the project declares one to publish to.

Without `index` (--index) and `publish-url`, the target is PyPI, as in `uv publish`. A project whose
`[[tool.uv.index]]` has an entry with a `publish-url` was probably meant to go there: a newcomer who forgot the name
would otherwise publish to PyPI without a word. So, before anything is sent, a notice names the declared indexes and
how to pick one. The default does not change, and nothing here can fail the run: a file that cannot be read is the
business of a run that names an index.
"""

from __future__ import annotations

from publisher.config.settings import Settings
from publisher.config.target import Target, load_indexes
from publisher.report import safe
from publisher.report.console import Console
from publisher.report.errors import ConfigError


def note_declared_indexes(settings: Settings, target: Target, console: Console) -> None:
    if settings.index is not None or settings.publish_url is not None:
        return
    pyproject = settings.resolve(settings.pyproject)
    if not pyproject.is_file() and not (pyproject.parent / "uv.toml").is_file():
        return
    try:
        indexes, source = load_indexes(pyproject, settings.working_directory)
    except ConfigError:
        return
    names = [index.name for index in indexes if index.publish_url]
    if not names:
        return
    listed = ", ".join(f"`{safe.exact(name, 100)}`" for name in names)
    how = (
        f"{settings.written('index', names[0])} uploads there instead"
        if len(names) == 1
        else f"{settings.written('index', 'NAME')} picks one"
    )
    console.notice(
        f"No index was named, so the files go to PyPI ({target.display_url}). {safe.exact(source)} declares "
        f"{'index' if len(names) == 1 else 'indexes'} {listed} with a `publish-url`: {how}.",
        title="Publishing to PyPI",
    )
