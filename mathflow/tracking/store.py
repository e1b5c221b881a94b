"""Where runs are recorded: the tracking URI, the local SQLite store, experiments, run listings.

The default store lives next to the user's pipelines: ``sqlite:///<cwd>/runs/mlflow.db`` with artifacts
under ``<cwd>/runs/artifacts/<experiment>``. ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` point
elsewhere (another SQLite file, an ``http(s)://`` tracking server, ...).

A fresh SQLite store is initialised (tables and migrations) under an exclusive ``fcntl.flock`` on
``runs/.mlflow.lock``: two processes creating it at the same moment would otherwise corrupt it.
Experiment creation takes the same lock, so get-or-create by name is race-free across processes.
A new SQLite store starts as a copy of a cached empty one (:mod:`mathflow.tracking.store_template`).

MLflow is imported inside the functions only: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mathflow.errors import MathflowError
from mathflow.tracking.ui import DEFAULT_PORT

ENV_VAR = "MLFLOW_TRACKING_URI"
RUNS_DIR = "runs"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
LOCK_FILE = ".mlflow.lock"

HEARTBEAT_TAG = "mathflow.heartbeat"
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
"""Tags of the experiments mathflow creates: MLflow 3's UI opens such an experiment in its model-training
view (the runs table), not the GenAI view (traces)."""
DEAD_AFTER = 120.0
"""A RUNNING run whose heartbeat is older than this many seconds counts as dead (``DEAD?``)."""

PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# MLflow's artifact download bars would bury mathflow's one-line messages and console blocks; a value
# the user has set is kept. Every path to MLflow goes through this module, so this is the one place.
os.environ.setdefault(PROGRESS_BAR_ENV, "false")

_READY: set[str] = set()  # store URIs initialised by this process
_SEGMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------------------------------
# URIs and paths
# --------------------------------------------------------------------------------------------------
def default_tracking_uri(cwd: str | os.PathLike[str] | None = None) -> str:
    """``sqlite:///<abs cwd>/runs/mlflow.db`` (cwd defaults to the current directory)."""
    base = Path(cwd if cwd is not None else os.getcwd()).expanduser().resolve()
    return f"sqlite:///{(base / RUNS_DIR / DB_FILE).as_posix()}"


def default_artifact_root(cwd: str | os.PathLike[str] | None = None) -> str:
    """``<abs cwd>/runs/artifacts``: where the default store keeps run artifacts."""
    base = Path(cwd if cwd is not None else os.getcwd()).expanduser().resolve()
    return (base / RUNS_DIR / ARTIFACTS_DIR).as_posix()


def resolve_tracking_uri(cli_value: str | None = None, cwd: str | os.PathLike[str] | None = None) -> str:
    """The store to use: ``cli_value``, else ``$MLFLOW_TRACKING_URI``, else :func:`default_tracking_uri`.

    URIs with a scheme pass through (``http(s)://``, ``databricks``, ...), except that a relative SQLite
    path is made absolute. A bare path ending in ``.db``/``.sqlite`` becomes a SQLite URI; another bare
    path is a directory that gets ``mlflow.db`` inside it.
    """
    value = (cli_value or "").strip() or os.environ.get(ENV_VAR, "").strip()
    if not value:
        return default_tracking_uri(cwd)
    base = Path(cwd if cwd is not None else os.getcwd()).expanduser().resolve()
    if value.startswith("sqlite:"):
        path = sqlite_path(value)
        if path is None:
            return value
        query = value.partition("?")[2]
        absolute = path if path.is_absolute() else (base / path)
        return f"sqlite:///{absolute.as_posix()}" + (f"?{query}" if query else "")
    if "://" in value or value == "databricks" or value.startswith("databricks:"):
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if path.suffix.lower() not in (".db", ".sqlite", ".sqlite3"):
        path = path / DB_FILE
    return f"sqlite:///{path.resolve().as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///...`` URI (relative as written), None for other URIs / in-memory."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///") :].partition("?")[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def artifact_root(uri: str) -> str | None:
    """The artifact directory for a SQLite store: ``artifacts/`` next to the database; None otherwise
    (a tracking server or a file store decides for itself)."""
    db = sqlite_path(uri)
    if db is None:
        return None
    return (db.resolve().parent / ARTIFACTS_DIR).as_posix()


def lock_path(uri: str) -> Path | None:
    """``.mlflow.lock`` next to a SQLite database (None for stores that need no local lock)."""
    db = sqlite_path(uri)
    return None if db is None else db.resolve().parent / LOCK_FILE


