"""The optimize kind's stopping test is relative: the same problem with f multiplied by 1e-8 or
1e8 stops at the same iterate (under an absolute test 1e-8·f stopped at once and 1e8·f never)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathflow.mathpipe.optimize import solve
from mathflow.mathpipe.problem import load_problem

MATH = Path(__file__).resolve().parents[1] / "pipelines" / "math"
SCALES = (1e-8, 1.0, 1e8)


def _solve(name: str, overrides: list[str]) -> dict:
    result, _ = solve(load_problem(MATH / f"{name}.yaml", overrides))
    return result


def test_newton_stops_at_the_same_iterate_at_every_scale() -> None:
    results = [_solve("rosenbrock", [f"minimize={c!r} * ((1 - x)**2 + 100 * (y - x**2)**2)"]) for c in SCALES]
    reference = results[1]
    assert reference["converged"] and reference["steps"] >= 10
    for result in results:
        assert result["converged"] and result["steps"] == reference["steps"]
        assert result["solution"] == pytest.approx(reference["solution"], rel=1e-9, abs=1e-12)
        assert result["relative_residual"] <= 1e-10


def test_gradient_descent_stops_at_the_same_iterate_at_every_scale() -> None:
    """f = c·x² with learning rate 0.1 / c takes the same steps; the test stops at the same one."""
    results = [
        _solve("gradient_descent", [f"minimize={c!r} * x**2", f"method={{gd: {{lr: {0.1 / c!r}}}}}"]) for c in SCALES
    ]
    reference = results[1]
    assert reference["converged"] and 0 < reference["steps"] < 200
    for result, c in zip(results, SCALES):
        assert result["converged"] and result["steps"] == reference["steps"]
        assert result["solution"]["x"] == pytest.approx(reference["solution"]["x"], rel=1e-6)
        assert result["gradient_norm"] <= 1e-9 * result["initial_gradient_norm"]
        assert result["initial_gradient_norm"] == pytest.approx(8.0 * c)


def test_lagrange_stops_at_the_same_iterate_at_every_scale() -> None:
    """min c·((x − 2)² + (y − 1)²) on the unit circle: the same steps and point, multipliers ∝ c."""
    results = [
        _solve(
            "lagrange_xy",
            [
                "maximize=null",
                f"minimize={c!r} * ((x - 2)**2 + (y - 1)**2)",
                "subject_to=[x**2 + y**2 = 1]",
                "variables={x: 0.3, y: 0.9}",
            ],
        )
        for c in SCALES
    ]
    reference = results[1]
    assert reference["converged"] and reference["steps"] >= 3
    assert reference["solution"] == pytest.approx({"x": 2 / 5**0.5, "y": 1 / 5**0.5}, abs=1e-9)
    for result, c in zip(results, SCALES):
        assert result["converged"] and result["steps"] == reference["steps"]
        assert result["solution"] == pytest.approx(reference["solution"], rel=1e-9)
        assert result["multipliers"][0] == pytest.approx(c * reference["multipliers"][0], rel=1e-7)
