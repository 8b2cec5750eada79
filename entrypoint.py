"""Container entrypoint for the GitHub Action: Actions environment -> settings -> the same run as the CLI."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from publisher import launch, start_up

    environ = os.environ
    with start_up():
        from publisher.action import read_input, settings_from_inputs
        from publisher.report.console import ActionsConsole

        console = ActionsConsole(verbose=(read_input(environ, "verbose") or "").lower() == "true", environ=environ)
    return launch(console, lambda: settings_from_inputs(environ, console), environ)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
