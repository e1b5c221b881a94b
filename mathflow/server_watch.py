"""The watchdog of a server that a command started (``mathflow serve``, ``mathflow ui``).

It lives in the server's process group and holds the read end of a pipe whose write end only the
command holds. However the command ends (it returns, Ctrl-C, SIGTERM, SIGHUP when its terminal
closes, kill -9, or the daemon's child killed with its caller), the kernel closes that end, the read
returns, and the watchdog stops the whole group: SIGTERM, then SIGKILL once the server has gone or
after :data:`GRACE_S` seconds (which ends the watchdog too). So no server outlives its command.

Run as a script (``python server_watch.py FD``): standard library only, nothing of mathflow is
imported, so it is watching within milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

#: Seconds the server has to stop after SIGTERM before the group is killed.
GRACE_S = 10.0


def watch(fd: int) -> None:
    """Block until the pipe ``fd`` closes, then stop this process group (this process included)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # the group's stop must not stop the watchdog first
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and _alive(group):
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether the group's leader (the server, whose pid is the group id) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(server: subprocess.Popen[Any]) -> int | None:
    """Start the watchdog of ``server`` (started in a process group of its own) in that group; the
    write end of its pipe, which the caller keeps open for as long as it runs (None when the server
    has already ended)."""
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, str(read_end)],
            pass_fds=(read_end,),
            preexec_fn=lambda: os.setpgid(0, server.pid),  # noqa: PLW1509 - setpgid only
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):  # the server's group is already gone
        os.close(write_end)
        return None
    finally:
        os.close(read_end)
    return write_end


if __name__ == "__main__":
    watch(int(sys.argv[1]))
