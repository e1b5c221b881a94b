"""Scale-invariant verdicts on matrices: every threshold is relative to the object and to eps.

With eps = 2.2e-16 (float64) and n the size of the object, the working tolerance is

    tol = n · eps · ‖A‖₂

— the size of the rounding error of a backward-stable computation on A. Scaling A by any
s > 0 scales tol by s, so a verdict on sA is the verdict on A (exactly so for powers of two,
up to rounding otherwise). Every verdict reports the ``tolerance`` it used.

* symmetric: ‖A − Aᵀ‖_F ≤ tol;
* rank: the number of singular values σᵢ > max(m, n) · eps · σ₁ (singular when rank < n);
* definiteness / convexity: the eigenvalues λᵢ of the symmetric part (A + Aᵀ)/2 against ±tol;
* diagonalizability: see :func:`diagonalizability`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS = float(np.finfo(np.float64).eps)
UNDECIDABLE = "undecidable numerically"


def tolerance(n: int, norm: float) -> float:
    """tol = n · eps · ‖A‖: the rounding level of a backward-stable computation on an n-sized A."""
    return max(n, 1) * EPS * float(norm)


def spectral_norm(a: np.ndarray) -> float:
    """‖A‖₂ = σ₁, the largest singular value (0 for an empty matrix)."""
    if a.size == 0:
        return 0.0
    return float(np.linalg.norm(a, 2))


def matrix_tolerance(a: np.ndarray) -> float:
    """tol = max(m, n) · eps · ‖A‖₂ for an m×n matrix A."""
    return tolerance(max(a.shape), spectral_norm(a))


def is_symmetric(a: np.ndarray, tol: float) -> bool:
    """A is symmetric when it is square and ‖A − Aᵀ‖_F ≤ tol (tol relative to ‖A‖)."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        return False
    return bool(np.linalg.norm(a - a.T) <= tol)


def numerical_rank(singular_values: np.ndarray, shape: tuple[int, ...]) -> tuple[int, float]:
    """(rank, tol): the number of σᵢ > tol with tol = max(m, n) · eps · σ₁."""
    s = np.asarray(singular_values, dtype=np.float64)
    tol = tolerance(max(shape), float(s.max(initial=0.0)))
    return int(np.sum(s > tol)), tol


def sign_verdict(eigenvalues: np.ndarray, tol: float) -> tuple[bool, bool, bool]:
    """(some λ > tol, some λ < −tol, some |λ| ≤ tol) for real eigenvalues."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    return bool(np.any(values > tol)), bool(np.any(values < -tol)), bool(np.any(np.abs(values) <= tol))


def definiteness(eigenvalues: np.ndarray, tol: float) -> str:
    """positive / negative (semi)definite, indefinite or zero from the eigenvalues of a symmetric matrix.

    λᵢ counts as zero when |λᵢ| ≤ tol.
    """
    if np.asarray(eigenvalues).size == 0:
        return "zero"
    positive, negative, zero = sign_verdict(eigenvalues, tol)
    if positive and negative:
        return "indefinite"
    if positive:
        return "positive semidefinite" if zero else "positive definite"
    if negative:
        return "negative semidefinite" if zero else "negative definite"
    return "zero"


def hessian_verdict(eigenvalues: np.ndarray, n: int) -> tuple[str, float]:
    """(convex | concave | saddle | degenerate, tol) from the Hessian's eigenvalues, tol = n·eps·max|λᵢ|.

    convex: all λᵢ > tol; concave: all λᵢ < −tol; saddle: both signs beyond ±tol; degenerate otherwise.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    tol = tolerance(n, float(np.abs(values).max(initial=0.0)))
    kind = definiteness(values, tol)
    verdict = {"positive definite": "convex", "negative definite": "concave", "indefinite": "saddle"}
    return verdict.get(kind, "degenerate"), tol


# ----------------------------------------------------------------------------------------- diagonalizability
@dataclass
class Diagonalizability:
    """The verdict (True, False or :data:`UNDECIDABLE`), why, and the numbers it rests on."""

    verdict: bool | str
    reason: str
    tolerance: float
    cluster_radius: float
    condition_of_v: float
    clusters: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "diagonalizable": self.verdict,
            "reason": self.reason,
            "tolerance": self.tolerance,
            "cluster_radius": self.cluster_radius,
            "condition_of_V": self.condition_of_v,
            "clusters": self.clusters,
        }


