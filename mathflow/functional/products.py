"""Matrix products: matmul (batched, broadcasting), dot and outer products."""

from __future__ import annotations

from typing import Any

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import ShapeError
from mathflow.functional._util import operands, raw_sum_to
from mathflow.functional.reduce import sum as _sum
from mathflow.functional.shape import reshape, sum_to, swapaxes


class MatMul(Function):
    """C = A B for (…, m, k) @ (…, k, n); ∂L/∂A = ∂L/∂C Bᵀ, ∂L/∂B = Aᵀ ∂L/∂C (batch axes summed)."""

    inference_op = "MatMul"

    has_raw_backward = True

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = (tuple(a.shape), tuple(b.shape))
        return a @ b

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = sum_to(matmul(gy, swapaxes(b, -1, -2)), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(matmul(swapaxes(a, -1, -2), gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_raw(self, gy: Any) -> tuple[Any, Any]:
        a, b = self.inputs
        ga = raw_sum_to(gy @ b.data.swapaxes(-1, -2), self.shapes[0]) if self.needs_input_grad[0] else None
        gb = raw_sum_to(a.data.swapaxes(-1, -2) @ gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product A B with NumPy's rules: 1-D operands are vectors, leading axes batch."""
    ta, tb = operands(a, b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise ShapeError(
            f"matmul needs at least 1-D operands, got {ta.shape} @ {tb.shape}", suggestion="use * to scale"
        )
    if ta.shape[-1] != tb.shape[0 if tb.ndim == 1 else -2]:
        raise ShapeError(
            f"matmul {ta.shape} @ {tb.shape}: inner dimensions {ta.shape[-1]} and "
            f"{tb.shape[0 if tb.ndim == 1 else -2]} differ"
        )
    if ta.ndim > 2 or tb.ndim > 2:
        try:
            ta.xp.broadcast_shapes(ta.shape[:-2], tb.shape[:-2])
        except ValueError:
            raise ShapeError(f"matmul {ta.shape} @ {tb.shape}: batch dimensions do not broadcast") from None
    vec_a, vec_b = ta.ndim == 1, tb.ndim == 1
    if vec_a:
        ta = reshape(ta, (1, ta.shape[0]))
    if vec_b:
        tb = reshape(tb, (tb.shape[0], 1))
    out = MatMul()(ta, tb)
    if vec_a and vec_b:
        return reshape(out, ())
    if vec_a:
        return reshape(out, out.shape[:-2] + (out.shape[-1],))
    if vec_b:
        return reshape(out, out.shape[:-1])
    return out


def dot(a: Any, b: Any) -> Tensor:
    """aᵀb = Σᵢ aᵢbᵢ for vectors; the matrix product otherwise."""
    ta, tb = operands(a, b)
    if ta.ndim == 1 and tb.ndim == 1:
        if ta.shape != tb.shape:
            raise ShapeError(f"dot: vectors of lengths {ta.shape[0]} and {tb.shape[0]} differ")
        return _sum(ta * tb)
    return matmul(ta, tb)


def outer(a: Any, b: Any) -> Tensor:
    """abᵀ: the matrix with entries aᵢbⱼ."""
    ta, tb = operands(a, b)
    ta, tb = as_tensor(ta), as_tensor(tb)
    return reshape(ta, (-1, 1)) * reshape(tb, (1, -1))
