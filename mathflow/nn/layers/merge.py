"""Merge layers: combine a list of inputs into one (Add, Concat)."""

from __future__ import annotations

from functools import reduce as _fold
from typing import Annotated, Any

from mathflow.autodiff.tensor import Tensor
from mathflow.errors import ShapeError
from mathflow.functional.shape import concat
from mathflow.nn.layer import LAYERS, InputShape, Layer, NodeName


def _shapes(kind: str, input_shape: Any) -> list[tuple[int, ...]]:
    if (
        not isinstance(input_shape, list)
        or not input_shape
        or not all(isinstance(s, (tuple, list)) for s in input_shape)
    ):
        raise ShapeError(f"{kind} takes a list of input shapes (one per input), got {input_shape!r}")
    return [tuple(s) for s in input_shape]


@LAYERS.register("add")
class Add(Layer):
    """Sum of several inputs of equal shape (graph models).

    y = x₁ + x₂ + … + xₖ for inputs of equal per-sample shape.
    """

    multi_input = True
    example_input = [(4,), (4,)]

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shapes = _shapes("add", input_shape)
        if any(s != shapes[0] for s in shapes):
            raise ShapeError(f"add needs inputs of equal shape, got {', '.join(str(s) for s in shapes)}")
        return shapes[0]

    def forward(self, xs: list[Tensor]) -> Tensor:
        return _fold(lambda a, b: a + b, xs)


@LAYERS.register("concat")
class Concat(Layer):
    """Inputs joined along a per-sample ``axis`` (graph models).

    y = [x₁, …, xₖ] joined along ``axis``, a PER-SAMPLE axis (−1: the last one).
    """

    multi_input = True
    example_input = [(4,), (3,)]

    def __init__(self, axis: Annotated[int, "per-sample axis (-1: the last one)"] = -1, *, name: NodeName = None):
        super().__init__(name=name)
        self.axis = axis

    def _axis(self, ndim: int) -> int:
        if not -ndim <= self.axis < ndim:
            raise ShapeError(f"concat: axis {self.axis} is out of range for {ndim}-D per-sample inputs")
        return self.axis % ndim

    def output_shape(self, input_shape: InputShape) -> InputShape:
        shapes = _shapes("concat", input_shape)
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes):
            raise ShapeError(f"concat needs inputs of equal rank, got {', '.join(str(s) for s in shapes)}")
        axis = self._axis(ndim)
        for s in shapes:
            if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
                listed = ", ".join(str(t) for t in shapes)
                raise ShapeError(f"concat along axis {self.axis}: shapes {listed} differ outside that axis")
        return shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1 :]

    def forward(self, xs: list[Tensor]) -> Tensor:
        return concat(xs, axis=self._axis(xs[0].ndim - 1) + 1)
