"""``kind: analyze``: a function's derivatives and curvature, a matrix's properties, or a PCA.

Function (variables packed into one vector z, see :class:`~mathflow.mathpipe.variables.VariableSet`):
value f(a), gradient ∇f(a), Hessian H = ∇²f(a), its eigenvalues and the verdict at a —
convex (all > 0), concave (all < 0), saddle (both signs) or degenerate (some ≈ 0, no
opposite signs) — and the Taylor polynomial Σₖ Dᵏf(c)[z − c]ᵏ / k! around c.

Matrix A: Aᵀ, A⁻¹ (or "singular"), tr A = Σ aᵢᵢ, det A, the induced norms ‖A‖₁ (largest column
sum of |aᵢⱼ|), ‖A‖₂ (largest singular value), ‖A‖_∞ and ‖A‖_F = √Σ aᵢⱼ²; the eigendecomposition
A = VΛV⁻¹ (symmetric A: eigh, V orthonormal) with the reconstruction error; the SVD A = UΣVᵀ.
Every verdict (convexity, symmetry, rank / singularity, definiteness of the symmetric part
(A + Aᵀ)/2, diagonalizability) uses a tolerance relative to the object, tol = n·eps·‖A‖₂,
reported as ``tolerance`` (see :mod:`mathflow.mathpipe.numerics`), so scaling the input by
any s > 0 never changes a verdict.
Vector v: ‖v‖₁ = Σ|vᵢ|, ‖v‖₂ = √Σvᵢ², ‖v‖_∞ = max|vᵢ|.

Data: PCA of the inputs (thin SVD of the centred matrix): explained variance ratio σᵢ²/Σσ²
per component and the projection on the first components.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

import mathflow as mf
import mathflow.functional as F
from mathflow.autodiff.tensor import Tensor
from mathflow.errors import LinAlgError
from mathflow.mathpipe.numerics import (
    definiteness,
    diagonalizability,
    hessian_verdict,
    is_symmetric,
    matrix_tolerance,
    numerical_rank,
)
from mathflow.mathpipe.problem import MathProblem
from mathflow.mathpipe.variables import DTYPE, VariableSet, plain
from mathflow.schema.math_pipeline import AnalyzeSpec


def convexity(eigenvalues: np.ndarray) -> str:
    """convex / concave / saddle / degenerate from the Hessian's eigenvalues at a point.

    An eigenvalue counts as zero when |λᵢ| ≤ tol = n·eps·max|λⱼ| (see :mod:`~mathflow.mathpipe.numerics`).
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    return hessian_verdict(values, values.size)[0]


