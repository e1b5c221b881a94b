"""Activation layers: element-wise non-linearities (and softmax) without parameters.

Every :class:`Activation` is a layer (``type: relu``) and, through ``is_activation``, a name
usable as ``activation:`` of another layer (``Dense(…, activation="relu")``). Its metadata:
``init_family`` (the kernel initialiser that suits it) and ``output_range`` (what its values
mean to a loss: ``"probability"`` for sigmoid, ``"distribution"`` for softmax).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import NonNegativeFloat
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional import nn as fnn
from mathflow.nn.layer import ACTIVATIONS, LAYERS, InputShape, Layer, NodeName


class Activation(Layer):
    """A parameter-free layer whose output has the input's shape."""

    is_activation: ClassVar[bool] = True
    #: The kernel initialiser of a layer that ends with this activation.
    init_family: ClassVar[str] = "glorot_uniform"
    #: "probability" (each value in (0, 1)), "distribution" (sums to 1) or None (raw scores).
    output_range: ClassVar[str | None] = None

    def output_shape(self, input_shape: InputShape) -> InputShape:
        return tuple(input_shape)


@LAYERS.register("relu")
class ReLU(Activation):
    """y = max(0, x)."""

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return fnn.relu(x)


@LAYERS.register("leaky_relu")
class LeakyReLU(Activation):
    """y = x for x > 0, negative_slope·x otherwise."""

    init_family = "he_uniform"

    def __init__(
        self,
        negative_slope: Annotated[NonNegativeFloat, "slope of the line for x < 0"] = 0.01,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return fnn.leaky_relu(x, self.negative_slope)


@LAYERS.register("sigmoid")
class Sigmoid(Activation):
    """y = σ(x) = 1 / (1 + e⁻ˣ)."""

    output_range = "probability"

    def forward(self, x: Tensor) -> Tensor:
        return fnn.sigmoid(x)


@LAYERS.register("tanh")
class Tanh(Activation):
    """y = tanh x = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return fnn.tanh(x)


@LAYERS.register("softmax")
class Softmax(Activation):
    """yᵢ = e^{xᵢ} / Σⱼ e^{xⱼ} along a per-sample ``axis``.

    ``axis`` counts the axes of one sample: −1 is the last one, 0 the first axis after the batch
    axis.
    """

    output_range = "distribution"

    def __init__(
        self,
        axis: Annotated[int, "per-sample axis (-1: the last, 0: the first after the batch axis)"] = -1,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.axis = axis

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if not -len(shape) <= self.axis < len(shape):
            raise ShapeError(f"softmax: axis {self.axis} is out of range for per-sample shape {shape}")
        return shape

    def forward(self, x: Tensor) -> Tensor:
        return fnn.softmax(x, axis=self._batch_axis())

    def _batch_axis(self) -> int:
        return self.axis if self.axis < 0 else self.axis + 1


@LAYERS.register("gelu")
class GELU(Activation):
    """y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (the tanh approximation)."""

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return fnn.gelu(x)


@LAYERS.register("elu")
class ELU(Activation):
    """y = x for x > 0, α(eˣ − 1) otherwise."""

    init_family = "he_uniform"

    def __init__(
        self, alpha: Annotated[float, "α: the value approached as x → −∞ is −α"] = 1.0, *, name: NodeName = None
    ):
        super().__init__(name=name)
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return fnn.elu(x, self.alpha)


@LAYERS.register("softplus")
class Softplus(Activation):
    """y = log(1 + eˣ)."""

    init_family = "he_uniform"

    def forward(self, x: Tensor) -> Tensor:
        return fnn.softplus(x)


@LAYERS.register("identity", "linear")
class Identity(Activation):
    """y = x (``linear`` is the same)."""

    transparent = True

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
    except MathflowError as exc:  # an argument against the activation's declaration: "leaky_relu: ..."
        raise MathflowError(f"{owner}: {exc.message}", suggestion=exc.suggestion) from None
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