def cluster_eigenvalues(values: np.ndarray, radius: float) -> list[list[int]]:
    """Single-linkage clusters: i and j share a cluster when a chain of |λₐ − λ_b| ≤ radius joins them."""
    n = len(values)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if abs(values[i] - values[j]) <= radius:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _condition(v: np.ndarray) -> float:
    """κ(V) = σ₁/σₙ of the eigenvector matrix with unit columns (inf when σₙ = 0)."""
    norms = np.linalg.norm(v, axis=0)
    unit = v / np.where(norms > 0, norms, 1.0)
    s = np.linalg.svd(unit, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def diagonalizability(a: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray) -> Diagonalizability:
    """Is the square matrix A = VΛV⁻¹ for an invertible V? Decided relative to ‖A‖ and eps.

    With s = ‖A‖₂, tol = n·eps·s, the clustering radius R = 2·(n·eps)^(1/n)·s (a Jordan block of
    size k ≤ n perturbed by tol spreads its eigenvalue over a circle of radius (tol/s)^(1/k)·s) and
    the ambiguity band (R, √(R·s)]:

    1. A symmetric (‖A − Aᵀ‖_F ≤ tol): diagonalizable (spectral theorem).
    2. κ(V) ≤ (n·eps)^(−1/4): V is a well-conditioned eigenvector basis, diagonalizable.
    3. Otherwise the eigenvalues are clustered (single linkage, radius R); for each cluster of
       size k (algebraic multiplicity) around its mean μ the geometric multiplicity is
       g = dim ker(A − μI) = #{σᵢ(A − μI) ≤ R}. If a gap between clusters or a singular value
       σᵢ(A − μI), i ≤ k, falls in the ambiguity band the answer is :data:`UNDECIDABLE`;
       else A is diagonalizable exactly when g = k for every cluster.
    """
    a = np.asarray(a)
    n = a.shape[0]
    s = spectral_norm(a)
    tol = tolerance(n, s)
    radius = 2.0 * (n * EPS) ** (1.0 / max(n, 1)) * s
    if s == 0.0:
        return Diagonalizability(True, "the zero matrix is diagonal", tol, radius, 1.0)
    if is_symmetric(a, tol):
        return Diagonalizability(True, "symmetric: orthogonally diagonalizable", tol, radius, _condition(eigenvectors))
    kappa = _condition(eigenvectors)
    if kappa <= (n * EPS) ** -0.25:
        return Diagonalizability(True, "the eigenvector matrix V is well conditioned", tol, radius, kappa)
    band = float(np.sqrt(radius * s))
    values = np.asarray(eigenvalues, dtype=np.complex128)
    groups = cluster_eigenvalues(values, radius)
    clusters, ambiguous, defective = [], False, False
    centres = [complex(np.mean(values[g])) for g in groups]
    for i, ci in enumerate(centres):
        for cj in centres[i + 1 :]:
            ambiguous |= abs(ci - cj) <= band
    for group, mu in zip(groups, centres):
        k = len(group)
        sigma = np.sort(np.linalg.svd(a - mu * np.eye(n), compute_uv=False))
        g = int(np.sum(sigma <= radius))
        ambiguous |= bool(np.any((sigma[:k] > radius) & (sigma[:k] <= band)))
        defective |= g < k
        if k > 1:
            clusters.append(
                {"eigenvalue": _plain_complex(mu), "algebraic_multiplicity": k, "geometric_multiplicity": g}
            )
    if ambiguous:
        reason = "eigenvalues or singular values of A − λI lie between the cluster radius and √(radius·‖A‖)"
        return Diagonalizability(UNDECIDABLE, reason, tol, radius, kappa, clusters)
    if defective:
        reason = "an eigenvalue's geometric multiplicity is below its algebraic multiplicity (a Jordan block)"
        return Diagonalizability(False, reason, tol, radius, kappa, clusters)
    reason = "every eigenvalue cluster has an eigenspace of full dimension"
    return Diagonalizability(True, reason, tol, radius, kappa, clusters)


def _plain_complex(value: complex) -> Any:
    return float(value.real) if value.imag == 0 else {"real": float(value.real), "imag": float(value.imag)}
