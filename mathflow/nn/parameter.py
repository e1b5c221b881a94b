"""Trainable parameters."""

from __future__ import annotations

from typing import Any

from mathflow.autodiff.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a layer owns and an optimizer updates; it always requires a gradient."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype.name})"
