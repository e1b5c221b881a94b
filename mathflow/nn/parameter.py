"""Trainable parameters."""

from __future__ import annotations

from typing import Any

from mathflow.autodiff.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a layer owns and an optimizer updates; it always requires a gradient.

    ``role`` says what the parameter is for (``"weight"``, ``"bias"``, ``"norm"`` for
    normalisation scales and shifts); regularizers use it to pick the weights they penalise.
    """

    __slots__ = ("role",)

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None, role: str = "weight"):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)
        self.role = role

    def __repr__(self) -> str:
        role = getattr(self, "role", "weight")
        return f"Parameter(name={self.name!r}, role={role!r}, shape={self.shape}, dtype={self.dtype.name})"
