"""The benchmark scripts run and report in the documented format (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mathflow as mf

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.torch
def test_cpu_benchmark_json_line() -> None:
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--only", "mlp-small", "--rounds", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    result = summary["workloads"]["mlp-small"]
    # the ratio is rounded to 3 decimals
    assert result["ratio"] == pytest.approx(result["mathflow_ms"] / result["torch_ms"], rel=0.01, abs=6e-4)
    # same weights, same batch: the first losses agree
    assert result["first_loss"]["mathflow"] == pytest.approx(result["first_loss"]["torch"], rel=1e-4)
    assert set(result["peak_mib"]) == {"mathflow", "torch"}


@pytest.mark.skipif(mf.gpu_available(), reason="checks the message given without a GPU")
def test_gpu_benchmark_says_why_it_cannot_run() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "run_gpu.py")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot benchmark on a GPU" in done.stdout + done.stderr


def test_overhead_benchmark_json_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "overhead.py"),
            "--rounds",
            "1",
            "--no-warmup",
            "--set",
            "train.epochs=2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["first"] is None
    for mode in ("daemon", "alone"):  # through the benchmark's own daemon, and in a process of its own
        timed = summary[mode]
        (run,) = timed["runs"]
        assert run["status"] == "FINISHED"
        assert run["fixed_s"] == pytest.approx(run["wall_s"] - run["train_s"], abs=2e-3)  # each rounded to 1 ms
        assert 0 < run["train_s"] < run["wall_s"]
        assert timed["fixed_s"]["median"] == run["fixed_s"]
        for yardstick, ratio in (("import_mlflow_s", "fixed_per_import"), ("import_store_s", "fixed_per_store_import")):
            assert summary[yardstick]["median"] > 0
            expected = timed["fixed_s"]["median"] / summary[yardstick]["median"]
            assert timed[ratio] == pytest.approx(expected, rel=0.01, abs=1e-3)
    assert summary["pipeline"] == "pipelines/iris.yaml" and summary["overrides"] == ["train.epochs=2"]
