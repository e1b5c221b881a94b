"""Dropout."""

from __future__ import annotations

from typing import Any, Literal

from mathflow.autodiff.tensor import Tensor
from mathflow.backend import get_backend
from mathflow.constraints import UnitInterval
from mathflow.errors import MathflowError
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS, InputShape, Layer, LayerConfig


class DropoutConfig(LayerConfig):
    """Inverted dropout with drop probability ``rate`` ∈ [0, 1)."""

    type: Literal["dropout"] = "dropout"
    rate: UnitInterval = 0.5


@LAYERS.register
class Dropout(Layer):
    """Inverted dropout: in training y = x ⊙ m / (1 − rate) with mᵢ ~ Bernoulli(1 − rate),
    so E[y] = x; in evaluation mode y = x. The mask is drawn from the backend's seeded rng."""

    config_model = DropoutConfig
    transparent = True

    def __init__(self, rate: float = 0.5, *, name: str | None = None):
        super().__init__(name=name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise MathflowError(f"dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return tuple(input_shape)

    def forward(self, x: Any) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        return fnn.dropout(x, self.rate, training=True, rng=get_backend().rng)

    def export(self, builder: Any, x: str) -> str:
        return x  # the identity at inference
