"""Extreme eigenvalues of a symmetric operator from matrix-vector products (Lanczos).

From a unit vector q₁, Lanczos builds an orthonormal basis Q = [q₁ … q_m] of the Krylov space
span{q₁, Aq₁, …, A^{m−1}q₁} in which A is tridiagonal:

    A qⱼ = βⱼ₋₁ qⱼ₋₁ + αⱼ qⱼ + βⱼ qⱼ₊₁,   αⱼ = qⱼᵀ A qⱼ,   T = tridiag(β, α, β) = Qᵀ A Q.

Every new vector is orthogonalised against all previous ones, twice (full reorthogonalisation),
so Q stays orthonormal to machine precision and no ghost copies of eigenvalues appear. The
eigenvalues θ of T (Ritz values) approximate those of A, the extreme ones first; for the Ritz
pair (θᵢ, Q sᵢ) the residual ‖A Q sᵢ − θᵢ Q sᵢ‖ = |β_m · s_{m,i}| bounds the distance from θᵢ
to the nearest eigenvalue of A. After m = n steps T is similar to A: the values are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(np.float64).eps)


@dataclass
class LanczosResult:
    """Ritz values ascending, their residual bounds, and the number of steps taken."""

    values: np.ndarray
    residuals: np.ndarray
    steps: int

    def largest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` largest Ritz values (descending) and their residual bounds."""
        order = np.argsort(self.values)[::-1][:k]
        return self.values[order], self.residuals[order]


def lanczos(
    matvec: Callable[[np.ndarray], np.ndarray],
    n: int,
    steps: int,
    *,
    seed: int = 0,
) -> LanczosResult:
    """Run at most ``steps`` Lanczos steps (fewer when the Krylov space closes) on the symmetric
    n×n operator ``matvec`` from a seeded random start vector."""
    if n < 1:
        return LanczosResult(np.zeros(0), np.zeros(0), 0)
    steps = max(1, min(int(steps), n))
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    basis = np.zeros((steps + 1, n))
    basis[0] = q / np.linalg.norm(q)
    alphas: list[float] = []
    betas: list[float] = []
    scale = 0.0
    for j in range(steps):
        w = np.asarray(matvec(basis[j]), dtype=np.float64)
        alpha = float(basis[j] @ w)
        alphas.append(alpha)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        scale = max(scale, abs(alpha) + beta)
        betas.append(beta)
        if j + 1 == steps or beta <= np.sqrt(n) * EPS * max(scale, EPS):
            break
        basis[j + 1] = w / beta
    m = len(alphas)
    tri = np.diag(alphas) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    values, vectors = np.linalg.eigh(tri)
    closed = m == n or betas[-1] <= np.sqrt(n) * EPS * max(scale, EPS)
    residuals = np.zeros(m) if closed else np.abs(betas[-1] * vectors[-1, :])
    return LanczosResult(values, residuals, m)
