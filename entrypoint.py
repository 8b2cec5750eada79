"""Container entrypoint for the GitHub Action: Actions environment -> settings -> the same run as the CLI."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from publisher import start_up

    with start_up():
        from publisher.action import read_input, settings_from_inputs
        from publisher.console import ActionsConsole
        from publisher.errors import ConfigError

        environ = os.environ
        console = ActionsConsole(verbose=(read_input(environ, "verbose") or "").lower() == "true", environ=environ)
        try:
            settings = settings_from_inputs(environ, console)
        except ConfigError as exc:
            console.error(str(exc), title=exc.title)
            return exc.exit_code
        console.verbose = settings.verbose
        from publisher.run import main as run_main  # the HTTP stack: not needed to report a bad input

    return run_main(settings, environ, console)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
