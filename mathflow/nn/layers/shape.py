"""Layers that only change the per-sample shape: Flatten and Reshape."""

from __future__ import annotations

import math
from typing import Any

from mathflow.autodiff.tensor import Tensor
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional.shape import reshape
from mathflow.nn.layer import LAYERS, InputShape, Layer


@LAYERS.register("flatten")
class Flatten(Layer):
    """(N, d₁, …, dₖ) → (N, d₁·…·dₖ); the batch axis is kept."""

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return (math.prod(tuple(input_shape)),)

    def forward(self, x: Tensor) -> Tensor:
        return reshape(x, (x.shape[0], -1))


@LAYERS.register("reshape")
class Reshape(Layer):
    """(N, …) → (N, *shape): the per-sample values viewed with a new shape (one entry may be −1)."""

    def __init__(self, shape: Any, *, name: str | None = None):
        super().__init__(name=name)
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (list, tuple)) or not shape:
            raise MathflowError(f"reshape: shape must be a non-empty list of integers, got {shape!r}")
        if any(isinstance(n, bool) or not isinstance(n, int) or (n <= 0 and n != -1) for n in shape):
            raise MathflowError(f"reshape: shape entries must be positive integers or one -1, got {list(shape)}")
        if list(shape).count(-1) > 1:
            raise MathflowError(f"reshape: at most one entry may be -1, got {list(shape)}")
        self.shape = tuple(int(n) for n in shape)

    def output_shape(self, input_shape: InputShape) -> InputShape:
        size = math.prod(tuple(input_shape))
        known = math.prod(n for n in self.shape if n != -1)
        if -1 in self.shape:
            if size % known:
                raise ShapeError(
                    f"reshape: cannot view per-sample shape {tuple(input_shape)} ({size} values) as {self.shape}"
                )
            return tuple(size // known if n == -1 else n for n in self.shape)
        if known != size:
            raise ShapeError(
                f"reshape: per-sample shape {tuple(input_shape)} has {size} values but {self.shape} needs {known}"
            )
        return self.shape

    def forward(self, x: Tensor) -> Tensor:
        return reshape(x, (x.shape[0],) + tuple(self.output_shape(x.shape[1:])))
