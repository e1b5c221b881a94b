"""Reductions: sum, mean, max, min over chosen axes."""

from __future__ import annotations

import builtins
from typing import Any

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import ShapeError
from mathflow.functional._util import kept_shape, normalize_axes
from mathflow.functional.shape import broadcast_to, reshape


def _axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    try:
        items = (axis,) if isinstance(axis, int) else (axis or ())
        for a in items:
            if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
                raise IndexError(a)
        return normalize_axes(axis, ndim)
    except (IndexError, TypeError):
        raise ShapeError(f"{op}: axis {axis!r} is out of range for a tensor with {ndim} dimensions") from None


class Sum(Function):
    """y = Σ x over ``axis``; ∂L/∂x = ∂L/∂y broadcast back over the summed axes."""

    inference_op = "ReduceSum"

    def inference_attrs(self) -> dict[str, Any]:
        return {"axes": list(self.axes), "keepdims": int(self.keepdims)}

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...], keepdims: bool):
        self.axes = axes
        self.keepdims = keepdims

    def forward(self, x: Any) -> Any:
        self.in_shape = tuple(x.shape)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy: Tensor) -> Tensor:
        return broadcast_to(reshape(gy, kept_shape(self.in_shape, self.axes)), self.in_shape)

    def backward_raw(self, gy: Any) -> Any:
        from mathflow.backend import array_module

        return array_module(gy).broadcast_to(gy.reshape(kept_shape(self.in_shape, self.axes)), self.in_shape)


class Extremum(Function):
    """y = max (or min) of x over ``axis``; ∂L/∂x = ∂L/∂y shared equally among the arg-extrema."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool, largest: bool):
        self.axes = axes
        self.keepdims = keepdims
        self.largest = largest

    def forward(self, x: Any) -> Any:
        if x.size == 0:
            raise ShapeError(f"{'max' if self.largest else 'min'} of an empty tensor of shape {tuple(x.shape)}")
        self.in_shape = tuple(x.shape)
        reduce = x.max if self.largest else x.min
        kept = reduce(axis=self.axes, keepdims=True)
        mask = x == kept
        self.weights = (mask / mask.sum(axis=self.axes, keepdims=True)).astype(x.dtype)
        return kept if self.keepdims else kept.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy: Tensor) -> Tensor:
        gy = broadcast_to(reshape(gy, kept_shape(self.in_shape, self.axes)), self.in_shape)
        return gy * Tensor._wrap(self.weights)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ x over ``axis`` (all axes by default)."""
    x = as_tensor(x)
    return Sum(_axes("sum", axis, x.ndim), keepdims)(x)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean (1/n) Σ x over ``axis``."""
    x = as_tensor(x)
    axes = _axes("mean", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return Sum(axes, keepdims)(x) * (1.0 / builtins.max(count, 1))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over ``axis``."""
    x = as_tensor(x)
    return Extremum(_axes("max", axis, x.ndim), keepdims, largest=True)(x)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over ``axis``."""
    x = as_tensor(x)
    return Extremum(_axes("min", axis, x.ndim), keepdims, largest=False)(x)