# ----------------------------------------------------------------------------------------- function
def analyze_function(problem: MathProblem) -> tuple[dict[str, Any], dict[str, Any]]:
    """Value, gradient, Hessian, eigenvalues, verdict and Taylor polynomial; returns (result, figures)."""
    spec = problem.spec
    assert isinstance(spec, AnalyzeSpec) and problem.objective is not None
    expr = problem.objective
    variables = VariableSet(spec.at or {})

    def f(z: Tensor) -> Tensor:
        value = expr.evaluate(variables.env(z))
        value = value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=DTYPE)) + z.sum() * 0.0
        return F.reshape(value, ())

    point = Tensor(variables.flat())
    with mf.no_grad():
        value = float(f(point).numpy())
    gradient = np.asarray(mf.grad(f)(point).numpy(), dtype=np.float64)
    hessian = np.asarray(mf.hessian(f)(point).numpy(), dtype=np.float64).reshape(variables.size, variables.size)
    eigenvalues, _ = F.eigh(Tensor(hessian)) if hessian.size else (Tensor(np.zeros(0)), None)
    eigen = np.sort(np.asarray(eigenvalues.numpy(), dtype=np.float64))[::-1]
    result: dict[str, Any] = {
        "function": expr.text,
        "at": {k: plain(v) for k, v in variables.arrays.items()},
        "value": value,
        "gradient": {k: plain(v) for k, v in variables.unflatten(gradient).items()},
        "hessian": plain(hessian),
        "variables_order": variables.labels(),
        "eigenvalues": [float(v) for v in eigen],
    }
    result["convexity"], result["tolerance"] = hessian_verdict(eigen, variables.size)
    figures: dict[str, Any] = {}
    if spec.taylor is not None:
        around = VariableSet(spec.taylor.around) if spec.taylor.around is not None else variables
        center = around.flat({k: around.arrays[k] for k in variables.names})
        polynomial = mf.taylor(f, center, spec.taylor.order)
        taylor: dict[str, Any] = {
            "order": spec.taylor.order,
            "around": {k: plain(v) for k, v in variables.unflatten(center).items()},
            "polynomial": polynomial.to_string(variables.labels()),
        }
        if variables.size == 1:
            terms = polynomial.coefficients()
            taylor["coefficients"] = [
                float(np.asarray(t).reshape(-1)[0]) / math.factorial(k) for k, t in enumerate(terms)
            ]
            taylor["value_at"] = float(np.asarray(polynomial(point.numpy().reshape(1, 1)).numpy()).reshape(-1)[0])
            if variables.scalars():
                from mathflow.mathpipe.plots import taylor_plot

                figures["plots/taylor.png"] = taylor_plot(
                    expr, variables.names[0], polynomial, float(center[0]), float(point.numpy()[0]), spec.taylor.order
                )
        result["taylor"] = taylor
    return result, figures


# ----------------------------------------------------------------------------------------- matrices
def _normalise_columns(v: np.ndarray) -> np.ndarray:
    """Each column scaled to unit length with its largest-magnitude entry positive."""
    v = np.array(v, copy=True)
    for j in range(v.shape[1]):
        col = v[:, j]
        norm = np.linalg.norm(col)
        if norm > 0:
            col = col / norm
        pivot = col[np.argmax(np.abs(col))]
        if pivot != 0:
            col = col * (abs(pivot) / pivot)
        v[:, j] = col
    return v


def analyze_matrix(matrix: Any) -> dict[str, Any]:
    """Transpose, inverse, trace, determinant, norms, eigendecomposition and SVD of ``matrix``."""
    a = np.asarray(matrix, dtype=DTYPE)
    t = Tensor(a)
    m, n = a.shape
    square = m == n
    result: dict[str, Any] = {"matrix": plain(a), "shape": [m, n], "transpose": plain(F.transpose(t).numpy())}
    result["norms"] = {
        "l1": float(F.norm(t, 1).numpy()),
        "l2": float(F.norm(t, 2).numpy()),
        "inf": float(F.norm(t, "inf").numpy()),
        "fro": float(F.norm(t, "fro").numpy()),
    }
    u, s, vt = F.svd(t)
    singular = np.asarray(s.numpy(), dtype=np.float64)
    result["singular_values"] = plain(singular)
    result["svd"] = {
        "U": plain(u.numpy()),
        "S": plain(singular),
        "Vt": plain(vt.numpy()),
        "reconstruction_error": float(np.abs(u.numpy() @ np.diag(singular) @ vt.numpy() - a).max()),
    }
    result["rank"], result["rank_tolerance"] = numerical_rank(singular, a.shape)
    tol = matrix_tolerance(a)
    result["tolerance"] = tol
    if not square:
        for key in ("inverse", "trace", "det", "eigenvalues", "eigenvectors"):
            result[key] = None
        result["note"] = f"a {m}×{n} matrix is not square: no inverse, trace, determinant or eigenvalues"
        return result
    result["trace"] = float(F.trace(t).numpy())
    det = float(F.det(t).numpy())
    result["det"] = det
    if result["rank"] < n:
        result["inverse"] = "singular"
    else:
        try:
            result["inverse"] = plain(F.inv(t).numpy())
        except LinAlgError:
            result["inverse"] = "singular"
    symmetric = is_symmetric(a, tol)
    result["definiteness"] = definiteness(np.linalg.eigvalsh(0.5 * (a + a.T)), tol)
    if symmetric:
        w_t, v_t = F.eigh(t)
        w, v = np.asarray(w_t.numpy()), np.asarray(v_t.numpy())
    else:
        w_t, v_t = F.eig(t)
        w, v = np.asarray(w_t.numpy()), np.asarray(v_t.numpy())
    order = np.lexsort((-np.imag(w), -np.real(w)))
    w, v = w[order], v[:, order]
    if not np.iscomplexobj(v):
        v = _normalise_columns(v)
    result["eigenvalues"] = plain(w)
    result["eigenvectors"] = plain(v)
    result["symmetric"] = symmetric
    check: dict[str, Any] = {"formula": "A = V diag(eigenvalues) V^-1"}
    check.update(diagonalizability(a, w, v).as_dict())
    if check["condition_of_V"] < 1.0 / np.finfo(np.float64).eps:
        rebuilt = v @ np.diag(w) @ np.linalg.inv(v)
        check["reconstruction_error"] = float(np.abs(rebuilt - a).max())
    check["eigen_equation_error"] = float(np.abs(a @ v - v * w[None, :]).max())
    result["spectral_check"] = check
    return result