def experiment_dir_name(name: str) -> str:
    """A path segment for experiment ``name``: the name itself when it is safe (letters, digits, ``._-``),
    else a cleaned form plus a short hash of the name so that distinct names never share a folder."""
    cleaned = _SEGMENT_UNSAFE.sub("_", name).strip("._") or "experiment"
    if cleaned == name:
        return name
    return f"{cleaned[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------------------
# locking and initialisation
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Exclusive inter-process lock for a SQLite store (``flock`` on ``.mlflow.lock``); no-op otherwise."""
    path = lock_path(uri)
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # no flock on this platform: run unlocked
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """The INFO chatter of the named loggers hidden for the block."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _quiet_migrations() -> contextlib.AbstractContextManager[None]:
    """Silence the INFO lines MLflow and Alembic print while creating tables."""
    return quiet_loggers("mlflow.store.db.utils", "alembic", "alembic.runtime.migration")


def client(uri: str) -> Any:
    """An ``MlflowClient`` for ``uri`` whose store is initialised (see :func:`ensure_store`, which checks
    the store before MLflow is imported: a broken store is reported at once)."""
    ensure_store(uri)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri if sqlite_path(uri) is not None else None)


def ensure_store(uri: str) -> None:
    """Create the store behind ``uri`` if needed: for SQLite, the folder and the tables, under the file lock."""
    if uri in _READY:
        return
    quiet_store_errors()
    db = sqlite_path(uri)
    if db is None:
        check_server(uri)
    elif check_sqlite_file(db, uri) and not writable_folder(db.resolve().parent):
        pass  # an existing store on a read-only folder: read as it is, nothing to create or lock
    else:
        from mlflow.tracking import MlflowClient

        from mathflow.tracking.store_template import seed_store

        db.resolve().parent.mkdir(parents=True, exist_ok=True)
        with store_lock(uri), _quiet_migrations():
            seed_store(db.resolve())  # a copy of an empty store instead of MLflow's migrations
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    _READY.add(uri)


