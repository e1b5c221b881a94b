"""SiLU (swish): y = x·σ(x)."""

from __future__ import annotations

from typing import Any, Literal

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS, LayerConfig
from mathflow.nn.layers.activations import Activation


class SiLUConfig(LayerConfig):
    """y = x·σ(x) (``swish`` is the same)."""

    type: Literal["silu", "swish"] = "silu"


@LAYERS.register
class SiLU(Activation):
    """Sigmoid-weighted linear unit: y = x·σ(x) = x / (1 + e⁻ˣ); dy/dx = σ(x)(1 + x(1 − σ(x)))."""

    config_model = SiLUConfig
    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return x * fnn.sigmoid(x)

    def export(self, builder: Any, x: str) -> str:
        return builder.op("Mul", x, builder.op("Sigmoid", x))
