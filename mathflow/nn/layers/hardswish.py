"""Hard swish: y = x·relu6(x + 3)/6, a piecewise-quadratic stand-in for SiLU."""

from __future__ import annotations

from mathflow.autodiff.tensor import Tensor
from mathflow.functional import maximum, minimum
from mathflow.nn.layer import LAYERS
from mathflow.nn.layers.activations import Activation


@LAYERS.register("hardswish")
class HardSwish(Activation):
    """y = x·min(max(x + 3, 0), 6)/6 (Howard et al. 2019, MobileNetV3): 0 for x ≤ −3, x for x ≥ 3.

    dy/dx = (2x + 3)/6 on (−3, 3), 0 for x ≤ −3 and 1 for x ≥ 3, as ``torch.nn.Hardswish`` (the
    constants come first in the max and min, which pass the gradient of a tie to their first argument).
    """

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return x * minimum(6.0, maximum(0.0, x + 3.0)) / 6.0
