"""Inequality constraints: the KKT conditions solved by an augmented Lagrangian, then polished by Newton.

Every constraint ``lhs ⋈ rhs`` (⋈ one of ``=``, ``<=``, ``>=``) enters as g = rhs − lhs, the same
vocabulary as equality constraints, with the same Lagrangian

    L(x, λ) = f(x) + Σᵢ λᵢ gᵢ(x),      gᵢ = rhsᵢ − lhsᵢ.

KKT conditions at a solution x*: ∇f + Σ λᵢ∇gᵢ = 0, gᵢ = 0 for ``=``, gᵢ ≥ 0 for ``<=``, gᵢ ≤ 0
for ``>=``, and complementary slackness λᵢ gᵢ = 0. With this convention every multiplier is the
sensitivity λᵢ = ∂f(x*)/∂rhsᵢ of the optimal objective to the constraint's right-hand side, so its
sign is fixed by the goal and the relation:

    minimize: ``<=`` has λ ≤ 0, ``>=`` has λ ≥ 0;   maximize: ``<=`` has λ ≥ 0, ``>=`` has λ ≤ 0.

Method (Powell–Hestenes–Rockafellar augmented Lagrangian). With F = s·f (s = −1 to maximise),
equality residuals hⱼ = gⱼ and inequalities written cᵢ = dᵢgᵢ ≤ 0 (dᵢ = −1 for ``<=``, +1 for ``>=``),

    Φ_ρ(x; ν, μ) = F + Σⱼ (νⱼhⱼ + ρ/2·hⱼ²) + 1/(2ρ)·Σᵢ (max(0, μᵢ + ρcᵢ)² − μᵢ²)

is minimised over x by the globalised Newton method of :mod:`~mathflow.mathpipe.newton`; then
ν ← ν + ρh, μ ← max(0, μ + ρc), and ρ grows tenfold (up to 10¹⁰) whenever the violation
max(‖h‖_∞, ‖max(0, c)‖_∞) did not fall to a quarter. The constraints with μᵢ > 0 or cᵢ ≥ −√tol are
active; Newton's method on the KKT system with them as equalities polishes x and λ, and is kept when
its multipliers have the right signs and the other constraints still hold. A violation that stops
falling for two iterations with ρ at its cap (above √tolerance at the end) means that the
constraints cannot all hold (a local verdict; a global one for linear constraints and convex
inequalities, whose violation has no other minimum): the run fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import mathflow as mf
import mathflow.functional as F
from mathflow.autodiff.tensor import Tensor
from mathflow.errors import MathflowError
from mathflow.mathpipe.newton import (
    ARMIJO,
    MIN_STEP,
    LagrangeSystem,
    Trace,
    base_result,
    newton_iterate,
    second_order,
    shifted_direction,
)
from mathflow.mathpipe.numerics import EPS
from mathflow.mathpipe.problem import Constraint, MathProblem
from mathflow.mathpipe.variables import DTYPE, VariableSet
from mathflow.schema.math_pipeline import OptimizeSpec

MAX_OUTER = 60
MAX_INNER = 100
RHO_START = 10.0
RHO_MAX = 1e10
#: Outer iterations at ρ = RHO_MAX without progress after which the constraints are judged infeasible.
STALLED = 2

CONVENTION = (
    "L = f + sum_i lambda_i * (rhs_i - lhs_i) for every constraint 'lhs_i (=, <=, >=) rhs_i'; "
    "lambda_i = d(optimal objective)/d(rhs_i): minimize: '<=' has lambda <= 0, '>=' has lambda >= 0; "
    "maximize: the opposite signs"
)


@dataclass
class _Rows:
    """The flattened constraint entries: g = rhs − lhs, which are equalities and the directions dᵢ."""

    system: LagrangeSystem
    equality: np.ndarray
    direction: np.ndarray
    owner: list[int] = field(default_factory=list)

    def values(self, x: np.ndarray) -> np.ndarray:
        """g(x) = rhs − lhs of every entry, as float64."""
        with mf.no_grad():
            g = self.system.residuals(Tensor(x.copy()))
        assert g is not None
        return np.asarray(g.numpy(), dtype=np.float64).reshape(-1)

    def violation(self, g: np.ndarray) -> float:
        """max(‖h‖_∞, ‖max(0, c)‖_∞) with h = g on equalities and c = d·g on inequalities."""
        eq = np.abs(g[self.equality])
        ineq = np.maximum(0.0, (self.direction * g)[~self.equality])
        return float(max(eq.max(initial=0.0), ineq.max(initial=0.0)))


def _rows(problem: MathProblem, variables: VariableSet) -> _Rows:
    """One row per entry of every constraint (a vector constraint gives one row per entry)."""
    assert problem.objective is not None
    system = LagrangeSystem(problem.objective, problem.constraints, variables)
    equality, direction, owner = [], [], []
    env = variables.env(Tensor(variables.flat()))
    for index, constraint in enumerate(problem.constraints):
        with mf.no_grad():
            size = int(np.asarray(_numpy(constraint.evaluate(env))).size)
        equality += [constraint.relation == "="] * size
        direction += [-1.0 if constraint.relation == "<=" else 1.0] * size
        owner += [index] * size
    return _Rows(system, np.asarray(equality, dtype=bool), np.asarray(direction), owner)


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if isinstance(value, Tensor) else value, dtype=np.float64)


# ----------------------------------------------------------------------------------------- inner Newton
def _augmented(rows: _Rows, sign: float, nu: np.ndarray, mu: np.ndarray, rho: float) -> Any:
    """x ↦ Φ_ρ(x; ν, μ) as a differentiable function of the flat variables (see the module docstring)."""
    eq = Tensor(rows.equality.astype(DTYPE))
    ineq = Tensor((~rows.equality).astype(DTYPE))
    direction = Tensor(rows.direction)
    nu_t, mu_t = Tensor(nu), Tensor(mu)
    system = rows.system

    def phi(x: Tensor) -> Tensor:
        f = system.objective.evaluate(system.variables.env(x))
        f = f if isinstance(f, Tensor) else Tensor(np.asarray(f, dtype=DTYPE)) + x.sum() * 0.0
        g = system.residuals(x)
        assert g is not None
        value = F.reshape(f, ()) * sign + (eq * (nu_t * g + 0.5 * rho * g * g)).sum()
        shifted = F.relu(mu_t + rho * direction * g)
        return value + (ineq * (shifted * shifted - mu_t * mu_t)).sum() * (0.5 / rho)

    return phi


@dataclass
class _Inner:
    """The outcome of one inner minimisation: the point, its gradient norm and the work done."""

    x: np.ndarray
    gradient_norm: float
    steps: int = 0
    backtracks: int = 0
    shifts: int = 0
    unbounded: bool = False


#: An inner iterate this many times farther out than the start (plus one) means f is unbounded.
UNBOUNDED = 1e12


def newton_minimize(func: Any, x0: np.ndarray, tol: float, max_steps: int) -> _Inner:
    """Minimise a smooth scalar function by Newton's method with a shifted Hessian ∇²Φ + δI
    (δ ≥ 0 the smallest making it positive definite) and Armijo backtracking
    Φ(x + tΔx) ≤ Φ(x) + c₁·t·∇Φᵀ Δx; the shift's base β shrinks fourfold after each full shifted
    step (and recovers after a shortened one), so along a direction of unboundedness the steps
    grow geometrically; stops when ‖∇Φ‖ ≤ tol, when the line search stalls or
    when ‖x‖ > 10¹²·(1 + ‖x₀‖) (``unbounded``)."""
    gradient, hessian = mf.grad(func), mf.hessian(func)
    n = x0.size
    out = _Inner(x0.copy(), math.inf)
    scale = 1.0  # shrinks the Hessian shift after full shifted steps: directions of unboundedness grow fast

    def value(x: np.ndarray) -> float:
        with mf.no_grad():
            return float(_numpy(func(Tensor(x.copy()))).reshape(-1)[0])

    for _ in range(max_steps):
        g = np.asarray(gradient(Tensor(out.x.copy())).numpy(), dtype=np.float64)
        out.gradient_norm = float(np.linalg.norm(g))
        if out.gradient_norm <= tol or not math.isfinite(out.gradient_norm):
            break
        h = np.asarray(hessian(Tensor(out.x.copy())).numpy(), dtype=np.float64).reshape(n, n)
        dx, _, shifted = shifted_direction(h, np.zeros((0, n)), g, np.zeros(0), 1.0, scale)
        out.shifts += int(shifted)
        phi, slope, t = value(out.x), float(g @ dx), 1.0
        while t >= MIN_STEP and not value(out.x + t * dx) <= phi + ARMIJO * t * slope:
            t *= 0.5
            out.backtracks += 1
        out.steps += 1
        scale = max(scale * 0.25, 1e-30) if shifted and t == 1.0 else min(1.0, scale * 4.0)
        if t < MIN_STEP or np.linalg.norm(t * dx) <= EPS * (1.0 + np.linalg.norm(out.x)):
            break
        out.x = out.x + t * dx
        if np.linalg.norm(out.x) > UNBOUNDED * (1.0 + np.linalg.norm(x0)):
            out.unbounded = True
            break
    return out


# ----------------------------------------------------------------------------------------- outer loop
@dataclass
class _Outer:
    """The augmented Lagrangian's state: point, multipliers ν (equalities) and μ (inequalities), ρ."""

    x: np.ndarray
    nu: np.ndarray
    mu: np.ndarray
    rho: float = RHO_START
    violation: float = math.inf
    iterations: int = 0
    steps: int = 0
    backtracks: int = 0
    shifts: int = 0
    stationarity: float = math.inf


