"""``mathflow gradcheck``: a compiled model's backprop against central finite differences.

For every parameter entry wⱼ checked, in float64,

    nⱼ = (L(w + h eⱼ) − L(w − h eⱼ)) / 2h,   h = 10⁻⁶,

is compared with the backprop gradient aⱼ of the full objective L (loss + regularizers). An entry
passes when

    |aⱼ − nⱼ| ≤ tol · max(|aⱼ|, |nⱼ|, G) + noise,

G = max |a| over every parameter (the gradient's scale, so the test does not depend on the
loss's units) and noise = 64 ε_mach |L| / h the rounding of the difference quotient. The
relative error reported is |aⱼ − nⱼ| / max(|aⱼ|, |nⱼ|, G). A parameter of at most
``max_entries`` entries is checked entry by entry, a larger one on a seeded random sample.

A kink: where L is not differentiable along eⱼ (a ReLU input exactly 0, e.g. a zero-initialised
bias on zero-valued pixels), the one-sided quotients d₊ = (L(w + h eⱼ) − L(w)) / h and
d₋ = (L(w) − L(w − h eⱼ)) / h disagree (|d₊ − d₋| > 10⁻⁵·max(|aⱼ|, |nⱼ|, G) + 4·noise) and
nⱼ is their mean, not a derivative. Such an entry passes when aⱼ lies between d₋ and d₊ (within
the tolerance): backprop chose a one-sided derivative there. Kinks are counted in the report
and left out of its error columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mathflow.analysis.objective import ModelObjective
from mathflow.backend import to_numpy

STEP = 1e-6
DEFAULT_TOLERANCE = 1e-6
DEFAULT_MAX_ENTRIES = 64
#: One-sided difference quotients further apart than this (relative) mark a kink.
KINK_RATIO = 1e-5
EPS = float(np.finfo(np.float64).eps)


@dataclass
class ParameterCheck:
    """The check of one parameter: errors over the entries checked."""

    name: str
    shape: tuple[int, ...]
    checked: int
    total: int
    max_abs_error: float
    max_rel_error: float
    worst_entry: tuple[int, ...]
    analytic: float
    numeric: float
    passed: bool
    kinks: int = 0

    @property
    def sampled(self) -> bool:
        return self.checked < self.total


@dataclass
class GradcheckReport:
    """Every parameter's check, the tolerance, the batch and how stochastic layers were handled."""

    parameters: list[ParameterCheck]
    tolerance: float
    gradient_scale: float
    noise: float
    loss: float
    batch: int
    mode: str

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parameters)

    @property
    def worst(self) -> ParameterCheck | None:
        return max(self.parameters, key=lambda p: p.max_rel_error, default=None)


def _entries(size: int, max_entries: int, rng: np.random.Generator) -> np.ndarray:
    """All flat indices of a small parameter, a sorted random sample of a large one."""
    if size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


def _shifted_values(objective: ModelObjective, param: Any, index: int, step: float) -> tuple[float, float]:
    """(L(w + h eⱼ), L(w − h eⱼ)) for entry ``index`` of ``param`` (the entry restored after)."""
    flat = param.data.reshape(-1)
    original = flat[index].item()
    try:
        flat[index] = original + step
        plus = objective.value()
        flat[index] = original - step
        minus = objective.value()
    finally:
        flat[index] = original
    return plus, minus


