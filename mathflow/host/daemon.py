"""The daemon process: the mechanism of :mod:`mathflow.daemon.server`, given what to import ahead
(:func:`mathflow.startup.preload_daemon`, then the command line) and the command each forked child
runs: :func:`mathflow.cli.main`, told that it runs in a fork of a process without threads.

    python -c "from mathflow.host.daemon import main; main()" FOLDER KEY SYS_PATH_JSON IDLE_SECONDS

(started by :func:`mathflow.daemon.client.start_daemon`). The command line is imported only once the
daemon has taken up its callers' ``sys.path``, as every other import of the daemon.
"""

from __future__ import annotations

from mathflow.daemon import server


def preload() -> None:
    """What every command would import on its own, and the command line itself."""
    from mathflow.startup import preload_daemon

    preload_daemon()
    import mathflow.cli  # noqa: F401 - what every child runs


def run_command() -> None:
    """In a forked child: run the command line, which ends the process. Its run may fork its figure
    helper: the child is a fork of a process without threads, with matplotlib imported."""
    from mathflow.cli import main as run_command_line
    from mathflow.process import Host

    run_command_line(Host(figures_may_fork=True))


def main() -> None:
    """Entry point of the daemon process."""
    server.main(preload=preload, command=run_command)
