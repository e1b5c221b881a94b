"""A sweep against the same trials run one ``mathflow run`` process after another, in one run.

    python benchmarks/sweep.py                      # 40-trial random sweep of pipelines/iris.yaml
    python benchmarks/sweep.py --trials 10 --json   # last stdout line: one JSON object

First ``mathflow sweep`` (local executor, ``--parallel`` workers, default the CPU count) runs a random
search over the learning rate and the hidden width; then each of its trials' configurations runs as
its own ``mathflow run`` process, sequentially, each in a fresh store. Reported: both wall times,
their ratio (sweep / sequential), and the per-trial overhead of each, i.e. the process-seconds a
trial costs beyond its training time (sweep: ``(wall × parallel − Σ train) / trials``; sequential:
the mean of ``wall − train`` per process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "iris.yaml"
PARAMS = ["optimizer.sgd.lr=1e-3:3e-1:log", "model.layers.0.dense.units=4,8,16,32"]
CLI = [sys.executable, "-m", "mathflow.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MATHFLOW_DEBUG")}


def _json_line(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def run_sweep(trials: int, parallel: int, folder: Path) -> tuple[float, list[dict[str, Any]]]:
    """Wall seconds of the sweep, and its trials (values and training seconds) read from its store."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    params = [arg for p in PARAMS for arg in ("--param", p)]
    command = [*CLI, "sweep", str(PIPELINE), *params, "--metric", "val_accuracy", "--method", "random",
               "--trials", str(trials), "--parallel", str(parallel), "--tracking-uri", uri, "--json"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{done.stderr}")
    summary = _json_line(done.stdout)
    from mlflow.tracking import MlflowClient

    mlf = MlflowClient(tracking_uri=uri)
    parent = mlf.get_run(summary["parent_run_id"])
    children = mlf.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    trials_out = [
        {"values": json.loads(c.data.tags["mathflow.sweep.params"]), "train_seconds": c.data.metrics["train_seconds"]}
        for c in children
    ]
    return wall, trials_out


def run_sequential(trials: list[dict[str, Any]], folder: Path) -> list[dict[str, float]]:
    """Each trial's configuration as its own ``mathflow run`` process: wall and training seconds."""
    out = []
    for i, trial in enumerate(trials):
        store = folder / f"store{i}"
        sets = [arg for path, value in trial["values"].items() for arg in ("--set", f"{path}={json.dumps(value)}")]
        command = [*CLI, "run", str(PIPELINE), *sets, "--tracking-uri", f"sqlite:///{store}.db", "--json", "-q"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"a sequential run failed:\n{done.stderr}")
        out.append({"wall": wall, "train": float(_json_line(done.stdout)["train_seconds"])})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mathflow-bench-sweep-") as tmp:
        folder = Path(tmp)
        sweep_wall, trials = run_sweep(args.trials, args.parallel, folder)
        sequential = run_sequential(trials, folder)
    sequential_wall = sum(r["wall"] for r in sequential)
    sweep_train = sum(t["train_seconds"] for t in trials)
    result = {
        "trials": len(trials),
        "parallel": args.parallel,
        "sweep_seconds": round(sweep_wall, 2),
        "sequential_seconds": round(sequential_wall, 2),
        "ratio": round(sweep_wall / sequential_wall, 3),
        "sweep_overhead_per_trial": round((sweep_wall * args.parallel - sweep_train) / len(trials), 3),
        "sequential_overhead_per_trial": round(statistics.fmean(r["wall"] - r["train"] for r in sequential), 3),
        "mean_train_seconds": round(sweep_train / len(trials), 3),
    }
    print(f"{len(trials)} trials of {PIPELINE.name}, {args.parallel} worker(s)")
    for name, wall in (("sweep", sweep_wall), ("sequential", sequential_wall)):
        print(f"  {name + ':':<12} {wall:8.1f} s   overhead per trial {result[f'{name}_overhead_per_trial']:.2f} s")
    print(f"  ratio sweep / sequential: {result['ratio']:.3f}   (training {result['mean_train_seconds']:.2f} s/trial)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
