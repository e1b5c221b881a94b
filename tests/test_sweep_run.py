"""Sweeps end to end: the real CLI in subprocesses, real worker processes, a real store read back."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import cli_env
from store_helpers import client_for
from sweep_helpers import tiny_iris

from mathflow.sweep import make_plan, run_sweep
from mathflow.sweep.local import LocalExecutor

GRID = """\
sweep:
  method: grid
  metric: val_loss
  seeds: 2
  parallel: 2
  parameters:
    optimizer.sgd.lr: {values: [0.002, 0.1]}
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _children(mlf: Any, parent: Any) -> list[Any]:
    return mlf.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )


def _artifact_text(mlf: Any, run_id: str, path: str, tmp: Path) -> str:
    return Path(mlf.download_artifacts(run_id, path, str(tmp))).read_text()


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("grid")
    (folder / "p.yaml").write_text(tiny_iris(epochs=4) + GRID)
    done = _cli("sweep", "p.yaml", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    mlf = client_for(folder)
    parent = mlf.get_run(summary["parent_run_id"])
    return {
        "folder": folder,
        "summary": summary,
        "mlf": mlf,
        "parent": parent,
        "children": _children(mlf, parent),
        "stderr": done.stderr,
    }


def test_a_grid_sweep_is_one_parent_with_a_child_run_per_point_and_seed(grid: dict[str, Any]) -> None:
    parent, children = grid["parent"], grid["children"]
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["mathflow.run_kind"] == "sweep" and tags["mathflow.sweep.method"] == "grid"
    definition = json.loads(tags["mathflow.sweep.definition"])
    assert definition["parameters"]["optimizer.sgd.lr"]["values"] == [0.002, 0.1]
    assert len(tags["mathflow.sweep.hash"]) == 64
    assert sorted((c.data.params["optimizer.sgd.lr"], c.data.params["seed"]) for c in children) == [
        ("0.002", "7"),
        ("0.002", "8"),
        ("0.1", "7"),
        ("0.1", "8"),
    ]
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all("sweep.method" not in c.data.params for c in children)  # a trial is a plain run
    assert grid["summary"]["trials"] == {"FINISHED": 4}


def test_the_parent_ranks_the_points_and_marks_the_best(grid: dict[str, Any], tmp_path: Path) -> None:
    mlf, parent, children = grid["mlf"], grid["parent"], grid["children"]
    by_lr: dict[str, list[float]] = {}
    for child in children:
        by_lr.setdefault(child.data.params["optimizer.sgd.lr"], []).append(child.data.metrics["val_loss"])
    means = {lr: sum(v) / len(v) for lr, v in by_lr.items()}
    best_lr = min(means, key=means.__getitem__)
    assert parent.data.metrics["best_val_loss"] == pytest.approx(means[best_lr])
    assert float(parent.data.tags["best.optimizer.sgd.lr"]) == float(best_lr)
    best_runs = {c.info.run_id for c in children if c.data.tags.get("mathflow.sweep.best") == "true"}
    assert best_runs == {c.info.run_id for c in children if c.data.params["optimizer.sgd.lr"] == best_lr}
    assert parent.data.tags["mathflow.sweep.best_run_id"] in best_runs

    results = list(csv.DictReader(io.StringIO(_artifact_text(mlf, parent.info.run_id, "sweep/results.csv", tmp_path))))
    assert len(results) == 4 and {r["status"] for r in results} == {"FINISHED"}
    assert {r["run_id"] for r in results} == {c.info.run_id for c in children}
    points = list(csv.DictReader(io.StringIO(_artifact_text(mlf, parent.info.run_id, "sweep/points.csv", tmp_path))))
    for row in points:
        values = by_lr[str(float(row["optimizer.sgd.lr"]))]
        assert float(row["val_loss_mean"]) == pytest.approx(sum(values) / 2)
        assert float(row["val_loss_std"]) == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    logged = {a.path for a in mlf.list_artifacts(parent.info.run_id, "sweep")}
    assert {
        "sweep/results.csv",
        "sweep/points.csv",
        "sweep/parallel_coordinates.png",
        "sweep/learning_curves.png",
        "sweep/metric_vs_optimizer.sgd.lr.png",
    } <= logged


def test_runs_sweep_lists_the_trials_best_first_and_compare_shows_the_difference(grid: dict[str, Any]) -> None:
    parent, children = grid["parent"], grid["children"]
    listed = _cli("runs", "--sweep", parent.info.run_id, cwd=grid["folder"])
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line[:1].isdigit()]
    assert len(rows) == 4
    best = min(children, key=lambda c: c.data.metrics["val_loss"])
    assert best.info.run_id in rows[0]
    other = next(c for c in children if c.data.params["optimizer.sgd.lr"] != best.data.params["optimizer.sgd.lr"])
    shown = _cli("compare", best.info.run_id, other.info.run_id, cwd=grid["folder"])
    assert shown.returncode == 0, shown.stderr
    lr_line = next(line for line in shown.stdout.splitlines() if "optimizer.sgd.lr" in line)
    assert best.data.params["optimizer.sgd.lr"] in lr_line and other.data.params["optimizer.sgd.lr"] in lr_line
    assert "val_loss" in shown.stdout and "model.layers" not in shown.stdout  # only what differs


