"""How a command that failed or was stopped is reported: one line for standard error and an exit code.

The tracebacks are the command line's business (``--debug``); here is only what a user sees without it.
"""

from __future__ import annotations

from typing import Any


def failure(exc: BaseException, run: bool, tracking_uri: str | None = None) -> tuple[str, int] | None:
    """The stderr line and exit code of a command ended by ``exc``; None when it is not one to report
    so (raise it). A run command (``run``) reports every error, Ctrl-C and stop signal
    (:func:`run_failure`); the others only a located user error (a MathflowError: its lines, 1)."""
    if run:
        return run_failure(exc, tracking_uri)
    from mathflow.errors import MathflowError

    return (exc.format(), 1) if isinstance(exc, MathflowError) else None


def run_failure(exc: BaseException, tracking_uri: str | None = None) -> tuple[str, int]:
    """The stderr line and exit code of a run command ended by ``exc``: a stop signal (SIGINT, SIGTERM,
    SIGHUP) → 128 + signal; another Ctrl-C → 130; a located user error → its lines, 1; any other
    error → one line (a store fault of ``tracking_uri`` said as such), 1."""
    from mathflow.errors import MathflowError
    from mathflow.tracking.signals import RunInterrupted

    if isinstance(exc, RunInterrupted):
        return interrupted_line(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: the run was stopped by the user and marked KILLED", 130
    if isinstance(exc, MathflowError):
        return exc.format(), 1
    return f"error: {store_fault(exc, tracking_uri) or error_line(exc)}", 1


def interrupted_line(exc: Any) -> str:
    """The one stderr line of a run ended by a stop signal."""
    if exc.run_id is None:
        return f"interrupted by {exc.name} before a run was started (nothing recorded)"
    return f"interrupted by {exc.name}: run {exc.run_id} was stopped and marked KILLED (what was logged is kept)"


def store_fault(exc: BaseException, tracking_uri: str | None) -> str | None:
    """One line for a store fault (full disk, read-only, corrupt), None for other errors."""
    from mathflow.tracking.store import resolve_tracking_uri
    from mathflow.tracking.store import store_fault as fault_of

    return fault_of(exc, resolve_tracking_uri(tracking_uri))


def error_line(exc: BaseException) -> str:
    """One line for any other error."""
    from mathflow.tracking import error_reason

    return error_reason(exc)
