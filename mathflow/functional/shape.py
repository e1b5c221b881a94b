"""Shape operations: reshape, transpose, broadcast, sum-to, indexing, concatenation, stacking.

Each is linear, so its backward is another shape operation applied to the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathflow.autodiff.function import Function
from mathflow.autodiff.tensor import Tensor, as_tensor
from mathflow.errors import ShapeError
from mathflow.functional._util import raw_sum_to


class Reshape(Function):
    """y = x viewed with a new shape of the same size; ∂L/∂x = reshape(∂L/∂y, x.shape)."""

    def infer(self, builder: Any, x: str) -> str:
        """``Reshape`` to the target shape, its batch axis written 0 (copied from the input) so the
        program takes any batch size."""
        shape = [int(d) for d in self.shape]
        if shape and self.in_shape and shape[0] == self.in_shape[0]:
            shape[0] = 0
        return builder.op("Reshape", x, shape=shape)

    has_raw_backward = True

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x: Any) -> Any:
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot view shape {tuple(x.shape)} ({x.size} elements) as {self.shape}"
            ) from None

    def backward(self, gy: Tensor) -> Tensor:
        return reshape(gy, self.in_shape)

    def backward_raw(self, gy: Any) -> Any:
        return gy.reshape(self.in_shape)


class Transpose(Function):
    """y = x with axes permuted; ∂L/∂x is ∂L/∂y permuted back."""

    inference_op = "Transpose"

    def inference_attrs(self) -> dict[str, Any]:
        return {"perm": None if self.axes is None else list(self.axes)}

    has_raw_backward = True

    def __init__(self, axes: tuple[int, ...] | None):
        self.axes = axes

    def forward(self, x: Any) -> Any:
        axes = self.axes if self.axes is not None else tuple(reversed(range(x.ndim)))
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ShapeError(f"transpose: axes {axes} do not permute the {x.ndim} axes of shape {tuple(x.shape)}")
        self.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(self.axes)

    def _inverse(self) -> tuple[int, ...]:
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return tuple(inverse)

    def backward(self, gy: Tensor) -> Tensor:
        return transpose(gy, self._inverse())

    def backward_raw(self, gy: Any) -> Any:
        return gy.transpose(self._inverse())


class BroadcastTo(Function):
    """y = x repeated along broadcast axes; ∂L/∂x = sum of ∂L/∂y over those axes."""

    has_raw_backward = True

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        self.in_shape = tuple(x.shape)
        xp = _xp(x)
        try:
            return xp.broadcast_to(x, self.shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {self.in_shape} to {self.shape}") from None

    def backward(self, gy: Tensor) -> Tensor:
        return sum_to(gy, self.in_shape)

    def backward_raw(self, gy: Any) -> Any:
        return raw_sum_to(gy, self.in_shape)


class SumTo(Function):
    """y = x summed down to ``shape`` (the adjoint of broadcasting); ∂L/∂x = broadcast(∂L/∂y)."""

    has_raw_backward = True

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        self.in_shape = tuple(x.shape)
        return raw_sum_to(x, self.shape)

    def backward(self, gy: Tensor) -> Tensor:
        return broadcast_to(gy, self.in_shape)

    def backward_raw(self, gy: Any) -> Any:
        return _xp(gy).broadcast_to(gy, self.in_shape)


class GetItem(Function):
    """y = x[index]; ∂L/∂x scatters ∂L/∂y back into a zero array of x's shape."""

    def __init__(self, index: Any):
        self.index = index

    def forward(self, x: Any) -> Any:
        self.in_shape = tuple(x.shape)
        try:
            return x[self.index]
        except IndexError as exc:
            raise ShapeError(f"index {self.index!r} is out of range for shape {self.in_shape}: {exc}") from None

    def backward(self, gy: Tensor) -> Tensor:
        return ScatterAdd(self.index, self.in_shape)(gy)


class ScatterAdd(Function):
    """y = zeros(shape) with y[index] += x (repeated indices add up); the adjoint of x[index]."""

    def __init__(self, index: Any, shape: tuple[int, ...]):
        self.index = index
        self.shape = shape

    def forward(self, gy: Any) -> Any:
        xp = _xp(gy)
        out = xp.zeros(self.shape, dtype=gy.dtype)
        if _is_basic_index(self.index):
            out[self.index] = gy
        elif xp.__name__ == "numpy":
            xp.add.at(out, self.index, gy)
        else:  # pragma: no cover - GPU path
            import cupyx

            cupyx.scatter_add(out, self.index, gy)
        return out

    def backward(self, ggx: Tensor) -> Tensor:
        return getitem(ggx, self.index)


