"""Layer normalisation over the trailing per-sample axes."""

from __future__ import annotations

from typing import Annotated

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import PositiveFloat, PositiveInt
from mathflow.errors import ShapeError
from mathflow.functional.arithmetic import sqrt
from mathflow.functional.reduce import mean
from mathflow.nn import init
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName, ParameterSpec


@LAYERS.register("layernorm")
class LayerNorm(Layer):
    """Normalise each sample over its last ``axes`` axes, then scale γ and shift β.

    y = γ ⊙ (x − μ) / √(σ² + ε) + β, with μ and σ² (biased) the mean and variance of each sample
    over its last ``axes`` axes, and γ, β of those axes' shape (as ``torch.nn.LayerNorm``).
    Unlike batch normalisation it needs no batch statistics: training and evaluation compute the same.
    """

    def __init__(
        self,
        axes: Annotated[PositiveInt, "how many trailing per-sample axes are normalised together"] = 1,
        eps: Annotated[PositiveFloat, "added to the variance"] = 1e-5,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.axes = axes
        self.eps = eps

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if len(shape) < self.axes:
            raise ShapeError(f"layernorm normalises the last {self.axes} axes, but samples have shape {shape}")
        if self.built and shape[-self.axes :] != tuple(self.gamma.shape):
            raise ShapeError(f"layernorm was built for trailing shape {tuple(self.gamma.shape)}, got {shape}")
        return shape

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        normalised = tuple(input_shape)[-self.axes :]
        return [
            ParameterSpec("gamma", normalised, "norm", init.ones),
            ParameterSpec("beta", normalised, "norm", init.zeros),
        ]

    def _reduced(self) -> tuple[int, ...]:
        return tuple(range(-self.axes, 0))

    def forward(self, x: Tensor) -> Tensor:
        mu = mean(x, axis=self._reduced(), keepdims=True)
        centred = x - mu
        var = mean(centred * centred, axis=self._reduced(), keepdims=True)
        return centred / sqrt(var + self.eps) * self.gamma + self.beta
