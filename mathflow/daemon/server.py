"""The daemon: import MLflow, its SQL store, matplotlib and mathflow once, then fork a child per command.

    python -c "from mathflow.host.daemon import main; main()" FOLDER KEY SYS_PATH_JSON IDLE_SECONDS

(started by :func:`mathflow.daemon.client.start_daemon`, in its own session, in the daemon folder).
This module is the mechanism; :mod:`mathflow.host.daemon` gives it what to import ahead and the
command each child runs (the command line), from the floor above the command line.

- **One per place.** It holds an exclusive lock on ``<key>.lock`` for its whole life; a second one
  started for the same place exits at once. It listens only once everything is imported, so a
  command never waits for a daemon that is still starting: it runs in its own process instead.
- **Callers.** Only processes of this user (``SO_PEERCRED``) in a folder only this user may enter.
- **A command** is a request ``{"argv", "cwd", "env", "fds"}`` with the caller's standard streams
  attached. The daemon forks; the child takes the streams as its 0, 1, 2, the folder, environment
  (plus any default its imports set) and arguments, reseeds the random generators, and runs the
  command (:func:`mathflow.cli.main`, given by the host), which ends the process. The daemon answers
  ``{"pid"}`` at once and ``{"exit": code}`` or ``{"signal": n}`` when the child ends. Meanwhile it
  reads the caller's connection: ``{"signal": n}`` is sent to the child, and the caller going away
  (the connection closes) kills the child, as killing the caller's own process would have killed
  the command.
  The child has a single thread, as a process of its own would.
- **Staleness.** Before every command it compares the size and modification time of every module
  file it has imported with those it imported: if one changed (an upgrade, an edit of mathflow),
  it answers ``{"stale": true}``, stops listening and exits once its running children have ended.
- **Idle exit** after ``IDLE_SECONDS`` without a running or new command; ``SIGTERM`` or a
  ``{"control": "stop"}`` request stops it the same way. ``{"control": "status"}`` describes it.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathflow.daemon import protocol

_PEER = struct.Struct("3i")  # struct ucred: pid, uid, gid


def _identity(info: os.stat_result) -> tuple[int, ...]:
    """What tells a file's contents changed: size, inode, modification and change time (ns). The
    change time moves with any write, even one that restores the size and modification time
    (``cp -p``, ``rsync -a``), and a file replaced by another has another inode."""
    return info.st_size, info.st_ino, info.st_mtime_ns, info.st_ctime_ns


def module_files() -> dict[str, tuple[int, ...]]:
    """The :func:`_identity` of the file of every imported module."""
    found: dict[str, tuple[int, ...]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or path in found:
            continue
        try:
            info = os.stat(path)
        except OSError:
            continue
        found[path] = _identity(info)
    return found


def changed_files(known: dict[str, tuple[int, ...]]) -> list[str]:
    """The files of :func:`module_files` that are no longer as they were imported."""
    changed = []
    for path, identity in known.items():
        try:
            info = os.stat(path)
        except OSError:
            changed.append(path)
            continue
        if _identity(info) != identity:
            changed.append(path)
    return changed


def log(message: str) -> None:
    """A line of the daemon's log (its standard error, the ``<key>.log`` file)."""
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {message}\n")
    sys.stderr.flush()


#: Seconds a caller has to send its whole request after connecting.
REQUEST_SECONDS = 5.0


@dataclass
class _Pending:
    """A connection whose request is still arriving: the bytes and descriptors so far, its deadline."""

    conn: socket.socket
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    fds: list[int] = field(default_factory=list)


