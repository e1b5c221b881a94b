"""`mathflow run` and `mathflow validate` on math pipelines, as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATH = ROOT / "pipelines" / "math"


def mathflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathflow.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_run_dispatches_a_lagrange_pipeline(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    done = mathflow("run", str(MATH / "lagrange_xy.yaml"), "--json", "--tracking-uri", uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["solution"]["x"] == pytest.approx(5.0)
    assert result["solution"]["y"] == pytest.approx(5.0)
    assert result["multipliers"] == [pytest.approx(5.0)]
    assert result["objective"] == pytest.approx(25.0)
    assert result["run_id"]


def test_validate_dispatches_a_math_pipeline(tmp_path: Path) -> None:
    done = mathflow("validate", str(MATH / "taylor_exp.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exp" in done.stdout


def test_a_bad_math_pipeline_reports_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: optimize\nvariables: {x: 1.0}\nminimize: x**2 + z\nsteps: 5\n")
    done = mathflow("validate", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert f"{bad}:3:" in done.stderr
    assert "z" in done.stderr
    assert "Traceback" not in done.stderr
    run = mathflow("run", str(bad), "--tracking-uri", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    assert run.returncode == 1
    assert f"{bad}:3:" in run.stderr
