"""``mathflow daemon status|start|stop``: what the user can ask of the daemon of this environment."""

from __future__ import annotations

import os
import time
from typing import Any

from mathflow.daemon import protocol
from mathflow.daemon.client import start_daemon
from mathflow.errors import MathflowError

START_SECONDS = 120.0
"""How long ``mathflow daemon start`` waits for a new daemon to listen (it imports MLflow first)."""


def _place() -> protocol.Place:
    missing = protocol.missing_on_this_platform()
    if missing:
        raise MathflowError(
            f"the daemon is off on this platform (it lacks {', '.join(missing)}); every command runs in its own process"
        )
    if not protocol.enabled(os.environ):
        raise MathflowError(
            f"the daemon is switched off here (${protocol.SWITCH_ENV}={os.environ.get(protocol.SWITCH_ENV, '')!r}); "
            "every command runs in its own process"
        )
    found = protocol.place(os.environ)
    if found is None:
        folder = protocol.daemon_folder(os.environ)
        raise MathflowError(
            f"no usable daemon folder: {folder} must be a folder of this user that only this user may enter, "
            f"with a short enough path (set ${protocol.DIR_ENV})"
        )
    return found


def describe(state: dict[str, Any] | None) -> str:
    """What :func:`status`, :func:`start` or :func:`stop` found, in words."""
    if state is None:
        return "no daemon running (the next `mathflow run` starts one)"
    if state.get("starting"):
        return f"daemon starting: importing what commands need; it listens in a few seconds (log {state['log']})"
    if "stopping" in state:
        running = int(state.get("running", 0))
        return "daemon stopped" if not running else f"daemon stopping once its {running} running commands end"
    up = time.time() - float(state.get("started", time.time()))
    return (
        f"daemon running: pid {state.get('pid')}, up {_duration(up)}, {state.get('served', 0)} commands served, "
        f"{state.get('running', 0)} running, exits after {_duration(float(state.get('idle_exit_seconds', 0)))} idle\n"
        f"  socket {state.get('socket')}\n  log    {state.get('log')}"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status() -> dict[str, Any] | None:
    """The running daemon's own description (pid, socket, log, started, served, running, idle_seconds:
    how long it has been idle, idle_exit_seconds: after how long idle it exits); ``{"starting": True,
    "log": ...}`` while one holds its lock but does not listen yet (it is importing); None when none runs."""
    found = _place()
    state = protocol.ask(found, {"control": "status"})
    if state is None and _holds_lock(found):
        return {"starting": True, "log": str(found.log)}
    return state


def start() -> dict[str, Any] | None:
    """Start the daemon unless one runs, and wait until it listens; its description."""
    found = _place()
    if protocol.ask(found, {"control": "status"}) is None and not start_daemon(found, wait=START_SECONDS):
        raise MathflowError(f"the daemon did not start within {START_SECONDS:.0f} s; its log: {found.log}")
    return status()


def stop(every: bool = False, everywhere: bool = False, wait: float = 30.0) -> dict[str, Any] | None:
    """Ask the daemon to stop (``every``: each daemon in the daemon folder that serves this
    installation, whatever environment; ``everywhere``: each one of any installation or checkout),
    and wait up to ``wait`` s until they have exited, which each does once its running commands have
    ended. ``{"stopping": True, "running": n}`` (n summed over the daemons), or None when none ran."""
    found = _place()
    places = [found]
    if every or everywhere:
        places = [protocol.Place(found.folder, sock.stem) for sock in found.folder.glob("*.sock")]
    if not everywhere:
        places = [p for p in places if p == found or _serves_this_installation(p)]
    answers = [answer for answer in (protocol.ask(place, {"control": "stop"}) for place in places) if answer]
    if not answers:
        return None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_holds_lock(place) for place in places):
        time.sleep(0.05)
    return {"stopping": True, "running": sum(int(answer.get("running", 0)) for answer in answers)}


def _serves_this_installation(found: protocol.Place) -> bool:
    """Whether the daemon of ``found`` runs the mathflow package this process imports."""
    state = protocol.ask(found, {"control": "status"})
    return state is not None and state.get("installation") == protocol.INSTALLATION


def report(action: str, every: bool = False, json_out: bool = False, everywhere: bool = False) -> str:
    """``mathflow daemon ACTION``: do ``action`` (status, start or stop; for stop ``every`` daemon of
    this installation, or ``everywhere``) and say what was found: in words, or (``json_out``) as one
    JSON object (``null``: no daemon)."""
    import json

    actions = {"status": status, "start": start, "stop": lambda: stop(every, everywhere)}
    if action not in actions:
        raise MathflowError(f"unknown daemon action {action!r}; choose one of: status, start, stop")
    state = actions[action]()
    return json.dumps(state) if json_out else describe(state)


def _holds_lock(found: protocol.Place) -> bool:
    """Whether a daemon process still holds the lock of ``found``."""
    import fcntl

    try:
        with open(found.lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    return False