class Daemon:
    """The accept-fork-reap loop; see the module docstring."""

    def __init__(self, place: protocol.Place, idle_seconds: float, command: Callable[[], object]) -> None:
        self.place = place
        self.idle_seconds = idle_seconds
        self.command = command  # what a child runs: the command line, which ends the process
        self.children: dict[int, socket.socket] = {}
        self.served = 0
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.stopping = False
        self.stop_requested = False
        self.known_files: dict[str, tuple[int, ...]] = {}
        self.import_defaults: dict[str, str] = {}  # environment variables that the imports set
        self.listener: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, self.wakeup_write = os.pipe()

    # ------------------------------------------------------------------ life
    def listen(self) -> None:
        """Bind the socket (a stale one left by a killed daemon is replaced: we hold the lock)."""
        path = self.place.socket
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_mask)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.socket_inode = path.stat().st_ino

    def stop_listening(self) -> None:
        """No new commands; the socket file goes (if it is still ours), running children finish."""
        self.stopping = True
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        try:
            if self.place.socket.stat().st_ino == self.socket_inode:
                self.place.socket.unlink()
        except OSError:
            pass

    def serve_forever(self) -> None:
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, self.request_stop)
        for ignored in (signal.SIGINT, signal.SIGHUP):
            signal.signal(ignored, signal.SIG_IGN)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ, "wakeup")
        self.known_files = module_files()
        self.listen()
        files = len(self.known_files)
        log(f"listening on {self.place.socket} ({files} module files, idle exit {self.idle_seconds:g} s)")
        while True:
            self.reap()
            if self.stop_requested and not self.stopping:
                self.stop_listening()
            if self.stopping and not self.children:
                break
            timeout = None
            if not self.children:
                timeout = self.idle_seconds - (time.monotonic() - self.last_activity)
                if timeout <= 0:
                    log("idle: exiting")
                    self.stop_listening()
                    break
            next_deadline = self.drop_late_requests()
            if next_deadline is not None:
                timeout = next_deadline if timeout is None else min(timeout, next_deadline)
            for key, _events in self.selector.select(timeout):
                if key.data == "wakeup":
                    self.drain_wakeups()
                elif key.data == "accept":
                    self.accept()
                elif isinstance(key.data, _Pending):
                    self.read_request(key.data)
                else:
                    self.relay(key.data)
        log(f"stopped after {self.served} commands")

    def request_stop(self, signum: int, frame: Any) -> None:
        """SIGTERM: stop at the top of the next turn of the loop (the wake-up descriptor ends its wait)."""
        self.stop_requested = True

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wakeup_read, 512):
                pass
        except BlockingIOError:
            pass

    def reap(self) -> None:
        """Collect every ended child and tell its caller how it ended."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            self.forget_caller(conn)
            if os.WIFSIGNALED(status):
                outcome = {"signal": os.WTERMSIG(status)}
            else:
                outcome = {"exit": os.waitstatus_to_exitcode(status)}
            try:
                protocol.send(conn, outcome)
            except OSError:
                pass  # the caller has gone
            conn.close()
            self.last_activity = time.monotonic()

    # ------------------------------------------------------------------ requests
    def accept(self) -> None:
        """A new connection: a caller of ours (else it is closed), whose request is read as it arrives
        (:meth:`read_request`), never waited for: a silent or slow caller holds up no other."""
        if self.listener is None:
            return  # stopped listening earlier in this turn of the loop
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        try:
            peer = _PEER.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER.size))
        except OSError as exc:
            log(f"a caller could not be identified: {exc}")
            conn.close()
            return
        if peer[1] != os.getuid():
            log(f"refused a caller of uid {peer[1]}")
            conn.close()
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, _Pending(conn, time.monotonic() + REQUEST_SECONDS))

    def read_request(self, pending: _Pending) -> None:
        """Take what has arrived of ``pending``'s request; once it is whole, act on it."""
        conn = pending.conn
        try:
            chunk, fds, _flags, _address = socket.recv_fds(conn, 1 << 16, 3)  # stdin, stdout, stderr at most
        except BlockingIOError:
            return
        except OSError as exc:
            self.drop(pending, f"a request failed: {exc}")
            return
        pending.fds += fds
        if len(pending.fds) > 3:
            self.drop(pending, "a request came with more than three descriptors")
            return
        if not chunk:
            self.drop(pending, None)  # closed before (or without) a whole request
            return
        pending.data += chunk
        try:
            request = protocol.parse(pending.data)
        except protocol.ProtocolError as exc:
            self.drop(pending, f"a request failed: {exc}")
            return
        if request is None:
            return
        self.selector.unregister(conn)
        conn.setblocking(True)
        conn.settimeout(10.0)
        try:
            if "control" in request:
                self.control(conn, request)
            else:
                self.start_command(conn, request, pending.fds)
        except OSError as exc:
            log(f"a request failed: {exc}")
            conn.close()
        finally:
            protocol.close_all(pending.fds)

    def drop(self, pending: _Pending, reason: str | None) -> None:
        """Forget a request that will not come whole (closed, malformed, or past its deadline)."""
        if reason:
            log(reason)
        self.forget_caller(pending.conn)
        pending.conn.close()
        protocol.close_all(pending.fds)

    def drop_late_requests(self) -> float | None:
        """Drop the requests past their deadline; seconds until the next deadline (None: none waits)."""
        now = time.monotonic()
        waiting = [key.data for key in self.selector.get_map().values() if isinstance(key.data, _Pending)]
        for pending in waiting:
            if pending.deadline <= now:
                self.drop(pending, f"a request did not arrive within {REQUEST_SECONDS:g} s")
        left = [p.deadline - now for p in waiting if p.deadline > now]
        return min(left) if left else None

    def control(self, conn: socket.socket, request: dict[str, Any]) -> None:
        with conn:
            if request["control"] == "stop":
                self.stop_listening()
                protocol.send(conn, {"stopping": True, "running": len(self.children)})
            else:
                protocol.send(conn, self.describe())

    def describe(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "installation": protocol.INSTALLATION,
            "socket": str(self.place.socket),
            "log": str(self.place.log),
            "started": self.started,
            "served": self.served,
            "running": len(self.children),
            "idle_seconds": 0.0 if self.children else round(time.monotonic() - self.last_activity, 1),
            "idle_exit_seconds": self.idle_seconds,
            "modules": len(sys.modules),
        }

    def start_command(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        changed = changed_files(self.known_files)
        if changed:
            log(f"stale: {changed[0]} changed since it was imported; exiting once idle")
            protocol.send(conn, {"stale": True})
            conn.close()
            self.stop_listening()
            return
        if not (
            isinstance(request.get("argv"), list)
            and isinstance(request.get("env"), dict)
            and isinstance(request.get("cwd"), str)
            and isinstance(request.get("fds", []), list)
        ):
            raise protocol.ProtocolError("a command request needs argv, env, cwd and fds")
        self.last_activity = time.monotonic()
        pid = os.fork()
        if pid == 0:
            run_child(conn, request, fds, self)
        self.served += 1
        self.children[pid] = conn
        try:
            protocol.send(conn, {"pid": pid})
        except OSError:
            pass  # the caller has gone: the closed connection is seen below and ends the child
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def relay(self, pid: int) -> None:
        """The caller of child ``pid`` said something: a signal for the child, or (its connection
        closed) that it has gone, which kills the child as killing the caller's process would have."""
        conn = self.children.get(pid)
        if conn is None:
            return
        try:
            message, _ = protocol.receive(conn)
        except OSError:
            message = None
        if message is None:
            self.forget_caller(conn)
            os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still our child's
            return
        signum = message.get("signal")
        if isinstance(signum, int) and 0 < signum < signal.NSIG:
            os.kill(pid, signum)

    def forget_caller(self, conn: socket.socket) -> None:
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass


def run_child(conn: socket.socket, request: dict[str, Any], fds: list[int], daemon: Daemon) -> None:
    """In the forked child: become the command the caller asked for, run it, never return."""
    try:
        if daemon.listener is not None:
            daemon.listener.close()
        for other in daemon.children.values():
            other.close()  # the connections of the other commands' callers are none of ours
        daemon.selector.close()
        signal.set_wakeup_fd(-1)
        os.close(daemon.wakeup_read)
        os.close(daemon.wakeup_write)
        for stop in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(stop, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        take_streams(request.get("fds", []), fds)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        for name, value in daemon.import_defaults.items():
            os.environ.setdefault(name, value)  # as the imports would have set it in a process of its own
        sys.argv = [str(arg) for arg in request["argv"]]
        try:
            os.chdir(request["cwd"])
        except OSError as exc:
            sys.stderr.write(f"mathflow: cannot work in {request['cwd']}: {exc.strerror}\n")
            sys.stderr.flush()
            os._exit(1)
        conn.close()  # the daemon watches the caller for this process
        reseed()
        daemon.command()
    except SystemExit as exc:
        code = exc.code
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the daemon loop
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)
    os._exit(0)


def take_streams(targets: list[int], fds: list[int]) -> None:
    """Make the caller's descriptors this process's 0, 1, 2 (``/dev/null`` for any it did not have),
    and new ``sys.stdin/stdout/stderr`` on them, buffered as Python buffers its own."""
    received = dict(zip(targets, fds))
    for target in (0, 1, 2):
        source = received.get(target)
        if source is None:
            source = os.open(os.devnull, os.O_RDWR)
        if source != target:
            os.dup2(source, target)
            os.close(source)
    own = sys.__stdout__
    unbuffered = bool(getattr(own, "write_through", False))  # python -u or PYTHONUNBUFFERED
    encoding = own.encoding if own else "utf-8"
    errors = own.errors if own else "strict"
    sys.stdin = sys.__stdin__ = _text_stream(0, "r", encoding, "strict", False, False)
    sys.stdout = sys.__stdout__ = _text_stream(1, "w", encoding, errors, os.isatty(1), unbuffered)
    sys.stderr = sys.__stderr__ = _text_stream(2, "w", encoding, "backslashreplace", True, unbuffered)


def _text_stream(fd: int, mode: str, encoding: str, errors: str, line_buffering: bool, write_through: bool) -> Any:
    raw = io.FileIO(fd, mode, closefd=False)
    buffered: Any = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        buffered, encoding=encoding, errors=errors, line_buffering=line_buffering, write_through=write_through
    )


