"""SELU: the self-normalising exponential linear unit."""

from __future__ import annotations

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import nn as fnn
from mathflow.nn.layer import LAYERS
from mathflow.nn.layers.activations import Activation

#: The constants of Klambauer et al. (2017) that make mean 0 / variance 1 a fixed point.
ALPHA = 1.6732632423543772
SCALE = 1.0507009873554805


@LAYERS.register("selu")
class SELU(Activation):
    """y = λ·elu_α(x) = λx for x > 0, λα(eˣ − 1) otherwise, with λ = 1.0507…, α = 1.6733….

    With LeCun-normal weights (its ``init_family``) activations keep mean ≈ 0 and variance ≈ 1
    from layer to layer.
    """

    init_family = "lecun_normal"

    def forward(self, x: Tensor) -> Tensor:
        return fnn.elu(x, ALPHA) * SCALE
