"""Layers that only change the per-sample shape: Flatten and Reshape."""

from __future__ import annotations

import math
from typing import Annotated

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import ShapeList
from mathflow.errors import ShapeError
from mathflow.functional.shape import reshape
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName


@LAYERS.register("flatten")
class Flatten(Layer):
    """(N, d₁, …, dₖ) → (N, d₁·…·dₖ); the batch axis is kept."""

    transparent = True

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return (math.prod(tuple(input_shape)),)

    def forward(self, x: Tensor) -> Tensor:
        return reshape(x, (x.shape[0], -1))


@LAYERS.register("reshape")
class Reshape(Layer):
    """(N, …) → (N, *shape): the per-sample values viewed with a new shape (one entry may be −1)."""

    example = {"shape": [2, -1]}
    transparent = True

    def __init__(self, shape: Annotated[ShapeList, "per-sample shape; one entry may be -1"], *, name: NodeName = None):
        super().__init__(name=name)
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
