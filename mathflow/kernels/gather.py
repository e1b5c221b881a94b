"""The per-thread arithmetic of the GPU kernels, written once for two interpreters.

Every formula here is a plain Python function built from ``+ − * // %``, comparisons, ``&``
and :func:`where` / :func:`sqrt`. Called on NumPy arrays (one entry per thread id) it *runs*
the kernel's arithmetic, which is what :mod:`mathflow.kernels.emulate` does; called on
:class:`Sym` placeholders it *prints* the same arithmetic as a C expression, which is how
:mod:`mathflow.kernels.cuda` writes its CUDA sources. The index math and the float update
rules therefore have one source of truth.

Index conventions (all row-major, see :mod:`mathflow.kernels.cpu`):

* an NCHW image is read through element strides (sN, sC, sH, sW), so any strided view works;
* the column matrix of im2col is (C·kh·kw, Ho·Wo·N): row (c, u, v), column (i, j, n);
* pooled outputs and input gradients are batch-last (C, H, W, N) buffers;
* a window offset (u, v) is numbered k = u·kw + v.

Integer ``//`` and ``%`` are only ever applied where the left operand is ≥ 0 (or the result is
masked by a preceding ``t >= 0`` test), so C's truncating division agrees with Python's floor.
Float operations print as IEEE round-to-nearest intrinsics (``__fadd_rn`` …), which the CUDA
compiler never contracts into fused multiply-adds: each one rounds exactly like the matching
NumPy ufunc, so the optimizer kernels reproduce the NumPy updates bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- symbolic values
_FLOAT_INTRINSICS = {
    "float": {"+": "__fadd_rn", "-": "__fsub_rn", "*": "__fmul_rn", "/": "__fdiv_rn", "sqrt": "__fsqrt_rn"},
    "double": {"+": "__dadd_rn", "-": "__dsub_rn", "*": "__dmul_rn", "/": "__ddiv_rn", "sqrt": "__dsqrt_rn"},
}


class Sym:
    """A C expression: ``kind`` is ``"int"``, ``"bool"`` or a C float type (``"float"``/``"double"``)."""

    __slots__ = ("text", "kind")
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, text: str, kind: str = "int"):
        self.text = text
        self.kind = kind

    def __repr__(self) -> str:
        return f"Sym({self.text!r}, {self.kind!r})"

    # -- helpers
    def _lift(self, other: Any) -> Sym:
        if isinstance(other, Sym):
            return other
        if isinstance(other, (bool, np.bool_)):
            return Sym("true" if other else "false", "bool")
        if isinstance(other, (int, np.integer)):
            return Sym(str(int(other)), "int")
        if isinstance(other, (float, np.floating)):
            return Sym(repr(float(other)), self.kind if self.kind in _FLOAT_INTRINSICS else "double")
        raise TypeError(f"cannot use {other!r} in a kernel expression")

    def _binary(self, op: str, other: Any, swap: bool = False) -> Sym:
        a, b = (self._lift(other), self) if swap else (self, self._lift(other))
        floats = [s.kind for s in (a, b) if s.kind in _FLOAT_INTRINSICS]
        if floats:
            kind = floats[0]
            return Sym(f"{_FLOAT_INTRINSICS[kind][op]}({a.text}, {b.text})", kind)
        c_op = {"//": "/"}.get(op, op)
        return Sym(f"({a.text} {c_op} {b.text})", "int")

    def _compare(self, op: str, other: Any) -> Sym:
        return Sym(f"({self.text} {op} {self._lift(other).text})", "bool")

    # -- arithmetic
    def __add__(self, o: Any) -> Sym:
        return self._binary("+", o)

    def __radd__(self, o: Any) -> Sym:
        return self._binary("+", o, swap=True)

    def __sub__(self, o: Any) -> Sym:
        return self._binary("-", o)

    def __rsub__(self, o: Any) -> Sym:
        return self._binary("-", o, swap=True)

    def __mul__(self, o: Any) -> Sym:
        return self._binary("*", o)

    def __rmul__(self, o: Any) -> Sym:
        return self._binary("*", o, swap=True)

    def __truediv__(self, o: Any) -> Sym:
        return self._binary("/", o)

    def __floordiv__(self, o: Any) -> Sym:
        return self._binary("//", o)

    def __mod__(self, o: Any) -> Sym:
        return self._binary("%", o)

    # -- comparisons and logic
    def __lt__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare("<", o)

    def __le__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare("<=", o)

    def __gt__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare(">", o)

    def __ge__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare(">=", o)

    def __eq__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare("==", o)

    def __ne__(self, o: Any) -> Sym:  # type: ignore[override]
        return self._compare("!=", o)

    def __and__(self, o: Any) -> Sym:
        return Sym(f"({self.text} && {self._lift(o).text})", "bool")

    def __rand__(self, o: Any) -> Sym:
        return Sym(f"({self._lift(o).text} && {self.text})", "bool")

    def __or__(self, o: Any) -> Sym:
        return Sym(f"({self.text} || {self._lift(o).text})", "bool")


def sqrt(x: Any) -> Any:
    """√x, correctly rounded (NumPy's ``sqrt``; CUDA's ``__fsqrt_rn``/``__dsqrt_rn``)."""
    if isinstance(x, Sym):
        return Sym(f"{_FLOAT_INTRINSICS[x.kind]['sqrt']}({x.text})", x.kind)
    return np.sqrt(x)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` holds, else ``b`` (C's ``?:``)."""
    if isinstance(cond, Sym):
        a_s = a if isinstance(a, Sym) else cond._lift(a)
        b_s = b if isinstance(b, Sym) else cond._lift(b)
        kind = a_s.kind if a_s.kind != "int" else b_s.kind
        return Sym(f"({cond.text} ? {a_s.text} : {b_s.text})", kind)
    return np.where(cond, a, b)


