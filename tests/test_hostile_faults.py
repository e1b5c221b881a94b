"""Store faults and failed math runs through the real CLI: one clear line on stderr, exit code 1, no
traceback, the store file untouched, and the run FAILED where the store can still be written.

Seven ``mathflow`` subprocesses in all: an empty ``mlflow.db``, a closed server port, a diverging math
run, a full disk (a small tmpfs when this process may mount one, else a file-size limit), and listing,
predicting from and serving the UI of a read-only store (a read-only bind mount; skipped where this
process may not mount).
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

import numpy as np
import pytest
from cli_helpers import cli_env

DIVERGING = "kind: optimize\nvariables: {x: 1.0}\nminimize: -x**4\noptimizer:\n  sgd: {lr: 0.5}\nsteps: 200\n"
QUICK = "kind: optimize\nvariables: {x: 4.0}\nminimize: x**2\noptimizer:\n  sgd: {lr: 0.1}\nsteps: 50\n"


def mathflow(*args: str, cwd: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=cli_env(),
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
    with _read_only_bind(folder, view) as ready:
        yield ready


@contextlib.contextmanager
def read_only_in_place(folder: Path) -> Iterator[bool]:
    """``folder`` itself read-only (bound read-only onto itself; False when not allowed), so that the
    absolute artifact paths a store records are read-only too."""
    with _read_only_bind(folder, folder) as ready:
        yield ready


@contextlib.contextmanager
def _read_only_bind(folder: Path, view: Path) -> Iterator[bool]:
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


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: relative path → (size, modification time in ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(store folder, run id, experiment id) of a store with one short iris run and its logged model."""
    from mathflow.run import run_pipeline

    store = tmp_path_factory.mktemp("read_only") / "store"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    root = Path(__file__).resolve().parents[1]
    result = run_pipeline(root / "pipelines" / "iris.yaml", ["train.epochs=2"], tracking_uri=uri, quiet=True)
    return store, result.run_id, result.experiment_id


def test_a_read_only_store_predicts(trained_store: tuple[Path, str, str], tmp_path: Path) -> None:
    """The logged model predicts from a store that cannot be written; nothing in it or in the current
    folder is created or changed, and the labels are those of the writable store."""
    from sklearn.datasets import load_iris

    from mathflow.predictor import open_run_model

    store, run_id, _ = trained_store
    uri = f"sqlite:///{store / 'mlflow.db'}"
    x = load_iris().data[::10]
    np.save(tmp_path / "x.npy", x)
    expected = [str(label) for label in open_run_model(run_id, uri).predict(x)]
    assert set(expected) <= {"setosa", "versicolor", "virginica"}
    work = tmp_path / "work"
    work.mkdir()
    before = _tree(store)
    with read_only_in_place(store) as ready:
        if not ready:
            pytest.skip("cannot make a read-only bind mount here")
        with pytest.raises(OSError):
            (store / "probe").write_bytes(b"")
        done = mathflow("predict", run_id, "--input", str(tmp_path / "x.npy"), "--tracking-uri", uri, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.split() == expected
    assert _tree(store) == before
    assert list(work.iterdir()) == []


def _get(url: str, body: dict | None = None) -> tuple[int, str]:
    """(HTTP status, text) of a GET (or, with ``body``, a JSON POST); (0, "") when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


@pytest.mark.slow
def test_the_ui_serves_a_read_only_store(trained_store: tuple[Path, str, str], tmp_path: Path, free_port: int) -> None:
    """``mathflow ui`` starts against a store that cannot be written and serves the experiment's page,
    its runs and their artifacts; nothing in the store or in the current folder is created or changed."""
    import json
    import time

    store, run_id, experiment_id = trained_store
    uri = f"sqlite:///{store / 'mlflow.db'}"
    base = f"http://127.0.0.1:{free_port}"
    before = _tree(store)
    with read_only_in_place(store) as ready:
        if not ready:
            pytest.skip("cannot make a read-only bind mount here")
        server = subprocess.Popen(
            [sys.executable, "-m", "mathflow.cli", "ui", "--port", str(free_port), "--tracking-uri", uri],
            cwd=tmp_path,
            env={**cli_env(), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300  # catches a server that never comes up
            while _get(f"{base}/health")[0] != 200:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "mathflow ui never answered"
                time.sleep(0.5)
            status, page = _get(base + "/")
            assert status == 200 and "<html" in page.lower()
            status, text = _get(f"{base}/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}")
            assert status == 200 and json.loads(text)["experiment"]["name"] == "iris", text
            status, text = _get(f"{base}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})
            assert status == 200 and [r["info"]["run_id"] for r in json.loads(text)["runs"]] == [run_id], text
            status, text = _get(f"{base}/api/2.0/mlflow/artifacts/list?run_id={run_id}")
            assert status == 200 and "model_table.txt" in [f["path"] for f in json.loads(text)["files"]], text
            status, table = _get(f"{base}/get-artifact?path=model_table.txt&run_uuid={run_id}")
            assert status == 200 and "dense" in table, table
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                output, _ = server.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                output, _ = server.communicate()
    lines = output.splitlines()
    assert lines[0] == f"MLflow UI for {uri} at {base} (Ctrl-C to stop)", output[-3000:]
    assert f"runs of experiment 'iris': {base}/#/experiments/{experiment_id}/runs" in lines[1], output[-3000:]
    assert "Traceback" not in output and "Read-only" not in output and "readonly" not in output, output[-3000:]
    assert _tree(store) == before
    assert list(tmp_path.iterdir()) == []
