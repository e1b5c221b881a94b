"""Check autodiff against the derivative's definition: central finite differences in float64.

∂f/∂x ≈ (f(x + ε) − f(x − ε)) / 2ε, with error O(ε²).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mathflow.autodiff import mode
from mathflow.autodiff.engine import grad as autograd
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import to_numpy
from mathflow.errors import GradcheckError


def _as_float64_inputs(xs: tuple[Any, ...]) -> list[Tensor]:
    inputs = []
    for x in xs:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        xp = Tensor._wrap(data).xp
        inputs.append(Tensor._wrap(xp.array(data, dtype=np.float64), requires_grad=True))
    return inputs


def _evaluate(f: Callable[..., Tensor], inputs: list[Tensor]) -> np.ndarray:
    with mode.no_grad():
        out = f(*[Tensor._wrap(t.data) for t in inputs])
    return to_numpy(out.data).astype(np.float64).reshape(-1)


def analytic_jacobians(f: Callable[..., Tensor], inputs: list[Tensor]) -> tuple[np.ndarray, list[np.ndarray]]:
    """f(inputs) flattened and, per input, the Jacobian (outputs × input elements) by backprop."""
    with mode.enable_grad():
        out = f(*inputs)
    flat_out = to_numpy(out.data).astype(np.float64).reshape(-1)
    jacobians = [np.zeros((flat_out.size, t.size)) for t in inputs]
    if not out.requires_grad:
        return flat_out, jacobians
    for i in range(flat_out.size):
        seed = out.xp.zeros(out.size, dtype=out.dtype)
        seed[i] = 1
        grads = autograd(out, inputs, seed.reshape(out.data.shape), retain_graph=True, allow_unused=True)
        for jac, g in zip(jacobians, grads):
            if g is not None:
                jac[i] = to_numpy(g.data).reshape(-1)
    return flat_out, jacobians


def numeric_jacobians(f: Callable[..., Tensor], inputs: list[Tensor], eps: float) -> list[np.ndarray]:
    """Per input, the Jacobian by central differences (f(x+ε) − f(x−ε)) / 2ε."""
    jacobians = []
    for t in inputs:
        flat = t.data.reshape(-1)
        columns = []
        for j in range(t.size):
            original = flat[j].item()
            flat[j] = original + eps
            plus = _evaluate(f, inputs)
            flat[j] = original - eps
            minus = _evaluate(f, inputs)
            flat[j] = original
            columns.append((plus - minus) / (2 * eps))
        jacobians.append(np.stack(columns, axis=1) if columns else np.zeros((0, 0)))
    return jacobians


def gradcheck(
    f: Callable[..., Tensor],
    *xs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> bool:
    """Compare the autodiff Jacobian of ``f`` at ``xs`` with central finite differences.

    Inputs are copied to float64. Returns True, or raises :class:`GradcheckError` naming the
    worst element (input, element index, output index, analytic and numeric values).
    """
    inputs = _as_float64_inputs(xs)
    _, analytic = analytic_jacobians(f, inputs)
    numeric = numeric_jacobians(f, inputs, eps)
    worst: tuple[float, int, int, int, float, float] | None = None
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        if a.size == 0:
            continue
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        idx = np.unravel_index(int(np.argmax(excess)), excess.shape)
        if excess[idx] > 0 and (worst is None or excess[idx] > worst[0]):
            worst = (float(excess[idx]), k, int(idx[1]), int(idx[0]), float(a[idx]), float(n[idx]))
    if worst is not None:
        _, k, j, i, a_val, n_val = worst
        element = np.unravel_index(j, inputs[k].shape) if inputs[k].ndim else ()
        raise GradcheckError(
            f"gradcheck failed for input {k}, element {tuple(int(e) for e in element)}, output {i}: "
            f"autodiff {a_val:.10g} vs finite differences {n_val:.10g} "
            f"(|diff| {abs(a_val - n_val):.3g} > atol {atol:g} + rtol {rtol:g}·|numeric|)"
        )
    return True


def gradgradcheck(
    f: Callable[..., Tensor],
    *xs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Second-order check: the gradient of ⟨v, f(x)⟩ (v fixed, random) is itself gradchecked."""
    inputs = _as_float64_inputs(xs)
    with mode.enable_grad():
        probe = f(*inputs)
    v = np.random.default_rng(seed).standard_normal(probe.shape)
    v_data = probe.xp.asarray(v, dtype=np.float64)

    def first_derivative(*args: Tensor) -> Tensor:
        from mathflow.functional import concat, reshape

        args = tuple(a if a.requires_grad else Tensor._wrap(a.data, requires_grad=True) for a in args)
        with mode.enable_grad():
            out = f(*args)
            grads = autograd(out, list(args), v_data, create_graph=True, allow_unused=True)
        parts = [
            reshape(g, (-1,)) if g is not None else Tensor._wrap(a.xp.zeros(a.size, dtype=np.float64))
            for g, a in zip(grads, args)
        ]
        return concat(parts) if len(parts) > 1 else parts[0]

    return gradcheck(first_derivative, *inputs, eps=eps, atol=atol, rtol=rtol)
