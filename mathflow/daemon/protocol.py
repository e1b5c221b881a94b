"""Where the daemon listens and what is said on its socket. Standard library only: the console script
imports this before it knows whether it needs anything else.

A daemon serves one interpreter with one ``sys.path``, one value of every environment variable
that is read at import time (locale, thread counts, matplotlib's and Python's settings) and the
umask, priority and resource limits its children inherit from it; its socket, lock and log are
``<folder>/<key>.sock|.lock|.log`` in a folder only this user may enter: ``$MATHFLOW_DAEMON_DIR``,
else ``$XDG_RUNTIME_DIR/mathflow``, else ``/tmp/mathflow-<uid>``.

A message is a JSON object after its length (4 bytes, big-endian); the request may carry file
descriptors (the caller's standard streams) as ancillary data of its first bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SWITCH_ENV = "MATHFLOW_DAEMON"
"""``off`` (or ``0``, ``false``, ``no``): every command runs in its own process, no daemon is used or started."""
DIR_ENV = "MATHFLOW_DAEMON_DIR"
IDLE_ENV = "MATHFLOW_DAEMON_IDLE"
DEFAULT_IDLE_SECONDS = 900.0
"""A daemon with nothing to do for this long exits (``$MATHFLOW_DAEMON_IDLE`` seconds)."""

MAX_MESSAGE_BYTES = 4 << 20
_LENGTH = struct.Struct(">I")
_SOCKET_PATH_LIMIT = 100  # sockaddr_un holds 108 bytes on Linux, fewer elsewhere
_IMPORT_TIME_ENV_PREFIXES = ("PYTHON", "LC_", "OMP_", "OPENBLAS_", "MKL_", "NUMEXPR_", "MPL", "GIT_PYTHON", "CUPY_")
_IMPORT_TIME_ENV_NAMES = ("LANG", "HOME", "TZ", "CUDA_VISIBLE_DEVICES", "MATHFLOW_MALLOC_TUNING")


class ProtocolError(OSError):
    """The other end sent something that is not a message of this protocol, or went away mid-message."""


def enabled(env: dict[str, str] | os._Environ[str]) -> bool:
    """False when ``$MATHFLOW_DAEMON`` switches the daemon off, or this platform lacks what it needs
    (:func:`missing_on_this_platform`)."""
    if env.get(SWITCH_ENV, "").strip().lower() in {"0", "off", "false", "no"}:
        return False
    return not missing_on_this_platform()


def missing_on_this_platform() -> list[str]:
    """What the daemon needs and this platform lacks: ``fork``, Unix sockets, passing descriptors over
    them, and ``SO_PEERCRED`` (which tells the daemon that a caller is this user; macOS has none)."""
    needs = [(os, "fork"), (socket, "AF_UNIX"), (socket, "send_fds"), (socket, "SO_PEERCRED")]
    return [f"{module.__name__}.{name}" for module, name in needs if not hasattr(module, name)]


def idle_seconds(env: dict[str, str] | os._Environ[str]) -> float:
    """``$MATHFLOW_DAEMON_IDLE`` when it is a positive number of seconds, else the default."""
    try:
        value = float(env.get(IDLE_ENV, "").strip())
    except ValueError:
        return DEFAULT_IDLE_SECONDS
    return value if 0 < value < float("inf") else DEFAULT_IDLE_SECONDS


@dataclass(frozen=True)
class Place:
    """The files of the daemon that serves this interpreter and environment."""

    folder: Path
    key: str

    @property
    def socket(self) -> Path:
        return self.folder / f"{self.key}.sock"

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.key}.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.key}.log"


def daemon_folder(env: dict[str, str] | os._Environ[str]) -> Path:
    """``$MATHFLOW_DAEMON_DIR``, else ``$XDG_RUNTIME_DIR/mathflow``, else ``<tmp>/mathflow-<uid>``."""
    explicit = env.get(DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    runtime = env.get("XDG_RUNTIME_DIR", "").strip()
    if runtime:
        return Path(runtime) / "mathflow"
    return Path(env.get("TMPDIR", "").strip() or "/tmp") / f"mathflow-{os.getuid()}"


#: The mathflow package this process imports: the installation (or checkout) a daemon serves.
INSTALLATION = str(Path(__file__).resolve().parent.parent)


def daemon_key(env: dict[str, str] | os._Environ[str]) -> str:
    """16 hex digits naming what a daemon's imports depend on: the interpreter, ``sys.path``, the
    mathflow package, and the environment variables that modules read when they are imported."""
    relevant = sorted(
        (name, value)
        for name, value in env.items()
        if name.startswith(_IMPORT_TIME_ENV_PREFIXES) or name in _IMPORT_TIME_ENV_NAMES
    )
    identity = [sys.executable, sys.version, sys.path, INSTALLATION, relevant, process_settings()]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def process_settings() -> list[Any]:
    """What a forked child inherits from the daemon instead of from its caller: the file-creation
    mask, the scheduling priority and the resource limits. Part of the key, so that a caller gets a
    daemon started with its own."""
    import resource

    mask = os.umask(0o022)
    os.umask(mask)
    limits = sorted(
        (name, resource.getrlimit(getattr(resource, name))) for name in dir(resource) if name.startswith("RLIMIT_")
    )
    return [mask, os.getpriority(os.PRIO_PROCESS, 0), limits]


def place(env: dict[str, str] | os._Environ[str]) -> Place | None:
    """The daemon's place for this process, its folder made private to this user; None where there can
    be none (no usable folder, or a socket path too long for the platform)."""
    folder = daemon_folder(env)
    found = Place(folder, daemon_key(env))
    if len(os.fsencode(str(found.socket))) > _SOCKET_PATH_LIMIT:
        return None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # someone else's folder, or one others may enter: not a place for our socket
    return found


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one message, with ``fds`` passed along its first bytes."""
    body = json.dumps(message).encode()
    data = _LENGTH.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data], fds)
        data = data[sent:]
    if data:
        sock.sendall(data)


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the file descriptors that came with it; ``(None, [])`` when the other end has
    closed the connection before a message began."""
    if max_fds:
        head, fds, _flags, _address = socket.recv_fds(sock, _LENGTH.size, max_fds)
    else:
        head, fds = sock.recv(_LENGTH.size), []
    if not head:
        return None, []
    head += _exactly(sock, _LENGTH.size - len(head))
    (length,) = _LENGTH.unpack(head)
    if length > MAX_MESSAGE_BYTES:
        close_all(fds)
        raise ProtocolError(f"message of {length} bytes (at most {MAX_MESSAGE_BYTES})")
    try:
        return _decode(_exactly(sock, length)), list(fds)
    except ProtocolError:
        close_all(fds)
        raise


def parse(buffer: bytes) -> dict[str, Any] | None:
    """The message that ``buffer`` (bytes received so far) holds; None while it is incomplete. Raises
    ProtocolError for an oversized or malformed one, or bytes beyond its end."""
    if len(buffer) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack_from(buffer)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {length} bytes (at most {MAX_MESSAGE_BYTES})")
    end = _LENGTH.size + length
    if len(buffer) < end:
        return None
    if len(buffer) > end:
        raise ProtocolError("bytes after the message")
    return _decode(bytes(buffer[_LENGTH.size : end]))


def _decode(body: bytes) -> dict[str, Any]:
    """A message's JSON body as a mapping (deep nesting, bad JSON or another type: ProtocolError)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise ProtocolError("not a message of the mathflow daemon") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a message of the mathflow daemon")
    return message


def _exactly(sock: socket.socket, count: int) -> bytes:
    chunks = []
    while count > 0:
        chunk = sock.recv(min(count, 1 << 16))
        if not chunk:
            raise ProtocolError("the connection closed in the middle of a message")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def close_all(fds: list[int]) -> None:
    """Close each descriptor of ``fds`` (one already closed is no error)."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def connect(found: Place, timeout: float | None = None) -> socket.socket | None:
    """A connection to the daemon of ``found``; None when none listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(found.socket))
    except OSError:
        sock.close()
        return None
    return sock


def ask(found: Place, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    """Send a control request (``{"control": "status"}``, ``{"control": "stop"}``) and return the
    daemon's answer; None when no daemon listens or it did not answer."""
    sock = connect(found, timeout)
    if sock is None:
        return None
    with sock:
        try:
            send(sock, request)
            answer, _ = receive(sock)
        except OSError:
            return None
    return answer
