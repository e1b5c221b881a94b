"""Dropout."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.autodiff.tensor import Tensor
from mathflow.backend import get_backend
from mathflow.constraints import UnitInterval
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName


@LAYERS.register("dropout")
class Dropout(Layer):
    """Inverted dropout with drop probability ``rate`` ∈ [0, 1); the identity in evaluation mode.

    In training y = x ⊙ m / (1 − rate) with mᵢ ~ Bernoulli(1 − rate), so E[y] = x; in
    evaluation mode y = x. The mask is drawn from the backend's seeded rng.
    """

    transparent = True

    def __init__(self, rate: Annotated[UnitInterval, "drop probability"] = 0.5, *, name: NodeName = None):
        super().__init__(name=name)
        self.rate = float(rate)

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return tuple(input_shape)

    def forward(self, x: Any) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        return fnn.dropout(x, self.rate, training=True, rng=get_backend().rng)
