"""Part 2 of issue 14: Newton's method and the Lagrange/KKT Newton solver are globalised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mathflow.mathpipe import run_math
from mathflow.mathpipe.optimize import solve
from mathflow.mathpipe.problem import load_problem

MATH = Path(__file__).resolve().parents[1] / "pipelines" / "math"


def newton(name: str, overrides=()) -> dict:
    result, _ = solve(load_problem(MATH / f"{name}.yaml", list(overrides)))
    return result


def test_rosenbrock_from_the_classic_start_converges_in_a_few_dozen_steps():
    result = newton("rosenbrock")
    assert result["converged"] and result["stationary_point"] == "minimum"
    assert result["solution"] == pytest.approx({"x": 1.0, "y": 1.0}, abs=1e-8)
    assert 1 <= result["steps"] <= 40  # plain Newton with residual halving needed 180
    assert result["backtracks"] >= 1


def test_the_step_count_is_in_the_logged_result(tmp_path, monkeypatch):
    from mathflow.tracking import default_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run_math(MATH / "rosenbrock.yaml", [], tracking_uri=default_tracking_uri(tmp_path), quiet=True)
    assert result["steps"] == newton("rosenbrock")["steps"] and "hessian_shifts" in result


def test_indefinite_hessian_is_shifted_towards_a_minimum():
    # f = x⁴ − 2x² + y²: at x = 0.1 the Hessian 12x² − 4 < 0; plain Newton goes to the saddle x = 0.
    result = newton("rosenbrock", ["minimize=x**4 - 2*x**2 + y**2", "variables={x: 0.1, y: 1.0}"])
    assert result["stationary_point"] == "minimum" and result["hessian_shifts"] >= 1
    assert abs(result["solution"]["x"]) == pytest.approx(1.0, abs=1e-9)
    assert result["objective"] == pytest.approx(-1.0)


def test_maximising_climbs_to_a_maximum():
    result = newton("rosenbrock", ["minimize=null", "maximize=-(x**4 - 2*x**2 + y**2)", "variables={x: 0.1, y: 1.0}"])
    assert result["stationary_point"] == "maximum"
    assert abs(result["solution"]["x"]) == pytest.approx(1.0, abs=1e-9)


def test_lagrange_newton_finds_the_constrained_minimum_not_the_maximum():
    # min x + y s.t. x² + y² = 2: (−1, −1); L = x + y + λ(2 − x² − y²) gives 1 − 2λx = 0, λ = −1/2.
    # From (1, 0.5) the undamped KKT Newton step heads for the maximum (1, 1).
    result = newton(
        "lagrange_xy",
        ["maximize=null", "minimize=x + y", "subject_to=[x**2 + y**2 = 2]", "variables={x: 1.0, y: 0.5}"],
    )
    assert result["converged"] and result["stationary_point"] == "minimum"
    assert result["solution"] == pytest.approx({"x": -1.0, "y": -1.0}, abs=1e-8)
    assert result["multipliers"] == pytest.approx([-0.5], abs=1e-8)


def test_scaled_quadratic_takes_one_step_at_every_scale():
    for scale in (1e-6, 1.0, 1e6):
        result = newton("momentum_bowl", [f"minimize={scale!r} * ((x - 1)**2 + 10*(y + 2)**2)", "method=newton"])
        assert result["steps"] == 1 and result["hessian_shifts"] == 0
        assert np.allclose([result["solution"]["x"], result["solution"]["y"]], [1.0, -2.0])
