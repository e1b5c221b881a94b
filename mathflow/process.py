"""The process a command runs in: what its host allows it, its guarded standard output, its fast exit.

- :class:`Host`: what the process that runs a command allows it, handed by the host (the console
  script, or the daemon's forked child) to :func:`mathflow.cli.main` and from there down to the run.
- :class:`StdoutGuard`: standard output that turns into ``/dev/null`` once its reader has gone away.
- :func:`end_process`: exit as ``sys.exit`` would, without the interpreter's slow teardown.
- :func:`missing_folder_line`: the one line for a command started in a folder that was deleted.

Standard library only: the command line imports this before it knows what the command needs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn


@dataclass(frozen=True)
class Host:
    """What the process that runs a command allows it.

    ``figures_may_fork``: the run may fork its figure helper
    (:class:`~mathflow.tracking.figure_worker.FigureWorker`). True only in a command run by the
    daemon: a fork of a process without threads of its own, with matplotlib imported. Forking is not
    safe in a process with threads (a Ray worker has threads Python does not even see).
    """

    figures_may_fork: bool = False


class StdoutGuard:
    """Standard output that becomes ``/dev/null`` once its reader has gone away (``| head``): the
    command goes on (a run trains to the end and is recorded FINISHED) instead of failing on the
    first line it can no longer print."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self) -> None:
        """Point the stream's file descriptor at ``/dev/null`` (what is still buffered goes there too)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def missing_folder_line(argv: list[str]) -> str | None:
    """The line a command prints when its working folder no longer exists (deleted after the shell
    entered it), None when it exists or only help is asked for (``mathflow``, ``--help``)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        asks_help = not argv or "--help" in argv or "--version" in argv
        return (
            None
            if asks_help
            else "error: the working folder no longer exists (was it deleted?); cd to a folder that does"
        )
    return None


def guard_stdout() -> None:
    """Put :class:`StdoutGuard` around ``sys.stdout`` (once)."""
    if sys.stdout is not None and not isinstance(sys.stdout, StdoutGuard):
        sys.stdout = StdoutGuard(sys.stdout)  # type: ignore[assignment]


def end_process(code: int | str | None) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` would, without the interpreter's teardown.

    Freeing every module and object of a process that imported MLflow, pandas and SQLAlchemy takes
    0.5-1.5 s, after all the work is done and recorded. So the steps of Python's own shutdown that
    matter are taken here, in its order: wait for the other threads, run the exit handlers (MLflow's,
    multiprocessing's, temporary folders' finalizers, logging's flush), flush standard output and
    error (a reader that has gone away is not an error); then ``os._exit``.

    The first two steps are CPython's own private hooks, ``threading._shutdown`` (which also stops
    idle thread pools) and ``atexit._run_exitfuncs``; they are used here and nowhere else. Where
    either is missing (another interpreter, a future CPython), this is a normal ``sys.exit(code)``:
    slower, never wrong. A string ``code`` is written to standard error and exits 1, as with
    ``sys.exit``.
    """
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    hooks = _shutdown_hooks()
    if hooks is None:
        sys.exit(code)
    for hook in hooks:
        hook()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream
            pass
    os._exit(code or 0)


def _shutdown_hooks() -> tuple[Any, Any] | None:
    """CPython's private ``(threading._shutdown, atexit._run_exitfuncs)``, in the order the
    interpreter calls them at exit; None where either is missing."""
    import atexit
    import threading

    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exit_handlers is None:
        return None
    return shutdown_threads, run_exit_handlers
