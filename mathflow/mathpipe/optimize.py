"""``kind: optimize``: iterate an optimizer, or solve the Lagrange system with Newton's method.

Without constraints and with an optimizer (``gd``, ``momentum``, ``adam``, ...) from
:data:`mathflow.optim.OPTIMIZERS`, the variables are parameters updated in place until
``steps`` updates or until the gradient norm falls to ``tolerance``; maximising descends −f.

With ``method: lagrange`` (or ``newton``) the unknowns are z = (x, λ) and the Lagrangian is

    L(x, λ) = f(x) + Σᵢ λᵢ gᵢ(x),   gᵢ = rhsᵢ − lhsᵢ for the constraint ``lhsᵢ = rhsᵢ``

(the convention of the spec: max xy s.t. x + y = 10 uses L = xy + λ(10 − x − y), λ = 5).
Its stationary points solve ∇_z L = (∇f + Σ λᵢ∇gᵢ, g) = 0; Newton's step solves
∇²_z L · Δz = −∇_z L with the engine's exact Hessian (the KKT matrix), halving the step while
the residual ‖∇_z L‖ does not decrease. Without constraints this is Newton's method on ∇f = 0.
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
    method = spec.method
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
        point = variables.flat({n: p.numpy() for n, p in params.items()})
        trace.record(variables, point, f, {"grad_norm": grad_norm})
        if not (math.isfinite(f) and math.isfinite(grad_norm)):
            diverged = True
            break
        if grad_norm <= spec.tolerance:
            converged = True
            break
        if step == spec.steps:
            break
        optimizer.step()
        step += 1
    result = _result(name, spec, variables, trace, step, converged)
    result.update(diverged=diverged, gradient_norm=grad_norm)
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
    if eigenvalues.size == 0:
        return "isolated"
    if np.all(eigenvalues < -tol):
        return "maximum"
    if np.all(eigenvalues > tol):
        return "minimum"
    if np.any(eigenvalues < -tol) and np.any(eigenvalues > tol):
        return "saddle"
    return "degenerate"


def second_order(hessian: np.ndarray, n: int) -> tuple[str, list[float]]:
    """Kind of the stationary point from ∇²ₓL on the null space of the constraint Jacobian."""
    hxx = hessian[:n, :n]
    jac = hessian[n:, :n]
    if jac.size:
        _, s, vt = np.linalg.svd(jac)
        rank = int(np.sum(s > 1e-10 * max(1.0, float(s.max(initial=0.0)))))
        basis = vt[rank:].T
        reduced = basis.T @ hxx @ basis
    else:
        reduced = hxx
    reduced = 0.5 * (reduced + reduced.T)
    eigenvalues = np.linalg.eigvalsh(reduced) if reduced.size else np.zeros(0)
    tol = 1e-9 * max(1.0, float(np.abs(hxx).max(initial=0.0)))
    return _classify(eigenvalues, tol), [float(v) for v in eigenvalues]


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
    """Where Newton's iteration stands: the point z, its residual ‖∇_z L‖ and Hessian, the trace."""

    z: np.ndarray
    hessian: np.ndarray
    trace: Trace = field(default_factory=Trace)
    step: int = 0
    converged: bool = False
    residual: float = math.inf


def _newton_iterate(system: _LagrangeSystem, spec: OptimizeSpec) -> _NewtonState:
    """Newton steps from the starting point (λ = 0) until ‖∇_z L‖ ≤ tolerance, a non-finite
    residual or ``spec.steps`` steps; every point visited is recorded in the trace."""
    n, m = system.n, system.m
    z = np.concatenate([system.variables.flat(), np.zeros(m, dtype=DTYPE)])
    state = _NewtonState(z=z, hessian=np.zeros((n + m, n + m)))
    while True:
        grad = system.gradient_at(state.z)
        state.residual = float(np.linalg.norm(grad))
        _record_newton_point(system, state)
        state.hessian = system.hessian_at(state.z)
        if not math.isfinite(state.residual):
            break
        if state.residual <= spec.tolerance:
            state.converged = True
            break
        if state.step == spec.steps:
            break
        delta = _newton_direction(state.hessian, grad)
        t = _line_search(system, state.z, delta, state.residual)
        state.z = state.z + t * delta
        state.step += 1
    return state


def _record_newton_point(system: _LagrangeSystem, state: _NewtonState) -> None:
    """Append the current point to the trace: f, x, the residual and the first multipliers."""
    n, m, z = system.n, system.m, state.z
    value = system.objective_value(z)
    extra = {"residual": state.residual, **{f"lambda.{i}": float(z[n + i]) for i in range(min(m, MAX_LOGGED_ENTRIES))}}
    state.trace.record(system.variables, z[:n].copy(), value, extra)


def _newton_direction(hessian: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Δz solving ∇²_z L · Δz = −∇_z L (least squares when the matrix is singular)."""
    try:
        return np.linalg.solve(hessian, -grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(hessian, -grad, rcond=None)[0]


def _line_search(system: _LagrangeSystem, z: np.ndarray, delta: np.ndarray, residual: float) -> float:
    """The step length t: 1, halved while ‖∇_z L(z + tΔz)‖ is not below ``residual`` (down to 1e-6)."""
    t = 1.0
    while t > 1e-6:
        trial = z + t * delta
        trial_grad = system.gradient_at(trial)
        if np.isfinite(trial_grad).all() and np.linalg.norm(trial_grad) < residual:
            break
        t *= 0.5
    return t


def _require_stationary(spec: OptimizeSpec, state: _NewtonState) -> None:
    """Raise when the iteration stopped far from a stationary point."""
    if not state.converged and state.residual > max(spec.tolerance, 1e-6) * 1e3:
        raise MathflowError(
            f"Newton's method did not reach a stationary point in {spec.steps} steps (residual {state.residual:.3g})",
            suggestion="try another starting point in 'variables' or more 'steps'",
        )


def _newton_result(spec: OptimizeSpec, system: _LagrangeSystem, state: _NewtonState) -> dict[str, Any]:
    """The JSON-ready result: solution, residual, kind of stationary point, multipliers, warning."""
    kind, curvature = second_order(state.hessian, system.n)
    method = spec.method_name if spec.method is not None else "lagrange"
    result = _result(method, spec, system.variables, state.trace, state.step, state.converged)
    result.update(residual=state.residual, stationary_point=kind, curvature=curvature)
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
