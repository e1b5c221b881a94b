"""``kind: optimize``: iterate an optimizer, or solve the Lagrange system with Newton's method.

Without constraints and with an optimizer (``gd``, ``momentum``, ``adam``, ...) from
:data:`mathflow.optim.OPTIMIZERS`, the variables are parameters updated in place until
``steps`` updates or until ‖∇f(xₖ)‖ ≤ ``tolerance``·‖∇f(x₀)‖; maximising descends −f.

The stopping test is relative, so multiplying f by any c > 0 stops at the same iterate (with
the learning rate divided by c for plain gradient descent; Newton's iterates do not depend on c).
Newton's method stops when both parts of ∇_z L are small against their own scale:

    ‖∇ₓL(xₖ, λₖ)‖ ≤ tol · max(‖∇f(x₀)‖, ‖∇f(xₖ)‖)      (stationarity, in the units of f)
    ‖g(xₖ)‖       ≤ tol · max(‖g(x₀)‖, ‖J(xₖ)‖_F ‖xₖ‖)  (feasibility, in the units of the constraints)

and reports the larger ratio as ``relative_residual`` (``residual`` is ‖∇_z L‖ itself).

With ``method: lagrange`` (or ``newton``) the unknowns are z = (x, λ) and the Lagrangian is

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
Inequality constraints are handled by :mod:`mathflow.mathpipe.kkt`.
The second-order test on ∇²ₓL restricted to the tangent space of the constraints says
whether the point is a maximum, a minimum or a saddle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import mathflow as mf
from mathflow.autodiff.tensor import Tensor
from mathflow.errors import MathflowError
from mathflow.mathpipe.expr import Expression
from mathflow.mathpipe.numerics import EPS, definiteness, numerical_rank, spectral_norm, tolerance
from mathflow.mathpipe.problem import Constraint, MathProblem
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


def _metric_name(label: str) -> str:
    return label.replace("[", ".").replace("]", "").replace(",", ".")


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


def _scalar(value: Any) -> float:
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    return float(np.asarray(array, dtype=np.float64).reshape(-1)[0])


# ----------------------------------------------------------------------------------------- optimizer
def run_optimizer(problem: MathProblem) -> tuple[dict[str, Any], Trace]:
    """Descend (or ascend) the objective with an optimizer of the training registry."""
    from mathflow.optim import OPTIMIZERS

    spec = problem.spec
    assert isinstance(spec, OptimizeSpec) and problem.objective is not None
    variables = VariableSet(spec.variables)
    params = {n: Tensor(variables.arrays[n].copy(), requires_grad=True, name=n) for n in variables.names}
    method = spec.solver
    options: dict[str, Any] = {}
    name = spec.method_name
    if method is not None:
        options = method.model_dump(exclude={"type"})
    optimizer = OPTIMIZERS.create(name, params=list(params.values()), **options)
    sign = -1.0 if spec.goal == "maximize" else 1.0
    trace = Trace()
    step = 0
    converged = False
    diverged = False
    grad_norm = math.inf
    initial_norm: float | None = None
    while True:
        for p in params.values():
            p.grad = None
        with mf.enable_grad():
            value = problem.objective.evaluate(params)
            if not isinstance(value, Tensor) or not value.requires_grad:
                value_t = value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=DTYPE))
                f = _scalar(value_t)
                grads = [np.zeros(variables.shapes[n]) for n in variables.names]
            else:
                f = _scalar(value)
                (value.reshape(()) * sign if value.shape != () else value * sign).backward()
                grads = [p.grad.numpy() if p.grad is not None else np.zeros(p.shape) for p in params.values()]
        grad_norm = float(math.sqrt(sum(float(np.sum(g * g)) for g in grads)))
        initial_norm = grad_norm if initial_norm is None else initial_norm
        point = variables.flat({n: p.numpy() for n, p in params.items()})
        trace.record(variables, point, f, {"grad_norm": grad_norm})
        if not (math.isfinite(f) and math.isfinite(grad_norm)):
            diverged = True
            break
        if grad_norm <= spec.tolerance * initial_norm:
            converged = True
            break
        if step == spec.steps:
            break
        optimizer.step()
        step += 1
    result = _result(name, spec, variables, trace, step, converged)
    result.update(
        diverged=diverged,
        gradient_norm=grad_norm,
        initial_gradient_norm=initial_norm,
        stopping_rule="gradient_norm <= tolerance * initial_gradient_norm",
    )
    return result, trace


def _result(
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
class _LagrangeSystem:
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
            return _scalar(self.objective.evaluate(self.variables.env(Tensor(z[: self.n].copy()))))


@dataclass
class _NewtonState:
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


def _newton_iterate(system: _LagrangeSystem, spec: OptimizeSpec) -> _NewtonState:
    """Globalised Newton steps from the starting point (λ = 0) until ‖∇_z L‖ ≤ tolerance, a
    non-finite residual or ``spec.steps`` steps; every point visited is recorded in the trace."""
    n, m = system.n, system.m
    sign = -1.0 if spec.goal == "maximize" else 1.0
    z = np.concatenate([system.variables.flat(), np.zeros(m, dtype=DTYPE)])
    state = _NewtonState(z=z, hessian=np.zeros((n + m, n + m)))
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


def _relative_residual(state: _NewtonState, grad: np.ndarray, n: int) -> float:
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


def _record_newton_point(system: _LagrangeSystem, state: _NewtonState) -> None:
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


def _shifted_direction(
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


def _merit(system: _LagrangeSystem, x: np.ndarray, sign: float, penalty: float) -> float:
    """φ(x) = s·f(x) + ν·‖g(x)‖₁, the ℓ₁ merit function (s = −1 when maximising)."""
    z = np.concatenate([x, np.zeros(system.m)])
    value = sign * system.objective_value(z)
    if system.m:
        with mf.no_grad():
            g = system.residuals(Tensor(z))
        assert g is not None
        value += penalty * float(np.abs(np.asarray(g.numpy(), dtype=np.float64)).sum())
    return value


def _globalised_step(system: _LagrangeSystem, state: _NewtonState, grad: np.ndarray, sign: float) -> np.ndarray:
    """The next z = (x + tΔx, λ + t(λ⁺ − λ)) of Newton's method with an Armijo line search.

    Δx, λ⁺ come from :func:`_shifted_direction`; the penalty ν = max(ν, 1.1·‖λ⁺‖_∞) makes Δx a
    descent direction of φ with directional derivative D = s·∇fᵀΔx − ν‖g‖₁, and t = 1, ½, ¼, ...
    is the first step length with φ(x + tΔx) ≤ φ(x) + c₁·t·D (c₁ = 10⁻⁴). A full, unshifted step
    that cuts the residual ‖∇_z L‖ tenfold is accepted too (no Maratos slow-down near the solution).
    """
    n, z = system.n, state.z
    x, lam = z[:n], z[n:]
    hxx, jac = state.hessian[:n, :n], state.hessian[n:, :n]
    g = grad[n:]
    grad_f = grad[:n] - jac.T @ lam
    dx, lam_new, shifted = _shifted_direction(hxx, jac, grad_f, g, sign)
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


def _require_stationary(spec: OptimizeSpec, state: _NewtonState) -> None:
    """Raise when the iteration stopped far from a stationary point."""
    if not state.converged and not state.relative_residual <= max(spec.tolerance, 1e-6) * 1e3:
        raise MathflowError(
            f"Newton's method did not reach a stationary point in {spec.steps} steps "
            f"(residual {state.residual:.3g}, relative {state.relative_residual:.3g})",
            suggestion="try another starting point in 'variables' or more 'steps'",
        )


def _newton_result(spec: OptimizeSpec, system: _LagrangeSystem, state: _NewtonState) -> dict[str, Any]:
    """The JSON-ready result: solution, residual, kind of stationary point, multipliers, warning."""
    kind, curvature, curvature_tol = second_order(state.hessian, system.n)
    method = spec.method_name if spec.solver is not None else "lagrange"
    result = _result(method, spec, system.variables, state.trace, state.step, state.converged)
    result.update(
        hessian_shifts=state.shifts,
        backtracks=state.backtracks,
        residual=state.residual,
        relative_residual=state.relative_residual,
        stopping_rule="relative_residual <= tolerance (see the optimize kind's documentation)",
        stationary_point=kind,
        curvature=curvature,
        curvature_tolerance=curvature_tol,
    )
    if system.m:
        result["multipliers"] = [float(v) for v in state.z[system.n :]]
        result["convention"] = "L = f + sum_i lambda_i * (rhs_i - lhs_i) for each constraint 'lhs_i = rhs_i'"
    wanted = "maximum" if spec.goal == "maximize" else "minimum"
    if kind in ("maximum", "minimum") and kind != wanted:
        result["warning"] = f"the stationary point found is a {kind}, not a {wanted}"
    return result


def run_newton(problem: MathProblem) -> tuple[dict[str, Any], Trace]:
    """Newton's method on the stationarity system ∇f + Σλᵢ∇gᵢ = 0, g = 0 (see the module docstring)."""
    spec = problem.spec
    assert isinstance(spec, OptimizeSpec) and problem.objective is not None
    system = _LagrangeSystem(problem.objective, problem.constraints, VariableSet(spec.variables))
    state = _newton_iterate(system, spec)
    _require_stationary(spec, state)
    return _newton_result(spec, system, state), state.trace


