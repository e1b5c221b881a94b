"""Part 4 of issue 14: inequality constraints solved through the KKT conditions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.mathpipe import run_math
from mathflow.mathpipe.expr import ExprError, split_relation
from mathflow.mathpipe.optimize import solve
from mathflow.mathpipe.problem import load_problem
from mathflow.tracking import default_tracking_uri

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "pipelines" / "math"


def solved(name: str, overrides=()) -> dict:
    result, _ = solve(load_problem(MATH / f"{name}.yaml", list(overrides)))
    return result


# ------------------------------------------------------------------------------------------ syntax
@pytest.mark.parametrize(
    ("text", "relation", "lhs", "rhs", "offset"),
    [("x + y <= 10", "<=", "x + y ", " 10", 8), ("w >= 0", ">=", "w ", " 0", 4), ("x == 2", "=", "x ", " 2", 4)],
)
def test_split_relation(text, relation, lhs, rhs, offset):
    assert split_relation(text) == (relation, (lhs, 0), (rhs, offset))


@pytest.mark.parametrize(("text", "offset"), [("x < 3", 2), ("x > 3", 2), ("x != 3", 2)])
def test_strict_relations_are_refused_where_they_stand(text, offset):
    with pytest.raises(ExprError, match="strict inequalities") as info:
        split_relation(text)
    assert info.value.offset == offset


def test_strict_relation_in_a_file_is_located(tmp_path):
    from mathflow.config import ConfigError

    path = tmp_path / "p.yaml"
    path.write_text("kind: optimize\nvariables: {x: 1.0}\nminimize: x**2\nsubject_to:\n  - x > 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_problem(path)
    (issue,) = [str(i) for i in info.value.issues]
    assert issue.startswith(f"{path}:5:7: '>' in 'x > 3'")


# ------------------------------------------------------------------------------------------ box projection
def test_box_projection_is_the_clipped_point():
    result = solved("box_projection")
    p = np.array([2.0, -1.0, 0.5])
    assert result["converged"]
    assert result["solution"]["x"] == pytest.approx(np.clip(p, 0.0, 1.0).tolist(), abs=1e-10)
    lower, upper = result["constraints"]
    # ∇f = x − p; L = f + λ_lo·(0 − x) + λ_up·(1 − x): x − p − λ_lo − λ_up = 0 entry by entry.
    assert lower["multiplier"] == pytest.approx([0.0, 1.0, 0.0], abs=1e-10)  # '>=' under minimize: λ ≥ 0
    assert upper["multiplier"] == pytest.approx([-1.0, 0.0, 0.0], abs=1e-10)  # '<=' under minimize: λ ≤ 0
    assert lower["active"] == [False, True, False] and upper["active"] == [True, False, False]
    assert result["active"] == ["x >= 0 [1]", "x <= 1 [0]"]
    assert max(lower["complementary_slackness"] + upper["complementary_slackness"]) < 1e-10
    assert result["complementary_slackness"] < 1e-10 and result["violation"] < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_projection_of_other_points(seed):
    p = np.random.default_rng(seed).normal(0.5, 1.5, size=3)
    target = "[" + ", ".join(repr(float(v)) for v in p) + "]"
    result = solved("box_projection", [f"minimize=0.5 * sum((x - {target})**2)"])
    assert result["solution"]["x"] == pytest.approx(np.clip(p, 0.0, 1.0).tolist(), abs=1e-8)


# ------------------------------------------------------------------------------------------ portfolio
SIGMA = np.array([[0.040, 0.006, 0.050], [0.006, 0.090, 0.010], [0.050, 0.010, 0.080]])
RETURNS = np.array([0.08, 0.12, 0.10])


def test_portfolio_matches_the_hand_derivation():
    result = solved("portfolio")
    assert result["converged"]
    assert result["solution"]["w"] == pytest.approx([0.625, 0.375, 0.0], abs=1e-9)
    assert result["objective"] == pytest.approx(0.03109375, abs=1e-12)
    budget, no_short, target = result["constraints"]
    assert budget["multiplier"] == pytest.approx(0.0135, abs=1e-9)
    assert no_short["multiplier"] == pytest.approx([0.0, 0.0, 0.00525], abs=1e-9)
    assert target["multiplier"] == pytest.approx(0.5125, abs=1e-9)
    assert no_short["active"] == [False, False, True] and target["active"] is True
    assert result["active"] == ["w >= 0 [2]", "dot([0.08, 0.12, 0.10], w) >= 0.095"]


def test_portfolio_matches_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    reference = optimize.minimize(
        lambda w: w @ SIGMA @ w,
        np.array([0.3, 0.3, 0.4]),
        jac=lambda w: 2 * SIGMA @ w,
        method="SLSQP",
        bounds=[(0.0, None)] * 3,
        constraints=[
            {"type": "eq", "fun": lambda w: w.sum() - 1.0},
            {"type": "ineq", "fun": lambda w: RETURNS @ w - 0.095},
        ],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    assert reference.success
    result = solved("portfolio")
    assert result["solution"]["w"] == pytest.approx(reference.x.tolist(), abs=1e-6)
    assert result["objective"] == pytest.approx(reference.fun, abs=1e-10)


def test_portfolio_without_the_target_matches_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    overrides = ["subject_to=[sum(w) = 1, w >= 0]"]
    reference = optimize.minimize(
        lambda w: w @ SIGMA @ w,
        np.array([0.3, 0.3, 0.4]),
        jac=lambda w: 2 * SIGMA @ w,
        method="SLSQP",
        bounds=[(0.0, None)] * 3,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    result = solved("portfolio", overrides)
    assert result["solution"]["w"] == pytest.approx(reference.x.tolist(), abs=1e-6)
    assert result["constraints"][1]["active"][2] is True  # short selling the third asset would help


# ------------------------------------------------------------------------------------------ signs and mixing
def test_maximizing_under_a_nonlinear_inequality():
    # max x + y s.t. x² + y² <= 2: (1, 1); L = x + y + λ(2 − x² − y²): 1 − 2λ = 0, λ = ½ ≥ 0 (max, '<=').
    result = solved("lagrange_xy", ["maximize=x + y", "subject_to=[x**2 + y**2 <= 2]", "variables={x: 0.2, y: -0.3}"])
    assert result["solution"] == pytest.approx({"x": 1.0, "y": 1.0}, abs=1e-8)
    assert result["multipliers"] == pytest.approx([0.5], abs=1e-8)
    assert result["stationary_point"] == "maximum"


def test_equality_and_inequality_together():
    # max xy s.t. x + y = 10, x <= 3: (3, 7); y − λₑ − λᵢ = 0, x − λₑ = 0 → λₑ = 3, λᵢ = 4.
    result = solved("lagrange_xy", ["subject_to=[x + y = 10, x <= 3]"])
    assert result["solution"] == pytest.approx({"x": 3.0, "y": 7.0}, abs=1e-8)
    assert result["multipliers"] == pytest.approx([3.0, 4.0], abs=1e-8)
    assert result["active"] == ["x <= 3"]


def test_an_inactive_inequality_has_a_zero_multiplier():
    result = solved("rosenbrock", ["minimize=(x - 1)**2 + (y + 2)**2", "subject_to=[x <= 5]"])
    assert result["solution"] == pytest.approx({"x": 1.0, "y": -2.0}, abs=1e-8)
    assert result["multipliers"] == [0.0] and result["active"] == []
    assert result["constraints"][0]["value"] == pytest.approx(4.0)


# ------------------------------------------------------------------------------------------ infeasible
def test_infeasible_constraints_fail_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = default_tracking_uri(tmp_path)
    with pytest.raises(MathflowError, match="infeasible"):
        run_math(
            MATH / "box_projection.yaml",
            ["subject_to=[x <= 0, x >= 1]"],
            tracking_uri=uri,
            quiet=True,
            experiment="infeasible",
        )
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (failed,) = client.search_runs([client.get_experiment_by_name("infeasible").experiment_id])
    assert failed.info.status == "FAILED"


def test_infeasible_pipeline_exits_non_zero(tmp_path):
    bad = tmp_path / "infeasible.yaml"
    bad.write_text(
        "kind: optimize\nvariables: {x: 0.5, y: 0.5}\nminimize: x**2 + y**2\nsubject_to: [x + y <= 1, x + y >= 3]\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mathflow.cli", "run", str(bad), "--tracking-uri", f"sqlite:///{tmp_path / 's.db'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "infeasible" in done.stderr and "Traceback" not in done.stderr


def test_an_unbounded_objective_is_reported():
    with pytest.raises(MathflowError, match="unbounded"):
        solved("rosenbrock", ["minimize=x", "subject_to=[x <= 5]"])


def test_a_nonlinear_inequality_under_minimisation_has_a_nonpositive_multiplier():
    # min −x − y s.t. x² + y² <= 1: (1/√2, 1/√2); −1 − 2λx = 0 gives λ = −1/√2 ('<=' under minimize).
    result = solved("rosenbrock", ["minimize=-x - y", "subject_to=[x**2 + y**2 <= 1]"])
    assert result["solution"] == pytest.approx({"x": 2**-0.5, "y": 2**-0.5}, abs=1e-9)
    assert result["multipliers"] == pytest.approx([-(2**-0.5)], abs=1e-9)
    assert result["stationary_point"] == "minimum"


def test_redundant_equalities_still_solve():
    result = solved("lagrange_xy", ["maximize=null", "minimize=x**2 + y**2", "subject_to=[x + y = 1, 2*x + 2*y = 2]"])
    assert result["converged"] and result["solution"] == pytest.approx({"x": 0.5, "y": 0.5}, abs=1e-10)
