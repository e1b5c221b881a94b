"""Mish: y = x·tanh(softplus(x))."""

from __future__ import annotations

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS
from mathflow.nn.layers.activations import Activation


@LAYERS.register("mish")
class Mish(Activation):
    """y = x·tanh(softplus(x)) = x·tanh(log(1 + eˣ)) (Misra, 2019).

    Smooth and non-monotonic; ≈ relu for large |x|.
    """

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return x * fnn.tanh(fnn.softplus(x))