def is_nan(x: Any) -> Any:
    """x ≠ x (true only for NaN)."""
    return x != x


def c_text(expr: Any) -> str:
    """The C text of a symbolic (or constant) expression."""
    return expr.text if isinstance(expr, Sym) else Sym("0")._lift(expr).text


# ----------------------------------------------------------------------------- index math
def unravel(t: Any, dims: Sequence[Any]) -> list[Any]:
    """Row-major coordinates of the flat index ``t`` ≥ 0 in an array of shape ``dims``.

    coord[k] = (t // Π dims[k+1:]) % dims[k]; the leading coordinate skips the ``%``.
    """
    coords = []
    for k in range(len(dims)):
        inner: Any = 1
        for d in dims[k + 1 :]:
            inner = d if isinstance(inner, int) and inner == 1 else inner * d
        q = t if isinstance(inner, int) and inner == 1 else t // inner
        coords.append(q if k == 0 else q % dims[k])
    return coords


def offset4(a: Any, b: Any, c: Any, d: Any, strides: Sequence[Any]) -> Any:
    """Element offset a·s₀ + b·s₁ + c·s₂ + d·s₃ of a 4-D strided array."""
    return a * strides[0] + b * strides[1] + c * strides[2] + d * strides[3]


def window_pixel(i: Any, u: Any, stride: Any, pad: Any) -> Any:
    """Unpadded coordinate of entry ``u`` of window ``i``: i·s + u − p (may lie in the padding)."""
    return i * stride + u - pad


def inside(h: Any, size: Any) -> Any:
    """0 ≤ h < size: the coordinate is a real pixel, not padding."""
    return (h >= 0) & (h < size)


def tap(p: Any, u: Any, stride: Any, out: Any) -> tuple[Any, Any]:
    """The window that reads padded coordinate ``p`` at offset ``u``: (i, valid).

    p = i·s + u with 0 ≤ i < out ⇔ t = p − u ≥ 0, t % s = 0, t // s < out.
    """
    t = p - u
    i = t // stride
    return i, (t >= 0) & (t % stride == 0) & (i < out)


def window_offset(u: Any, v: Any, kw: Any) -> Any:
    """The number k = u·kw + v of window offset (u, v)."""
    return u * kw + v


# ----------------------------------------------------------------------------- float update rules
# Each rule mirrors, operation for operation, the NumPy code of the optimizer it accelerates:
# same operands, same order, so the two round identically. ``p`` holds the per-step scalars.
def sgd_step(w: Any, g: Any, p: dict[str, Any], decay: bool) -> Any:
    """η(∇L + λW) as GradientDescent._scaled_gradient: (W·λ + g)·η, or g·η without decay."""
    return (w * p["wd"] + g) * p["lr"] if decay else g * p["lr"]


def sgd_update(w: Any, g: Any, p: dict[str, Any], decay: bool) -> tuple[Any]:
    """W ← W − η(∇L + λW)."""
    return (w - sgd_step(w, g, p, decay),)


