"""``kind: optimize``: iterate an optimizer, or solve the Lagrange system with Newton's method.

Without constraints and with an optimizer (``gd``, ``momentum``, ``adam``, ...) from
:data:`mathflow.optim.OPTIMIZERS`, the variables are parameters updated in place until
``steps`` updates or until ‖∇f(xₖ)‖ ≤ ``tolerance``·‖∇f(x₀)‖; maximising descends −f.

The stopping test is relative, so multiplying f by any c > 0 stops at the same iterate (with
the learning rate divided by c for plain gradient descent; Newton's iterates do not depend on c).

With ``method: lagrange`` (or ``newton``) the unknowns are z = (x, λ), the Lagrangian is
L(x, λ) = f(x) + Σᵢ λᵢ gᵢ(x) with gᵢ = rhsᵢ − lhsᵢ for the constraint ``lhsᵢ = rhsᵢ``, and
:mod:`mathflow.mathpipe.newton` solves ∇_z L = 0 by globalised, inertia-corrected Newton steps
(its docstring states the step, the relative stopping test and the second-order test that says
whether the point is a maximum, a minimum or a saddle). Inequality constraints are handled by
:mod:`mathflow.mathpipe.kkt`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import mathflow as mf
from mathflow.autodiff.tensor import Tensor
from mathflow.errors import MathflowError
from mathflow.mathpipe.newton import (
    LagrangeSystem,
    NewtonState,
    Trace,
    base_result,
    newton_iterate,
    second_order,
    to_float,
)
from mathflow.mathpipe.problem import MathProblem
from mathflow.mathpipe.variables import DTYPE, VariableSet
from mathflow.schema.math_pipeline import OptimizeSpec


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
                f = to_float(value_t)
                grads = [np.zeros(variables.shapes[n]) for n in variables.names]
            else:
                f = to_float(value)
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
    result = base_result(name, spec, variables, trace, step, converged)
    result.update(
        diverged=diverged,
        gradient_norm=grad_norm,
        initial_gradient_norm=initial_norm,
        stopping_rule="gradient_norm <= tolerance * initial_gradient_norm",
    )
    return result, trace


# ----------------------------------------------------------------------------------------- Newton / Lagrange
def _require_stationary(spec: OptimizeSpec, state: NewtonState) -> None:
    """Raise when the iteration stopped far from a stationary point."""
    if not state.converged and not state.relative_residual <= max(spec.tolerance, 1e-6) * 1e3:
        raise MathflowError(
            f"Newton's method did not reach a stationary point in {spec.steps} steps "
            f"(residual {state.residual:.3g}, relative {state.relative_residual:.3g})",
            suggestion="try another starting point in 'variables' or more 'steps'",
        )


def _newton_result(spec: OptimizeSpec, system: LagrangeSystem, state: NewtonState) -> dict[str, Any]:
    """The JSON-ready result: solution, residual, kind of stationary point, multipliers, warning."""
    kind, curvature, curvature_tol = second_order(state.hessian, system.n)
    method = spec.method_name if spec.solver is not None else "lagrange"
    result = base_result(method, spec, system.variables, state.trace, state.step, state.converged)
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
    system = LagrangeSystem(problem.objective, problem.constraints, VariableSet(spec.variables))
    state = newton_iterate(system, spec)
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
