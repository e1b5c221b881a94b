"""The Tensor: an array that remembers the operations that produced it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from mathflow import backend as _backend
from mathflow.autodiff.function import Function


class Tensor:
    """An n-dimensional array on a backend (numpy or cupy) with reverse-mode autodiff.

    ``data`` is the backend array, ``grad`` the accumulated gradient (a Tensor) after
    :meth:`backward`. Arithmetic operators, ``@``, ``.T``, indexing and slicing record the
    operation when ``requires_grad`` is set.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_ctx", "_index", "_generation", "__weakref__")
    __array_priority__ = 1000  # make numpy defer to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            from mathflow.errors import GradError

            raise GradError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self.name = name
        self._ctx: Function | None = None
        self._index = 0
        self._generation = 0

    @classmethod
    def _wrap(cls, array: Any, requires_grad: bool = False) -> Tensor:
        """Wrap an existing backend array without copying or casting."""
        tensor = cls.__new__(cls)
        tensor.data = array
        tensor.requires_grad = requires_grad
        tensor.grad = None
        tensor.name = None
        tensor._ctx = None
        tensor._index = 0
        tensor._generation = 0
        return tensor

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) holding this tensor."""
        return _backend.array_module(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype.name}{grad})"

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied from the GPU when needed)."""
        return _backend.to_numpy(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __bool__(self) -> bool:
        return bool(self.data)

    # ----------------------------------------------------------------- graph control
    def detach(self) -> Tensor:
        """The same values cut from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    def backward(self, grad: Any = None, *, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` by the chain rule.

        ``grad`` defaults to 1 for a scalar. The graph is freed afterwards unless
        ``retain_graph`` is set; ``create_graph`` records the backward pass itself so the
        gradients can be differentiated again, and then keeps the graph by default (the
        recorded gradients may refer to it).
        """
        from mathflow.autodiff.engine import run_backward

        retain = create_graph if retain_graph is None else retain_graph
        run_backward([self], [grad], retain_graph=retain, create_graph=create_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return _F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _F.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _F.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _F.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _F.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _F.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    # comparisons give plain (non-differentiable) boolean tensors
    def __lt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self.data < _raw(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor._wrap(self.data <= _raw(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self.data > _raw(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._wrap(self.data >= _raw(other))

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- methods
    @property
    def T(self) -> Tensor:
        return _F.transpose(self)

    def transpose(self, *axes: int) -> Tensor:
        return _F.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes or None)

    def reshape(self, *shape: Any) -> Tensor:
        return _F.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _F.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _F.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _F.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _F.min(self, axis, keepdims)

    def exp(self) -> Tensor:
        return _F.exp(self)

    def log(self) -> Tensor:
        return _F.log(self)

    def sqrt(self) -> Tensor:
        return _F.sqrt(self)

    def flatten(self) -> Tensor:
        return _F.reshape(self, (-1,))

    def astype(self, dtype: Any) -> Tensor:
        return _F.astype(self, dtype)


def _raw(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _as_array(data: Any, dtype: Any) -> Any:
    """Backend array from ``data``; Python numbers and lists become the default float dtype."""
    if isinstance(data, Tensor):
        data = data.data
    xp = _backend.array_module(data)
    if xp is np:
        current = _backend.get_backend()
        if not isinstance(data, np.ndarray | np.generic):
            probe = np.asarray(data)
            if dtype is None and probe.dtype.kind in "biuf":
                dtype = current.dtype
            data = probe
        return current.to_device(np.asarray(data, dtype=dtype))
    return xp.asarray(data, dtype=dtype)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor on the current backend.

    Python numbers and (nested) lists become the default float dtype (float32 unless changed);
    NumPy arrays keep their dtype unless ``dtype`` is given.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; a Python scalar takes the dtype of ``like`` (no float64 leak)."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, bool)):
        return Tensor._wrap(like.xp.asarray(value, dtype=like.dtype))
    if like is not None and not hasattr(value, "dtype"):
        return Tensor._wrap(like.xp.asarray(value, dtype=like.dtype))
    return Tensor(value)


def zeros(shape: Iterable[int] | int, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    current = _backend.get_backend()
    return Tensor._wrap(current.xp.zeros(shape, dtype=dtype or current.dtype), requires_grad)


def ones(shape: Iterable[int] | int, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    current = _backend.get_backend()
    return Tensor._wrap(current.xp.ones(shape, dtype=dtype or current.dtype), requires_grad)


from mathflow import functional as _F  # noqa: E402  (operators delegate to the functional API)
