"""The per-user cache folder: things a run can rebuild at any time, kept to save seconds.

``$MATHFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/mathflow``, else ``~/.cache/mathflow``. Every
entry is named by the versions it depends on, written atomically (a temporary file renamed into
place), and only ever read as a shortcut: a missing, unwritable or damaged cache costs time, never
a result.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV_VAR = "MATHFLOW_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    explicit = os.environ.get(ENV_VAR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mathflow"


def cached_file(name: str, write: Callable[[Path], None]) -> Path | None:
    """``<cache dir>/<name>``, made by ``write(temporary path)`` and renamed into place when it is
    missing. None when the cache cannot be written (the caller then does without it)."""
    target = cache_dir() / name
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
    except OSError:
        return None
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


__all__ = ["ENV_VAR", "cache_dir", "cached_file"]
