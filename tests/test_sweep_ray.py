"""The Ray executor against a real Ray cluster (``ray start --head``) and a real MLflow tracking server,
both started here; one Ray worker is killed with SIGKILL mid-trial. Skipped without the ``ray`` extra."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from store_helpers import tracking_server
from sweep_helpers import tiny_iris

from mathflow.errors import MathflowError
from mathflow.sweep.ray_executor import check_tracking_for_cluster, is_local_address

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

PIPELINE = (
    tiny_iris(epochs=120, seed=3, experiment="ray-sweeps")
    + """\
sweep:
  method: tpe
  metric: val_accuracy
  trials: 3
  parallel: 2
  parameters:
    optimizer.sgd.lr: {range: [0.01, 0.1], log: true}
"""
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MATHFLOW_DEBUG", "RAY_ADDRESS")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def test_a_local_file_store_is_refused_for_a_remote_cluster() -> None:
    assert is_local_address(None) and is_local_address("127.0.0.1:6379") and is_local_address("ray://localhost:10001")
    assert not is_local_address("10.0.0.5:6379")
    check_tracking_for_cluster("sqlite:///runs/mlflow.db", "127.0.0.1:6379")
    check_tracking_for_cluster("http://10.0.0.2:5000", "10.0.0.5:6379")
    with pytest.raises(MathflowError, match="cannot write to") as exc:
        check_tracking_for_cluster("sqlite:///runs/mlflow.db", "10.0.0.5:6379")
    assert "mlflow server" in exc.value.format()


def test_an_address_where_no_cluster_answers_is_one_line(tmp_path: Path) -> None:
    """Ray would retry such an address for ever, deaf to Ctrl-C: the sweep asks it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and nothing listens once it is closed
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    command = [sys.executable, "-m", "mathflow.cli", "sweep", "p.yaml", "--executor", "ray"]
    command += ["--address", f"127.0.0.1:{port}", "--tracking-uri", "http://127.0.0.1:1"]
    done = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"no Ray cluster answers at 127.0.0.1:{port} (connection refused) "
        "(start one with: ray start --head, or give its address to --address)"
    ]


def _trial_workers() -> list[int]:
    """PIDs of Ray worker processes running a trial right now (their title names the task)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("ray::_ray_trial"):
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_sweep_on_a_ray_cluster_survives_a_killed_worker(tmp_path: Path, free_port: int) -> None:
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    assert ray_bin is not None
    env = _env()
    head_port = free_port
    ray_dir = tempfile.mkdtemp(prefix="mfray")  # Ray's socket paths must stay under 108 bytes
    started = subprocess.run(
        [ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(head_port), "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", ray_dir],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr + started.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        mlflow_port = sock.getsockname()[1]
    try:
        with tracking_server(tmp_path, mlflow_port, env) as uri:
            _sweep_with_a_killed_worker(tmp_path, head_port, uri, env)
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(ray_dir, ignore_errors=True)


def _sweep_with_a_killed_worker(tmp_path: Path, head_port: int, uri: str, env: dict[str, str]) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "mathflow.cli", "sweep", "p.yaml", "--executor", "ray",
         "--address", f"127.0.0.1:{head_port}", "--tracking-uri", uri, "--json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not _trial_workers() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.1)
    workers = _trial_workers()
    assert workers, "no Ray worker ran a trial"
    time.sleep(1.0)  # let its run start in the store
    os.kill(workers[0], signal.SIGKILL)
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err + out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trials"] == {"FINISHED": 3}
    from mlflow.tracking import MlflowClient

    mlf = MlflowClient(uri)
    parent = mlf.get_run(summary["parent_run_id"])
    children = mlf.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert sorted(c.data.tags["mathflow.sweep.point"] for c in finished) == ["0", "1", "2"]
    assert all(0.01 <= float(c.data.params["optimizer.sgd.lr"]) <= 0.1 for c in finished)
    assert {c.data.tags["mathflow.sweep.executor"] for c in children} == {"ray"}
    lost = [c for c in children if c.info.status != "FINISHED"]
    assert len(lost) <= 1  # the killed trial's first run, if it had started
    for run in lost:
        assert run.info.status == "FAILED" and run.data.tags["mathflow.error"].startswith("WorkerLost")
    assert parent.info.status == "FINISHED" and "mathflow.sweep.best_run_id" in parent.data.tags
