"""The client side of the daemon: have it run this process's command, or start one in the background.

The console script (:mod:`mathflow.host.entry`) decides, for ``mathflow COMMAND ...``:

1. ``MATHFLOW_DAEMON=off``, the ``daemon`` command itself, or no usable daemon folder: run here.
2. A daemon listens for this interpreter and environment (:func:`through_daemon`): it runs the
   command; this process forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, stops
   it with itself on Ctrl-Z (SIGTSTP) and continues it with itself, and ends as it ended (the same
   exit code, or the same signal).
3. None listens (or it has gone stale): run here; for a command that imports MLflow
   (:data:`STARTS_DAEMON`), start a daemon in the background when it is done (:func:`start_daemon`),
   for the next command.

Nothing but the standard library and the mathflow package itself is imported here.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import NoReturn

from mathflow.daemon import protocol

STARTS_DAEMON = frozenset(
    {"run", "sweep", "rerun", "resume", "predict", "serve", "export", "analyze", "compare", "runs", "ui"}
)
"""Commands that import MLflow: worth starting a daemon for. The others (``validate``, ``schema``,
``list``, ``--help`` ...) use one that is already running, and start none."""

LOG_LIMIT_BYTES = 1 << 20
"""A daemon log larger than this is started afresh by the next daemon."""

FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def command_of(argv: list[str]) -> str | None:
    """The sub-command of ``mathflow ARGV`` (its first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def through_daemon(found: protocol.Place) -> None:
    """Have the daemon of ``found`` run this command and end this process as the command ended.
    Returns (having done nothing) when no daemon listens, or when it answers that it is stale."""
    sock = protocol.connect(found, timeout=10.0)
    if sock is None:
        return
    try:
        cwd = os.getcwd()
    except OSError:
        sock.close()
        return  # a working folder that no longer exists: the command says so itself
    streams = [fd for fd in (0, 1, 2) if _is_open(fd)]
    request = {"argv": sys.argv, "cwd": cwd, "env": dict(os.environ), "fds": streams}
    try:
        protocol.send(sock, request, streams)
        answer, _ = protocol.receive(sock)
    except OSError:
        answer = None
    if answer is None or "pid" not in answer:
        sock.close()
        return  # stale (it is stopping) or gone: run here
    sock.settimeout(None)
    _relay(sock)


def _relay(sock: socket.socket) -> NoReturn:
    """Forward signals to the command until its outcome arrives, then end as it ended."""

    def forward(signum: int, frame: object) -> None:
        try:
            protocol.send(sock, {"signal": signum})
        except OSError:
            pass

    def suspend(signum: int, frame: object) -> None:
        """Ctrl-Z: stop the command, then this process; when this process continues, so does it."""
        forward(signal.SIGSTOP, frame)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, suspend)  # continued (fg, bg, SIGCONT)
        forward(signal.SIGCONT, frame)

    for name in FORWARDED_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, forward)
    if hasattr(signal, "SIGTSTP"):
        signal.signal(signal.SIGTSTP, suspend)
    try:
        outcome, _ = protocol.receive(sock)
    except OSError:
        outcome = None
    if outcome is None:
        sys.stderr.write("mathflow: the daemon ended before the command did (see `mathflow daemon status`)\n")
        os._exit(1)
    if "signal" in outcome:
        signum = int(outcome["signal"])
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(int(outcome.get("exit", 1)))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def start_daemon(found: protocol.Place, wait: float = 0.0, environment: dict[str, str] | None = None) -> bool:
    """Start the daemon of ``found`` in the background (its own session, its output in its log, this
    process's ``environment`` by default), unless one holds its lock already. With ``wait``, wait that
    many seconds for it to listen. Returns whether one is listening (always False without ``wait``).
    Its program is the host's (:mod:`mathflow.host.daemon`), named here, not imported: it runs the
    command line, a floor above this one."""
    import fcntl
    import json
    import subprocess

    try:
        with open(found.lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released at once: only a probe
        if found.log.is_file() and found.log.stat().st_size > LOG_LIMIT_BYTES:
            found.log.unlink()
        log = open(found.log, "ab")  # noqa: SIM115 - handed to the daemon
    except OSError:
        log = None  # one is starting or running (or the folder is unusable)
    if log is not None:
        with log:
            idle = str(protocol.idle_seconds(os.environ if environment is None else environment))
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from mathflow.host.daemon import main; main()",  # the host: the daemon runs the command line
                    str(found.folder),
                    found.key,
                    json.dumps(sys.path),
                    idle,
                ],
                cwd=found.folder,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
    if wait <= 0:
        return False
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        answer = protocol.ask(found, {"control": "status"}, timeout=2.0)
        if answer is not None:
            return True
        time.sleep(0.1)
    return False