class Concat(Function):
    """y = [x₁, …, xₖ] joined along ``axis``; each ∂L/∂xᵢ is its slice of ∂L/∂y."""

    inference_op = "Concat"

    def inference_attrs(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        xp = _xp(xs[0])
        ndim = xs[0].ndim
        axis = self.axis % ndim if ndim else 0
        for x in xs[1:]:
            same = x.ndim == ndim and all(a == b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != axis)
            if not same:
                shapes = ", ".join(str(tuple(v.shape)) for v in xs)
                raise ShapeError(f"concat along axis {self.axis}: shapes {shapes} differ outside that axis")
        self.axis = axis
        self.sizes = [x.shape[axis] for x in xs]
        return xp.concatenate(xs, axis=axis)

    def backward(self, gy: Tensor) -> tuple[Tensor, ...]:
        grads = []
        start = 0
        for size in self.sizes:
            index = (slice(None),) * self.axis + (slice(start, start + size),)
            grads.append(getitem(gy, index))
            start += size
        return tuple(grads)


class AsType(Function):
    """y = x converted to another float dtype; the gradient is converted back."""

    def __init__(self, dtype: Any):
        self.dtype = dtype

    def forward(self, x: Any) -> Any:
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy: Tensor) -> Tensor:
        return astype(gy, self.in_dtype)


def _xp(array: Any) -> Any:
    from mathflow.backend import array_module

    return array_module(array)


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


# ------------------------------------------------------------------------- public API
def reshape(x: Any, shape: Sequence[int] | int) -> Tensor:
    """x with a new shape (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    x = as_tensor(x)
    return x if x.shape == shape else Reshape(shape)(x)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Aᵀ for a matrix; for n-d tensors the axes reversed or permuted by ``axes``."""
    return Transpose(tuple(axes) if axes is not None else None)(as_tensor(x))


def swapaxes(x: Any, a: int, b: int) -> Tensor:
    """x with axes ``a`` and ``b`` exchanged (the matrix transpose of a batch when a, b = -2, -1)."""
    x = as_tensor(x)
    if not (-x.ndim <= a < x.ndim and -x.ndim <= b < x.ndim):
        raise ShapeError(f"swapaxes: axes {a} and {b} are out of range for shape {x.shape}")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose(tuple(axes))(x)


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """x repeated to ``shape`` by NumPy broadcasting rules."""
    x = as_tensor(x)
    return x if x.shape == tuple(shape) else BroadcastTo(tuple(shape))(x)


def sum_to(x: Any, shape: Sequence[int]) -> Tensor:
    """x summed over broadcast axes down to ``shape``."""
    x = as_tensor(x)
    return x if x.shape == tuple(shape) else SumTo(tuple(shape))(x)


def getitem(x: Any, index: Any) -> Tensor:
    """x[index] with basic or advanced (integer array, boolean mask) indexing."""
    return GetItem(_unwrap_index(index))(as_tensor(x))


def concat(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [as_tensor(x) for x in xs]
    if not tensors:
        raise ShapeError("concat needs at least one tensor")
    return Concat(axis)(*tensors)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    tensors = [as_tensor(x) for x in xs]
    if not tensors:
        raise ShapeError("stack needs at least one tensor")
    first = tensors[0].shape
    if any(t.shape != first for t in tensors):
        raise ShapeError(f"stack needs equal shapes, got {', '.join(str(t.shape) for t in tensors)}")
    axis = axis % (len(first) + 1)
    expanded = [reshape(t, first[:axis] + (1,) + first[axis:]) for t in tensors]
    return concat(expanded, axis=axis)


def flatten(x: Any, start_axis: int = 1) -> Tensor:
    """Collapse the axes from ``start_axis`` on into one (batch-preserving by default)."""
    x = as_tensor(x)
    return reshape(x, x.shape[:start_axis] + (-1,))


def astype(x: Any, dtype: Any) -> Tensor:
    """x converted to ``dtype`` (differentiable between float types)."""
    x = as_tensor(x)
    return x if x.dtype == dtype else AsType(dtype)(x)
