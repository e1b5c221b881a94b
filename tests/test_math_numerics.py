"""Part 1 of issue 14: every verdict is relative to the object and eps, the same at any scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mathflow.mathpipe.analyze import analyze, analyze_matrix
from mathflow.mathpipe.newton import second_order
from mathflow.mathpipe.numerics import EPS, UNDECIDABLE, diagonalizability, hessian_verdict
from mathflow.mathpipe.problem import load_problem

MATH = Path(__file__).resolve().parents[1] / "pipelines" / "math"
SCALES = [10.0**k for k in range(-12, 13, 3)]

P = np.array([[1.0, 2.0], [3.0, 5.0]])  # det −1: P⁻¹ is an integer matrix, so P J P⁻¹ is exact
P_INV = np.array([[-5.0, 2.0], [3.0, -1.0]])
Q = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 2.0]])
JORDAN2 = np.array([[2.0, 1.0], [0.0, 2.0]])
JORDAN3 = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 2.0]])

MATRICES = {
    "jordan": (JORDAN2, False),
    "dense jordan": (P @ JORDAN2 @ P_INV, False),
    "jordan 3": (JORDAN3, False),
    "dense jordan 3": (Q @ JORDAN3 @ np.linalg.inv(Q), False),
    "nilpotent": (np.array([[0.0, 1.0], [0.0, 0.0]]), False),
    "identity": (np.eye(3), True),
    "repeated, not symmetric": (Q @ np.diag([2.0, 2.0, 3.0]) @ np.linalg.inv(Q), True),
    "repeated, symmetric": (np.diag([5.0, 5.0, -1.0]), True),
    "distinct": (np.array([[4.0, 1.0], [2.0, 3.0]]), True),
    "rotation": (np.array([[0.0, -1.0], [1.0, 0.0]]), True),
    "nearly defective": (np.array([[1.0, 1.0], [0.0, 1.0 + 1e-5]]), UNDECIDABLE),
}


def verdicts(a: np.ndarray) -> dict:
    result = analyze_matrix(a.tolist())
    return {
        "symmetric": result["symmetric"],
        "definiteness": result["definiteness"],
        "rank": result["rank"],
        "singular": result["inverse"] == "singular",
        "diagonalizable": result["spectral_check"]["diagonalizable"],
    }


@pytest.mark.parametrize("name", list(MATRICES))
def test_diagonalizability_is_labelled_right_at_every_scale(name):
    a, expected = MATRICES[name]
    for scale in SCALES:
        w, v = np.linalg.eig(a * scale)
        assert diagonalizability(a * scale, w, v).verdict == expected, (name, scale)


def test_jordan_block_reports_its_multiplicities():
    result = analyze_matrix((P @ JORDAN2 @ P_INV).tolist())["spectral_check"]
    assert result["diagonalizable"] is False
    (cluster,) = result["clusters"]
    assert cluster["eigenvalue"] == pytest.approx(2.0)
    assert (cluster["algebraic_multiplicity"], cluster["geometric_multiplicity"]) == (2, 1)
    assert "reconstruction_error" not in result or result["condition_of_V"] > 1e8


@pytest.mark.parametrize("name", list(MATRICES) + ["singular", "spd", "indefinite", "nsd"])
def test_every_matrix_verdict_is_scale_invariant(name):
    extra = {
        "singular": np.array([[1.0, 2.0], [2.0, 4.0]]),
        "spd": np.array([[2.0, 1.0], [1.0, 2.0]]),
        "indefinite": np.array([[1.0, 3.0], [3.0, 1.0]]),
        "nsd": np.array([[-1.0, 1.0], [1.0, -1.0]]),
    }
    a = extra[name] if name in extra else MATRICES[name][0]
    reference = verdicts(a)
    for scale in SCALES:
        assert verdicts(a * scale) == reference, (name, scale)


def test_verdicts_of_named_matrices():
    assert verdicts(np.array([[1.0, 2.0], [2.0, 4.0]]))["singular"]
    assert verdicts(np.array([[1.0, 2.0], [2.0, 4.0]]))["definiteness"] == "positive semidefinite"
    assert verdicts(np.array([[2.0, 1.0], [1.0, 2.0]]))["definiteness"] == "positive definite"
    assert verdicts(np.array([[1.0, 3.0], [3.0, 1.0]]))["definiteness"] == "indefinite"
    assert verdicts(np.array([[-1.0, 1.0], [1.0, -1.0]]))["definiteness"] == "negative semidefinite"
    assert verdicts(np.array([[1e-13, 1e-13], [0.0, 2e-13]]))["singular"] is False


def test_a_tiny_non_symmetric_matrix_is_not_called_symmetric():
    a = np.array([[1.0, 2.0], [3.0, 4.0]]) * 1e-13
    result = analyze_matrix(a.tolist())
    assert result["symmetric"] is False
    assert result["tolerance"] == pytest.approx(2 * EPS * np.linalg.norm(a, 2))
    assert analyze_matrix((np.array([[1.0, 2.0], [2.0, 1.0]]) * 1e-13).tolist())["symmetric"] is True


def test_tolerance_scales_with_the_matrix():
    a = np.array([[4.0, 1.0], [2.0, 3.0]])
    small, large = analyze_matrix((a * 1e-12).tolist()), analyze_matrix((a * 1e12).tolist())
    assert large["tolerance"] / small["tolerance"] == pytest.approx(1e24)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("{x: 1.0, y: 2.0}", "convex"),
        ("{x: -1.0, y: -2.0}", "concave"),
        ("{x: 1.0, y: -2.0}", "saddle"),
        ("{x: 0.0, y: 2.0}", "degenerate"),
    ],
)
def test_convexity_verdict_is_scale_invariant(at, expected):
    for scale in SCALES:
        problem = load_problem(MATH / "hessian_cubic.yaml", [f"function={scale!r} * (x**3 + y**3)", f"at={at}"])
        result, _ = analyze(problem)
        assert result["convexity"] == expected, scale
        assert result["tolerance"] == pytest.approx(2 * EPS * max(abs(v) for v in result["eigenvalues"]))


def test_hessian_verdict_of_a_rank_one_hessian():
    eigen = np.linalg.eigvalsh(np.array([[2.0, -2.0], [-2.0, 2.0]]))
    for scale in SCALES:
        assert hessian_verdict(eigen * scale, 2)[0] == "degenerate"


@pytest.mark.parametrize(
    ("hessian", "n", "expected"),
    [
        # L = xy + λ(10 − x − y): ∇²ₓL = [[0, 1], [1, 0]], J = [−1, −1]: a maximum on the line.
        (np.array([[0.0, 1.0, -1.0], [1.0, 0.0, -1.0], [-1.0, -1.0, 0.0]]), 2, "maximum"),
        (np.array([[2.0, 0.0], [0.0, 3.0]]), 2, "minimum"),
        (np.array([[2.0, 0.0], [0.0, -3.0]]), 2, "saddle"),
        (np.array([[2.0, 0.0], [0.0, 0.0]]), 2, "degenerate"),
    ],
)
def test_stationary_point_verdict_is_scale_invariant(hessian, n, expected):
    for scale in SCALES:
        kind, _, tol = second_order(hessian * scale, n)
        assert kind == expected, scale
        assert tol > 0