def momentum_update(w: Any, g: Any, vel: Any, p: dict[str, Any], decay: bool) -> tuple[Any, Any]:
    """v ← v·γ + η(∇L + λW); W ← W − v."""
    vel = vel * p["momentum"] + sgd_step(w, g, p, decay)
    return w - vel, vel


def nesterov_update(w: Any, g: Any, vel: Any, p: dict[str, Any], decay: bool) -> tuple[Any, Any]:
    """s = η(∇L + λW); v ← v·γ + s; W ← (W − s) − v·γ."""
    step = sgd_step(w, g, p, decay)
    vel = vel * p["momentum"] + step
    return (w - step) - vel * p["momentum"], vel


def adam_update(w: Any, g: Any, m: Any, v: Any, p: dict[str, Any], mode: str) -> tuple[Any, Any, Any]:
    """Adam (``mode="l2"``: g ← W·λ + g), AdamW (``"decoupled"``: W ← W·(1 − ηλ)) or plain (``"none"``):

    m ← m + (g − m)·(1−β₁);  v ← v·β₂ + (g·g)·(1−β₂);  W ← W − (m / (√v + ε'))·step.
    """
    if mode == "l2":
        g = w * p["wd"] + g
    elif mode == "decoupled":
        w = w * p["decay"]
    m = m + (g - m) * p["one_minus_beta1"]
    v = v * p["beta2"] + (g * g) * p["one_minus_beta2"]
    w = w - (m / (sqrt(v) + p["eps"])) * p["step_size"]
    return w, m, v


def rmsprop_update(w: Any, g: Any, s: Any, p: dict[str, Any], decay: bool) -> tuple[Any, Any]:
    """s ← s·ρ + (g·g)·(1−ρ); W ← W − (g / (√s + ε))·η, with g = W·λ + ∇L under decay."""
    if decay:
        g = w * p["wd"] + g
    s = s * p["rho"] + (g * g) * p["one_minus_rho"]
    return w - (g / (sqrt(s) + p["eps"])) * p["lr"], s


def adagrad_update(w: Any, g: Any, s: Any, p: dict[str, Any], decay: bool) -> tuple[Any, Any]:
    """s ← s + g·g; W ← W − (g / (√s + ε))·η, with g = W·λ + ∇L under decay."""
    if decay:
        g = w * p["wd"] + g
    s = s + g * g
    return w - (g / (sqrt(s) + p["eps"])) * p["lr"], s


def bias_relu(z: Any) -> tuple[Any, Any]:
    """y = max(z, 0) as NumPy's ``maximum`` (NaN propagates), mask = [y > 0]."""
    y = where((z > 0) | is_nan(z), z, 0)
    return y, y > 0


def relu_grad(gy: Any, mask: Any) -> Any:
    """∂L/∂z = ∂L/∂y · [y > 0] (a float product, as NumPy's ``gy * mask``)."""
    return gy * mask


def max_takes(val: Any, best: Any) -> Any:
    """Whether a later window entry replaces the running maximum: val > best, or the first NaN.

    Strictly greater keeps the first arg-max in row-major window order, as the CPU masks do.
    """
    return (val > best) | (is_nan(val) & (best == best))


def ravel(coords: Sequence[Any], dims: Sequence[Any]) -> Any:
    """Row-major flat index of ``coords`` in an array of shape ``dims`` (Horner's scheme)."""
    index = coords[0]
    for c, d in zip(coords[1:], dims[1:]):
        index = index * d + c
    return index


def xent_row_loss(logp_target: Any, logp_sum: Any, p: dict[str, Any], smoothing: bool) -> Any:
    """One row's −((1−ε) log pₜ + (ε/C) Σⱼ log pⱼ), as (0 − log pₜ)·(1−ε) [− Σ·(ε/C) when ε > 0]."""
    loss = (0.0 - logp_target) * p["one_minus_eps"]
    return loss - logp_sum * p["eps_over_c"] if smoothing else loss


def maximum(a: Any, b: Any) -> Any:
    """max(a, b) with NaN propagating, as NumPy's ``maximum``."""
    return where((b > a) | is_nan(b), b, a)


def xent_grad(e: Any, hit: Any, g: Any, p: dict[str, Any], smoothing: bool) -> Any:
    """∂L/∂z = (softmax(z) − q)·(g·s) with q = (1−ε)·onehot + ε/C, in CrossEntropyIndex's order."""
    grad = where(hit, e - p["one_minus_eps"], e)
    if smoothing:
        grad = grad - p["eps_over_c"]
    return grad * (g * p["scale"])