def analyze_vector(vector: Any) -> dict[str, Any]:
    """The L1, L2 and max norms of a vector."""
    v = Tensor(np.asarray(vector, dtype=DTYPE))
    return {
        "vector": plain(v.numpy()),
        "norms": {
            "l1": float(F.norm(v, 1).numpy()),
            "l2": float(F.norm(v, 2).numpy()),
            "inf": float(F.norm(v, "inf").numpy()),
        },
    }


# ----------------------------------------------------------------------------------------- data
def analyze_data(problem: MathProblem) -> tuple[dict[str, Any], dict[str, Any]]:
    """PCA of a data set's inputs: explained variance per component and the 2-D projection."""
    from mathflow.data import load_dataset
    from mathflow.data.transforms import PCA
    from mathflow.mathpipe.plots import pca_plot

    spec = problem.spec
    assert isinstance(spec, AnalyzeSpec) and spec.data is not None
    pca_spec = spec.pca
    components = pca_spec.components if pca_spec is not None else 2
    standardize = bool(pca_spec.standardize) if pca_spec is not None else False
    base_dir = os.path.dirname(os.path.abspath(problem.path))
    dataset = load_dataset(spec.data.source.to_data(), 0, base_dir=base_dir)
    x = np.asarray(dataset.x, dtype=np.float64).reshape(len(dataset.x), -1)
    if standardize:
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    pca = PCA(int(components))
    pca.fit_arrays(x, None)
    projection = pca.apply(x)
    ratios = [float(r) for r in pca.explained_variance_ratio]
    n = len(x)
    result = {
        "data": dataset.name,
        "samples": int(n),
        "features": int(x.shape[1]),
        "components": int(components),
        "explained_variance_ratio": ratios,
        "cumulative_variance_ratio": [float(c) for c in np.cumsum(ratios)],
        "explained_variance": [float(s * s / max(n - 1, 1)) for s in pca.singular_values],
        "singular_values": [float(s) for s in pca.singular_values],
    }
    labels = np.asarray(dataset.y) if dataset.task == "classification" else None
    fig = pca_plot(projection, labels, ratios, f"PCA of {dataset.name}")
    return result, {"plots/pca_projection.png": fig}


def analyze(problem: MathProblem) -> tuple[dict[str, Any], dict[str, Any]]:
    """Dispatch on what the pipeline analyses; returns (result, artifact path → figure)."""
    spec = problem.spec
    assert isinstance(spec, AnalyzeSpec)
    subject = spec.subject
    if subject == "matrix":
        return analyze_matrix(spec.matrix), {}
    if subject == "vector":
        return analyze_vector(spec.vector), {}
    if subject == "data":
        return analyze_data(problem)
    return analyze_function(problem)
