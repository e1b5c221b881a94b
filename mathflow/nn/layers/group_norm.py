"""Group normalisation: each sample's channels in ``groups`` groups, each group normalised alone."""

from __future__ import annotations

from typing import Annotated

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import PositiveFloat, PositiveInt
from mathflow.errors import ShapeError
from mathflow.functional.arithmetic import sqrt
from mathflow.functional.reduce import mean
from mathflow.functional.shape import reshape
from mathflow.nn import init
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName, ParameterSpec


@LAYERS.register("group_norm")
class GroupNorm(Layer):
    """Normalise each group of ``C/groups`` channels of a sample over its channels and positions,
    then scale γ and shift β per channel (Wu & He 2018; as ``torch.nn.GroupNorm``).

    For a sample x of shape (C, *spatial) split into groups G_k of C/groups channels:
    y[c] = γ[c] · (x[c] − μ_k) / √(σ²_k + ε) + β[c] for c in G_k, with μ_k and σ²_k (biased) the
    mean and variance of x over G_k and every position. No batch statistics: training and
    evaluation compute the same; ``groups = 1`` is layer norm over (C, *spatial), ``groups = C``
    instance norm.
    """

    example = {"groups": 2}
    example_input = (4, 3, 3)

    def __init__(
        self,
        groups: Annotated[PositiveInt, "number of channel groups; it must divide the channels"],
        eps: Annotated[PositiveFloat, "added to the variance"] = 1e-5,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.groups = groups
        self.eps = eps

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if not shape:
            raise ShapeError("group_norm needs samples with a channel axis (C, ...), got scalars")
        if shape[0] % self.groups:
            raise ShapeError(
                f"group_norm: {shape[0]} channels do not split into {self.groups} groups",
                suggestion=f"use a number of groups that divides {shape[0]}",
            )
        if self.built and shape[0] != self.gamma.shape[0]:
            raise ShapeError(f"group_norm was built for {self.gamma.shape[0]} channels, got {shape[0]}")
        return shape

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        channels = (tuple(input_shape)[0],)
        return [
            ParameterSpec("gamma", channels, "norm", init.ones),
            ParameterSpec("beta", channels, "norm", init.zeros),
        ]

    def forward(self, x: Tensor) -> Tensor:
        grouped = reshape(x, (x.shape[0], self.groups, -1))
        mu = mean(grouped, axis=2, keepdims=True)
        centred = grouped - mu
        var = mean(centred * centred, axis=2, keepdims=True)
        normalised = reshape(centred / sqrt(var + self.eps), x.shape)
        per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        return normalised * reshape(self.gamma, per_channel) + reshape(self.beta, per_channel)
