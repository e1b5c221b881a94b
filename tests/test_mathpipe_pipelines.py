"""The worked examples of the spec as math pipelines, run against a real MLflow store."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.mathpipe import run_math
from mathflow.tracking import default_tracking_uri

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "pipelines" / "math"


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (creating one costs about a second)."""
    return default_tracking_uri(tmp_path_factory.mktemp("math-store"))


@pytest.fixture
def run(uri, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def go(name: str, overrides=(), **kwargs):
        return run_math(MATH / f"{name}.yaml", list(overrides), tracking_uri=uri, quiet=True, **kwargs)

    return go


@pytest.fixture
def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for info in client.list_artifacts(run_id, path):
        out |= artifacts(client, run_id, info.path) if info.is_dir else {info.path}
    return out


# ------------------------------------------------------------------------------------------ optimize
def test_lagrange_xy_maximum_and_multiplier(run, client):
    result = run("lagrange_xy")
    assert result["solution"] == pytest.approx({"x": 5.0, "y": 5.0}, abs=1e-9)
    # L = xy + λ(10 − x − y): ∂L/∂x = y − λ = 0 gives λ = 5.
    assert result["multipliers"] == pytest.approx([5.0], abs=1e-9)
    assert result["objective"] == pytest.approx(25.0)
    assert result["stationary_point"] == "maximum"
    assert result["converged"] and result["steps"] >= 1
    recorded = client.get_run(result["run_id"])
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["maximize"] == "x * y"
    assert recorded.data.params["subject_to.0"] == "x + y = 10"
    assert recorded.data.tags["mathflow.kind"] == "optimize"
    assert recorded.data.tags["mathflow.stationary_point"] == "maximum"
    assert history(client, result["run_id"], "x")[-1][1] == pytest.approx(5.0)
    assert history(client, result["run_id"], "lambda.0")[-1][1] == pytest.approx(5.0)
    files = artifacts(client, result["run_id"])
    assert {"plots/path.png", "result.json", "config/resolved.yaml"} <= files
    png = Path(client.download_artifacts(result["run_id"], "plots/path.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_minimizing_under_the_same_constraint_gives_the_same_multiplier_sign(run):
    result = run("lagrange_xy", ["maximize=null", "minimize=x**2 + y**2"])
    # min x² + y² s.t. x + y = 10: 2x − λ = 0 → λ = 10 with L = f + λ(10 − x − y).
    assert result["solution"] == pytest.approx({"x": 5.0, "y": 5.0}, abs=1e-9)
    assert result["multipliers"] == pytest.approx([10.0], abs=1e-9)
    assert result["stationary_point"] == "minimum"


def test_gradient_descent_first_step_and_convergence(run, client):
    result = run("gradient_descent")
    steps = history(client, result["run_id"], "x")
    assert steps[0] == (0, pytest.approx(4.0))
    assert steps[1] == (1, pytest.approx(3.2))  # 4 − 0.1 · 2 · 4
    assert steps[2] == (2, pytest.approx(2.56))
    assert result["converged"] and abs(result["solution"]["x"]) < 1e-8
    assert result["steps"] == len(steps) - 1
    objective = history(client, result["run_id"], "objective")
    assert objective[1][1] == pytest.approx(3.2**2)
    assert "plots/path.png" in artifacts(client, result["run_id"])
    params = client.get_run(result["run_id"]).data.params
    assert params["method.gd.lr"] == "0.1"


def test_step_limit_without_convergence(run):
    result = run("gradient_descent", ["steps=3"])
    assert result["steps"] == 3 and not result["converged"]
    assert result["solution"]["x"] == pytest.approx(4 * 0.8**3)


def test_momentum_draws_the_path_over_the_contours(run, client):
    result = run("momentum_bowl")
    assert result["solution"] == pytest.approx({"x": 1.0, "y": -2.0}, abs=1e-5)
    assert "plots/path.png" in artifacts(client, result["run_id"])
    assert len(history(client, result["run_id"], "grad_norm")) == result["steps"] + 1


def test_adam_on_a_vector_variable(run, client):
    result = run("adam_vector")
    assert result["solution"]["w"] == pytest.approx([0.95, 1.95, 2.95], abs=1e-4)
    assert history(client, result["run_id"], "w.2")[-1][1] == pytest.approx(2.95, abs=1e-4)


def test_maximizing_with_an_optimizer_ascends(run):
    result = run("gradient_descent", ["minimize=null", "maximize=-(x - 1)**2", "method={adam: {lr: 0.1}}", "steps=500"])
    assert result["solution"]["x"] == pytest.approx(1.0, abs=1e-4)
    assert result["goal"] == "maximize"


def test_newton_without_constraints(run):
    result = run("momentum_bowl", ["method=newton"])
    assert result["solution"] == pytest.approx({"x": 1.0, "y": -2.0}, abs=1e-10)
    assert result["steps"] == 1 and result["stationary_point"] == "minimum"
    assert "multipliers" not in result


def test_failed_newton_marks_the_run(run, client, uri):
    with pytest.raises(MathflowError, match="did not reach a stationary point"):
        run("lagrange_xy", ["maximize=exp(x) + y", "steps=2"], experiment="failing")
    (failed,) = client.search_runs([client.get_experiment_by_name("failing").experiment_id])
    assert failed.info.status == "FAILED"


# ------------------------------------------------------------------------------------------ analyze
def test_hessian_of_x3_plus_y3(run, client):
    result = run("hessian_cubic")
    x, y = 1.0, 2.0
    assert np.allclose(result["hessian"], [[6 * x, 0.0], [0.0, 6 * y]], rtol=1e-12)
    assert result["gradient"] == pytest.approx({"x": 3 * x**2, "y": 3 * y**2})
    assert result["value"] == pytest.approx(9.0)
    assert result["eigenvalues"] == pytest.approx([12.0, 6.0])
    assert result["convexity"] == "convex"
    assert result["taylor"]["polynomial"] == "x**3 + y**3"
    recorded = client.get_run(result["run_id"])
    assert recorded.data.tags["mathflow.convexity"] == "convex"
    assert recorded.data.metrics["value"] == pytest.approx(9.0)


def test_hessian_verdicts(run):
    assert run("hessian_cubic", ["at={x: -1.0, y: -2.0}"])["convexity"] == "concave"
    assert run("hessian_cubic", ["at={x: 1.0, y: -2.0}"])["convexity"] == "saddle"
    assert run("hessian_cubic", ["at={x: 0.0, y: 2.0}"])["convexity"] == "degenerate"


def test_partial_derivatives(run):
    result = run("partial_derivatives")
    x, y = 2.0, 3.0
    assert result["gradient"] == pytest.approx({"x": 2 * x * y, "y": x**2 + 6 * y})


def test_gradient_of_x2_plus_y2(run):
    result = run("gradient")
    assert result["gradient"] == pytest.approx({"x": 2.0, "y": 4.0})
    assert result["convexity"] == "convex"


def test_chain_rule(run):
    result = run("chain_rule")
    x = 1.5
    assert result["gradient"]["x"] == pytest.approx(2 * x * math.cos(x**2), rel=1e-12)
    assert result["value"] == pytest.approx(math.sin(x**2))


def test_taylor_series_of_exp(run, client):
    result = run("taylor_exp")
    taylor = result["taylor"]
    assert taylor["coefficients"] == pytest.approx([1 / math.factorial(k) for k in range(5)])
    assert taylor["polynomial"] == "1 + x + 0.5*x**2 + 0.166667*x**3 + 0.0416667*x**4"
    assert taylor["value_at"] == pytest.approx(1 + 1 + 1 / 2 + 1 / 6 + 1 / 24)
    assert "plots/taylor.png" in artifacts(client, result["run_id"])


def test_vector_variables_are_named_entry_by_entry(run):
    result = run("gradient", ["function=sum(w**2) + det(A)", "at={w: [1.0, 2.0], A: [[1.0, 2.0], [3.0, 4.0]]}"])
    assert result["gradient"]["w"] == pytest.approx([2.0, 4.0])
    # ∂det(A)/∂A = det(A)·A⁻ᵀ = [[4, -3], [-2, 1]]
    assert np.allclose(result["gradient"]["A"], [[4.0, -3.0], [-2.0, 1.0]])
    assert result["variables_order"] == ["w[0]", "w[1]", "A[0,0]", "A[0,1]", "A[1,0]", "A[1,1]"]
    assert np.asarray(result["hessian"]).shape == (6, 6)


# ------------------------------------------------------------------------------------------ matrices
def test_inverse(run):
    result = run("matrix_inverse")
    assert np.allclose(result["inverse"], np.array([[6, -7], [-2, 4]]) / 10)
    assert result["det"] == pytest.approx(10.0)


def test_transpose_trace_det_and_norms(run, client):
    result = run("matrix_properties")
    assert result["transpose"] == [[1.0, 3.0], [2.0, 4.0]]
    assert result["trace"] == pytest.approx(5.0)
    assert result["det"] == pytest.approx(-2.0)
    assert result["norms"]["fro"] == pytest.approx(math.sqrt(30))
    assert result["norms"]["l1"] == pytest.approx(6.0)  # largest column sum
    assert result["norms"]["inf"] == pytest.approx(7.0)  # largest row sum
    assert client.get_run(result["run_id"]).data.metrics["norm.fro"] == pytest.approx(math.sqrt(30))


def test_vector_norms(run):
    assert run("norm_l2")["norms"]["l2"] == pytest.approx(5.0)
    assert run("norm_l1")["norms"]["l1"] == pytest.approx(3.0)


def test_eigenpair(run):
    result = run("eigenpair")
    assert result["eigenvalues"] == pytest.approx([3.0, 1.0])
    v = np.asarray(result["eigenvectors"])
    assert v[:, 0] == pytest.approx(np.array([1.0, 1.0]) / math.sqrt(2))
    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert A @ v[:, 0] == pytest.approx(3 * v[:, 0])


def test_spectral_decomposition(run):
    result = run("spectral_decomposition")
    assert result["eigenvalues"] == pytest.approx([5.0, 2.0])
    V, w = np.asarray(result["eigenvectors"]), np.asarray(result["eigenvalues"])
    assert V @ np.diag(w) @ np.linalg.inv(V) == pytest.approx(np.array([[4.0, 1.0], [2.0, 3.0]]))
    assert result["spectral_check"]["reconstruction_error"] < 1e-12


def test_svd_of_the_identity(run):
    result = run("svd_identity")
    assert result["singular_values"] == pytest.approx([1.0, 1.0])
    assert np.allclose(np.abs(result["svd"]["U"]), np.eye(2)) and np.allclose(np.abs(result["svd"]["Vt"]), np.eye(2))
    assert result["inverse"] == [[1.0, 0.0], [0.0, 1.0]]


def test_singular_and_rectangular_matrices(run):
    result = run("matrix_inverse", ["matrix=[[1, 2], [2, 4]]"])
    assert result["inverse"] == "singular" and result["det"] == pytest.approx(0.0)
    result = run("matrix_inverse", ["matrix=[[1, 2, 3], [4, 5, 6]]"])
    assert result["inverse"] is None and result["transpose"] == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert len(result["singular_values"]) == 2
    result = run("matrix_inverse", ["matrix=[[0, -1], [1, 0]]"])  # a rotation: eigenvalues ±i
    assert sorted(e["imag"] for e in result["eigenvalues"]) == pytest.approx([-1.0, 1.0])


# ------------------------------------------------------------------------------------------ data
def test_pca_of_digits(run, client):
    result = run("pca_digits")
    ratios = result["explained_variance_ratio"]
    assert len(ratios) == 2
    assert ratios == pytest.approx([0.14890594, 0.13618771], abs=1e-6)
    assert result["samples"] == 1797 and result["features"] == 64
    assert "plots/pca_projection.png" in artifacts(client, result["run_id"])
    assert client.get_run(result["run_id"]).data.metrics["explained_variance_ratio.0"] == pytest.approx(ratios[0])


# ------------------------------------------------------------------------------------------ module entry
def test_module_entry_prints_json(uri, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.mathpipe", str(MATH / "lagrange_xy.yaml"), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"run_id", "solution", "objective", "multipliers", "steps"}
    assert result["multipliers"] == pytest.approx([5.0])


def test_module_entry_reports_located_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: optimize\nvariables: {x: 1.0}\nminimize: x + y\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.mathpipe", str(bad), "--validate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"{bad}:3:15: unknown name 'y'")
    assert "Traceback" not in done.stderr


def test_long_runs_log_evenly_spaced_steps_and_the_last():
    from mathflow.mathpipe.runner import logged_steps

    assert logged_steps(5, limit=10) == [0, 1, 2, 3, 4]
    chosen = logged_steps(1001, limit=200)
    assert chosen[0] == 0 and chosen[-1] == 1000 and len(chosen) <= 202
    assert len(set(np.diff(chosen[:-1]))) == 1
