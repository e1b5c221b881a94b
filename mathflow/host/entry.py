"""The ``mathflow`` console script: run the command in a daemon's child when one listens, else here.

See :mod:`mathflow.daemon.client` for the decision. Nothing but the standard library and the mathflow
package itself is imported before it is taken: the command line (typer, and what the command needs)
only once the command runs in this process.
"""

from __future__ import annotations

import os
import sys

from mathflow.daemon import protocol
from mathflow.daemon.client import STARTS_DAEMON, command_of, start_daemon, through_daemon


def main() -> None:
    """Console-script entry point (see :mod:`mathflow.daemon.client`)."""
    command = command_of(sys.argv[1:])
    if command != "daemon" and protocol.enabled(os.environ):
        found = protocol.place(os.environ)
        if found is not None:
            through_daemon(found)  # returns only when no daemon took the command
            if command in STARTS_DAEMON:
                import atexit

                # once this command is done (no competing for the CPU), in the environment it was given
                atexit.register(start_daemon, found, environment=dict(os.environ))
    from mathflow.cli import main as run_here

    run_here()


if __name__ == "__main__":
    main()