def solve(problem: MathProblem) -> tuple[dict[str, Any], Trace]:
    """Run the pipeline's method; returns the JSON-ready result and the step trace."""
    spec = problem.spec
    assert isinstance(spec, OptimizeSpec)
    if any(c.inequality for c in problem.constraints):
        from mathflow.mathpipe.kkt import run_kkt

        return run_kkt(problem)
    if spec.method_name in ("lagrange", "newton"):
        return run_newton(problem)
    return run_optimizer(problem)


def figures(problem: MathProblem, trace: Trace) -> dict[str, Any]:
    """artifact path → figure: the path over the contours (two scalar variables) or the curve (one)."""
    from mathflow.mathpipe import plots

    spec = problem.spec
    assert isinstance(spec, OptimizeSpec) and problem.objective is not None
    variables = VariableSet(spec.variables)
    points = np.asarray(trace.points)
    title = f"{spec.goal} {spec.objective}"
    if problem.constraints:
        title += " s.t. " + ", ".join(c.text for c in problem.constraints)
    if variables.scalars() and len(variables.names) == 2:
        fig = plots.path_contour(
            problem.objective, variables.names, points, constraints=problem.constraints, title=title
        )
        return {"plots/path.png": fig}
    if variables.scalars() and len(variables.names) == 1:
        fig = plots.path_curve(
            problem.objective, variables.names[0], points[:, 0], np.asarray(trace.values), title=title
        )
        return {"plots/path.png": fig}
    return {}
