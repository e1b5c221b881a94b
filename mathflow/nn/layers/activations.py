"""Activation layers: element-wise non-linearities (and softmax) without parameters.

Each is registered twice: as a layer (``type: relu``) and as an activation name usable in
``Dense(…, activation="relu")`` / ``Conv2D(…, activation=…)``.
"""

from __future__ import annotations

from typing import Any

from mathflow.autodiff.tensor import Tensor
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional import nn as fnn
from mathflow.nn.layer import ACTIVATIONS, LAYERS, InputShape, Layer


class Activation(Layer):
    """A parameter-free layer whose output has the input's shape."""

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return tuple(input_shape)


@LAYERS.register("relu")
@ACTIVATIONS.register("relu")
class ReLU(Activation):
    """y = max(0, x)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.relu(x)


@LAYERS.register("leaky_relu")
@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """y = x for x > 0, negative_slope·x otherwise."""

    def __init__(self, negative_slope: float = 0.01, *, name: str | None = None):
        super().__init__(name=name)
        if not isinstance(negative_slope, (int, float)) or isinstance(negative_slope, bool):
            raise MathflowError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return fnn.leaky_relu(x, self.negative_slope)


@LAYERS.register("sigmoid")
@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """y = σ(x) = 1 / (1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.sigmoid(x)


@LAYERS.register("tanh")
@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """y = tanh x = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.tanh(x)


@LAYERS.register("softmax")
@ACTIVATIONS.register("softmax")
class Softmax(Activation):
    """yᵢ = e^{xᵢ} / Σⱼ e^{xⱼ} along ``axis``, a PER-SAMPLE axis (−1: the last one, 0: the first
    axis after the batch axis)."""

    def __init__(self, axis: int = -1, *, name: str | None = None):
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise MathflowError(f"softmax: axis must be an integer, got {axis!r}")
        self.axis = axis

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if not -len(shape) <= self.axis < len(shape):
            raise ShapeError(f"softmax: axis {self.axis} is out of range for per-sample shape {shape}")
        return shape

    def forward(self, x: Tensor) -> Tensor:
        return fnn.softmax(x, axis=self.axis if self.axis < 0 else self.axis + 1)


@LAYERS.register("gelu")
@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (the tanh approximation)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.gelu(x)


@LAYERS.register("elu")
@ACTIVATIONS.register("elu")
class ELU(Activation):
    """y = x for x > 0, α(eˣ − 1) otherwise."""

    def __init__(self, alpha: float = 1.0, *, name: str | None = None):
        super().__init__(name=name)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise MathflowError(f"elu: alpha must be a number, got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return fnn.elu(x, self.alpha)


@LAYERS.register("softplus")
@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """y = log(1 + eˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.softplus(x)


@LAYERS.register("identity")
@ACTIVATIONS.register("identity", "linear")
class Identity(Activation):
    """y = x."""

    def forward(self, x: Tensor) -> Tensor:
        return x


def make_activation(spec: Any, owner: str) -> Layer | None:
    """The activation layer named by ``spec`` (a name, or a mapping with ``name`` and arguments).

    ``None`` means no activation. An unknown name raises a MathflowError naming ``owner`` and
    suggesting the closest known activation.
    """
    if spec is None:
        return None
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict) and "name" in spec:
        name, kwargs = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise MathflowError(f"{owner}: activation must be a name such as 'relu', got {spec!r}")
    try:
        cls = ACTIVATIONS.get(name)
    except MathflowError as exc:
        raise MathflowError(f"{owner}: {exc.message}", suggestion=exc.suggestion) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise MathflowError(f"{owner}: bad arguments {kwargs} for activation {name!r}: {exc}") from None


def activation_name(spec: Any) -> str | None:
    """The registry name of an activation spec (for choosing a default initialiser)."""
    if spec is None:
        return None
    if isinstance(spec, Layer):
        return spec.registry_name
    if isinstance(spec, dict):
        return spec.get("name")
    return str(spec)


__all__ = [
    "ELU",
    "GELU",
    "Activation",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "activation_name",
    "make_activation",
]
