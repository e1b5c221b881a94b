"""Layer components of ``model.layers`` / ``model.nodes`` (mirrors :data:`mathflow.nn.LAYERS`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mathflow.spec.base import Component, Flag, catalog, component_union
from mathflow.spec.types import (
    ActivationName,
    InitializerName,
    IntOrPair,
    NonNegativeFloat,
    Padding,
    PositiveFloat,
    PositiveInt,
    ShapeList,
    UnitInterval,
)


class LayerSpec(Component):
    """Base of layer components. ``name`` names the node (default: type and position)."""

    #: True for layers that take several inputs (graph models only).
    merge: ClassVar[bool] = False
    name: str | None = Field(None, description="node name (sequential models); unique, no dots")


class Dense(LayerSpec):
    """y = act(x W + b): a fully connected layer on 1-D features."""

    type: Literal["dense"] = "dense"
    units: PositiveInt = Field(description="output features")
    activation: ActivationName | None = None
    use_bias: Flag = True
    kernel_init: InitializerName | None = Field(None, description="default: He for ReLU, Glorot otherwise")
    bias_init: InitializerName = "zeros"


class Conv2D(LayerSpec):
    """2-D convolution on (channels, height, width) samples."""

    type: Literal["conv2d"] = "conv2d"
    filters: PositiveInt
    kernel: IntOrPair
    stride: PositiveInt = 1
    padding: Padding = "valid"
    activation: ActivationName | None = None
    use_bias: Flag = True
    kernel_init: InitializerName | None = None
    bias_init: InitializerName = "zeros"


class MaxPool2D(LayerSpec):
    """Maximum over windows of ``size`` moved by ``stride`` (default ``size``)."""

    type: Literal["maxpool2d"] = "maxpool2d"
    size: IntOrPair
    stride: IntOrPair | None = None


class AvgPool2D(LayerSpec):
    """Mean over windows of ``size`` moved by ``stride`` (default ``size``)."""

    type: Literal["avgpool2d"] = "avgpool2d"
    size: IntOrPair
    stride: IntOrPair | None = None


class GlobalAvgPool2D(LayerSpec):
    """(C, H, W) → (C,): the mean over the spatial axes."""

    type: Literal["global_avgpool2d"] = "global_avgpool2d"


class Flatten(LayerSpec):
    """(d₁, …, dₖ) → (d₁·…·dₖ,) per sample."""

    type: Literal["flatten"] = "flatten"


class Reshape(LayerSpec):
    """View each sample with a new shape (one entry may be -1)."""

    type: Literal["reshape"] = "reshape"
    shape: ShapeList


class Dropout(LayerSpec):
    """Inverted dropout with drop probability ``rate`` ∈ [0, 1)."""

    type: Literal["dropout"] = "dropout"
    rate: UnitInterval = 0.5


class BatchNorm(LayerSpec):
    """Batch normalisation per channel."""

    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, ge=0, le=1)
    eps: PositiveFloat = 1e-5


class Add(LayerSpec):
    """Sum of several inputs of equal shape (graph models)."""

    merge: ClassVar[bool] = True
    type: Literal["add"] = "add"


class Concat(LayerSpec):
    """Inputs joined along a per-sample ``axis`` (graph models)."""

    merge: ClassVar[bool] = True
    type: Literal["concat"] = "concat"
    axis: int = -1


class ReLU(LayerSpec):
    """y = max(0, x)."""

    type: Literal["relu"] = "relu"


class LeakyReLU(LayerSpec):
    """y = x for x > 0, negative_slope·x otherwise."""

    type: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: NonNegativeFloat = 0.01


class Sigmoid(LayerSpec):
    """y = 1 / (1 + e⁻ˣ)."""

    type: Literal["sigmoid"] = "sigmoid"


class Tanh(LayerSpec):
    """y = tanh x."""

    type: Literal["tanh"] = "tanh"


class Softmax(LayerSpec):
    """Softmax along a per-sample ``axis``."""

    type: Literal["softmax"] = "softmax"
    axis: int = -1


class GELU(LayerSpec):
    """Gaussian error linear unit (tanh approximation)."""

    type: Literal["gelu"] = "gelu"


class ELU(LayerSpec):
    """y = x for x > 0, α(eˣ − 1) otherwise."""

    type: Literal["elu"] = "elu"
    alpha: float = 1.0


class Softplus(LayerSpec):
    """y = log(1 + eˣ)."""

    type: Literal["softplus"] = "softplus"


class Identity(LayerSpec):
    """y = x."""

    type: Literal["identity"] = "identity"


LAYER_MODELS: list[type[LayerSpec]] = [
    Dense,
    Conv2D,
    MaxPool2D,
    AvgPool2D,
    GlobalAvgPool2D,
    Flatten,
    Reshape,
    Dropout,
    BatchNorm,
    Add,
    Concat,
    ReLU,
    LeakyReLU,
    Sigmoid,
    Tanh,
    Softmax,
    GELU,
    ELU,
    Softplus,
    Identity,
]
LAYER_SPECS = catalog(LAYER_MODELS)
ACTIVATION_LAYERS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "softplus", "identity")

#: One entry of ``model.layers``.
LayerEntry = component_union("layer", LAYER_MODELS)
