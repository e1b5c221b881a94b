"""The registry of the CUDA kernels that ops and optimizers own.

An op or optimizer declares its GPU kernel next to its NumPy code with :func:`raw` (a full
``extern "C" __global__`` source for ``cupy.RawKernel``) or :func:`elementwise` (the parameter
lists and body of a ``cupy.ElementwiseKernel``). Sources are written against a float type ``T``;
a raw kernel is compiled once per (dtype, device) with ``typedef <float|double> T;`` in front, an
element-wise kernel once per device (CuPy specialises ``T`` itself). CuPy is imported only when
a kernel is first built, never at import time.

:func:`nvrtc_source` turns every registered kernel into a self-contained translation unit, so
``tests/test_nvrtc_compile.py`` compiles all of them with NVRTC on machines without a GPU.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 256  # threads per block of the grid-stride raw kernels
INDEX_LIMIT = 2**31 - 1  # raw kernels index with 32-bit ints
CTYPES = {"float32": "float", "float64": "double"}
#: NVRTC options that keep every multiply and add separately rounded, as in NumPy (no FMA contraction)
NO_FMA = ("--fmad=false",)
#: What a module that defines kernels calls (how :func:`registered` finds the owners).
_DEFINES = re.compile(rb"\bcuda\.(?:elementwise|raw)\(")


@dataclass
class Kernel:
    """One CUDA kernel: ``source`` is the whole raw source, or the body of an element-wise kernel."""

    name: str
    source: str
    in_params: str | None = None
    out_params: str | None = None
    options: tuple[str, ...] = ()  # NVRTC options, e.g. ("--fmad=false",) to round like NumPy
    _built: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    @property
    def elementwise(self) -> bool:
        return self.in_params is not None

    def get(self, dtype: Any = np.float32) -> Any:
        """The CuPy kernel object for ``dtype`` on the current device, built on first use."""
        import cupy  # noqa: PLC0415 - deliberately lazy

        key = ("T" if self.elementwise else np.dtype(dtype).name, cupy.cuda.Device().id)
        kernel = self._built.get(key)
        if kernel is None:
            if self.elementwise:
                kernel = cupy.ElementwiseKernel(
                    self.in_params, self.out_params, self.source, self.name, options=self.options
                )
            else:
                code = f"typedef {ctype_of(dtype)} T;\n{self.source}"
                kernel = cupy.RawKernel(code, self.name, options=self.options)
            self._built[key] = kernel
        return kernel

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run an element-wise kernel (CuPy picks ``T`` from the arguments)."""
        return self.get()(*args, **kwargs)

    def launch(self, total: int, args: tuple[Any, ...], dtype: Any) -> None:
        """Run a grid-stride raw kernel over ``total`` threads."""
        if total >= INDEX_LIMIT:
            raise ValueError(f"{self.name}: {total} elements exceed the 32-bit index range")
        if total:
            blocks = min(-(-total // BLOCK), 65535 * 16)
            self.get(dtype)((blocks,), (BLOCK,), args)


_REGISTRY: dict[str, Kernel] = {}


def _register(kernel: Kernel) -> Kernel:
    if kernel.name in _REGISTRY and _REGISTRY[kernel.name].source != kernel.source:
        raise ValueError(f"CUDA kernel {kernel.name!r} registered twice with different sources")
    _REGISTRY.setdefault(kernel.name, kernel)
    return _REGISTRY[kernel.name]


def raw(name: str, source: str, options: tuple[str, ...] = ()) -> Kernel:
    """Register a ``cupy.RawKernel`` whose source defines ``extern "C" __global__ void <name>``."""
    return _register(Kernel(name, source, options=options))


def elementwise(name: str, in_params: str, out_params: str, operation: str, options: tuple[str, ...] = ()) -> Kernel:
    """Register a ``cupy.ElementwiseKernel(in_params, out_params, operation, name, options=options)``."""
    return _register(Kernel(name, operation, in_params, out_params, options))


def owners() -> list[str]:
    """The modules of mathflow that define kernels, found by reading the source (nothing else is imported)."""
    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name != "cuda.py" and _DEFINES.search(path.read_bytes()):
            found.append(".".join(path.relative_to(root.parent).with_suffix("").parts))
    return found


def registered() -> dict[str, Kernel]:
    """Every kernel mathflow defines, by name (importing each defining module registers its kernels)."""
    for module in owners():
        importlib.import_module(module)
    return dict(_REGISTRY)


def ctype_of(dtype: Any) -> str:
    name = np.dtype(dtype).name
    if name not in CTYPES:
        raise TypeError(f"CUDA kernels support float32 and float64, got {name}")
    return CTYPES[name]


def on_gpu(a: Any) -> bool:
    """True for a CuPy array (checked without importing CuPy)."""
    return type(a).__module__.startswith("cupy")


def ints(*values: int) -> tuple[np.int32, ...]:
    """Launch arguments for ``int`` parameters."""
    return tuple(np.int32(v) for v in values)


def strides(a: Any) -> tuple[np.int32, ...]:
    """The element strides of ``a`` as ``int`` launch arguments."""
    if any(s < 0 for s in a.strides):
        raise ValueError("CUDA kernels take arrays with non-negative strides")
    return ints(*(s // a.itemsize for s in a.strides))


# ----------------------------------------------------------------------------- NVRTC translation units
_PARAM_TYPES = {"T": "T", "float32": "float", "float64": "double", "int32": "int", "int64": "long long", "bool": "bool"}


def _params(text: str) -> list[tuple[bool, str, str]]:
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        words = item.split()
        is_raw = words[0] == "raw"
        out.append((is_raw, _PARAM_TYPES[words[-2]], words[-1]))
    return out


def nvrtc_source(kernel: Kernel, ctype: str) -> str:
    """A self-contained CUDA source of ``kernel`` for ``T = ctype``.

    Element-wise kernels are wrapped the way CuPy expands them: thread index ``i``, plain inputs
    read at ``i``, outputs bound by reference, ``raw`` parameters as pointers.
    """
    head = f"typedef {ctype} T;\n"
    if not kernel.elementwise:
        return head + kernel.source
    args, binds = [], []
    for is_raw, ctype_, name in _params(kernel.in_params or ""):
        args.append(f"const {ctype_}* {name}" if is_raw else f"const {ctype_}* {name}_")
        if not is_raw:
            binds.append(f"const {ctype_} {name} = {name}_[i];")
    for is_raw, ctype_, name in _params(kernel.out_params or ""):
        args.append(f"{ctype_}* {name}" if is_raw else f"{ctype_}* {name}_")
        if not is_raw:
            binds.append(f"{ctype_}& {name} = {name}_[i];")
    body = "\n    ".join(binds)
    return (
        f'{head}extern "C" __global__ void {kernel.name}({", ".join(args)}, const long long _n) {{\n'
        "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;"
        " i += (long long)blockDim.x * gridDim.x) {\n"
        f"    {body}\n    {kernel.source}\n  }}\n}}\n"
    )


def raw_parameters(kernel: Kernel) -> list[str]:
    """The C parameter types of a raw kernel's signature (for launch-argument checks)."""
    match = re.search(rf"void\s+{kernel.name}\s*\((.*?)\)\s*\{{", kernel.source, re.S)
    if match is None:
        raise ValueError(f"no signature of {kernel.name} in its source")
    return [" ".join(p.split()[:-1]) for p in match.group(1).split(",")]
