"""Dense (fully connected) layer."""

from __future__ import annotations

from typing import Annotated

from mathflow.autodiff.tensor import Tensor
from mathflow.component import Flag
from mathflow.constraints import PositiveInt
from mathflow.errors import ShapeError
from mathflow.functional import nn as fnn
from mathflow.nn import init
from mathflow.nn.init import InitializerName
from mathflow.nn.layer import LAYERS, ActivationName, InputShape, Layer, NodeName, ParameterSpec
from mathflow.nn.layers.activations import activation_name, make_activation


@LAYERS.register("dense")
class Dense(Layer):
    """y = act(x W + b) with W of shape (in_features, units) and b of shape (units,).

    With ``activation="relu"`` the affine map and the ReLU run as one fused primitive.
    ``kernel_init`` defaults to He for the ReLU family and Glorot uniform otherwise.
    """

    example = {"units": 3}

    def __init__(
        self,
        units: Annotated[PositiveInt, "output features"],
        activation: ActivationName | None = None,
        use_bias: Flag = True,
        kernel_init: Annotated[InitializerName | None, "default: He for ReLU, Glorot otherwise"] = None,
        bias_init: InitializerName = "zeros",
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_init = kernel_init
        self.bias_init = bias_init
        self._act = make_activation(activation, "dense")
        self._kernel_init = init.resolve(
            kernel_init if kernel_init is not None else init.default_initializer(activation_name(activation)),
            what="dense kernel_init",
        )
        self._bias_init = init.resolve(bias_init, what="dense bias_init")
        self._fused_relu = activation_name(activation) == "relu"

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if len(shape) != 1:
            hint = ": add flatten before it" if len(shape) > 1 else ""
            raise ShapeError(f"dense needs 1-D features per sample, got {shape}{hint}")
        if self.built and shape[0] != self.input_shape[0]:
            raise ShapeError(
                f"dense{' ' + repr(self.name) if self.name else ''} was built for {self.input_shape[0]} input "
                f"features, got {shape[0]}"
            )
        if self._act is not None:
            self._act.output_shape((self.units,))
        return (self.units,)

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        n_in = input_shape[0]
        specs = [ParameterSpec("weight", (n_in, self.units), "weight", self._kernel_init, n_in, self.units)]
        if self.use_bias:
            specs.append(ParameterSpec("bias", (self.units,), "bias", self._bias_init, n_in, self.units))
        return specs

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias if self.use_bias else None
        if self._fused_relu:
            return fnn.linear_relu(x, self.weight, bias)
        y = fnn.linear(x, self.weight, bias)
        return self._act.forward(y) if self._act is not None else y
