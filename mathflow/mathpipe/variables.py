"""Named variables (scalars, vectors, matrices) packed into one flat vector and back.

Newton's method, Hessians and Taylor polynomials work on a single flat vector z; expressions
read named tensors. :class:`VariableSet` converts between the two, keeping the slices of z on
the graph so derivatives flow through.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from mathflow.autodiff.tensor import Tensor

DTYPE = np.float64


class VariableSet:
    """The variables of a pipeline in declaration order: names, shapes and starting values."""

    def __init__(self, values: Mapping[str, Any]):
        self.names: list[str] = list(values)
        self.arrays: dict[str, np.ndarray] = {k: np.asarray(v, dtype=DTYPE) for k, v in values.items()}
        self.shapes: dict[str, tuple[int, ...]] = {k: a.shape for k, a in self.arrays.items()}
        self.sizes: dict[str, int] = {k: int(a.size) for k, a in self.arrays.items()}
        self.offsets: dict[str, int] = {}
        total = 0
        for name in self.names:
            self.offsets[name] = total
            total += self.sizes[name]
        self.size = total

    def flat(self, values: Mapping[str, Any] | None = None) -> np.ndarray:
        """All values (``values`` or the starting ones) concatenated into one float64 vector."""
        source = self.arrays if values is None else {k: np.asarray(values[k], dtype=DTYPE) for k in self.names}
        if not self.names:
            return np.zeros(0, dtype=DTYPE)
        return np.concatenate([source[k].reshape(-1) for k in self.names])

    def env(self, z: Tensor) -> dict[str, Tensor]:
        """name → the slice of the flat tensor ``z`` shaped like the variable (differentiable)."""
        from mathflow.functional import reshape

        out = {}
        for name in self.names:
            start, size, shape = self.offsets[name], self.sizes[name], self.shapes[name]
            out[name] = z[start] if shape == () else reshape(z[start : start + size], shape)
        return out

    def unflatten(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """name → array of the variable's shape, read from the flat vector ``z``."""
        z = np.asarray(z, dtype=DTYPE).reshape(-1)
        return {
            k: z[self.offsets[k] : self.offsets[k] + self.sizes[k]].reshape(self.shapes[k]).copy() for k in self.names
        }

    def labels(self) -> list[str]:
        """One label per entry of the flat vector: ``x``, ``w[0]``, ``A[1,0]``."""
        out = []
        for name in self.names:
            shape = self.shapes[name]
            if shape == ():
                out.append(name)
                continue
            for index in itertools.product(*(range(n) for n in shape)):
                out.append(f"{name}[{','.join(map(str, index))}]")
        return out

    def describe(self, name: str) -> str:
        shape = self.shapes[name]
        if shape == ():
            return "scalar"
        if len(shape) == 1:
            return f"vector of {shape[0]}"
        return "×".join(map(str, shape)) + (" matrix" if len(shape) == 2 else " array")

    def scalars(self) -> bool:
        """True when every variable is a scalar."""
        return all(s == () for s in self.shapes.values())


def plain(value: Any) -> Any:
    """A NumPy value as plain Python: floats, nested lists (complex as {real, imag})."""
    array = np.asarray(value)
    if np.iscomplexobj(array):
        if array.ndim == 0:
            return {"real": float(array.real), "imag": float(array.imag)}
        return [plain(item) for item in array]
    if array.ndim == 0:
        return float(array)
    return array.astype(float).tolist()


def tensors(values: Mapping[str, np.ndarray], requires_grad: bool = False) -> dict[str, Tensor]:
    """name → float64 Tensor of each array."""
    return {k: Tensor(np.asarray(v, dtype=DTYPE), requires_grad=requires_grad) for k, v in values.items()}
