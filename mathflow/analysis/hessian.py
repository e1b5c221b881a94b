"""Hessian-vector products of a :class:`ModelObjective` and the top of its spectrum.

    H v = ∇(∇L · v)   (double backprop: the gradient is recorded with ``create_graph`` and
                       differentiated once more, exact up to rounding)

When an operation of the model cannot differentiate its own backward pass, the product falls
back to a central difference of gradients, in float64:

    H v ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε,   ε = ε_mach^{1/3} · (1 + ‖w‖_∞) / ‖v‖,

whose error is O(ε²) plus rounding O(ε_mach/ε). The eigenvalues come from Lanczos with full
reorthogonalisation (:mod:`mathflow.analysis.lanczos`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathflow.analysis.lanczos import EPS, lanczos
from mathflow.analysis.objective import ModelObjective
from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.mode import enable_grad
from mathflow.backend import to_numpy
from mathflow.errors import GradError, MathflowError

DOUBLE_BACKPROP = "double backprop"
FINITE_DIFFERENCE = "central difference of gradients"

#: An eigenvalue is "clearly negative" (a saddle) when even its upper error bound is below
#: −SADDLE_RATIO · (the largest |eigenvalue| found).
SADDLE_RATIO = 1e-3


class HessianVectorProduct:
    """v ↦ ∇²L(w) v at the objective's current parameters (which must not change meanwhile).

    ``method`` is ``"auto"`` (double backprop, or the central difference when an operation has
    no differentiable backward), ``"double-backprop"`` or ``"finite-difference"``; ``self.method``
    says which is used. ``calls`` counts the products.
    """

    def __init__(self, objective: ModelObjective, method: str = "auto"):
        if method not in ("auto", "double-backprop", "finite-difference"):
            raise MathflowError(f"unknown Hessian-vector product method {method!r}")
        self.objective = objective
        self.calls = 0
        self._grads: list[Any] | None = None
        self.method = FINITE_DIFFERENCE
        self.fallback_reason: str | None = None
        if method != "finite-difference":
            try:
                self._record_gradient()
                self.method = DOUBLE_BACKPROP
            except (NotImplementedError, GradError) as exc:
                if method == "double-backprop":
                    raise
                self.fallback_reason = str(exc) or type(exc).__name__

    def _record_gradient(self) -> None:
        """∇L with its own graph kept, so it can be differentiated again (probed once here)."""
        with enable_grad(), self.objective.active():
            total = self.objective.objective()
            grads = autograd(total, self.objective.params, create_graph=True, allow_unused=True)
        self._grads = list(grads)
        probe = np.ones(self.objective.size)
        self._double_backprop(probe)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.calls += 1
        v = np.asarray(v, dtype=np.float64)
        if self.method == DOUBLE_BACKPROP:
            return self._double_backprop(v)
        return self._central_difference(v)

    def _double_backprop(self, v: np.ndarray) -> np.ndarray:
        """H v = ∇(∇L · v), differentiating the recorded gradient once more."""
        assert self._grads is not None
        obj = self.objective
        dot = None
        with enable_grad(), obj.active():
            for g, part in zip(self._grads, obj.unflatten(v)):
                if g is not None and g.requires_grad:
                    term = (g * part).sum()
                    dot = term if dot is None else dot + term
            if dot is None:  # the gradient does not depend on w: H = 0
                return np.zeros(obj.size)
            hv = autograd(dot, obj.params, retain_graph=True, allow_unused=True)
        parts = [np.zeros(p.size) if h is None else to_numpy(h.data).reshape(-1) for h, p in zip(hv, obj.params)]
        return np.concatenate(parts).astype(np.float64)

    def _central_difference(self, v: np.ndarray) -> np.ndarray:
        obj = self.objective
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            return np.zeros(obj.size)
        w = obj.flat()
        step = EPS ** (1 / 3) * (1.0 + float(np.abs(w).max(initial=0.0))) / norm
        try:
            obj.set_flat(w + step * v)
            plus = obj.gradient()
            obj.set_flat(w - step * v)
            minus = obj.gradient()
        finally:
            obj.set_flat(w)
        return (plus - minus) / (2 * step)


@dataclass
class Spectrum:
    """The top-k eigenvalues of ∇²L (descending) with residual bounds, the smallest one found,
    the gradient norm, and how they were computed."""

    top: list[float]
    top_residuals: list[float]
    smallest: float
    smallest_residual: float
    grad_norm: float
    loss: float
    parameters: int
    lanczos_steps: int
    hvp_method: str
    hvp_calls: int
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> float:
        """The largest |eigenvalue| found (the reference of the saddle test)."""
        return max([abs(v) for v in self.top] + [abs(self.smallest)], default=0.0)

    @property
    def saddle(self) -> bool:
        """True when an eigenvalue is clearly negative: θ + r < −SADDLE_RATIO · max|θ|."""
        return self.smallest + self.smallest_residual < -SADDLE_RATIO * self.scale

    def verdict(self) -> str:
        if self.saddle:
            return (
                f"saddle (negative curvature): eigenvalue {self.smallest:.6g} < 0 "
                f"(|λ_min| / |λ|_max = {abs(self.smallest) / self.scale:.3g} > {SADDLE_RATIO:g})"
            )
        return (
            f"no clearly negative eigenvalue found (smallest {self.smallest:.6g}, "
            f"threshold −{SADDLE_RATIO:g}·|λ|_max): consistent with a minimum"
        )

    def to_data(self) -> dict[str, Any]:
        """The JSON artifact's content."""
        return {
            "hessian_eigenvalues": self.top,
            "hessian_eigenvalue_residuals": self.top_residuals,
            "hessian_min_eigenvalue": self.smallest,
            "hessian_min_eigenvalue_residual": self.smallest_residual,
            "grad_norm": self.grad_norm,
            "loss": self.loss,
            "parameters": self.parameters,
            "lanczos_steps": self.lanczos_steps,
            "hvp_method": self.hvp_method,
            "hvp_calls": self.hvp_calls,
            "saddle": self.saddle,
            "saddle_ratio": SADDLE_RATIO,
            "verdict": self.verdict(),
            "notes": self.notes,
        }


