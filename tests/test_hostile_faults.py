"""Store faults and failed math runs through the real CLI: one clear line on stderr, exit code 1, no
traceback, the store file untouched, and the run FAILED where the store can still be written.

Five ``mathflow`` subprocesses in all: an empty ``mlflow.db``, a closed server port, a diverging math
run, a full disk (a small tmpfs when this process may mount one, else a file-size limit) and listing a
read-only store (a read-only bind mount; skipped where this process may not mount).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DIVERGING = "kind: optimize\nvariables: {x: 1.0}\nminimize: -x**4\noptimizer:\n  sgd: {lr: 0.5}\nsteps: 200\n"
QUICK = "kind: optimize\nvariables: {x: 4.0}\nminimize: x**2\noptimizer:\n  sgd: {lr: 0.1}\nsteps: 50\n"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MATHFLOW_DEBUG", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def mathflow(*args: str, cwd: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0]


def _statuses(uri: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    mlf = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in mlf.search_experiments()]
    return [r.info.status for r in mlf.search_runs(ids)] if ids else []


# ---------------------------------------------------------------------------------- store files
def test_runs_leaves_an_empty_database_untouched(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "mlflow.db").write_bytes(b"")
    line = one_error_line(mathflow("runs", "--tracking-uri", f"sqlite:///{store / 'mlflow.db'}", cwd=tmp_path))
    assert "is an empty file (0 bytes), not an MLflow store; it was left untouched" in line, line
    assert [p.name for p in store.iterdir()] == ["mlflow.db"]
    assert (store / "mlflow.db").stat().st_size == 0
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_closed_server_port_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    line = one_error_line(mathflow("runs", "--tracking-uri", uri, cwd=tmp_path))
    assert line.startswith(f"tracking server {uri} cannot be reached"), line
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- math runs
def test_a_diverging_optimisation_ends_failed(tmp_path: Path) -> None:
    (tmp_path / "diverge.yaml").write_text(DIVERGING)
    line = one_error_line(mathflow("run", "diverge.yaml", cwd=tmp_path))
    assert line.startswith("diverge.yaml:3:1: the optimisation diverged at step "), line
    assert _statuses(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}") == ["FAILED"]


# ---------------------------------------------------------------------------------- full and read-only disks
@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` mounted on ``folder`` (yields False when this process may not mount one)."""
    folder.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        yield False
        return
    done = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run([umount, "-l", str(folder)], capture_output=True)


def _new_store(uri: str) -> None:
    from mathflow.tracking.store import ensure_store, get_or_create_experiment

    ensure_store(uri)
    get_or_create_experiment(uri, "math")


def _fill(folder: Path, leave_bytes: int) -> Path:
    stats = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave_bytes))
    return filler


def test_a_full_disk_gives_one_line_and_a_failed_run(tmp_path: Path) -> None:
    (tmp_path / "quick.yaml").write_text(QUICK)
    disk = tmp_path / "disk"
    with small_tmpfs(disk, "3m") as mounted:
        uri = f"sqlite:///{disk / 'mlflow.db'}"
        _new_store(uri)
        preexec = None
        if mounted:
            filler = _fill(disk, 48 * 1024)
        else:  # no tmpfs: every file may grow by nothing more (SIGXFSZ ignored, so writes fail with EFBIG)
            size = (disk / "mlflow.db").stat().st_size

            def preexec() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        line = one_error_line(mathflow("run", "quick.yaml", "--tracking-uri", uri, cwd=tmp_path, preexec=preexec))
        assert line.startswith(f"error: tracking store {uri}: "), line
        assert "full" in line and "--mark-dead" in line, line
        if mounted:
            filler.unlink()
        assert set(_statuses(uri)) <= {"FAILED"}
        assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


@contextlib.contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[bool]:
    """``folder`` also seen read-only at ``view`` (a read-only bind mount; False when not allowed)."""
    view.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        yield False
        return
    if subprocess.run([mount, "--bind", str(folder), str(view)], capture_output=True).returncode != 0:
        yield False
        return
    try:
        done = subprocess.run([mount, "-o", "remount,bind,ro", str(view)], capture_output=True)
        yield done.returncode == 0
    finally:
        subprocess.run([umount, "-l", str(view)], capture_output=True)


def test_a_read_only_store_can_be_listed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    from mathflow.tracking import Tracker

    with Tracker(f"sqlite:///{store / 'mlflow.db'}").start("math", run_name="kept") as run:
        run.log_metrics({"objective": 1.5}, step=0)
    before = sorted((p.name, p.stat().st_size) for p in store.iterdir())
    with read_only_view(store, tmp_path / "view") as ready:
        if not ready:
            pytest.skip("cannot make a read-only bind mount here")
        uri = f"sqlite:///{tmp_path / 'view' / 'mlflow.db'}"
        done = mathflow("runs", "--tracking-uri", uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert run.run_id in done.stdout and "FINISHED" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    assert sorted((p.name, p.stat().st_size) for p in store.iterdir()) == before
