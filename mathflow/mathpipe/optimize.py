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
from mathflow.mathpipe.problem import MathProblem
from mathflow.mathpipe.spec import OptimizeSpec
from mathflow.mathpipe.variables import DTYPE, VariableSet, plain

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


def run_newton(problem: MathProblem) -> tuple[dict[str, Any], Trace]:
    """Newton's method on the stationarity system ∇f + Σλᵢ∇gᵢ = 0, g = 0 (see the module docstring)."""
    from mathflow.functional import concat, reshape

    spec = problem.spec
    assert isinstance(spec, OptimizeSpec) and problem.objective is not None
    objective = problem.objective
    constraints = problem.constraints
    variables = VariableSet(spec.variables)
    n = variables.size

    def residuals(z: Tensor) -> Tensor | None:
        if not constraints:
            return None
        env = variables.env(z)
        parts = []
        for c in constraints:
            g = c.evaluate(env)
            g = g if isinstance(g, Tensor) else Tensor(np.asarray(g, dtype=DTYPE))
            parts.append(reshape(g, (-1,)))
        return concat(parts) if len(parts) > 1 else parts[0]

    start = Tensor(variables.flat())
    g0 = residuals(start)
    m = 0 if g0 is None else int(g0.size)

    def lagrangian(z: Tensor) -> Tensor:
        env = variables.env(z)
        f = objective.evaluate(env)
        f = f if isinstance(f, Tensor) else Tensor(np.asarray(f, dtype=DTYPE))
        f = reshape(f, ())
        if m:
            g = residuals(z)
            assert g is not None
            f = f + (z[n:] * g).sum()
        return f

    gradient = mf.grad(lagrangian)
    hessian = mf.hessian(lagrangian)

    def objective_value(z: np.ndarray) -> float:
        with mf.no_grad():
            return _scalar(objective.evaluate(variables.env(Tensor(z[:n].copy()))))

    z = np.concatenate([variables.flat(), np.zeros(m, dtype=DTYPE)])
    trace = Trace()
    step = 0
    converged = False
    residual = math.inf
    h = np.zeros((n + m, n + m))
    while True:
        grad = np.asarray(gradient(Tensor(z.copy())).numpy(), dtype=np.float64)
        residual = float(np.linalg.norm(grad))
        value = objective_value(z)
        extra = {"residual": residual, **{f"lambda.{i}": float(z[n + i]) for i in range(min(m, MAX_LOGGED_ENTRIES))}}
        trace.record(variables, z[:n].copy(), value, extra)
        h = np.asarray(hessian(Tensor(z.copy())).numpy(), dtype=np.float64)
        if not math.isfinite(residual):
            break
        if residual <= spec.tolerance:
            converged = True
            break
        if step == spec.steps:
            break
        try:
            delta = np.linalg.solve(h, -grad)
        except np.linalg.LinAlgError:
            delta = np.linalg.lstsq(h, -grad, rcond=None)[0]
        t = 1.0
        while t > 1e-6:
            trial = z + t * delta
            trial_grad = np.asarray(gradient(Tensor(trial.copy())).numpy(), dtype=np.float64)
            if np.isfinite(trial_grad).all() and np.linalg.norm(trial_grad) < residual:
                break
            t *= 0.5
        z = z + t * delta
        step += 1
    if not converged and residual > max(spec.tolerance, 1e-6) * 1e3:
        raise MathflowError(
            f"Newton's method did not reach a stationary point in {spec.steps} steps (residual {residual:.3g})",
            suggestion="try another starting point in 'variables' or more 'steps'",
        )
    kind, curvature = second_order(h, n)
    method = spec.method_name if spec.method is not None else "lagrange"
    result = _result(method, spec, variables, trace, step, converged)
    result.update(residual=residual, stationary_point=kind, curvature=curvature)
    if m:
        result["multipliers"] = [float(v) for v in z[n:]]
        result["convention"] = "L = f + sum_i lambda_i * (rhs_i - lhs_i) for each constraint 'lhs_i = rhs_i'"
    wanted = "maximum" if spec.goal == "maximize" else "minimum"
    if kind in ("maximum", "minimum") and kind != wanted:
        result["warning"] = f"the stationary point found is a {kind}, not a {wanted}"
    return result, trace


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