def augmented_lagrangian(rows: _Rows, spec: OptimizeSpec, trace: Trace) -> _Outer:
    """Outer iterations of the method of multipliers until feasible, stationary and complementary."""
    sign = -1.0 if spec.goal == "maximize" else 1.0
    m = rows.equality.size
    state = _Outer(rows.system.variables.flat(), np.zeros(m), np.zeros(m))
    tol = max(spec.tolerance, 1e-12)
    stalled = 0
    _record(rows, state, trace)
    while state.iterations < MAX_OUTER:
        phi = _augmented(rows, sign, state.nu, state.mu, state.rho)
        inner = newton_minimize(phi, state.x, 0.1 * tol, MAX_INNER)
        state.x, state.stationarity = inner.x, inner.gradient_norm
        state.steps += inner.steps
        state.backtracks += inner.backtracks
        state.shifts += inner.shifts
        state.iterations += 1
        if inner.unbounded:
            raise MathflowError(
                f"the objective is unbounded on the constraints: |x| passed {UNBOUNDED:.0e} times its start "
                f"with the objective at {rows.system.objective_value(np.concatenate([state.x, np.zeros(m)])):.3g}",
                suggestion="add constraints that bound the variables, or check 'minimize' / 'maximize'",
            )
        g = rows.values(state.x)
        violation = rows.violation(g)
        c = rows.direction * g
        state.nu = np.where(rows.equality, state.nu + state.rho * g, 0.0)
        state.mu = np.where(rows.equality, 0.0, np.maximum(0.0, state.mu + state.rho * c))
        slack = float(np.abs((state.mu * c)[~rows.equality]).max(initial=0.0))
        _record(rows, state, trace, violation)
        if violation <= tol and slack <= tol and state.stationarity <= tol:
            state.violation = violation
            break
        if violation > 0.25 * state.violation:
            stalled = stalled + 1 if state.rho == RHO_MAX else 0
            state.rho = min(RHO_MAX, 10.0 * state.rho)
        state.violation = violation
        if stalled >= STALLED:
            break
    return state