def test_a_trial_reruns_to_the_same_metrics(grid: dict[str, Any]) -> None:
    from mathflow.rerun import rerun

    trial = grid["children"][0]
    outcome = rerun(trial.info.run_id, tracking_uri=grid["mlf"].tracking_uri, quiet=True)
    assert outcome.matches, outcome.differences


class _KillOnReport(LocalExecutor):
    """A real kill -9 of the worker running point 0, at its first epoch report, on every attempt."""

    def poll(self, timeout: float) -> list[tuple[Any, ...]]:
        events = super().poll(timeout)
        for event in events:
            if event[0] == "report" and event[1].point == 0:
                os.kill(event[4].process.pid, signal.SIGKILL)
        return events


def test_a_killed_worker_is_retried_once_then_failed_a_poor_trial_is_pruned_and_the_sweep_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mathflow.sweep.runner as runner

    path = tmp_path / "p.yaml"
    path.write_text(
        tiny_iris(epochs=6) + "sweep: {method: grid, metric: val_loss, parallel: 1, "
        "prune: {after_epochs: 1, startup_trials: 1}, "
        "parameters: {optimizer.sgd.lr: {values: [0.01, 0.1, 1.0e-7]}}}\n"
    )
    monkeypatch.setattr(runner, "_make_executor", lambda name, size, *a: _KillOnReport(size))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_sweep(make_plan(str(path)), tracking_uri=uri)
    statuses = {row["point"]: row["status"] for row in result.rows}
    assert statuses == {0: "FAILED", 1: "FINISHED", 2: "PRUNED"}
    assert result.best is not None and result.best["point"] == 1
    from mlflow.tracking import MlflowClient

    mlf = MlflowClient(tracking_uri=uri)
    parent = mlf.get_run(result.parent_run_id)
    children = _children(mlf, parent)
    lost = [c for c in children if c.data.params["optimizer.sgd.lr"] == "0.01"]
    assert len(lost) == 2  # the first attempt and the one retry
    assert {c.info.status for c in lost} == {"FAILED"}
    assert all(
        c.data.tags["mathflow.error"].startswith("WorkerLost: the worker process was killed by SIGKILL") for c in lost
    )
    assert sorted(c.data.tags["mathflow.sweep.attempt"] for c in lost) == ["0", "1"]
    assert "RUNNING" not in {c.info.status for c in children} and parent.info.status == "FINISHED"
    pruned = next(c for c in children if c.data.params["optimizer.sgd.lr"] == "1e-07")
    assert pruned.info.status == "FINISHED" and int(pruned.data.tags["mathflow.sweep.pruned"]) >= 1
    assert len(mlf.get_metric_history(pruned.info.run_id, "val_loss")) < 6  # stopped early
    assert parent.data.metrics["trials_pruned"] == 1 and parent.data.metrics["trials_failed"] == 1


def _running(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db.as_posix()}?mode=ro", uri=True, timeout=1) as con:
            return int(con.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigint_stops_the_sweep_killed_and_resume_finishes_it_without_rerunning_done_points(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(tiny_iris(epochs=200))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mathflow.cli",
            "sweep",
            "p.yaml",
            "--method",
            "random",
            "--trials",
            "3",
            "--param",
            "optimizer.sgd.lr=0.01:0.05",
            "--metric",
            "val_loss",
            "--parallel",
            "1",
        ],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("[1/3]"):
            break
    deadline = time.monotonic() + 120
    while _running(tmp_path / "runs" / "mlflow.db") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the parent and the second trial
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    mlf = client_for(tmp_path)
    exp = mlf.get_experiment_by_name("sweeps")
    parent = next(r for r in mlf.search_runs([exp.experiment_id]) if r.data.tags.get("mathflow.run_kind") == "sweep")
    assert parent.info.status == "KILLED"
    first = _children(mlf, parent)
    assert sorted(c.info.status for c in first) == ["FINISHED", "KILLED"]
    assert "marked KILLED" in err

    resumed = _cli("sweep", "--resume", parent.info.run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    parent = mlf.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED"
    children = _children(mlf, parent)
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert sorted(c.data.tags["mathflow.sweep.point"] for c in finished) == ["0", "1", "2"]
    assert all(0.01 <= float(c.data.params["optimizer.sgd.lr"]) <= 0.05 for c in finished)
    done_before = next(c for c in first if c.info.status == "FINISHED")
    assert done_before.info.run_id in {c.info.run_id for c in finished}  # not run again
    killed = next(c for c in children if c.info.status == "KILLED")
    assert killed.data.tags["mathflow.sweep.superseded"] == "true"
    assert parent.data.metrics["trials_finished"] == 3


def test_run_seeds_is_a_seed_only_sweep_with_mean_and_std(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(tiny_iris(epochs=2))
    done = _cli("run", "p.yaml", "--seeds", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    mlf = client_for(tmp_path)
    parent = mlf.get_run(summary["parent_run_id"])
    children = _children(mlf, parent)
    assert sorted(c.data.params["seed"] for c in children) == ["7", "8"]
    accuracies = [c.data.metrics["test_accuracy"] for c in children]
    assert parent.data.metrics["test_accuracy_mean"] == pytest.approx(sum(accuracies) / 2)
    assert parent.data.metrics["test_accuracy_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2**0.5)