def reseed() -> None:
    """Every child starts with fresh random state, as a new process would (the daemon's is shared)."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def main(preload: Callable[[], object], command: Callable[[], object]) -> None:
    """The daemon process (see the module docstring for its arguments): ``preload`` imports what the
    commands need, once; each forked child then runs ``command`` (which ends the process)."""
    folder, key, sys_path, idle = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
    sys.path[:] = sys_path
    place = protocol.Place(Path(folder), key)
    lock = open(place.lock, "a")  # noqa: SIM115 - held for the daemon's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another daemon holds this place
    started = time.perf_counter()
    environment = dict(os.environ)
    preload()
    log(f"imported {len(sys.modules)} modules in {time.perf_counter() - started:.2f} s")
    daemon = Daemon(place, idle, command)
    daemon.import_defaults = {name: value for name, value in os.environ.items() if name not in environment}
    freeze_imports()
    daemon.serve_forever()


def freeze_imports() -> None:
    """Move everything imported so far out of the garbage collector's sight (``gc.freeze``). Its
    full collections would otherwise walk the objects of MLflow, SQLAlchemy and matplotlib in every
    child, costing time and turning the memory shared with the daemon into copies (a collection
    writes to every object it visits): three full collections in a child took 0.72 s and made
    105 MB of the daemon's memory private to it; frozen, 0.00 s and 2.4 MB."""
    import gc

    gc.collect()
    gc.freeze()
