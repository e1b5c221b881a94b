"""Newton's method on the Lagrange system, shared by ``kind: optimize`` and inequality constraints.

Used by :mod:`~mathflow.mathpipe.optimize` (``method: lagrange`` / ``newton``) and by
:mod:`~mathflow.mathpipe.kkt` (the inner minimisations and the final polish).

The unknowns are z = (x, λ) and the Lagrangian is

    L(x, λ) = f(x) + Σᵢ λᵢ gᵢ(x),   gᵢ = rhsᵢ − lhsᵢ for the constraint ``lhsᵢ = rhsᵢ``

(the convention of the spec: max xy s.t. x + y = 10 uses L = xy + λ(10 − x − y), λ = 5).
Its stationary points solve ∇_z L = (∇f + Σ λᵢ∇gᵢ, g) = 0. Newton's step is globalised: with
s = ±1 (minimise / maximise), J = ∂g/∂x and W = s·∇²ₓL + δI it solves

    [[W, Jᵀ], [J, 0]] · [Δx; s·λ⁺] = [−s·∇f; −g]

with the smallest δ ≥ 0 that gives this matrix the inertia (n, m, 0) — W positive definite on the
tangent space of the constraints (the whole space without them: a Cholesky test) — so Δx is a
descent direction of the ℓ₁ merit φ(x) = s·f(x) + ν‖g(x)‖₁ (ν ≥ 1.1·‖λ⁺‖_∞). The step length t
backtracks from 1 until Armijo's condition φ(x + tΔx) ≤ φ(x) + 10⁻⁴·t·Dφ holds, then
x ← x + tΔx, λ ← λ + t(λ⁺ − λ). Without constraints this is Newton's method on ∇f = 0, driven
towards a minimum (maximum) instead of any stationary point; the step count is reported.
The iteration stops when both parts of ∇_z L are small against their own scale:

    ‖∇ₓL(xₖ, λₖ)‖ ≤ tol · max(‖∇f(x₀)‖, ‖∇f(xₖ)‖)      (stationarity, in the units of f)
    ‖g(xₖ)‖       ≤ tol · max(‖g(x₀)‖, ‖J(xₖ)‖_F ‖xₖ‖)  (feasibility, in the units of the constraints)

and reports the larger ratio as ``relative_residual`` (``residual`` is ‖∇_z L‖ itself).
The second-order test on ∇²ₓL restricted to the tangent space of the constraints says
whether the point is a maximum, a minimum or a saddle.

Also here, because every solver of ``kind: optimize`` reports through them: the step
:class:`Trace` and :func:`base_result`, the keys every method reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import mathflow as mf
from mathflow.autodiff.tensor import Tensor
from mathflow.mathpipe.expr import Expression
from mathflow.mathpipe.numerics import EPS, definiteness, numerical_rank, spectral_norm, tolerance
from mathflow.mathpipe.problem import Constraint
from mathflow.mathpipe.variables import DTYPE, VariableSet, plain
from mathflow.schema.math_pipeline import OptimizeSpec

#: Per-entry variable metrics are logged for variables of at most this many entries.
MAX_LOGGED_ENTRIES = 16


@dataclass
class Trace:
    """What happened, step by step: points (flat), objective values and the step metrics."""

    points: list[np.ndarray] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)

    def record(self, variables: VariableSet, point: np.ndarray, value: float, extra: dict[str, float]) -> None:
        """Append one step: the flat ``point``, the objective ``value`` and the step's metrics."""
        self.points.append(point)
        self.values.append(value)
        self.metrics.append(step_metrics(variables, point, value, extra))


def step_metrics(variables: VariableSet, point: np.ndarray, value: float, extra: dict[str, float]) -> dict[str, float]:
    """objective, the variables (entry by entry when small, else their norm) and ``extra``."""
    metrics = {"objective": value, **extra}
    values = variables.unflatten(point)
    for name in variables.names:
        array = values[name]
        if array.size == 1:
            metrics[name] = float(array.reshape(-1)[0])
        elif array.size <= MAX_LOGGED_ENTRIES:
            for index in np.ndindex(array.shape):
                metrics[f"{name}.{'.'.join(map(str, index))}"] = float(array[index])
        else:
            metrics[f"{name}.norm"] = float(np.linalg.norm(array))
    return metrics


def to_float(value: Any) -> float:
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    return float(np.asarray(array, dtype=np.float64).reshape(-1)[0])


