"""Layers that only change the per-sample shape: Flatten and Reshape."""

from __future__ import annotations

import math
from typing import Any, Literal

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import ShapeList
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional.shape import reshape
from mathflow.nn.layer import LAYERS, InputShape, Layer, LayerConfig


class FlattenConfig(LayerConfig):
    """(d₁, …, dₖ) → (d₁·…·dₖ,) per sample."""

    type: Literal["flatten"] = "flatten"


class ReshapeConfig(LayerConfig):
    """View each sample with a new shape (one entry may be -1)."""

    example = {"shape": [2, -1]}
    type: Literal["reshape"] = "reshape"
    shape: ShapeList


@LAYERS.register
class Flatten(Layer):
    """(N, d₁, …, dₖ) → (N, d₁·…·dₖ); the batch axis is kept."""

    config_model = FlattenConfig
    transparent = True

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return (math.prod(tuple(input_shape)),)

    def forward(self, x: Tensor) -> Tensor:
        return reshape(x, (x.shape[0], -1))

    def export(self, builder: Any, x: str) -> str:
        return builder.op("Flatten", x, axis=1)


@LAYERS.register
class Reshape(Layer):
    """(N, …) → (N, *shape): the per-sample values viewed with a new shape (one entry may be −1)."""

    config_model = ReshapeConfig
    transparent = True

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

    def export(self, builder: Any, x: str) -> str:
        return builder.op("Reshape", x, shape=[0, *self.shape])