SQLITE_MAGIC = b"SQLite format 3\x00"
#: sqlite/OS error texts → what they mean for the store (checked in this order).
_FAULTS = (
    ("database or disk is full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("file too large", "the file size limit was reached"),
    ("readonly database", "the store is read-only"),
    ("read-only file system", "the store is read-only"),
    ("file is not a database", "the database file is corrupt (not a SQLite database)"),
    ("database disk image is malformed", "the database file is corrupt"),
    ("database is locked", "the database is locked by another process"),
    ("disk i/o error", "a write to the disk failed (is it full?)"),
    ("unable to open database file", "the database file cannot be opened"),
    ("permission denied", "permission denied"),
)
_FAULT_ERRNOS = {
    "ENOSPC": "the disk is full",
    "EDQUOT": "the disk quota is exhausted",
    "EFBIG": "the file size limit was reached",
    "EROFS": "the store is read-only",
}


def check_sqlite_file(db: Path, uri: str) -> bool:
    """Whether the SQLite store file ``db`` exists; raises, leaving it untouched, when it is a folder,
    an empty file or not a SQLite database (MLflow would silently make a new store of an empty file)."""
    path = db.expanduser()
    if path.is_dir():
        raise MathflowError(
            f"tracking store {uri}: {path} is a folder, not a SQLite database file",
            suggestion=f"use sqlite:///{(path / DB_FILE).as_posix()}, or the folder itself: --tracking-uri {path}",
        )
    if not path.exists():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise MathflowError(f"tracking store {uri}: cannot read {path} ({exc.strerror or exc})") from None
    if not head:
        raise MathflowError(
            f"tracking store {uri}: {path} is an empty file (0 bytes), not an MLflow store; it was left untouched",
            suggestion="delete it to start a new store there, or point --tracking-uri at the right file",
        )
    if head != SQLITE_MAGIC:
        raise MathflowError(
            f"tracking store {uri}: {path} is not a SQLite database (corrupt, or another kind of file); "
            "it was left untouched",
            suggestion="restore it from a backup, or point --tracking-uri at another file",
        )
    return True


def writable_folder(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (False on a read-only mount or without permission)."""
    return os.access(folder, os.W_OK | os.X_OK)


SERVER_TIMEOUT_S = 5.0
"""How long :func:`check_server` waits for a tracking server to accept a connection."""


def check_server(uri: str, timeout: float = SERVER_TIMEOUT_S) -> None:
    """Raise at once when the ``http(s)://`` tracking server of ``uri`` does not accept connections
    (MLflow itself would retry for minutes); other URIs pass."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    import socket

    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else getattr(exc, "strerror", None) or str(exc)
        raise MathflowError(
            f"tracking server {uri} cannot be reached ({reason})",
            suggestion="start the server, or check --tracking-uri / MLFLOW_TRACKING_URI",
        ) from None


def quiet_store_errors() -> None:
    """MLflow's database layer logs every SQL error with its traceback before raising it; the error
    reaches the user once, as one line (:func:`store_fault`), so those logs are hidden (kept with
    ``MATHFLOW_DEBUG``)."""
    if not os.environ.get("MATHFLOW_DEBUG"):
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


def store_fault(exc: BaseException, uri: str | None = None) -> str | None:
    """One line saying what went wrong with the store when ``exc`` (or an error it came from) is a
    store fault: a full disk, a read-only or corrupt database, a lock; None for other errors."""
    import errno

    seen: set[int] = set()
    current: BaseException | None = exc
    meaning = None
    while current is not None and id(current) not in seen and meaning is None:
        seen.add(id(current))
        code = errno.errorcode.get(getattr(current, "errno", None) or -1, "")
        meaning = _FAULT_ERRNOS.get(code)
        text = str(current).lower()
        meaning = meaning or next((m for needle, m in _FAULTS if needle in text), None)
        current = current.__cause__ or current.__context__
    if meaning is None:
        return None
    where = f"tracking store {uri}" if uri else "tracking store"
    free_space = "free space, then 'mathflow runs --mark-dead' ends a run left RUNNING"
    hint = {
        "the disk is full": free_space,
        "a write to the disk failed (is it full?)": free_space,
        "the file size limit was reached": free_space,
        "the store is read-only": "reading commands (runs, predict, ui) work; write runs to another --tracking-uri",
        "the database is locked by another process": "wait for the other process, or use another --tracking-uri",
    }.get(meaning, "check the store, or point --tracking-uri elsewhere")
    return f"{where}: {meaning} ({hint})"


def experiment_artifact_location(uri: str, name: str) -> str | None:
    """``<artifact root>/<experiment dir name>`` for a SQLite store, None where the server decides."""
    root = artifact_root(uri)
    return None if root is None else f"{root}/{experiment_dir_name(name)}"


def get_or_create_experiment(uri: str, name: str) -> str:
    """The id of the experiment called ``name``, created (with an absolute artifact location) if missing
    and restored if it was deleted. Safe when several processes ask at once."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    if not isinstance(name, str) or not name.strip():
        raise MathflowError(f"experiment name must be a non-empty string, got {name!r}")
    mlf = client(uri)
    with store_lock(uri):
        exp = mlf.get_experiment_by_name(name)
        if exp is None:
            try:
                location = experiment_artifact_location(uri, name)
                return str(mlf.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS))
            except MlflowException as exc:  # another process (of a remote server) won the race
                if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                    raise
                exp = mlf.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            mlf.restore_experiment(exp.experiment_id)
        for key, value in EXPERIMENT_TAGS.items():  # an experiment made before mathflow tagged them
            if key not in exp.tags:
                mlf.set_experiment_tag(exp.experiment_id, key, value)
        return str(exp.experiment_id)


# --------------------------------------------------------------------------------------------------
# listing runs and the UI
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRow:
    """One run as ``mathflow runs`` shows it."""

    run_id: str
    run_name: str
    experiment: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    heartbeat: float | None = None
    """UNIX time of the run's last ``mathflow.heartbeat`` (None when it has none)."""

    def silent_for(self, now: float | None = None) -> float | None:
        """Seconds since the last heartbeat of a RUNNING run (None when not running or never beat)."""
        if self.status != "RUNNING" or self.heartbeat is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.heartbeat)

    def is_dead(self, dead_after: float = DEAD_AFTER, now: float | None = None) -> bool:
        """A RUNNING run whose heartbeat is older than ``dead_after`` seconds: its process is gone."""
        silent = self.silent_for(now)
        return silent is not None and silent > dead_after

    def shown_status(self, dead_after: float = DEAD_AFTER, now: float | None = None) -> str:
        """The status, ``DEAD?`` for a RUNNING run whose heartbeat stopped."""
        return "DEAD?" if self.is_dead(dead_after, now) else self.status

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def key_metrics(self, limit: int = 4) -> dict[str, float]:
        """Up to ``limit`` metrics, test/validation ones first, then alphabetical."""

        def rank(key: str) -> tuple[int, str]:
            low = key.lower()
            order = 0 if low.startswith("test") else 1 if low.startswith("val") else 2
            return order, key

        return {k: self.metrics[k] for k in sorted(self.metrics, key=rank)[:limit]}


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def run_of(mlf: Any, run_id: str, uri: str) -> Any:
    """The MLflow run ``run_id`` of the store at ``uri``; a clear error when there is none."""
    try:
        return mlf.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own exception types for an unknown id
        raise MathflowError(f"no run {run_id!r} in {uri}", suggestion="mathflow runs lists the runs") from exc


def experiment_named(mlf: Any, name: str, uri: str) -> Any:
    """The experiment called ``name``; an error listing the known ones when there is none."""
    exp = mlf.get_experiment_by_name(name)
    if exp is None:
        known = sorted(e.name for e in mlf.search_experiments())
        raise MathflowError(
            f"no experiment named {name!r} in {uri}",
            suggestion=f"known experiments: {', '.join(known) or '(none)'}",
        )
    return exp


def list_runs(tracking_uri: str | None = None, experiment: str | None = None, max_results: int = 20) -> list[RunRow]:
    """The newest ``max_results`` runs, of one experiment (by name) or of all active ones.

    A SQLite store that does not exist yet has no runs (it is not created by listing).
    """
    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        return []
    mlf = client(uri)
    if experiment is not None:
        exp = experiment_named(mlf, experiment, uri)
        experiments = {str(exp.experiment_id): exp.name}
    else:
        experiments = {str(e.experiment_id): e.name for e in mlf.search_experiments()}
    if not experiments:
        return []
    runs = mlf.search_runs(
        experiment_ids=list(experiments), max_results=int(max_results), order_by=["attributes.start_time DESC"]
    )
    return [
        RunRow(
            run_id=r.info.run_id,
            run_name=r.info.run_name or "",
            experiment=experiments.get(str(r.info.experiment_id), str(r.info.experiment_id)),
            status=r.info.status,
            start_time=_ms_to_datetime(r.info.start_time),
            end_time=_ms_to_datetime(r.info.end_time),
            metrics=dict(r.data.metrics),
            heartbeat=_heartbeat(r.data.tags),
        )
        for r in runs
    ]


def add_to_finished_run(mlf: Any, run_id: str, metrics: dict[str, float], data: Any, artifact: str) -> None:
    """Metrics (step 0, now) and one JSON artifact added to a run that has ended."""
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    mlf.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()], synchronous=True)
    mlf.log_dict(run_id, data, artifact)