def base_result(
    method: str, spec: OptimizeSpec, variables: VariableSet, trace: Trace, steps: int, converged: bool
) -> dict[str, Any]:
    """The keys every method reports: the solution is the last point of ``trace``, the objective its value."""
    solution = variables.unflatten(trace.points[-1])
    return {
        "method": method,
        "goal": spec.goal,
        "solution": {k: plain(v) for k, v in solution.items()},
        "objective": trace.values[-1],
        "steps": steps,
        "converged": converged,
    }


# ----------------------------------------------------------------------------------------- Newton / Lagrange
def _classify(eigenvalues: np.ndarray, tol: float) -> str:
    """maximum / minimum / saddle / degenerate from the reduced Hessian's eigenvalues against ±tol."""
    if eigenvalues.size == 0:
        return "isolated"
    kind = definiteness(eigenvalues, tol)
    names = {"positive definite": "minimum", "negative definite": "maximum", "indefinite": "saddle"}
    return names.get(kind, "degenerate")


def second_order(hessian: np.ndarray, n: int) -> tuple[str, list[float], float]:
    """(kind, eigenvalues, tol) of the stationary point from ∇²ₓL on the null space of the constraint Jacobian J.

    The null space is spanned by the right singular vectors of J past its numerical rank
    (σᵢ > max(m, n)·eps·σ₁); an eigenvalue of the reduced Hessian Zᵀ∇²ₓL Z counts as zero when
    |λ| ≤ tol = n·eps·‖∇²ₓL‖₂, so the verdict does not change when f is scaled.
    """
    hxx = hessian[:n, :n]
    jac = hessian[n:, :n]
    if jac.size:
        _, s, vt = np.linalg.svd(jac)
        rank, _ = numerical_rank(s, jac.shape)
        basis = vt[rank:].T
        reduced = basis.T @ hxx @ basis
    else:
        reduced = hxx
    reduced = 0.5 * (reduced + reduced.T)
    eigenvalues = np.linalg.eigvalsh(reduced) if reduced.size else np.zeros(0)
    tol = tolerance(n, spectral_norm(0.5 * (hxx + hxx.T)))
    return _classify(eigenvalues, tol), [float(v) for v in eigenvalues], tol


@dataclass
class LagrangeSystem:
    """The unknowns z = (x, λ) of a problem and its Lagrangian L(z) (see the module docstring).

    ``n`` is the number of variable entries, ``m`` that of constraint residuals (set on creation).
    """

    objective: Expression
    constraints: list[Constraint]
    variables: VariableSet
    n: int = field(init=False)
    m: int = field(init=False)

    def __post_init__(self) -> None:
        """Count the unknowns and build ∇_z L and ∇²_z L."""
        self.n = self.variables.size
        g0 = self.residuals(Tensor(self.variables.flat()))
        self.m = 0 if g0 is None else int(g0.size)
        self._gradient = mf.grad(self.lagrangian)
        self._hessian = mf.hessian(self.lagrangian)

    def residuals(self, z: Tensor) -> Tensor | None:
        """gᵢ = rhsᵢ − lhsᵢ of every constraint at ``z``, flattened into one vector (None without any)."""
        from mathflow.functional import concat, reshape

        if not self.constraints:
            return None
        env = self.variables.env(z)
        parts = []
        for c in self.constraints:
            g = c.evaluate(env)
            g = g if isinstance(g, Tensor) else Tensor(np.asarray(g, dtype=DTYPE))
            parts.append(reshape(g, (-1,)))
        return concat(parts) if len(parts) > 1 else parts[0]

    def lagrangian(self, z: Tensor) -> Tensor:
        """L(z) = f(x) + Σᵢ λᵢ gᵢ(x), a scalar Tensor."""
        from mathflow.functional import reshape

        env = self.variables.env(z)
        f = self.objective.evaluate(env)
        f = f if isinstance(f, Tensor) else Tensor(np.asarray(f, dtype=DTYPE))
        f = reshape(f, ())
        if self.m:
            g = self.residuals(z)
            assert g is not None
            f = f + (z[self.n :] * g).sum()
        return f

    def gradient_at(self, z: np.ndarray) -> np.ndarray:
        """∇_z L at ``z`` as float64."""
        return np.asarray(self._gradient(Tensor(z.copy())).numpy(), dtype=np.float64)

    def hessian_at(self, z: np.ndarray) -> np.ndarray:
        """∇²_z L at ``z`` (the KKT matrix) as float64."""
        return np.asarray(self._hessian(Tensor(z.copy())).numpy(), dtype=np.float64)

    def objective_value(self, z: np.ndarray) -> float:
        """f at the x part of ``z``, without recording a graph."""
        with mf.no_grad():
            return to_float(self.objective.evaluate(self.variables.env(Tensor(z[: self.n].copy()))))


