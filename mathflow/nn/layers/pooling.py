"""Pooling layers: max, average and global average over the spatial axes (NCHW)."""

from __future__ import annotations

from typing import Annotated, Any

from mathflow.autodiff.tensor import Tensor
from mathflow.constraints import IntOrPair
from mathflow.errors import ShapeError
from mathflow.functional import conv as fconv
from mathflow.functional.reduce import mean
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName
from mathflow.nn.layers.conv import as_pair


class _Pool2D(Layer):
    """Windows of ``size`` moved by ``stride`` (default: ``size``, non-overlapping), no padding."""

    kind = "pool"
    example = {"size": 2}
    example_input = (2, 6, 6)

    def __init__(
        self,
        size: Annotated[IntOrPair, "window size: an integer or [h, w]"],
        stride: Annotated[IntOrPair | None, "window step (default: size, non-overlapping windows)"] = None,
        *,
        name: NodeName = None,
    ):
        super().__init__(name=name)
        self.size = size
        self.stride = stride
        self._size = as_pair(size)
        self._stride = as_pair(stride) if stride is not None else self._size

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ShapeError(f"{self.kind} needs (channels, height, width) per sample, got {shape}")
        c, h, w = shape
        (kh, kw), (sh, sw) = self._size, self._stride
        if kh > h or kw > w:
            raise ShapeError(f"{self.kind} window {kh}×{kw} is larger than the input {h}×{w}")
        return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def _args(self) -> tuple[Any, Any]:
        size = self._size[0] if self._size[0] == self._size[1] else self._size
        stride = self._stride[0] if self._stride[0] == self._stride[1] else self._stride
        return size, stride


@LAYERS.register("maxpool2d")
class MaxPool2D(_Pool2D):
    """Maximum over windows of ``size`` moved by ``stride`` (default ``size``).

    y[n, c, i, j] = max of x[n, c] over the window at (i·s, j·s).
    """

    kind = "maxpool2d"

    def forward(self, x: Tensor) -> Tensor:
        size, stride = self._args()
        return fconv.max_pool2d(x, size, stride=stride)


@LAYERS.register("avgpool2d")
class AvgPool2D(_Pool2D):
    """Mean over windows of ``size`` moved by ``stride`` (default ``size``).

    y[n, c, i, j] = mean of x[n, c] over the window at (i·s, j·s).
    """

    kind = "avgpool2d"

    def forward(self, x: Tensor) -> Tensor:
        size, stride = self._args()
        return fconv.avg_pool2d(x, size, stride=stride)


@LAYERS.register("global_avgpool2d")
class GlobalAvgPool2D(Layer):
    """(C, H, W) → (C,): the mean over the spatial axes.

    y[n, c] = (1 / HW) Σ_{h,w} x[n, c, h, w].
    """

    example_input = (2, 6, 6)

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ShapeError(f"global_avgpool2d needs (channels, height, width) per sample, got {shape}")
        return (shape[0],)

    def forward(self, x: Tensor) -> Tensor:
        return mean(x, axis=(2, 3))
