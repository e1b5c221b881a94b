"""Failure paths of ``mathflow run``: a one-line reason on stderr, a non-zero exit, and the MLflow
run (when one was started) ended FAILED or KILLED with what was logged so far."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import cli_env
from store_helpers import client_for, only_run

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"


def mathflow(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_missing_data_file_is_a_located_validation_error(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "version: 1\n"
        "name: missing-data\n"
        "data:\n"
        "  source:\n"
        "    csv: {path: nowhere.csv, target: label}\n"
        "model:\n"
        "  layers:\n"
        "    - dense: {units: 2}\n"
        "loss: cross_entropy\n"
        "optimizer:\n"
        "  sgd: {lr: 0.1}\n"
    )
    done = mathflow("run", str(pipeline), cwd=tmp_path)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert re.match(r".*p\.yaml:5:\d+: .*nowhere\.csv.*not found", line), line
    # nothing was started: the error comes before any run
    db = tmp_path / "runs" / "mlflow.db"
    if db.exists():
        assert all(
            len(client_for(tmp_path).search_runs([e.experiment_id])) == 0
            for e in client_for(tmp_path).search_experiments()
        )


def test_divergence_ends_the_run_failed(tmp_path: Path) -> None:
    done = mathflow(
        "run", str(PIPELINES / "regression.yaml"), "--set", "optimizer.sgd.lr=1000", "--quiet", cwd=tmp_path
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert re.search(r"(nan|inf) at epoch 1, step \d+", line), line
    run = only_run(tmp_path, "regression")
    assert run.info.status == "FAILED"
    reason = run.data.tags["mathflow.error"]
    assert reason.startswith("DivergenceError:") and "epoch 1, step" in reason
    # what was logged before the failure stays
    assert run.data.params["optimizer.sgd.lr"] == "1000.0"
    assert "pipeline.yaml" in {a.path for a in client_for(tmp_path).list_artifacts(run.info.run_id)}


def test_nan_data_loss_names_epoch_and_step(tmp_path: Path) -> None:
    """Log of a non-positive probability under a sigmoid + BCE that diverges: the message names where."""
    done = mathflow(
        "run", str(PIPELINES / "logistic.yaml"), "--set", "optimizer.sgd.lr=1.0e30", "--quiet", cwd=tmp_path
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert re.search(r"at epoch \d+, step \d+", line), line
    assert only_run(tmp_path, "logistic").info.status == "FAILED"


def test_sigint_during_training_ends_the_run_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mathflow.cli", "run", str(PIPELINES / "cnn.yaml"), "--set", "train.epochs=400"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        seen = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
            if re.match(r"epoch\s+1/", line):
                break
        assert re.search(r"epoch\s+1/", seen), seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    line = one_line(err)
    assert "interrupted" in line and "KILLED" in line
    run = only_run(tmp_path, "digits")
    assert run.info.status == "KILLED"
    assert run.data.tags["mathflow.error"].startswith("KeyboardInterrupt")
    history = client_for(tmp_path).get_metric_history(run.info.run_id, "train_loss")
    assert len(history) >= 1  # the epochs done before Ctrl-C were logged


@pytest.mark.slow
def test_two_runs_started_at_once_on_a_fresh_store(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "mathflow.cli", "run", str(PIPELINES / "logistic.yaml"), "--set", "train.epochs=1"]
    procs = [
        subprocess.Popen(
            [*argv, "--quiet"], cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_out, err) in zip(procs, results):
        assert proc.returncode == 0, err
    mlf = client_for(tmp_path)
    exp = mlf.get_experiment_by_name("logistic")
    runs = mlf.search_runs([exp.experiment_id])
    assert len(runs) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["mathflow.config_sha256"] for r in runs}) == 1


def test_unknown_run_id_for_predict_is_one_line(tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    import numpy as np

    np.save(x, np.zeros((2, 30), dtype=np.float32))
    done = mathflow("predict", "0" * 32, "--input", str(x), cwd=tmp_path)
    assert done.returncode == 1
    assert "0" * 32 in one_line(done.stderr)


@pytest.mark.parametrize("device", ["tpu"])
def test_bad_device_is_rejected(tmp_path: Path, device: str) -> None:
    done = mathflow("run", str(PIPELINES / "logistic.yaml"), "--device", device, cwd=tmp_path)
    assert done.returncode == 1
    assert "device" in one_line(done.stderr)