def _record(rows: _Rows, state: _Outer, trace: Trace, violation: float | None = None) -> None:
    system = rows.system
    value = system.objective_value(np.concatenate([state.x, np.zeros(system.m)]))
    extra = {"violation": rows.violation(rows.values(state.x)) if violation is None else violation, "rho": state.rho}
    trace.record(system.variables, state.x.copy(), value, extra)


def lagrange_multipliers(rows: _Rows, state: _Outer, sign: float) -> np.ndarray:
    """λ in the convention L = f + Σλᵢgᵢ: λ = s·ν on equalities and λ = s·dᵢ·μᵢ on inequalities."""
    return sign * np.where(rows.equality, state.nu, rows.direction * state.mu)


# ----------------------------------------------------------------------------------------- polishing
def _polish(
    problem: MathProblem, spec: OptimizeSpec, rows: _Rows, x: np.ndarray, active: np.ndarray, sign: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Newton's method on the KKT system with the active constraints as equalities, from x.

    Returns (x, λ for every row, Hessian of the reduced system, steps) when it converged, the
    multipliers have the signs of the convention and the inactive constraints still hold; else None.
    """
    assert problem.objective is not None
    entries = [int(j) for j in np.flatnonzero(active | rows.equality)]
    constraints = [_Entry(problem.constraints[rows.owner[j]], j - _entries(rows, rows.owner[j])[0]) for j in entries]
    start = VariableSet(rows.system.variables.unflatten(x))
    system = LagrangeSystem(problem.objective, constraints, start)
    state = newton_iterate(system, spec)
    if not state.converged:
        return None
    x_new = state.z[: system.n]
    lam = np.zeros(rows.equality.size)
    lam[entries] = state.z[system.n :]
    g = rows.values(x_new)
    tol = math.sqrt(max(spec.tolerance, 1e-12))
    expected = sign * rows.direction  # the sign λ must have on an active inequality
    wrong_sign = np.any((expected * lam)[~rows.equality] < -tol)
    if wrong_sign or rows.violation(g) > tol:
        return None
    return x_new, lam, state.hessian, state.step


def _entries(rows: _Rows, constraint: int) -> list[int]:
    return [j for j, owner in enumerate(rows.owner) if owner == constraint]


class _Entry(Constraint):
    """Entry ``index`` of a (vector) constraint, held as the equality gᵢ = 0."""

    def __init__(self, constraint: Constraint, index: int):
        super().__init__(constraint.text, constraint.lhs, constraint.rhs, "=")
        self.index = index

    def evaluate(self, env: Any) -> Any:
        g = super().evaluate(env)
        g = g if isinstance(g, Tensor) else Tensor(np.asarray(g, dtype=DTYPE))
        return F.reshape(g, (-1,))[self.index]


# ----------------------------------------------------------------------------------------- entry point
def run_kkt(problem: MathProblem) -> tuple[dict[str, Any], Trace]:
    """Solve an optimize pipeline with inequality constraints (see the module docstring)."""
    spec = problem.spec
    assert isinstance(spec, OptimizeSpec) and problem.objective is not None
    variables = VariableSet(spec.variables)
    rows = _rows(problem, variables)
    sign = -1.0 if spec.goal == "maximize" else 1.0
    trace = Trace()
    state = augmented_lagrangian(rows, spec, trace)
    tol = max(spec.tolerance, 1e-12)
    if state.violation > math.sqrt(tol):
        raise MathflowError(
            f"infeasible: the constraints cannot all hold (smallest violation found {state.violation:.3g} "
            f"after {state.iterations} augmented-Lagrangian iterations)",
            location=str(problem.document.locate(("subject_to",))),
            suggestion="check the constraints 'subject_to' for contradictions, e.g. 'x <= 0' and 'x >= 1'",
        )
    lam = lagrange_multipliers(rows, state, sign)
    g = rows.values(state.x)
    active = ~rows.equality & ((state.mu > 0) | (rows.direction * g >= -math.sqrt(tol)))
    polished = _polish(problem, spec, rows, state.x, active, sign)
    x, steps = state.x, state.steps
    hessian = None
    if polished is not None:
        x, lam, hessian, extra_steps = polished
        steps += extra_steps
        g = rows.values(x)
        trace.record(variables, x.copy(), rows.system.objective_value(np.concatenate([x, lam])), {})
    converged = bool(rows.violation(g) <= math.sqrt(tol) and (polished is not None or state.stationarity <= tol))
    if polished is None and state.stationarity > 1e3 * max(tol, 1e-6):
        raise MathflowError(
            f"no KKT point reached in {state.iterations} augmented-Lagrangian iterations "
            f"(gradient norm {state.stationarity:.3g})",
            suggestion="try another starting point in 'variables'",
        )
    result = base_result(spec.method_name, spec, variables, trace, steps, converged)
    result.update(_report(problem, rows, g, lam, active, state))
    if hessian is not None:
        kind, curvature, curvature_tol = second_order(hessian, variables.size)
        result.update(stationary_point=kind, curvature=curvature, curvature_tolerance=curvature_tol)
    return result, trace


def _report(
    problem: MathProblem, rows: _Rows, g: np.ndarray, lam: np.ndarray, active: np.ndarray, state: _Outer
) -> dict[str, Any]:
    """Multipliers, active constraints and complementary-slackness residuals |λᵢgᵢ|, per constraint."""
    per_constraint = []
    for index, constraint in enumerate(problem.constraints):
        entries = _entries(rows, index)
        per_constraint.append(
            {
                "constraint": constraint.text,
                "relation": constraint.relation,
                "value": _flat(g[entries]),
                "multiplier": _flat(lam[entries]),
                "active": _flat_bools(np.ones(len(entries), bool) if constraint.relation == "=" else active[entries]),
                "complementary_slackness": _flat(np.abs(lam[entries] * g[entries])),
            }
        )
    inequality = ~rows.equality
    names = [
        problem.constraints[rows.owner[j]].text + _entry_label(rows, j) for j in np.flatnonzero(active & inequality)
    ]
    return {
        "multipliers": [float(v) for v in lam],
        "convention": CONVENTION,
        "active": names,
        "constraints": per_constraint,
        "complementary_slackness": float(np.abs(lam * g)[inequality].max(initial=0.0)),
        "violation": rows.violation(g),
        "outer_iterations": state.iterations,
        "penalty": state.rho,
        "hessian_shifts": state.shifts,
        "backtracks": state.backtracks,
    }


def _entry_label(rows: _Rows, j: int) -> str:
    """`` [k]`` for entry k of a vector constraint, empty for a scalar one."""
    entries = _entries(rows, rows.owner[j])
    return f" [{j - entries[0]}]" if len(entries) > 1 else ""


def _flat_bools(values: np.ndarray) -> Any:
    return bool(values[0]) if values.size == 1 else [bool(v) for v in values]


def _flat(values: np.ndarray) -> Any:
    return float(values[0]) if values.size == 1 else [float(v) for v in values]
