"""2-D convolution layer (NCHW)."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.autodiff.tensor import Tensor
from mathflow.component import Flag
from mathflow.constraints import IntOrPair, Padding, PositiveInt
from mathflow.errors import MathflowError, ShapeError
from mathflow.functional import conv as fconv
from mathflow.nn import init
from mathflow.nn.init import InitializerName
from mathflow.nn.layer import LAYERS, ActivationName, InputShape, Layer, NodeName, ParameterSpec
from mathflow.nn.layers.activations import activation_name, make_activation


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """⌊(size + 2·pad − kernel) / stride⌋ + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def as_pair(value: Any) -> tuple[int, int]:
    """An int or a pair of ints (already validated) as a pair of ints."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


@LAYERS.register("conv2d")
class Conv2D(Layer):
    """2-D convolution on (channels, height, width) samples: y[n, f] = act(b[f] + Σ_c W[f, c] ⋆ x[n, c]).

    ⋆ is cross-correlation, like in every DL library. Input per sample (C, H, W); weight
    (filters, C, kh, kw); output (filters, H', W') with H' = ⌊(H + 2p − kh)/s⌋ + 1. ``padding`` is
    ``"valid"`` (p = 0), ``"same"`` (output size = input size; stride 1 and odd kernels only) or an
    int / pair of ints.
    """

    example = {"filters": 2, "kernel": 3}
    example_input = (2, 6, 6)

    def __init__(
        self,
        filters: Annotated[PositiveInt, "output channels"],
        kernel: Annotated[IntOrPair, "kernel size: an integer or [kh, kw]"],
        stride: PositiveInt = 1,
        padding: Padding = "valid",
        activation: ActivationName | None = None,
        use_bias: Flag = True,
        kernel_init: Annotated[InitializerName | None, "default: He for ReLU, Glorot otherwise"] = None,
        bias_init: InitializerName = "zeros",
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.filters = filters
        self.kernel = kernel
        self._kernel = as_pair(kernel)
        self.stride = stride
        self.padding = padding
        self._pad = self._resolve_padding(padding)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_init = kernel_init
        self.bias_init = bias_init
        self._act = make_activation(activation, "conv2d")
        self._kernel_init = init.resolve(
            kernel_init if kernel_init is not None else init.default_initializer(activation_name(activation)),
            what="conv2d kernel_init",
        )
        self._bias_init = init.resolve(bias_init, what="conv2d bias_init")

    def _resolve_padding(self, padding: Any) -> tuple[int, int]:
        kh, kw = self._kernel
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if self.stride != 1:
                raise MathflowError(
                    f"conv2d: padding 'same' needs stride 1, got stride {self.stride}",
                    suggestion="use padding 'valid' or an explicit integer padding",
                )
            if kh % 2 == 0 or kw % 2 == 0:
                raise MathflowError(
                    f"conv2d: padding 'same' needs an odd kernel, got {kh}×{kw}",
                    suggestion="use an odd kernel size or an explicit integer padding",
                )
            return (kh - 1) // 2, (kw - 1) // 2
        return as_pair(padding)

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if len(shape) != 3:
            hint = ""
            if len(shape) == 1:
                hint = ": add reshape [channels, height, width] before it"
            elif len(shape) == 2:
                hint = f": add reshape [1, {shape[0]}, {shape[1]}] before it for one channel"
            raise ShapeError(f"conv2d needs (channels, height, width) per sample, got {shape}{hint}")
        c, h, w = shape
        if self.built and c != self.input_shape[0]:
            raise ShapeError(f"conv2d was built for {self.input_shape[0]} input channels, got {c}")
        (kh, kw), (ph, pw) = self._kernel, self._pad
        if kh > h + 2 * ph or kw > w + 2 * pw:
            kernel = str(kh) if kh == kw else f"{kh}×{kw}"
            raise ShapeError(f"conv2d kernel {kernel} is larger than the padded input {h + 2 * ph}×{w + 2 * pw}")
        return (self.filters, conv_output_size(h, kh, self.stride, ph), conv_output_size(w, kw, self.stride, pw))

    def parameter_specs(self, input_shape: InputShape) -> list[ParameterSpec]:
        c = input_shape[0]
        kh, kw = self._kernel
        fan_in, fan_out = c * kh * kw, self.filters * kh * kw
        specs = [ParameterSpec("weight", (self.filters, c, kh, kw), "weight", self._kernel_init, fan_in, fan_out)]
        if self.use_bias:
            specs.append(ParameterSpec("bias", (self.filters,), "bias", self._bias_init, fan_in, fan_out))
        return specs

    def forward(self, x: Tensor) -> Tensor:
        pad = self._pad if self._pad[0] != self._pad[1] else self._pad[0]
        y = fconv.conv2d(x, self.weight, self.bias if self.use_bias else None, stride=self.stride, padding=pad)
        return self._act.forward(y) if self._act is not None else y