@dataclass
class NewtonState:
    """Where Newton's iteration stands: the point z, its residual ‖∇_z L‖ and Hessian, the trace.

    ``penalty`` is ν of the merit function, ``backtracks`` the step halvings of the line search
    and ``shifts`` the steps whose Hessian had to be shifted by δI.
    """

    z: np.ndarray
    hessian: np.ndarray
    trace: Trace = field(default_factory=Trace)
    step: int = 0
    converged: bool = False
    residual: float = math.inf
    relative_residual: float = math.inf
    initial_scales: tuple[float, float] | None = None
    penalty: float = 0.0
    backtracks: int = 0
    shifts: int = 0


#: Armijo's sufficient-decrease constant c₁ and the smallest step length tried.
ARMIJO = 1e-4
MIN_STEP = 1e-12


def newton_iterate(system: LagrangeSystem, spec: OptimizeSpec) -> NewtonState:
    """Globalised Newton steps from the starting point (λ = 0) until ‖∇_z L‖ ≤ tolerance, a
    non-finite residual or ``spec.steps`` steps; every point visited is recorded in the trace."""
    n, m = system.n, system.m
    sign = -1.0 if spec.goal == "maximize" else 1.0
    z = np.concatenate([system.variables.flat(), np.zeros(m, dtype=DTYPE)])
    state = NewtonState(z=z, hessian=np.zeros((n + m, n + m)))
    while True:
        grad = system.gradient_at(state.z)
        state.residual = float(np.linalg.norm(grad))
        _record_newton_point(system, state)
        state.hessian = system.hessian_at(state.z)
        if not math.isfinite(state.residual):
            break
        state.relative_residual = _relative_residual(state, grad, n)
        if state.relative_residual <= spec.tolerance:
            state.converged = True
            break
        if state.step == spec.steps:
            break
        state.z = _globalised_step(system, state, grad, sign)
        state.step += 1
    return state


def _ratio(value: float, scale: float) -> float:
    """value / scale, with 0 / 0 = 0 (an exactly zero quantity of zero scale is met)."""
    if value == 0.0:
        return 0.0
    return value / scale if scale > 0.0 else math.inf


def _relative_residual(state: NewtonState, grad: np.ndarray, n: int) -> float:
    """max(‖∇ₓL‖ / max(‖∇f(x₀)‖, ‖∇f(x)‖), ‖g‖ / max(‖g(x₀)‖, ‖J‖_F‖x‖)): the stopping test's
    measure, unchanged when f (or the constraints) are multiplied by a constant."""
    jac = state.hessian[n:, :n]
    grad_x, g = grad[:n], grad[n:]
    grad_f = grad_x - jac.T @ state.z[n:]
    f_norm, g_norm = float(np.linalg.norm(grad_f)), float(np.linalg.norm(g))
    if state.initial_scales is None:
        state.initial_scales = (f_norm, g_norm)
    f_scale = max(state.initial_scales[0], f_norm)
    g_scale = max(state.initial_scales[1], float(np.linalg.norm(jac)) * float(np.linalg.norm(state.z[:n])))
    return max(_ratio(float(np.linalg.norm(grad_x)), f_scale), _ratio(g_norm, g_scale))


def _record_newton_point(system: LagrangeSystem, state: NewtonState) -> None:
    """Append the current point to the trace: f, x, the residual and the first multipliers."""
    n, m, z = system.n, system.m, state.z
    value = system.objective_value(z)
    extra = {"residual": state.residual, **{f"lambda.{i}": float(z[n + i]) for i in range(min(m, MAX_LOGGED_ENTRIES))}}
    state.trace.record(system.variables, z[:n].copy(), value, extra)


def _inertia_ok(kkt: np.ndarray, n: int, m: int) -> bool:
    """True when the (sign-adjusted) KKT matrix has n positive eigenvalues (inertia (n, m, 0) when J
    has full rank; redundant constraints add zero eigenvalues instead of negative ones).

    Without constraints this is positive definiteness, tested by a Cholesky factorisation; with
    them it says that the Hessian is positive definite on the null space of J.
    """
    if m == 0:
        try:
            np.linalg.cholesky(kkt)
            return True
        except np.linalg.LinAlgError:
            return False
    eigen = np.linalg.eigvalsh(kkt)
    tol = tolerance(n + m, float(np.abs(eigen).max(initial=0.0)))
    return int(np.sum(eigen > tol)) == n


