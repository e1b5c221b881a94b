"""Batch normalisation over the batch (and spatial) axes, per channel."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np

from mathflow.autodiff.mode import no_grad
from mathflow.autodiff.tensor import Tensor
from mathflow.backend import to_numpy
from mathflow.constraints import ClosedUnit, PositiveFloat
from mathflow.errors import ShapeError
from mathflow.functional.arithmetic import sqrt
from mathflow.functional.reduce import mean
from mathflow.functional.shape import reshape
from mathflow.nn import init
from mathflow.nn.layer import LAYERS, BufferSpec, InputShape, Layer, NodeName, ParameterSpec


@LAYERS.register("batchnorm")
class BatchNorm(Layer):
    """Batch normalisation per channel: y = γ (x − μ) / √(σ² + ε) + β over axis 1 of the batch.

    Per-sample input (C,) normalises over the batch (like torch BatchNorm1d), (C, L) over batch
    and length, (C, H, W) over batch, height and width (BatchNorm2d). In training μ and σ² are
    the batch mean and biased variance, and the running statistics move by
    r ← (1 − momentum)·r + momentum·s (with the unbiased variance n/(n−1)·σ² for ``running_var``);
    in evaluation mode μ and σ² are the running statistics.
    """

    def __init__(
        self,
        momentum: Annotated[ClosedUnit, "weight of the batch statistics in the running statistics"] = 0.1,
        eps: Annotated[PositiveFloat, "added to the variance"] = 1e-5,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.momentum = momentum
        self.eps = eps

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if not 1 <= len(shape) <= 3:
            raise ShapeError(f"batchnorm needs per-sample features (C,), (C, L) or images (C, H, W), got {shape}")
        if self.built and shape[0] != self.input_shape[0]:
            raise ShapeError(f"batchnorm was built for {self.input_shape[0]} channels, got {shape[0]}")
        return shape

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        c = input_shape[0]
        return [
            ParameterSpec("gamma", (c,), "norm", init.ones, c, c),
            ParameterSpec("beta", (c,), "norm", init.zeros, c, c),
        ]

    def buffer_specs(self, input_shape: InputShape) -> list[BufferSpec]:
        c = input_shape[0]
        return [BufferSpec("running_mean", (c,), 0.0), BufferSpec("running_var", (c,), 1.0)]

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        param_shape = (1, c) + (1,) * (x.ndim - 2)
        gamma = reshape(self.gamma, param_shape)
        beta = reshape(self.beta, param_shape)
        if self.training:
            count = math.prod(x.shape[a] for a in axes)
            if count < 2:
                raise ShapeError(
                    f"batchnorm needs more than one value per channel in training, got input {x.shape}",
                    suggestion="use a batch size above 1 or call model.eval()",
                )
            mu = mean(x, axis=axes, keepdims=True)
            centred = x - mu
            var = mean(centred * centred, axis=axes, keepdims=True)
            y = centred / sqrt(var + self.eps) * gamma + beta
            with no_grad():
                m = self.momentum
                self.running_mean = (
                    self.running_mean * (1.0 - m) + mu.data.reshape(c).astype(self.running_mean.dtype) * m
                )
                unbiased = var.data.reshape(c).astype(self.running_var.dtype) * (count / (count - 1))
                self.running_var = self.running_var * (1.0 - m) + unbiased * m
            return y
        rm = Tensor._wrap(self.running_mean.reshape(param_shape))
        rv = Tensor._wrap(self.running_var.reshape(param_shape))
        return (x - rm) / sqrt(rv + self.eps) * gamma + beta

    def export(self, builder: Any, x: str) -> str:
        """The evaluation-mode formula folded into one scale and one shift per channel:
        y = x·s + t with s = γ/√(running_var + ε) and t = β − running_mean·s, laid out (C, 1, …)
        so they broadcast over the batch and the spatial axes (two ops instead of four)."""
        layout = (-1,) + (1,) * (len(self.input_shape) - 1)
        running_mean, running_var = to_numpy(self.running_mean), to_numpy(self.running_var)
        scale = to_numpy(self.gamma.data) / np.sqrt(running_var + np.asarray(self.eps, dtype=running_var.dtype))
        shift = to_numpy(self.beta.data) - running_mean * scale
        y = builder.op("Mul", x, builder.constant("scale", scale.reshape(layout)))
        return builder.op("Add", y, builder.constant("shift", shift.reshape(layout)))