def check_gradients(
    objective: ModelObjective,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    seed: int = 0,
    step: float = STEP,
) -> GradcheckReport:
    """Backprop vs central differences for every parameter of ``objective`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    analytic = objective.gradients()
    loss = objective.value()
    scale = max((float(np.abs(g).max(initial=0.0)) for g in analytic), default=0.0)
    noise = 64 * EPS * abs(loss) / step
    checks = []
    for name, param, grad in zip(objective.names, objective.params, analytic):
        flat_grad = grad.reshape(-1)
        indices = _entries(param.size, max_entries, rng)
        values = np.array([_shifted_values(objective, param, int(j), step) for j in indices]).reshape(-1, 2)
        plus, minus = values[:, 0], values[:, 1]
        numeric = (plus - minus) / (2 * step)
        exact = flat_grad[indices]
        abs_err = np.abs(exact - numeric)
        denom = np.maximum(np.maximum(np.abs(exact), np.abs(numeric)), scale)
        rel_err = np.divide(abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0)
        ok = abs_err <= tolerance * denom + noise
        right, left = (plus - loss) / step, (loss - minus) / step
        kink = np.abs(right - left) > KINK_RATIO * denom + 4 * noise
        low, high = np.minimum(left, right), np.maximum(left, right)
        between = (exact >= low - tolerance * denom - noise) & (exact <= high + tolerance * denom + noise)
        at_kink = kink & between & ~ok
        ok |= at_kink
        rel_err = np.where(at_kink, 0.0, rel_err)
        abs_err = np.where(at_kink, 0.0, abs_err)
        worst = int(np.argmax(rel_err)) if len(indices) else 0
        position = np.unravel_index(int(indices[worst]), param.shape) if len(indices) else ()
        checks.append(
            ParameterCheck(
                name=name,
                shape=tuple(param.shape),
                checked=len(indices),
                total=int(param.size),
                max_abs_error=float(abs_err.max(initial=0.0)),
                max_rel_error=float(rel_err.max(initial=0.0)),
                worst_entry=tuple(int(i) for i in position),
                analytic=float(exact[worst]) if len(indices) else 0.0,
                numeric=float(numeric[worst]) if len(indices) else 0.0,
                passed=bool(ok.all()),
                kinks=int(at_kink.sum()),
            )
        )
    mode = "training mode, fixed dropout mask" if objective.training else "evaluation mode"
    return GradcheckReport(checks, tolerance, scale, noise, loss, len(to_numpy(objective.x.data)), mode)


def report_text(report: GradcheckReport, pipeline: str) -> str:
    """The table printed by ``mathflow gradcheck`` and its verdict lines."""
    header = ("parameter", "shape", "entries checked", "max abs error", "max rel error", "kinks", "")
    rows = []
    for p in report.parameters:
        entries = f"{p.checked}/{p.total}" + (" (random sample)" if p.sampled else " (all)")
        rows.append(
            (
                p.name,
                "×".join(map(str, p.shape)) or "scalar",
                entries,
                f"{p.max_abs_error:.3e}",
                f"{p.max_rel_error:.3e}",
                str(p.kinks),
                "ok" if p.passed else "FAIL",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [
        f"gradcheck {pipeline}: backprop vs central differences (h = {STEP:g}) in float64 on a batch of "
        f"{report.batch} samples, {report.mode}",
        f"objective L = loss + regularizers = {report.loss:.10g}; an entry passes when |a − n| ≤ "
        f"{report.tolerance:g}·max(|a|, |n|, G) + {report.noise:.1e}, G = max|∇L| = {report.gradient_scale:.3e}",
        "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
        "  ".join("-" * w for w in widths[:-1]),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    worst = report.worst
    if worst is not None:
        lines.append(
            f"worst parameter: {worst.name} entry {worst.worst_entry}: backprop {worst.analytic:.10g} vs "
            f"finite differences {worst.numeric:.10g} (rel error {worst.max_rel_error:.3e})"
        )
    kinks = sum(p.kinks for p in report.parameters)
    if kinks:
        lines.append(
            f"{kinks} entr{'y' if kinks == 1 else 'ies'} at a kink (L not differentiable there; backprop gave a "
            "one-sided derivative, which passes)"
        )
    failed = [p.name for p in report.parameters if not p.passed]
    lines.append("PASSED" if not failed else f"FAILED: {len(failed)} parameter(s): {', '.join(failed)}")
    return "\n".join(lines) + "\n"
