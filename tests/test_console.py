"""What ``mathflow run`` prints: one block when it starts (pipeline, data and splits, model table,
store), one when it ends (run id, early stopping, final metrics), with ``--quiet`` silencing the
progress only and ``--json`` moving both blocks to stderr. Early stopping logs ``best_epoch`` and
``stopped_epoch``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import client_for

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "pipelines" / "iris.yaml"
EPOCH_LINE = re.compile(r"^epoch\s+\d+/\d+", re.M)


def mathflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mathflow.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def _check_header(text: str, folder: Path) -> None:
    assert f"pipeline  iris-mlp ({IRIS})" in text
    assert "data      iris (3 classes): 150 samples (train 90 · val 30 · test 30)" in text
    assert re.search(r"^  layer\s+type\s+output shape\s+params$", text, re.M)
    assert re.search(r"^  dense_1\s+dense\s+\(N, 16\)\s+80$", text, re.M)
    assert "  total parameters: 131" in text
    assert f"store     sqlite:///{(folder / 'runs' / 'mlflow.db').as_posix()}" in text
    run_id = re.search(r"^run\s+([0-9a-f]{32}) in experiment", text, re.M).group(1)
    page = f"http://127.0.0.1:5000/#/experiments/1/runs/{run_id}?workflowType=machine_learning"
    assert f"ui        {page} (open after: mathflow ui)" in text


def test_quiet_keeps_the_start_and_end_blocks_and_early_stopping(tmp_path: Path) -> None:
    done = mathflow(
        "run",
        str(IRIS),
        "--set",
        "train.epochs=100",
        "--set",
        "train.early_stopping.patience=2",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert not EPOCH_LINE.search(out), out  # --quiet silences the progress
    _check_header(out, tmp_path)
    run_id = re.search(r"^run\s+([0-9a-f]{32}) in experiment 'iris' on ", out, re.M).group(1)
    end = re.search(rf"^run {run_id} in experiment 'iris': (\d+) epochs, \d+ steps, [\d.]+ s training$", out, re.M)
    assert end, out
    stop = re.search(
        r"^  early stopping at epoch (\d+): val_loss did not improve for 2 epochs "
        r"\(best [\d.e-]+ at epoch (\d+)\); the weights of epoch (\d+) were restored$",
        out,
        re.M,
    )
    assert stop, out
    stopped, best, restored = (int(g) for g in stop.groups())
    assert stopped == int(end.group(1)) < 100 and best == restored == stopped - 2
    assert re.search(r"^  test  loss [\d.]+ · accuracy [\d.]+$", out, re.M)
    assert out.index("total parameters") < out.index("early stopping at")

    mlf = client_for(tmp_path)
    metrics = mlf.get_run(run_id).data.metrics
    assert metrics["best_epoch"] == best and metrics["stopped_epoch"] == stopped
    # the restored weights' val metrics come last, so MLflow's latest values are the logged model's
    val_loss = {m.step: m.value for m in mlf.get_metric_history(run_id, "val_loss")}
    assert sorted(val_loss) == list(range(1, stopped + 2))
    assert metrics["val_loss"] == val_loss[stopped + 1] == pytest.approx(val_loss[best], rel=1e-5)
    shown = re.search(r"^  val   loss ([\d.]+) · accuracy ([\d.]+)$", out, re.M)
    assert float(shown.group(1)) == pytest.approx(metrics["val_loss"], abs=5e-5)
    assert float(shown.group(2)) == pytest.approx(metrics["val_accuracy"], abs=5e-5)


def test_json_moves_the_blocks_to_stderr(tmp_path: Path) -> None:
    done = mathflow("run", str(IRIS), "--set", "train.epochs=2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(EPOCH_LINE.findall(done.stdout)) == 2 and len(lines) == 3  # two epochs, then the JSON line
    summary = json.loads(lines[-1])
    _check_header(done.stderr, tmp_path)
    assert f"run {summary['run_id']} in experiment 'iris': 2 epochs" in done.stderr
    assert "early stopping at" not in done.stderr
    # early stopping watched but did not stop: its best epoch is logged, no stopped epoch
    assert summary["metrics"]["best_epoch"] in (1.0, 2.0) and "stopped_epoch" not in summary["metrics"]
    assert "  val   loss" in done.stderr and "best_epoch" not in done.stderr


def test_model_lines_of_a_graph_show_the_inputs() -> None:
    from mathflow.pipeline import load_pipeline
    from mathflow.run_report import model_lines

    _, compiled = load_pipeline(ROOT / "pipelines" / "residual.yaml", [])
    lines = model_lines(compiled)
    assert re.match(r"^  layer\s+type\s+inputs\s+output shape\s+params$", lines[0])
    assert any(re.search(r"\badd\b", line) and "," in line for line in lines[1:]), lines
    assert lines[-1] == f"  total parameters: {compiled.graph.total_params:,}"


def test_early_stopping_metrics_and_reason() -> None:
    import numpy as np

    from mathflow import nn, optim
    from mathflow.data import Dataset
    from mathflow.train import EarlyStopping, Trainer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0]], np.float32)
    train = Dataset(x[:30], y[:30], "regression")
    val = Dataset(x[30:], rng.normal(size=(10, 1)).astype(np.float32) * 50, "regression")
    stopper = EarlyStopping(patience=1, min_delta=1e3)
    trainer = Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p, lr=0.01), metrics=(), seed=0,
                      early_stopping=stopper, progress="quiet")  # fmt: skip
    history = trainer.fit(train, val, epochs=20, batch_size=10)
    assert stopper.metrics() == {"best_epoch": 1.0, "stopped_epoch": 2.0}
    assert history.stop_reason.startswith("early stopping: val_loss did not improve by more than 1000 for 1 epoch ")
    assert EarlyStopping().metrics() == {}


@pytest.mark.parametrize("quiet", [False, True])
def test_run_summary_without_a_store(quiet: bool) -> None:
    """run_summary groups the final metrics by split and leaves the timing and epochs out."""
    from mathflow.run import RunResult
    from mathflow.run_report import run_summary

    result = RunResult(
        run_id="r" * 32,
        experiment="e",
        experiment_id="1",
        config_hash="h",
        tracking_uri="sqlite:///x.db",
        epochs=3,
        steps=9,
        train_seconds=1.5,
        metrics={"train_loss": 0.5, "val_loss": 0.25, "weight_sparsity": 0.5, "best_epoch": 2.0, "train_seconds": 1.5},
    )
    text = run_summary(result)
    assert text.splitlines() == [
        f"run {'r' * 32} in experiment 'e': 3 epochs, 9 steps, 1.50 s training",
        "  train loss 0.5000",
        "  val   loss 0.2500",
        "  other weight_sparsity 0.5000",
    ]