def _heartbeat(tags: dict[str, str]) -> float | None:
    """The ``mathflow.heartbeat`` tag as a UNIX time (None when absent or not a number)."""
    try:
        value = float(tags[HEARTBEAT_TAG])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def mark_dead(
    tracking_uri: str | None = None,
    experiment: str | None = None,
    dead_after: float = DEAD_AFTER,
    max_results: int = 1000,
) -> list[RunRow]:
    """End as FAILED every RUNNING run (of the newest ``max_results``) whose heartbeat is older than
    ``dead_after`` seconds; the reason goes to ``mathflow.error``, the end time is the last heartbeat.
    Returns the runs it ended."""
    uri = resolve_tracking_uri(tracking_uri)
    now = time.time()
    dead = [r for r in list_runs(uri, experiment, max_results) if r.is_dead(dead_after, now)]
    if not dead:
        return []
    mlf = client(uri)
    for row in dead:
        assert row.heartbeat is not None
        silent = now - row.heartbeat
        reason = f"Dead: no heartbeat for {silent:.0f} s; marked FAILED by mathflow runs --mark-dead"
        mlf.set_tag(row.run_id, "mathflow.error", reason)
        mlf.set_terminated(row.run_id, "FAILED", end_time=int(row.heartbeat * 1000))
    return dead


def ui_command(tracking_uri: str | None = None, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> list[str]:
    """The argv of ``mlflow ui`` serving the store behind ``tracking_uri`` on ``host:port`` (one worker)."""
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise MathflowError(
            f"the tracking URI {uri} is already a tracking server", suggestion="open it in a browser instead"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise MathflowError(f"ui port must be an integer in 1..65535, got {port!r}")
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    root = artifact_root(uri)
    if root is not None:
        argv += ["--default-artifact-root", root]
    return argv + ["--host", host, "--port", str(port), "--workers", "1"]
