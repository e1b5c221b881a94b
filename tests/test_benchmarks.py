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
