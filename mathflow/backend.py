"""Array backends: NumPy on the CPU, CuPy on an NVIDIA GPU.

A :class:`Backend` owns three things: the array module ``xp`` (``numpy`` or ``cupy``), the
dtype policy (float32 by default, float64 on request) and a seeded random generator.
CuPy is imported only when a GPU backend is asked for, never at import time.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from mathflow.errors import MathflowError

DeviceName = Literal["cpu", "gpu", "auto"]
FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


@functools.lru_cache(maxsize=1)
def _cupy_or_none() -> types.ModuleType | None:
    """Import CuPy if it is installed and sees at least one device, else ``None``."""
    try:
        import cupy  # noqa: PLC0415 - deliberately lazy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # ImportError, CUDA driver errors, missing libraries
        return None


def gpu_available() -> bool:
    """True when CuPy is installed and a CUDA device is visible."""
    return _cupy_or_none() is not None


def array_module(array: Any) -> types.ModuleType:
    """The array module (numpy or cupy) that owns ``array``; numpy for anything else."""
    if type(array).__module__.startswith("cupy"):
        return _cupy_or_none() or np
    return np


class Backend:
    """Where arrays live and which float type they use.

    ``Backend("cpu")`` uses NumPy; ``Backend("gpu")`` uses CuPy and fails clearly when no
    device is present; ``Backend("auto")`` picks the GPU when one is available.
    """

    def __init__(self, device: DeviceName = "cpu", dtype: str = "float32", seed: int | None = None):
        if device not in ("cpu", "gpu", "auto"):
            raise MathflowError(f"unknown device {device!r}", suggestion="use cpu, gpu or auto")
        if dtype not in FLOAT_DTYPES:
            raise MathflowError(f"unsupported dtype {dtype!r}", suggestion="use float32 or float64")
        cupy = _cupy_or_none() if device in ("gpu", "auto") else None
        if device == "gpu" and cupy is None:
            raise MathflowError(
                "device 'gpu' was requested but CuPy or a CUDA device is not available",
                suggestion="install mathflow[cuda12] or mathflow[cuda13], or use device: cpu",
            )
        self.device: Literal["cpu", "gpu"] = "gpu" if cupy is not None else "cpu"
        self.xp: types.ModuleType = cupy if cupy is not None else np
        self.dtype = np.dtype(FLOAT_DTYPES[dtype])
        self.seed = seed
        self.rng = self.xp.random.default_rng(seed)

    def __repr__(self) -> str:
        return f"Backend(device={self.device!r}, dtype={self.dtype.name!r}, seed={self.seed})"

    @property
    def device_name(self) -> str:
        """Human-readable device name, e.g. ``cpu`` or ``NVIDIA H100 80GB HBM3``."""
        if self.device == "cpu":
            return "cpu"
        props = self.xp.cuda.runtime.getDeviceProperties(self.xp.cuda.Device().id)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    def asarray(self, data: Any, dtype: Any = None) -> Any:
        """``data`` as an array of this backend, float data cast to the policy dtype."""
        return self.xp.asarray(to_numpy(data) if self.device == "cpu" else data, dtype=dtype or self.dtype)

    def to_device(self, array: Any) -> Any:
        """Move ``array`` onto this backend without changing its dtype."""
        if self.device == "cpu":
            return to_numpy(array)
        return self.xp.asarray(array)

    def reseed(self, seed: int | None) -> None:
        """Restart the random generator from ``seed``."""
        self.seed = seed
        self.rng = self.xp.random.default_rng(seed)


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy of a CuPy array, or ``np.asarray`` of anything else."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


_current = Backend("cpu")


def get_backend() -> Backend:
    """The backend new tensors are created on."""
    return _current


def set_backend(backend: Backend | DeviceName, dtype: str | None = None, seed: int | None = None) -> Backend:
    """Make ``backend`` (or a new ``Backend(device, dtype, seed)``) the current one."""
    global _current
    if not isinstance(backend, Backend):
        backend = Backend(backend, dtype or _current.dtype.name, seed)
    _current = backend
    return backend


@contextlib.contextmanager
def using(backend: Backend | DeviceName, dtype: str | None = None, seed: int | None = None) -> Iterator[Backend]:
    """Use ``backend`` inside a ``with`` block, then restore the previous one."""
    previous = _current
    try:
        yield set_backend(backend, dtype, seed)
    finally:
        set_backend(previous)


def default_dtype() -> np.dtype:
    """The float dtype given to tensors made from Python numbers and lists."""
    return _current.dtype


def set_default_dtype(dtype: str) -> None:
    """Change the float dtype of the current backend (``float32`` or ``float64``)."""
    if dtype not in FLOAT_DTYPES:
        raise MathflowError(f"unsupported dtype {dtype!r}", suggestion="use float32 or float64")
    _current.dtype = np.dtype(FLOAT_DTYPES[dtype])