def default_steps(k: int, n: int) -> int:
    """Lanczos steps used for the top ``k`` eigenvalues of an n×n Hessian: min(n, max(40, 4k))."""
    return min(n, max(40, 4 * k))


def hessian_spectrum(
    objective: ModelObjective, k: int = 5, *, steps: int | None = None, method: str = "auto", seed: int = 0
) -> Spectrum:
    """Top-``k`` eigenvalues of ∇²L at the objective's parameters, its smallest one, and ‖∇L‖."""
    n = objective.size
    if k < 1:
        raise MathflowError(f"top must be a positive integer, got {k}")
    gradient = objective.gradient()
    loss = objective.value()
    hvp = HessianVectorProduct(objective, method)
    result = lanczos(hvp, n, steps or default_steps(k, n), seed=seed)
    top, residuals = result.largest(k)
    low = int(np.argmin(result.values))
    notes = []
    if hvp.fallback_reason:
        notes.append(f"double backprop unavailable ({hvp.fallback_reason}); used a {FINITE_DIFFERENCE} in float64")
    if k > result.steps:
        notes.append(f"only {result.steps} eigenvalues exist / were found")
    return Spectrum(
        top=[float(v) for v in top],
        top_residuals=[float(r) for r in residuals],
        smallest=float(result.values[low]),
        smallest_residual=float(result.residuals[low]),
        grad_norm=float(np.linalg.norm(gradient)),
        loss=loss,
        parameters=n,
        lanczos_steps=result.steps,
        hvp_method=hvp.method,
        hvp_calls=hvp.calls,
        notes=notes,
    )
