"""SiLU (swish): y = x·σ(x)."""

from __future__ import annotations

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS
from mathflow.nn.layers.activations import Activation


@LAYERS.register("silu", "swish")
class SiLU(Activation):
    """Sigmoid-weighted linear unit: y = x·σ(x) = x / (1 + e⁻ˣ) (``swish`` is the same).

    Its derivative is dy/dx = σ(x)(1 + x(1 − σ(x))).
    """

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return x * fnn.sigmoid(x)