def shifted_direction(
    hxx: np.ndarray, jac: np.ndarray, grad_f: np.ndarray, g: np.ndarray, sign: float, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(Δx, λ⁺, shifted): the Newton step of the KKT system with W = s·∇²ₓL + δI (s = ±1 for min/max)

        [[W, Jᵀ], [J, 0]] · [Δx; s·λ⁺] = [−s·∇f; −g]

    with the smallest δ ∈ {0, β, 4β, 16β, ...}, β = ``scale``·10⁻⁴·max(‖∇²ₓL‖_F, ‖∇f‖, eps), that
    gives the matrix the inertia (n, m, 0) — a direction of descent for s·f on the linearised constraints.
    """
    n, m = hxx.shape[0], jac.shape[0]
    w0 = sign * 0.5 * (hxx + hxx.T)
    beta = scale * 1e-4 * max(float(np.linalg.norm(hxx)), float(np.linalg.norm(grad_f)), EPS)
    delta, shifted = 0.0, False
    for attempt in range(60):
        kkt = np.block([[w0 + delta * np.eye(n), jac.T], [jac, np.zeros((m, m))]])
        if _inertia_ok(kkt, n, m):
            break
        delta, shifted = beta * 4.0**attempt, True
    rhs = np.concatenate([-sign * grad_f, -g])
    try:
        solution = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return solution[:n], sign * solution[n:], shifted


def _merit(system: LagrangeSystem, x: np.ndarray, sign: float, penalty: float) -> float:
    """φ(x) = s·f(x) + ν·‖g(x)‖₁, the ℓ₁ merit function (s = −1 when maximising)."""
    z = np.concatenate([x, np.zeros(system.m)])
    value = sign * system.objective_value(z)
    if system.m:
        with mf.no_grad():
            g = system.residuals(Tensor(z))
        assert g is not None
        value += penalty * float(np.abs(np.asarray(g.numpy(), dtype=np.float64)).sum())
    return value


def _globalised_step(system: LagrangeSystem, state: NewtonState, grad: np.ndarray, sign: float) -> np.ndarray:
    """The next z = (x + tΔx, λ + t(λ⁺ − λ)) of Newton's method with an Armijo line search.

    Δx, λ⁺ come from :func:`shifted_direction`; the penalty ν = max(ν, 1.1·‖λ⁺‖_∞) makes Δx a
    descent direction of φ with directional derivative D = s·∇fᵀΔx − ν‖g‖₁, and t = 1, ½, ¼, ...
    is the first step length with φ(x + tΔx) ≤ φ(x) + c₁·t·D (c₁ = 10⁻⁴). A full, unshifted step
    that cuts the residual ‖∇_z L‖ tenfold is accepted too (no Maratos slow-down near the solution).
    """
    n, z = system.n, state.z
    x, lam = z[:n], z[n:]
    hxx, jac = state.hessian[:n, :n], state.hessian[n:, :n]
    g = grad[n:]
    grad_f = grad[:n] - jac.T @ lam
    dx, lam_new, shifted = shifted_direction(hxx, jac, grad_f, g, sign)
    state.shifts += int(shifted)
    state.penalty = max(state.penalty, 1.1 * float(np.abs(lam_new).max(initial=0.0)))
    slope = sign * float(grad_f @ dx) - state.penalty * float(np.abs(g).sum())
    phi = _merit(system, x, sign, state.penalty)
    t = 1.0
    while t >= MIN_STEP:
        trial = np.concatenate([x + t * dx, lam + t * (lam_new - lam)])
        value = _merit(system, trial[:n], sign, state.penalty)
        if math.isfinite(value) and (value <= phi + ARMIJO * t * slope or slope >= 0):
            return trial
        if t == 1.0 and not shifted:
            trial_grad = system.gradient_at(trial)
            if np.isfinite(trial_grad).all() and np.linalg.norm(trial_grad) <= 0.1 * state.residual:
                return trial
        t *= 0.5
        state.backtracks += 1
    return np.concatenate([x + t * dx, lam + t * (lam_new - lam)])
